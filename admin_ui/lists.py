"""The admin UI's list pages: the catalog with its search, drafts, accounts, outbox, audit log.

Each list is filtered by its query string and paged with admin_ui/paging.py (SQL LIMIT/OFFSET);
a bad page, size or filter is answered 400 with a sentence naming the field, never 500.
"""

from __future__ import annotations

import json
import re

from flask import render_template, request
from sqlalchemy import select

import admin_ui.paging as paging
from admin_ui.audit_sentences import sentence
from admin_ui.catalog_search import GROUPS, MAX_QUERY, grouped, search
from admin_ui.display import euros, with_unit, yes_no
from admin_ui.views import _engine, _now, bp
from engine.ledger import audit
from engine.ledger.tables import accounts, audit_log, drafts, outbox
from engine.services.back_office import customer_names, search_condition

DRAFT_STATUSES = ("draft", "published")
MAX_FILTER = 254  # the longest e-mail address or account id a filter needs
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # never part of what is searched (NUL breaks SQL)


@bp.app_template_filter("euros")
def _euros(cents: int | None) -> str:
    return euros(cents)


@bp.app_template_filter("yes_no")
def _yes_no(value: object) -> str:
    return yes_no(value)


@bp.app_template_global("with_unit")
def _with_unit(spec, value) -> str:
    return with_unit(spec, value)


bp.add_app_template_global(paging.DEFAULT_SIZE, "default_page_size")  # for _paging.html


@bp.errorhandler(paging.BadListQuery)
def refused_list_query(error: paging.BadListQuery):
    return render_template("refused.html", message=error.description), 400


def _text(field: str, longest: int = MAX_FILTER) -> str:
    """A free-text filter of the query string without control characters; 400 when longer
    than ``longest``."""
    value = _CONTROL.sub("", request.args.get(field, "")).strip()
    if len(value) > longest:
        raise paging.BadListQuery(f"{field} is at most {longest} characters, not {len(value)}.")
    return value


def _choice(field: str, choices: tuple[str, ...]) -> str:
    value = request.args.get(field, "")
    if value and value not in choices:
        raise paging.BadListQuery(f"{field} must be one of {', '.join(choices)}, not {value!r}.")
    return value


@bp.get("/")
def index():
    """The catalog, grouped; ``?q=`` finds files by clause number, title or parameter."""
    catalog = _engine().catalog
    query = _text("q", MAX_QUERY)
    group = _choice("group", tuple(title for title, _, _ in GROUPS))
    day = catalog.local_date(_now())
    found = search(catalog.files, query, day)
    groups = grouped(found, group)
    return render_template(
        "index.html",
        groups=groups,
        query=query,
        group=group,
        group_titles=[title for title, _, _ in GROUPS],
        found=sum(len(files) for _, files in groups),
        day=day,
    )


@bp.get("/drafts")
def draft_list():
    status = _choice("status", DRAFT_STATUSES)
    file = _text("file")
    wanted = paging.asked(request.args)
    query = select(drafts).order_by(drafts.c.id.desc())
    if status:
        query = query.where(drafts.c.status == status)
    if file:
        query = query.where(drafts.c.file.contains(file, autoescape=True))
    with _engine().store.db.connect() as connection:
        page = paging.fetch(connection, query, wanted)
    return render_template(
        "drafts.html",
        page=page,
        status=status,
        file=file,
        statuses=DRAFT_STATUSES,
        filters={"status": status, "file": file},
    )


@bp.get("/accounts")
def accounts_view():
    """Customers found by name, e-mail, VAT id, account id (customer number) or invoice number."""
    found = _text("q")
    wanted = paging.asked(request.args)
    query = select(accounts).order_by(accounts.c.id)
    if found:
        query = query.where(search_condition(found))
    with _engine().store.db.connect() as connection:
        page = paging.fetch(connection, query, wanted)
    customers = {row.id: json.loads(row.customer or "{}") for row in page.rows}
    return render_template(
        "accounts.html", page=page, q=found, filters={"q": found}, customers=customers
    )


