"""The admin UI's webhooks: subscriptions and deliveries (status, attempts, last error).

Legal and product may retry a dead message (a new round of attempts, audited); operators add
and remove subscriptions (issue 28; the operator's, as ``billing webhooks add|remove`` makes them:
the signing secret shown once, every change audited); viewers read.
"""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

import admin_ui.paging as paging
from admin_ui.paging import BadListQuery
from admin_ui.views import _engine, _now, _person, bp
from engine.delivery.webhook_delivery import retry_dead
from engine.delivery.webhooks import (
    EVENT_TYPES,
    WebhookError,
    add_subscription,
    remove_subscription,
)
from engine.ledger import audit
from engine.ledger.tables import webhook_messages, webhook_subscriptions
from engine.services.back_office import customer_names

PAGE_SIZE = 50
STATUSES = ("pending", "delivered", "dead", "cancelled")
RETRY_ROLES = ("legal", "product")


def may_retry(role: str) -> bool:
    return role in RETRY_ROLES


@bp.get("/webhooks")
def webhooks_view():
    status = request.args.get("status", "")
    if status and status not in STATUSES:
        raise BadListQuery(f"status must be one of {', '.join(STATUSES)}, not {status[:40]!r}.")
    wanted = paging.asked(request.args, PAGE_SIZE)
    m, s = webhook_messages, webhook_subscriptions
    query = select(m, s.c.url).join(s, s.c.id == m.c.subscription, isouter=True)
    if status:
        query = query.where(m.c.status == status)
    with _engine().store.db.connect() as connection:
        page = paging.fetch(connection, query.order_by(m.c.id.desc()), wanted)
        subscriptions = connection.execute(
            select(s).where(s.c.removed_at.is_(None)).order_by(s.c.id)
        ).all()
        names = customer_names(connection, [row.account for row in page.rows])
    return render_template(
        "webhooks.html",
        messages=page.rows,
        page=page,
        subscriptions=subscriptions,
        names=names,
        status=status,
        statuses=STATUSES,
        filters={"status": status},
        may_retry=may_retry(_person().role),
        may_manage=_person().may_manage_access,
        event_types=tuple(EVENT_TYPES),
        secret=g.get("webhook_secret"),
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


@bp.post("/webhooks/subscriptions")
def webhook_subscribe():
    """An operator subscribes a URL to event types; the secret is shown on this answer only."""
    person = _person()
    if not person.may_manage_access:
        flash(f"A {person.role} may not add webhook subscriptions; an operator does.", "error")
        return webhooks_view(), 403
    try:
        with _engine().store.db.begin() as connection:
            public, secret = add_subscription(
                connection,
                request.form.get("url", "").strip(),
                request.form.getlist("events"),
                created_by=person.email,
                at=_now(),
            )
    except WebhookError as refused:
        flash(f"No subscription was added: {refused.field}: {refused.message}", "error")
        return webhooks_view(), 400
    flash(f"Subscription {public['id']} added; copy its signing secret now.", "info")
    g.webhook_secret = (public["id"], secret)
    return webhooks_view(), 201, {"Cache-Control": "no-store"}


@bp.post("/webhooks/subscriptions/<int:subscription>/remove")
def webhook_unsubscribe(subscription: int):
    person = _person()
    if not person.may_manage_access:
        flash(f"A {person.role} may not remove webhook subscriptions; an operator does.", "error")
        return webhooks_view(), 403
    with _engine().store.db.begin() as connection:
        removed = remove_subscription(
            connection, subscription, at=_now(), actor=person.email, token=None
        )
    if not removed:
        flash(f"There is no active subscription {subscription}.", "error")
        return webhooks_view(), 404
    flash(f"Subscription {subscription} removed; its undelivered messages are cancelled.", "info")
    return redirect(url_for("admin.webhooks_view")), 303
