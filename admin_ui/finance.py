"""The admin UI's money pages (issue 28): invoices with CSV, bank statements and the assignment
queue, SEPA files and returns, and the dashboard finance lands on.

Everyone logged in reads them; only finance imports statements and assigns credits (the
import and each assignment are in the audit log). The lists and numbers are the services'
(engine/services/invoice_list.py, back_office.py; engine/interchange/bank_statements.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Response, flash, redirect, render_template, request, url_for
from werkzeug.exceptions import NotFound

from admin_ui.paging import BadListQuery
from admin_ui.views import _engine, _now, _person, bp
from engine.core.money import format_amount, from_cents
from engine.interchange import bank_statements, iso20022
from engine.services import back_office
from engine.services.invoice_list import (
    SORTS,
    STATUSES,
    InvoiceQueryInvalid,
    invoices_csv,
    iterate_invoices,
    list_invoices,
    parse_query,
)

PAGE = 50
_INVOICE_FILTERS = ("status", "month", "account", "sort")


def _today():
    engine = _engine()
    return engine.catalog.local_date(_now())


def _invoice_query(paged: bool = True):
    args = request.args
    try:
        return parse_query(
            status=args.get("status") or None,
            month=args.get("month") or None,
            account=(args.get("account") or "").strip() or None,
            after=args.get("after") if paged else None,
            limit=args.get("size") or PAGE,
            sort=args.get("sort") or None,
        )
    except InvoiceQueryInvalid as refused:
        raise BadListQuery(f"{_field(refused.field)} {refused.message}.") from None


def _field(name: str) -> str:
    """The page's name of a query parameter (the page size is ``size``, as on every list)."""
    return "size" if name == "limit" else name


@bp.get("/invoices")
def invoices_view():
    """Every invoice, filtered by status, month and account, sortable, paged, with totals."""
    query = _invoice_query()
    engine = _engine()
    try:
        page = list_invoices(engine.store, query, _today())
    except InvoiceQueryInvalid as refused:
        raise BadListQuery(f"{_field(refused.field)} {refused.message}.") from None
    filters = {name: request.args.get(name, "") for name in _INVOICE_FILTERS}
    return render_template(
        "invoices.html",
        page=page,
        rows=page.rows,
        filters=filters,
        kept={k: v for k, v in filters.items() if v},
        statuses=STATUSES,
        sorts=SORTS,
        sort=query.sort,
        first_page=query.after is None,
    )


