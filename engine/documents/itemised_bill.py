"""The itemised bill (Einzelverbindungsnachweis, EVN): AGB 5.5, CLINQ SD 2.5, AGB 4.4.5.

Only CLINQ Premium accounts get one, monthly. A header names the provider, the customer (name,
address, customer number) and the period; it lists each chargeable connection in the order of
their start with date, destination number, start, duration and price; flat-rate connections
are not listed. Numbers
are shown in full or shortened by the last three digits, as the customer chose; the customer
may deactivate it. Connections whose traffic data were deleted (eight weeks after the invoice,
or earlier on request) no longer appear.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import select

from engine.billing.itemised import displayed_number, evn_option
from engine.billing.plan_changes import plan_at
from engine.core.deadlines import last_day_of_month
from engine.documents.german import euro_amount, numeric_date
from engine.documents.invoice_pdf import FONT, dated, drawable, new_document
from engine.ledger.event_payload import payload_fields
from engine.ledger.tables import events, received_at


class ItemisedBillRefused(Exception):
    def __init__(self, reason: str, clause: str):
        super().__init__(reason)
        self.reason, self.clause = reason, clause


def itemised_bill(engine, account_id: str, month: str) -> dict | None:
    """The itemised bill of ``month`` (YYYY-MM); None if the account does not exist.

    A month that is not YYYY-MM in the years the catalog covers raises ValueError.
    """
    if not re.fullmatch(r"20[0-9]{2}-(0[1-9]|1[0-2])", month):
        raise ValueError(f"month must be YYYY-MM from 2000-01 to 2099-12, not {month!r}")
    year, number = map(int, month.split("-"))
    last = last_day_of_month(year, number)
    with engine.store.unit(commit=False) as unit:
        engine.refresh_catalog(unit)
        account = unit.account(account_id)
        if account is None:
            return None
        rows = _applied_calls(unit.connection, account_id)
        invoices = unit.load_invoices([account_id]).get(account_id, [])
        engine.shapes.load(unit.connection)  # to render the stored results (ledger/compact.py)
    terms = engine.catalog.at(last)
    # The plan in force at the month's end: a downgrade keeps the bills of the months before.
    month_end = datetime.combine(last, datetime.max.time(), tzinfo=terms.calendar.zone)
    if not terms.plan(plan_at(account, month_end))["itemised_bill"]:
        raise ItemisedBillRefused(
            "Itemised bills are only issued for CLINQ Premium accounts.", "CLINQ SD 2.5"
        )
    option = evn_option(account.evn, terms)
    if option == "deactivated":
        raise ItemisedBillRefused("The customer deactivated the itemised bill.", "AGB 5.5")
    deleted = [i for i in invoices if i.period == month and i.traffic_data_deleted_on]
    connections, total = [], 0
    if not deleted:
        connections, total = _connections(engine.shapes, rows, month, option, terms)
    # In chronological order of the calls' start, whatever order the events arrived in.
    connections.sort(key=lambda call: call.pop("instant"))
    return {
        "account": account_id,
        "month": month,
        "period_start": f"{month}-01",
        "period_end": last.isoformat(),
        "customer": bill_customer(account_id, account.customer),
        "provider": bill_provider(terms),
        "numbers": option,
        "clause": "AGB 5.5",
        "traffic_data_deleted": bool(deleted),
        "connections": connections,
        "total": f"{total // 100}.{total % 100:02d}",
    }


def _applied_calls(connection, account_id: str) -> list:
    """The stored rows of the account's applied calls, in the order they were stored."""
    return connection.execute(
        select(
            events.c.id,
            events.c.at,
            events.c.at_utc,
            events.c.payload,
            events.c.status,
            events.c.result,
        )
        .where(
            events.c.account == account_id,
            events.c.type == "call",
            events.c.status == "applied",
        )
        .order_by(events.c.seq)
    ).all()


def _connections(shapes, rows, month: str, option: str, terms) -> tuple[list[dict], int]:
    """The chargeable connections that started in ``month`` and their total cents; flat-rate
    connections are not listed, numbers are shown as the customer chose."""
    connections, total = [], 0
    for row in rows:
        at = received_at(row.at, row.at_utc)
        start = datetime.fromisoformat(at).astimezone(terms.calendar.zone)
        if start.strftime("%Y-%m") != month:
            continue
        payload = payload_fields("call", row.payload)
        result = shapes.render_result(row.id, row.status, row.result, None, payload)
        charge = next(e for e in result["effects"] if e["kind"] == "charge")
        if charge.get("flat_rate"):
            continue
        cents = int(charge["amount"].replace(".", ""))
        total += cents
        connections.append(
            {
                "instant": start,
                "date": start.date().isoformat(),
                "start": start.strftime("%H:%M:%S"),
                "to": displayed_number(payload["to"], option, terms),
                "duration_s": payload["duration_s"],
                "zone": charge["zone"],
                "price": charge["amount"],
                "user": payload["user"],
            }
        )
    return connections, total