OUTBOX_STATUSES = ("queued", "sending", "sent", "failed", "no_address", "skipped")
OUTBOX_KINDS = ("notice", "invoice", "credit_note")


@bp.get("/outbox")
def outbox_view():
    """Every e-mail to a customer with its status a person can trust (docs/mail.md)."""
    raw = request.args.get("publication", "")
    if raw and not re.fullmatch(r"[0-9]{1,18}", raw):
        raise paging.BadListQuery(f"publication must be a publication number, not {raw[:40]!r}.")
    publication = int(raw) if raw else None
    found = _text("account")
    status, kind = _choice("status", OUTBOX_STATUSES), _choice("kind", OUTBOX_KINDS)
    wanted = paging.asked(request.args)
    query = select(outbox).order_by(outbox.c.id.desc())
    if publication is not None:
        query = query.where(outbox.c.publication == publication)
    if found:
        query = query.where(outbox.c.account.contains(found, autoescape=True))
    if status:
        query = query.where(outbox.c.status == status)
    if kind:
        query = query.where(outbox.c.kind == kind)
    with _engine().store.db.connect() as connection:
        page = paging.fetch(connection, query, wanted)
        names = customer_names(connection, [row.account for row in page.rows])
    return render_template(
        "outbox.html",
        page=page,
        names=names,
        publication=raw,
        account=found,
        status=status,
        kind=kind,
        statuses=OUTBOX_STATUSES,
        kinds=OUTBOX_KINDS,
        filters={"publication": raw, "account": found, "status": status, "kind": kind},
    )


def _choice(name: str, allowed: tuple[str, ...]) -> str:
    value = request.args.get(name, "")
    if value and value not in allowed:
        raise paging.BadListQuery(
            f"{name} must be one of {', '.join(allowed)}, not {value[:40]!r}."
        )
    return value


def _entry(row) -> dict:
    """An audit row as the page shows it: its fields, its detail parsed, and its sentence."""
    entry = dict(row._mapping)
    try:
        entry["detail"] = json.loads(row.detail)
    except ValueError:  # a tampered record still shows; verify() names the break
        entry["detail"] = row.detail
    entry["raw"] = json.dumps(
        {
            "id": row.id,
            "at": row.at,
            "actor": row.actor,
            "action": row.action,
            "detail": entry["detail"],
            "previous_hash": row.previous_hash,
            "hash": row.hash,
            "scheme": row.scheme,
        },
        indent=2,
        ensure_ascii=False,
        default=str,
    )
    entry["sentence"] = sentence(entry)
    return entry


def _account_of(entry: dict) -> str | None:
    """The account an audit entry is about, where its detail names one."""
    detail = entry["detail"]
    account = detail.get("account") if isinstance(detail, dict) else None
    return account if isinstance(account, str) else None


@bp.get("/audit")
def audit_view():
    actor = _text("actor")
    wanted = paging.asked(request.args)
    with _engine().store.db.connect() as connection:
        kinds = tuple(
            connection.execute(
                select(audit_log.c.action).distinct().order_by(audit_log.c.action)
            ).scalars()
        )
        action = _choice("action", kinds) if kinds else ""
        query = select(audit_log).order_by(audit_log.c.id.desc())
        if action:
            query = query.where(audit_log.c.action == action)
        if actor:
            query = query.where(audit_log.c.actor.contains(actor, autoescape=True))
        page = paging.fetch(connection, query, wanted)
        problems = audit.verify(connection)
        total = audit.count(connection)
        entries = [_entry(row) for row in page.rows]
        names = customer_names(connection, [_account_of(e) for e in entries])
    return render_template(
        "audit.html",
        page=page,
        entries=entries,
        names=names,
        problems=problems,
        total=total,
        kinds=kinds,
        action=action,
        actor=actor,
        filters={"action": action, "actor": actor},
    )