@bp.get("/invoices.csv")
def invoices_csv_view():
    """The whole filtered list (not one page) as CSV, for the spreadsheet."""
    query = _invoice_query(paged=False)
    text = invoices_csv(iterate_invoices(_engine().store, query, _today()))
    name = "invoices" + "".join(
        f"-{request.args[k]}" for k in ("status", "month", "account") if request.args.get(k)
    )
    return Response(
        text.encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


# -- bank statements ---------------------------------------------------------------------------


@bp.get("/bank")
def bank_view():
    """The credits waiting for assignment, the latest credits, and the statement upload."""
    with _engine().store.db.connect() as connection:
        queued = bank_statements.credits(connection, "queued")
        latest = bank_statements.credits(connection, limit=50)
        names = back_office.customer_names(connection, [r.account for r in latest])
    return render_template(
        "bank.html",
        queued=queued,
        latest=latest,
        names=names,
        may_book=_person().may_book_money,
    )


@bp.post("/bank/import")
def bank_import():
    person = _person()
    if not person.may_book_money:
        flash(f"A {person.role} may not import bank statements; finance does.", "error")
        return redirect(url_for("admin.bank_view")), 303
    upload = request.files.get("statement")
    if upload is None or not upload.filename:
        flash("Choose the camt.053 or camt.054 file from the bank.", "error")
        return redirect(url_for("admin.bank_view")), 303
    data = upload.read(iso20022.MAX_BYTES + 1)
    try:
        report = bank_statements.import_statement(_engine(), data, actor=person.email, at=_now())
    except bank_statements.StatementInvalid as refused:
        flash(
            f"The file was refused, nothing was booked: {refused.field}: {refused.message}", "error"
        )
        return redirect(url_for("admin.bank_view")), 303
    flash(
        f"{report.message} {report.message_id}: {report.count('booked')} booked, "
        f"{report.count('queued')} queued for assignment, "
        f"{report.count('already_imported')} already imported.",
        "info",
    )
    return redirect(url_for("admin.bank_view")), 303


@bp.post("/bank/credits/<int:credit>/assign")
def bank_assign(credit: int):
    person = _person()
    if not person.may_book_money:
        flash(f"A {person.role} may not assign payments; finance does.", "error")
        return redirect(url_for("admin.bank_view")), 303
    account = request.form.get("account", "").strip()
    invoice = request.form.get("invoice", "").strip() or None
    try:
        bank_statements.assign(_engine(), credit, account, invoice, actor=person.email, at=_now())
    except bank_statements.AssignmentRefused as refused:
        flash(f"Credit {credit} was not assigned: {refused.field}: {refused.message}.", "error")
        return redirect(url_for("admin.bank_view")), 303
    flash(
        f"Credit {credit} booked to {account}"
        + (f" for invoice {invoice}" if invoice else "")
        + ".",
        "info",
    )
    return redirect(url_for("admin.bank_view")), 303


# -- SEPA files and returns --------------------------------------------------------------------


@bp.get("/sepa")
def sepa_view():
    with _engine().store.db.connect() as connection:
        files = back_office.sepa_files(connection)
    return render_template("sepa.html", files=files)


@bp.get("/sepa/<message_id>")
def sepa_file_view(message_id: str):
    with _engine().store.db.connect() as connection:
        found = back_office.sepa_file(connection, message_id)
        if found is None:
            raise NotFound(f"There is no SEPA file {message_id!r}.")
        batch, debits = found
        names = back_office.customer_names(connection, [d["account"] for d in debits])
    return render_template("sepa_file.html", batch=batch, debits=debits, names=names)


@bp.get("/sepa/<message_id>.xml")
def sepa_file_download(message_id: str):
    with _engine().store.db.connect() as connection:
        found = back_office.sepa_file(connection, message_id)
    if found is None:
        raise NotFound(f"There is no SEPA file {message_id!r}.")
    batch = found[0]
    name = f"pain.008-{batch.scheme}-{batch.collection_date}.xml"
    return Response(
        batch.xml.encode("utf-8") if isinstance(batch.xml, str) else batch.xml,
        mimetype="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/returns")
def returns_view():
    engine = _engine()
    with engine.store.db.connect() as connection:
        rows = back_office.imported_returns(connection, engine.catalog)
        names = back_office.customer_names(connection, [r["account"] for r in rows])
    return render_template("returns.html", rows=rows, names=names)


# -- the dashboard -----------------------------------------------------------------------------

CHART_LABEL = 180  # px for the labels left of the bars
CHART_BARS = 360  # px of the longest bar
CHART_ROW = 22  # px per bar


@dataclass(frozen=True)
class ChartBar:
    label: str
    y: int
    width: int
    text: str


@dataclass(frozen=True)
class Chart:
    bars: list[ChartBar]
    height: int
    label: int = CHART_LABEL
    width: int = CHART_LABEL + CHART_BARS + 110


def chart(rows: list[tuple[str, int]]) -> Chart:
    """Horizontal bars of cents per label, scaled to the largest, drawn as SVG on the server."""
    largest = max((cents for _, cents in rows), default=0)
    bars = [
        ChartBar(
            label,
            index * CHART_ROW,
            0 if largest <= 0 or cents <= 0 else max(1, cents * CHART_BARS // largest),
            f"{format_amount(from_cents(cents))} EUR",
        )
        for index, (label, cents) in enumerate(rows)
    ]
    return Chart(bars, max(len(bars), 1) * CHART_ROW + 4)


@bp.get("/dashboard")
def dashboard():
    """Finance's landing page: the month's revenue by item and plan, receivables by age, the
    returns rate, customers in default or blocked, and the collections ahead."""
    today = _today()
    with _engine().store.db.connect() as connection:
        numbers = back_office.dashboard(connection, today)
    return render_template(
        "dashboard.html",
        d=numbers,
        by_item=chart(numbers["revenue_by_item"]),
        by_plan=chart(numbers["revenue_by_plan"]),
        by_age=chart([(label, cents) for label, _, cents in numbers["receivables"]]),
    )
