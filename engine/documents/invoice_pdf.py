"""Invoices as PDF (AGB 4.3.1), in German, with the mandatory content of § 14 (4) UStG.

Everything printed comes from the invoice as issued: the customer's and the provider's details
as on file then (AGB 4.3.4), the items with quantity, unit price, clause, net, VAT rate and
amount, gross, the credit that paid it, the amount due and its date, and the hint of AGB 4.5.3.
The settlement invoice of the 20th (CLINQ SD 1.3) shows what it settles instead
(engine/documents/settlement_text.py). No itemised list of
connections (AGB 4.3.3): that is the separate itemised bill.

The PDF is PDF/A-3b (fpdf2's ``enforce_compliance``: XMP metadata with ``pdfaid:part`` 3 and
``conformance`` B, an sRGB output intent with fpdf2's ICC profile) with the text in DejaVu Sans,
a freely licensed TrueType font shipped in ``fonts/`` and embedded as a subset (PDF/A forbids
the unembedded standard fonts). A ZUGFeRD invoice is this PDF with its XML attached by
factur-x, which keeps the output intent and rewrites the XMP for Factur-X.
"""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from fpdf import FPDF

from engine.core.state import Invoice
from engine.core.text import printable_data, unprintable_except
from engine.documents import german
from engine.documents.german import euro_amount, item_name, numeric_date
from engine.documents.pdf_fonts import add_font, code_points, paragraph
from engine.documents.settlement_text import render_settlement

FONTS = Path(__file__).parent / "fonts"
XMP_DATE = re.compile(rb"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00")
FONT = "DejaVuSans"


def new_document(title: str, author: str, created: date) -> FPDF:
    """An A4 PDF/A-3b document with DejaVu Sans embedded, dated ``created`` (not the clock)."""
    pdf = FPDF(format="A4", enforce_compliance="PDFA_3B")
    add_font(pdf, FONT, "", FONTS / "DejaVuSans.ttf")  # parsed once per process (pdf_fonts.py)
    add_font(pdf, FONT, "B", FONTS / "DejaVuSans-Bold.ttf")
    pdf.set_title(title)
    pdf.set_author(author)
    pdf.set_lang("de-DE")
    pdf.set_creation_date(datetime.combine(created, datetime.min.time(), UTC))
    return pdf


@cache
def undrawable() -> re.Pattern[str]:
    """Every control character and every character DejaVu Sans (regular and bold) has no
    glyph for: a PDF prints each as a space (engine/core/text.py)."""
    regular = code_points(FONT, "", FONTS / "DejaVuSans.ttf")
    bold = code_points(FONT, "B", FONTS / "DejaVuSans-Bold.ttf")
    return unprintable_except(regular & bold)


def drawable(data: Any) -> Any:
    """``data`` (a document's detail, an itemised bill) as the PDF can print it: what the
    fonts cannot draw, control characters stored before the event schema refused them
    included, becomes a space."""
    return printable_data(data, undrawable())


def prenotification_text(detail: dict) -> str | None:
    """The SEPA pre-notification of an invoice collected by direct debit, or None."""
    mandate = detail.get("mandate")
    if not mandate:
        return None
    return (
        f"Der Betrag von {euro_amount(detail['due'])} wird am "
        f"{numeric_date(mandate['collection_date'])} mit der Mandatsreferenz "
        f"{mandate['reference']} und der Gläubiger-ID {mandate['creditor_id']} eingezogen."
    )


COLUMNS = (
    ("Leistung", 62, "L"),
    ("Menge", 26, "R"),
    ("Einzelpreis", 26, "R"),
    ("Grundlage", 34, "L"),
    ("USt", 14, "L"),
)
UNITS = {"MIN": ("Min.", "Min."), "MON": ("Monat", "Monate"), "C62": ("Stück", "Stück")}


def german_number(text: str) -> str:
    return text.replace(".", ",")


def signed(amount: str) -> str:
    return amount if amount.startswith("-") else f"+{amount}"


def quantity_text(item: dict) -> str:
    """Quantity and unit as printed: 37 Min., 1 Monat, 0,5161 Monate, 2 Nutzer; empty for an
    item issued before the ledger kept quantities."""
    if "quantity" not in item:
        return ""
    one, many = UNITS.get(item["unit"], (item["unit"], item["unit"]))
    if item["kind"] == "additional_user_fee":
        one = many = "Nutzer"
    return f"{german_number(item['quantity'])} {one if item['quantity'] == '1' else many}"


