"""The words and the table of the settlement invoice of the 20th (CLINQ SD 1.3), in German.

The invoice asks for the outstanding amount of the credit account. It shows what it settles
(the charges of the periods not yet invoiced, less payments and credit), which open invoices
it leaves out, and why it carries no VAT line: the VAT on the charges is shown on the monthly
invoice of their period, which counts this amount as already claimed.
"""

from __future__ import annotations

from engine.documents.german import euro_amount, item_name, numeric_date
from engine.documents.pdf_fonts import paragraph

VAT_STATEMENT = (
    "Umsatzsteuer: Dieser Ausgleichsbetrag enthält keine gesondert ausgewiesene Umsatzsteuer. "
    "Die Leistungen werden mit der Monatsrechnung ihres Leistungszeitraums einschließlich "
    "Umsatzsteuer abgerechnet; diese rechnet den hier angeforderten Betrag als bereits "
    "angefordert an (CLINQ SD 1.3)."
)


def month_name(period: str) -> str:
    """2026-11 -> 11/2026."""
    year, month = period.split("-")
    return f"{month}/{year}"


def offset_row(settlement: dict) -> tuple[str, str]:
    """Payments and credit that cover part of the charges, or other debits that add to them."""
    offset = settlement["offset"]
    if offset.startswith("-"):
        return ("zuzüglich sonstiger Belastungen Ihres Guthabenkontos", offset.lstrip("-"))
    return ("abzüglich Ihrer Zahlungen und Ihres Guthabens", f"-{offset}")


def settlement_rows(detail: dict) -> list[tuple[str, str]]:
    """(label, amount) rows from the charges not yet invoiced to the amount asked for."""
    settlement = detail["settlement"]
    rows = [
        (f"{month_name(c['period'])}: {item_name(_item(c['item']))}", c["net"])
        for c in settlement["charges"]
    ]
    rows.append(("Summe der noch nicht abgerechneten Leistungen (netto)", settlement["uninvoiced"]))
    rows.append(offset_row(settlement))
    return rows


def _item(key: str) -> dict:
    kind, _, zone = key.partition(":")
    return {"kind": kind, "zone": zone or None}


def settlement_notes(detail: dict) -> list[str]:
    """What the invoice settles, in sentences: for the e-invoice (BT-22) and the PDF."""
    settlement = detail["settlement"]
    periods = ", ".join(month_name(p) for p in settlement["periods"]) or "–"
    label, amount = offset_row(settlement)
    found = [
        f"Ausgleich Ihres Guthabenkontos (CLINQ SD 1.3): Ihr Guthaben betrug am "
        f"{numeric_date(detail['period_end'])} {euro_amount(settlement['balance'])}. "
        f"Angefordert wird der Betrag, den keine offene Rechnung abdeckt: "
        f"{euro_amount(detail['due'])}.",
        f"Er betrifft die noch nicht abgerechneten Leistungen der Zeiträume {periods} "
        f"({euro_amount(settlement['uninvoiced'])} netto), {label} "
        f"{euro_amount(amount.lstrip('-'))}.",
    ]
    if settlement["open_invoices"]:
        numbers = ", ".join(
            f"{i['number']} ({euro_amount(i['open'])} offen)" for i in settlement["open_invoices"]
        )
        found.append(f"Nicht enthalten, da bereits angefordert: Rechnung {numbers}.")
    found.append(VAT_STATEMENT)
    return found


def render_settlement(pdf, detail: dict) -> None:
    """The settlement table and the amount asked for, in place of items, VAT and totals."""
    pdf.set_font(pdf.font_family, style="B", size=10)
    pdf.cell(0, 7, "Ausgleich Ihres Guthabenkontos (CLINQ SD 1.3)", border="B")
    pdf.ln(8)
    pdf.set_font(pdf.font_family, size=10)
    for label, amount in settlement_rows(detail):
        pdf.cell(150, 6, label)
        pdf.cell(0, 6, euro_amount(amount), align="R", new_x="LMARGIN", new_y="NEXT")
    for invoice in detail["settlement"]["open_invoices"]:
        pdf.cell(150, 6, f"nicht enthalten: Rechnung {invoice['number']}, bereits angefordert")
        pdf.cell(0, 6, euro_amount(invoice["open"]), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(pdf.font_family, style="B", size=11)
    pdf.cell(
        150,
        8,
        f"Ausgleichsbetrag, zahlbar bis {numeric_date(detail['due_on'])} (fällig mit Zugang, "
        "AGB 4.4.1)",
    )
    pdf.cell(0, 8, euro_amount(detail["due"]), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(pdf.font_family, size=9)
    pdf.ln(2)
    for text in settlement_notes(detail):
        paragraph(pdf, 5, text)  # left-aligned as the invoice's other notes
