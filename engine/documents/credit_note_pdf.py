"""Credit notes as PDF, in German: "Gutschrift" with "Rechnungskorrektur zu Rechnung Nr. … vom …".

Everything printed comes from the credit note as issued (``CreditNote.detail``): the parties as
on file that day, the corrected invoice, net, VAT and gross (positive), the reason and the
clause. Where the credit note goes to a customer who gets e-invoices (the corrected invoice's
format, UStG § 14), the PDF is a Factur-X PDF/A-3 with the XML embedded. Like the invoice, the
PDF is PDF/A-3b with DejaVu Sans embedded, dated by its issue date (``invoice_pdf.new_document``,
``invoice_pdf.dated``), so one credit note renders to the same bytes every time.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from engine.billing.einvoice_duty import FACTUR_X
from engine.core.state import CreditNote
from engine.documents import german
from engine.documents.credit_note_einvoice import embed_in_pdf, payment_text, title
from engine.documents.german import euro_amount, numeric_date
from engine.documents.invoice_pdf import (
    FONT,
    dated,
    drawable,
    letterhead,
    new_document,
    provider_footer,
)
from engine.documents.pdf_fonts import paragraph


def render_credit_note(note: CreditNote) -> bytes:
    """The credit note's PDF: Factur-X where its customer gets e-invoices, else plain."""
    pdf = render_plain_credit_note(note)
    if note.detail.get("einvoice", {}).get("format") == FACTUR_X:
        pdf = embed_in_pdf(pdf, note)
    return pdf


def render_plain_credit_note(note: CreditNote) -> bytes:
    note = replace(note, detail=drawable(note.detail))
    detail = note.detail
    provider, customer = detail["provider"], detail.get("customer") or {}
    issued = date.fromisoformat(note.issued_on)
    pdf = new_document(f"Gutschrift {note.number}", provider["name"], issued)
    letterhead(pdf, provider, customer, note.account)
    pdf.set_font(FONT, style="B", size=16)
    pdf.cell(0, 8, f"Gutschrift {note.number}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, style="B", size=11)
    pdf.cell(0, 7, title(note), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=10)
    facts = [
        ("Gutschriftnummer", note.number),
        ("Datum", numeric_date(note.issued_on)),
    ]
    if note.invoice:
        facts.append(
            ("Berichtigte Rechnung", f"{note.invoice} vom {numeric_date(note.invoice_issued_on)}")
        )
    if detail.get("period_start") and detail.get("period_end"):
        period = f"{numeric_date(detail['period_start'])} bis {numeric_date(detail['period_end'])}"
        facts.append(("Leistungszeitraum", period))
    facts.append(("Kundennummer", note.account))
    if customer.get("vat_id"):
        facts.append(("USt-IdNr. des Kunden", customer["vat_id"]))
    for label, value in facts:
        pdf.cell(55, 6, label)
        pdf.cell(0, 6, value, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(FONT, style="B", size=10)
    pdf.cell(100, 7, "Gutschrift für", border="B")
    pdf.cell(35, 7, "Grundlage", border="B")
    pdf.cell(15, 7, "USt", border="B")
    pdf.cell(0, 7, "Netto", border="B", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=10)
    rate = detail["vat_rate"].replace(".", ",")
    for item in detail["items"]:
        pdf.cell(100, 6, german.CREDIT_NOTE_LINES.get(item["kind"], item["kind"]))
        pdf.cell(35, 6, item["clause"])
        pdf.cell(15, 6, f"{rate} %" if item["vat"] else "nicht steuerbar")
        pdf.cell(0, 6, euro_amount(item["net"]), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    totals = [("Summe netto", detail["net"])]
    if any(item["vat"] for item in detail["items"]):
        totals.append((f"Umsatzsteuer {rate} % (UStG § 12)", detail["vat"]))
    for label, amount in totals:
        pdf.cell(150, 6, label, align="R")
        pdf.cell(0, 6, euro_amount(amount), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, style="B", size=11)
    pdf.cell(150, 8, "Gutschriftbetrag", align="R")
    pdf.cell(0, 8, euro_amount(detail["gross"]), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=9)
    pdf.ln(4)
    for text in (detail["note"], payment_text(note)[1]):
        paragraph(pdf, 5, text)  # left-aligned as an invoice's notes
        pdf.ln(1)
    provider_footer(pdf, provider)
    return dated(bytes(pdf.output()), issued)