def unit_price_text(item: dict) -> str:
    """The net unit price as printed (with all its decimals: 0,0690 EUR)."""
    return euro_amount(item["unit_price"]) if "unit_price" in item else ""


def vat_text(detail: dict, item: dict) -> str:
    return f"{detail['vat_rate'].replace('.', ',')} %" if item["vat"] else "keine"


def letterhead(pdf: FPDF, provider: dict, customer: dict, account: str) -> None:
    """The first page's top: the sender line and the customer's address (AGB 4.3.4: as on
    file on the document's day)."""
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()
    pdf.set_font(FONT, size=8)
    sender = (
        f"{provider['name']}, {provider['street']}, {provider['postal_code']} {provider['city']}"
    )
    pdf.cell(0, 4, sender, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(FONT, size=11)
    address = customer.get("address") or {}
    for line in (
        customer.get("name", f"Kunde {account}"),
        address.get("street", ""),
        f"{address.get('postal_code', '')} {address.get('city', '')}".strip(),
    ):
        if line:
            pdf.cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(10)


def provider_footer(pdf: FPDF, provider: dict) -> None:
    """The footer every business letter of the provider carries: address, register, VAT id,
    tax number (UStG § 14 (4)), and the GmbH's details (GmbHG § 35a)."""
    pdf.ln(3)
    pdf.set_font(FONT, size=8)
    paragraph(
        pdf,
        4,
        f"{provider['name']} · {provider['street']} · "
        f"{provider['postal_code']} {provider['city']} · "
        f"{provider['register']} · USt-IdNr. {provider['vat_id']} · Steuernummer "
        f"{provider['tax_number']} · {provider['email']}",
    )
    if letter_details := business_letter_details(provider):
        paragraph(pdf, 4, letter_details)


def render_invoice(invoice: Invoice, signed_note: str | None = None) -> bytes:
    invoice = replace(invoice, detail=drawable(invoice.detail))
    detail = invoice.detail
    provider, customer = detail["provider"], detail["customer"]
    pdf = new_document(
        f"Rechnung {invoice.number}", provider["name"], date.fromisoformat(invoice.issued_on)
    )
    letterhead(pdf, provider, customer, invoice.account)
    pdf.set_font(FONT, style="B", size=16)
    pdf.cell(0, 8, f"Rechnung {invoice.number}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=10)
    facts = [
        ("Rechnungsnummer", invoice.number),
        ("Rechnungsdatum", numeric_date(invoice.issued_on)),
        (
            "Leistungszeitraum",
            f"{numeric_date(detail['period_start'])} bis {numeric_date(detail['period_end'])}",
        ),
        ("Kundennummer", invoice.account),
        ("Produkt", german.token(detail["plan"])),
    ]
    if customer.get("vat_id"):
        facts.append(("USt-IdNr. des Kunden", customer["vat_id"]))
    for label, value in facts:
        pdf.cell(55, 6, label)
        pdf.cell(0, 6, value, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    if detail.get("settlement"):  # the invoice of the 20th (CLINQ SD 1.3): no VAT line
        render_settlement(pdf, detail)
    else:
        items_and_totals(pdf, detail)
    pdf.set_font(FONT, size=9)
    pdf.ln(4)
    notice = prenotification_text(detail)
    if notice:  # SEPA pre-notification (AGB 4.2.2: the debit comes six working days later)
        pdf.set_font(FONT, style="B", size=9)
        paragraph(pdf, 5, notice)
        pdf.set_font(FONT, size=9)
        pdf.ln(1)
    if note := vat_note(detail):  # UStG § 14a (5): reverse charge; or not taxable in Germany
        pdf.set_font(FONT, style="B", size=9)
        paragraph(pdf, 5, note)
        pdf.set_font(FONT, size=9)
        pdf.ln(1)
    paragraph(pdf, 5, detail["hint"])
    if detail.get("default_hint"):  # BGB § 286 (3): consumers only
        pdf.ln(1)
        paragraph(pdf, 5, detail["default_hint"])
    pdf.ln(1)
    paragraph(
        pdf,
        5,
        "Diese Rechnung enthält keinen Einzelverbindungsnachweis (AGB 4.3.3); Sie "
        "können ihn in Ihrem Account abrufen.",
    )
    if signed_note:
        paragraph(pdf, 5, signed_note)
    provider_footer(pdf, provider)
    return dated(bytes(pdf.output()), date.fromisoformat(invoice.issued_on))


def vat_label(detail: dict) -> str:
    """The VAT line of the totals: the rate of UStG § 12, or none where the invoice bears no
    German VAT (UStG § 13b, § 3a (2))."""
    treatment = detail.get("vat_treatment") or {}
    if treatment.get("treatment") == "reverse_charge":
        return "Umsatzsteuer 0,00 % (Steuerschuldnerschaft des Leistungsempfängers)"
    if treatment.get("treatment") == "not_taxable":
        return "Umsatzsteuer 0,00 % (nicht im Inland steuerbar)"
    if treatment.get("treatment") == "oss":  # § 3a (5) UStG: the consumer's member state
        rate = detail["vat_rate"].replace(".", ",")
        return f"Umsatzsteuer {rate} % ({treatment['country']}, § 3a Abs. 5 UStG)"
    return f"Umsatzsteuer {detail['vat_rate'].replace('.', ',')} % (UStG § 12)"


def vat_note(detail: dict) -> str | None:
    """The note of an invoice without German VAT: reverse charge with both VAT ids (§ 14a (1),
    (5) UStG) or a supply not taxable in Germany (§ 3a (2) UStG); None for domestic VAT."""
    treatment = detail.get("vat_treatment") or {}
    if treatment.get("treatment") == "reverse_charge":
        return (
            f"{treatment['note']} (Reverse Charge): Die Leistung ist nach § 3a Abs. 2 UStG am "
            "Sitz des Leistungsempfängers erbracht; die Umsatzsteuer schuldet der "
            "Leistungsempfänger. USt-IdNr. des Leistungsempfängers "
            f"{detail['customer']['vat_id']}, USt-IdNr. des leistenden Unternehmers "
            f"{detail['provider']['vat_id']}."
        )
    if treatment.get("treatment") == "not_taxable":
        return (
            f"{treatment['note']}: Die Leistung ist nach § 3a Abs. 2 UStG am Sitz des "
            "Leistungsempfängers außerhalb der Europäischen Union erbracht."
        )
    if treatment.get("treatment") == "oss":  # where the consumer lives, declared via OSS
        return f"{treatment['note']}."
    return None


def dated(pdf: bytes, day: date) -> bytes:
    """fpdf2 and factur-x stamp the XMP and attachment dates with the clock (and write no
    info dictionary): the invoice's issue date replaces them, in the XMP, the info dictionary
    and the attachments' parameters, and the file id is derived from the content, so one
    invoice renders to the same bytes every time (time comes from events, not the clock).

    pikepdf (qpdf) rewrites the file: the XMP stays uncompressed and unformatted (PDF/A),
    other streams as they are; it is used rather than pypdf, which took 15 % of an invoice's
    rendering time to parse and clone the document."""
    import pikepdf

    stamp = day.strftime("D:%Y%m%d000000+00'00'")
    with pikepdf.open(io.BytesIO(pdf)) as document:
        document.docinfo[pikepdf.Name.CreationDate] = stamp
        document.docinfo[pikepdf.Name.ModDate] = stamp
        xmp = document.Root.Metadata
        xmp.write(XMP_DATE.sub(f"{day.isoformat()}T00:00:00+00:00".encode(), xmp.read_bytes()))
        for spec in document.Root.get("/AF", []):
            spec.EF.F.Params.ModDate = stamp
        if pikepdf.Name.ID in document.trailer:
            del document.trailer.ID  # a new one, both halves from the content (deterministic_id)
        out = io.BytesIO()
        document.save(
            out,
            deterministic_id=True,
            fix_metadata_version=False,
            compress_streams=False,
            object_stream_mode=pikepdf.ObjectStreamMode.preserve,
        )
    return out.getvalue()


def items_and_totals(pdf: FPDF, detail: dict) -> None:
    """The items with quantity and unit price, VAT, gross, what is paid and what is due."""
    pdf.set_font(FONT, style="B", size=9)
    for title, width, align in COLUMNS:
        pdf.cell(width, 7, title, border="B", align=align)
    pdf.cell(0, 7, "Netto", border="B", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=9)
    for item in detail["items"]:
        quantity, unit_price = quantity_text(item), unit_price_text(item)
        for text, (_, width, align) in zip(
            (item_name(item), quantity, unit_price, item["clause"], vat_text(detail, item)),
            COLUMNS,
            strict=True,
        ):
            pdf.cell(width, 6, text, align=align)
        pdf.cell(0, 6, euro_amount(item["net"]), align="R", new_x="LMARGIN", new_y="NEXT")
        if item.get("rounding_reason"):  # the cent difference of the line (invoice_lines)
            pdf.set_font(FONT, size=7)
            pdf.cell(
                0,
                4,
                f"   darin {euro_amount(signed(item['rounding']))} {item['rounding_reason']}",
                new_x="LMARGIN",
                new_y="NEXT",
            )
            pdf.set_font(FONT, size=9)
    pdf.set_font(FONT, size=10)
    pdf.ln(2)
    totals = [
        ("Summe netto", detail["net"]),
        (vat_label(detail), detail["vat"]),
        ("Rechnungsbetrag brutto", detail["gross"]),
        *settled_lines(detail),
    ]
    for label, amount in totals:
        pdf.cell(150, 6, label, align="R")
        pdf.cell(0, 6, euro_amount(amount), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, style="B", size=11)
    label, amount = payable_line(detail)
    if amount is None:  # nothing to pay: said in words, no "0,00 EUR" to pay
        pdf.cell(0, 8, label, align="R", new_x="LMARGIN", new_y="NEXT")
        return
    pdf.cell(150, 8, label, align="R")
    pdf.cell(0, 8, euro_amount(amount), align="R", new_x="LMARGIN", new_y="NEXT")


def settled_lines(detail: dict) -> list[tuple[str, str]]:
    """What of the gross is already settled: paid from the credit, and claimed by earlier open
    invoices (CLINQ SD 1.3), each named, with its amount where there are several."""
    lines = []
    if _money_cents(detail.get("paid_by_credit", "0.00")):
        lines.append(("bereits aus Ihrem Guthaben bezahlt", detail["paid_by_credit"]))
    claims = detail.get("earlier_claims")
    if claims and len(claims) > 1:
        lines += [(f"bereits angefordert mit Rechnung {c['invoice']}", c["amount"]) for c in claims]
    elif detail.get("earlier_invoices"):
        numbers = ", ".join(detail["earlier_invoices"])
        lines.append(
            (f"bereits angefordert mit Rechnung {numbers}", detail["claimed_by_earlier_invoices"])
        )
    return lines


def payable_line(detail: dict) -> tuple[str, str | None]:
    """The bold last line: what is payable and by when, or that nothing is to be paid (an
    invoice paid from the credit says so instead of "Zahlbar bis … 0,00 EUR")."""
    if _money_cents(detail["due"]):
        # Partly paid: the lines above show what the credit paid; this one what is payable.
        label = f"Zahlbar bis {numeric_date(detail['due_on'])} (fällig mit Zugang, AGB 4.4.1)"
        return label, detail["due"]
    if _money_cents(detail.get("claimed_by_earlier_invoices", "0.00")):
        return "Mit dieser Rechnung ist nichts zusätzlich zu zahlen", None
    if _money_cents(detail.get("paid_by_credit", "0.00")):
        return "Bereits aus Ihrem Guthaben bezahlt — es ist nichts zu zahlen", None
    return "Es ist nichts zu zahlen", None


def _money_cents(amount: str) -> int:
    return round(Decimal(amount) * 100)


def business_letter_details(provider: dict) -> str:
    """The managing directors a GmbH's business letters name (GmbHG § 35a) and the account to
    pay to; invoices issued before the provider file held them show what they have."""
    parts = []
    if provider.get("managing_directors"):
        parts.append(f"Geschäftsführer: {provider['managing_directors']}")
    if provider.get("iban"):
        iban = " ".join(provider["iban"][i : i + 4] for i in range(0, len(provider["iban"]), 4))
        bank = f"{provider['bank']} · " if provider.get("bank") else ""
        bic = f" · BIC {provider['bic']}" if provider.get("bic") else ""
        parts.append(f"Bankverbindung: {bank}IBAN {iban}{bic}")
    if provider.get("creditor_id"):
        parts.append(f"Gläubiger-ID {provider['creditor_id']}")
    return " · ".join(parts)