def bill_customer(account_id: str, customer: dict) -> dict:
    """The customer the bill is for: number, and name and address as on file (AGB 2.4)."""
    address = customer.get("address") or {}
    return {
        "number": account_id,
        "name": customer.get("name") or f"Kunde {account_id}",
        "street": address.get("street"),
        "postal_code": address.get("postal_code"),
        "city": address.get("city"),
    }


def bill_provider(terms) -> dict:
    """The provider issuing the bill (Platform: provider), as on the bill's last day."""
    provider = terms.clause("Platform: provider")
    return {name: provider[name] for name in ("name", "street", "postal_code", "city")}


def render_itemised_bill(bill: dict) -> bytes:
    """The itemised bill as PDF/A-3b (DejaVu Sans embedded), dated by the month's last day."""
    bill = drawable(bill)
    year, month = (int(part) for part in bill["month"].split("-"))
    last = last_day_of_month(year, month)
    provider_name = (bill.get("provider") or {}).get("name", "")
    title = f"Einzelverbindungsnachweis {bill['account']} {bill['month']}"
    pdf = new_document(title, provider_name, last)
    pdf.add_page()
    _render_header(pdf, bill)
    _render_connections(pdf, bill)
    return dated(bytes(pdf.output()), last)


def _render_header(pdf, bill: dict) -> None:
    """The header: provider, customer, period, and how the numbers are shown."""
    provider, customer = bill.get("provider"), bill.get("customer")
    if provider:  # the header: provider, customer, period (CLINQ SD 2.5)
        pdf.set_font(FONT, size=8)
        pdf.cell(
            0,
            4,
            f"{provider['name']}, {provider['street']}, {provider['postal_code']} "
            f"{provider['city']}",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.ln(3)
    if customer:
        pdf.set_font(FONT, size=11)
        city = f"{customer.get('postal_code') or ''} {customer.get('city') or ''}".strip()
        for line in (customer["name"], customer.get("street"), city):
            if line:
                pdf.cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(6)
    pdf.set_font(FONT, style="B", size=14)
    pdf.cell(0, 8, f"Einzelverbindungsnachweis {bill['month']}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=10)
    if bill.get("period_start"):
        pdf.cell(
            0,
            6,
            f"Zeitraum: {numeric_date(bill['period_start'])} bis {numeric_date(bill['period_end'])}"
            f" · Anbieter: {provider['name'] if provider else ''}",
            new_x="LMARGIN",
            new_y="NEXT",
        )
    shown = (
        "um die letzten drei Ziffern gekürzt" if bill["numbers"] == "shortened" else "vollständig"
    )
    pdf.cell(
        0,
        6,
        f"Kundennummer {bill['account']}; Zielrufnummern {shown} (AGB 5.5).",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    if bill["traffic_data_deleted"]:
        pdf.multi_cell(
            0,
            6,
            "Die Verbindungsdaten dieses Monats wurden gelöscht (AGB 4.4.5).",
            new_x="LMARGIN",
            new_y="NEXT",
        )
    pdf.ln(2)


def _render_connections(pdf, bill: dict) -> None:
    """The table of connections with their sum, and the note on flat-rate connections."""
    pdf.set_font(FONT, style="B", size=9)
    for title, width in (
        ("Datum", 25),
        ("Beginn", 22),
        ("Zielrufnummer", 45),
        ("Dauer", 22),
        ("Nutzer", 46),
    ):
        pdf.cell(width, 6, title, border="B")
    pdf.cell(0, 6, "Entgelt", border="B", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=9)
    for call in bill["connections"]:
        duration = str(timedelta(seconds=call["duration_s"]))
        pdf.cell(25, 5, numeric_date(call["date"]))
        pdf.cell(22, 5, call["start"])
        pdf.cell(45, 5, call["to"])
        pdf.cell(22, 5, duration)
        pdf.cell(46, 5, call["user"][:28])
        pdf.cell(0, 5, euro_amount(call["price"]), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, style="B", size=10)
    pdf.cell(160, 7, "Summe (netto)", align="R")
    pdf.cell(0, 7, euro_amount(bill["total"]), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=8)
    pdf.multi_cell(
        0,
        4,
        "Verbindungen, die über eine Flatrate abgerechnet werden, sind nicht aufgeführt "
        "(CLINQ SD 2.5).",
        new_x="LMARGIN",
        new_y="NEXT",
    )
