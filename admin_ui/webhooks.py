"""The admin UI's webhook deliveries: status, attempts, last error; a dead one can be retried.

Legal and product may retry a dead message (a new round of attempts, audited); viewers read.
"""

from __future__ import annotations

import re

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from admin_ui.views import _engine, _now, _person, bp
from engine import audit
from engine.ledger.tables import webhook_messages, webhook_subscriptions
from engine.webhook_delivery import retry_dead

PAGE_SIZE = 50
STATUSES = ("pending", "delivered", "dead", "cancelled")
RETRY_ROLES = ("legal", "product")


def may_retry(role: str) -> bool:
    return role in RETRY_ROLES


@bp.get("/webhooks")
def webhooks_view():
    status = request.args.get("status", "")
    status = status if status in STATUSES else ""
    raw_page = request.args.get("page", "1")
    page = int(raw_page) if re.fullmatch(r"[1-9][0-9]{0,5}", raw_page) else 1
    m, s = webhook_messages, webhook_subscriptions
    query = select(m, s.c.url).join(s, s.c.id == m.c.subscription, isouter=True)
    counting = select(func.count()).select_from(m)
    if status:
        query = query.where(m.c.status == status)
        counting = counting.where(m.c.status == status)
    query = query.order_by(m.c.id.desc()).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    with _engine().store.db.connect() as connection:
        rows = connection.execute(query).all()
        total = connection.execute(counting).scalar_one()
        subscriptions = connection.execute(
            select(s).where(s.c.removed_at.is_(None)).order_by(s.c.id)
        ).all()
    return render_template(
        "webhooks.html",
        messages=rows,
        subscriptions=subscriptions,
        status=status,
        statuses=STATUSES,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        total=total,
        may_retry=may_retry(_person().role),
    )


@bp.post("/webhooks/<int:message>/retry")
def webhook_retry(message: int):
    person = _person()
    if not may_retry(person.role):
        flash(f"A {person.role} may not retry webhook deliveries; ask legal or product.", "error")
        return webhooks_view(), 403
    with _engine().store.db.begin() as connection:
        row = connection.execute(
            select(webhook_messages).where(webhook_messages.c.id == message)
        ).one_or_none()
        if row is None:
            abort(404)
        if not retry_dead(connection, message, _now()):
            flash(f"Message {message} is {row.status}, not dead: nothing to retry.", "error")
            return webhooks_view(), 409
        audit.record(
            connection,
            person.email,
            "webhook_retried",
            at=_now(),
            message=row.message_id,
            subscription=row.subscription,
            last_error=row.last_error,
        )
    flash(f"Message {row.message_id} will be sent again.", "info")
    return redirect(url_for("admin.webhooks_view", status="pending"))
