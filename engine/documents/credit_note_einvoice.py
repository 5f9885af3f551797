"""Credit notes as EN 16931 e-invoices: XRechnung 3.0 (CII and UBL) and Factur-X.

A credit note (UNTDID 1001 code ``381``) has the business terms of an invoice, with positive
amounts, plus the preceding invoice reference (BT-25, BT-26) where it corrects one. The parties,
lines, VAT breakdown and totals come from the invoice builder (engine/documents/einvoice.py)
fed with the credit note's detail, which has the invoice detail's shape; this module then sets
what differs for a credit note, on the element tree (lxml), never by string:

* CII: ``TypeCode`` 381, the notes, the payment instructions and ``InvoiceReferencedDocument``;
* UBL: the ``CreditNote`` document of UBL 2.1 (root ``CreditNote``, ``CreditNoteTypeCode``,
  ``CreditNoteLine`` with ``CreditedQuantity``, ``BillingReference``), as EN 16931 binds a
  credit note to UBL; the invoice's ``DueDate`` has no place there.

Payment instructions (BG-16, BR-DE-1): a justified objection is settled against open claims or
the credit account (UNTDID 4461 ``97``, clearing between partners); a refund of credit is paid
to the account the customer named (``1``, instrument not defined here: the platform holds no
payee account of the customer). BT-20 says so in German.
"""

from __future__ import annotations

import copy
from dataclasses import replace

from lxml import etree

from engine.billing.credit_notes import OBJECTION
from engine.core.state import CreditNote, Invoice
from engine.core.text import printable_data
from engine.documents import einvoice, german
from engine.documents.einvoice import FACTUR_X_CII, FORMATS, XRECHNUNG_CII, XRECHNUNG_UBL
from engine.documents.german import numeric_date

CREDIT_NOTE = "381"
CLEARING = "97"
NOT_DEFINED = "1"
RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
UBL_CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CAC = einvoice.UBL_CAC
CBC = einvoice.UBL_CBC
CII_NS = {"rsm": RSM, "ram": RAM, "udt": UDT, "qdt": QDT}
UBL_NS = {"cac": CAC, "cbc": CBC}


def filename(number: str, fmt: str) -> str:
    suffix = {XRECHNUNG_CII: "xrechnung", XRECHNUNG_UBL: "xrechnung-ubl"}.get(fmt, "factur-x")
    return f"Gutschrift-{number}.{suffix}.xml"


def build_credit_note_einvoice(note: CreditNote, fmt: str = XRECHNUNG_CII) -> bytes:
    """The credit note as a structured e-invoice in one of :data:`FORMATS`."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown e-invoice format {fmt!r}; one of {', '.join(FORMATS)}")
    if fmt == XRECHNUNG_UBL:
        return build_credit_note_ubl(note)
    return build_credit_note_cii(note, fmt)


def notes(note: CreditNote) -> list[str]:
    """BT-22: what is corrected and why, in German."""
    found = [title(note), note.detail["note"]]
    found.append(
        f"Grundlage: {note.clause}; Geschäftsbedingungen vom {numeric_date(note.terms_version)}."
    )
    return found


def title(note: CreditNote) -> str:
    """The heading: a correction of an invoice, or a credit without one."""
    if note.invoice:
        return (
            f"Rechnungskorrektur zu Rechnung Nr. {note.invoice} vom "
            f"{numeric_date(note.invoice_issued_on or note.issued_on)}"
        )
    if note.reason == OBJECTION:
        return "Gutschrift aufgrund eines begründeten Einwands"
    return "Gutschrift: Erstattung von Guthaben"


def payment_text(note: CreditNote) -> tuple[str, str]:
    """BT-81 and BT-20: how the credit reaches the customer."""
    if note.reason == OBJECTION:
        return CLEARING, (
            "Der Betrag wird mit offenen Forderungen verrechnet, der Rest Ihrem Guthaben "
            "gutgeschrieben (AGB 4.5.4); Sie müssen nichts veranlassen."
        )
    return NOT_DEFINED, (
        f"Der Betrag wird auf das von Ihnen angegebene Konto überwiesen ({note.clause})."
    )


def as_invoice(note: CreditNote) -> Invoice:
    """The credit note in the invoice builder's terms: no credit paid it, all of it is due."""
    detail = dict(note.detail)
    # BT-153 in German: the invoice builder names a line by its kind.
    detail["items"] = [
        {**item, "kind": german.CREDIT_NOTE_LINES.get(item["kind"], item["kind"])}
        for item in detail["items"]
    ]
    detail.setdefault("period_start", None)
    detail["period_start"] = detail["period_start"] or note.issued_on
    detail["period_end"] = detail.get("period_end") or note.issued_on
    detail.update(
        hint="",
        default_hint=None,
        paid_by_credit="0.00",
        claimed_by_earlier_invoices="0.00",
        due=note.detail["gross"],
        due_on=note.issued_on,
        mandate=None,
    )
    return Invoice(
        number=note.number,
        account=note.account,
        kind="credit_note",
        issued_on=note.issued_on,
        due_on=note.issued_on,
        amount_cents=note.amount_cents,
        open_cents=0,
        clause=note.clause,
        terms_version=note.terms_version,
        detail=detail,
    )


def _has_period(note: CreditNote) -> bool:
    return bool(note.detail.get("period_start") and note.detail.get("period_end"))


def build_credit_note_cii(note: CreditNote, fmt: str = XRECHNUNG_CII) -> bytes:
    """The credit note as CII (``xrechnung-cii`` or ``factur-x``), XSD-checked."""
    return einvoice.once(note, fmt, _build_credit_note_cii)


def _build_credit_note_cii(note: CreditNote, fmt: str) -> bytes:
    from facturx import xml_check_xsd

    note = replace(note, detail=printable_data(note.detail))  # XML 1.0 (engine/core/text.py)
    root = etree.fromstring(einvoice.build_cii(as_invoice(note), fmt))
    header = root.find("rsm:ExchangedDocument", CII_NS)
    header.find("ram:TypeCode", CII_NS).text = CREDIT_NOTE  # BT-3
    for old in header.findall("ram:IncludedNote", CII_NS):
        header.remove(old)
    for text in notes(note):  # BT-22
        included = etree.SubElement(header, f"{{{RAM}}}IncludedNote")
        etree.SubElement(included, f"{{{RAM}}}Content").text = text
    settlement = root.find(".//ram:ApplicableHeaderTradeSettlement", CII_NS)
    for tag in ("CreditorReferenceID", "PaymentReference"):
        for old in settlement.findall(f"ram:{tag}", CII_NS):
            settlement.remove(old)
    code, text = payment_text(note)
    means = settlement.find("ram:SpecifiedTradeSettlementPaymentMeans", CII_NS)
    for child in list(means):
        means.remove(child)
    etree.SubElement(means, f"{{{RAM}}}TypeCode").text = code  # BT-81
    terms = settlement.find("ram:SpecifiedTradePaymentTerms", CII_NS)
    for child in list(terms):
        terms.remove(child)
    etree.SubElement(terms, f"{{{RAM}}}Description").text = text  # BT-20
    if not _has_period(note):
        settlement.remove(settlement.find("ram:BillingSpecifiedPeriod", CII_NS))
    if note.invoice:  # BG-3: BT-25 and BT-26, after the totals (CII D16B order)
        totals = settlement.find("ram:SpecifiedTradeSettlementHeaderMonetarySummation", CII_NS)
        reference = etree.Element(f"{{{RAM}}}InvoiceReferencedDocument")
        etree.SubElement(reference, f"{{{RAM}}}IssuerAssignedID").text = note.invoice
        issued = etree.SubElement(reference, f"{{{RAM}}}FormattedIssueDateTime")
        etree.SubElement(issued, f"{{{QDT}}}DateTimeString", format="102").text = (
            note.invoice_issued_on or ""
        ).replace("-", "")
        totals.addnext(reference)
    etree.indent(root)
    xml = etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)
    xml_check_xsd(xml, flavor="factur-x", level="en16931")
    return xml


def build_credit_note_ubl(note: CreditNote) -> bytes:
    """The credit note as XRechnung 3.0 in UBL 2.1's ``CreditNote`` document."""
    note = replace(note, detail=printable_data(note.detail))  # XML 1.0 (engine/core/text.py)
    source = etree.fromstring(einvoice.build_ubl(as_invoice(note)))
    renamed = {
        "InvoiceTypeCode": "CreditNoteTypeCode",
        "InvoiceLine": "CreditNoteLine",
        "InvoicedQuantity": "CreditedQuantity",
    }
    root = etree.Element(
        f"{{{UBL_CREDIT_NOTE}}}CreditNote", nsmap={None: UBL_CREDIT_NOTE, "cac": CAC, "cbc": CBC}
    )
    code, text = payment_text(note)
    for child in source:
        name = etree.QName(child).localname
        if name in ("DueDate", "Note"):
            continue
        if name == "InvoicePeriod" and not _has_period(note):
            continue
        element = copy.deepcopy(child)
        for node in element.iter():
            local = etree.QName(node).localname
            if local in renamed:
                node.tag = f"{{{etree.QName(node).namespace}}}{renamed[local]}"
        if name == "InvoiceTypeCode":
            element.text = CREDIT_NOTE  # BT-3
            root.append(element)
            for content in notes(note):  # BT-22
                etree.SubElement(root, f"{{{CBC}}}Note").text = content
            continue
        if name == "PaymentMeans":
            element = etree.Element(f"{{{CAC}}}PaymentMeans")
            etree.SubElement(element, f"{{{CBC}}}PaymentMeansCode").text = code  # BT-81
        elif name == "PaymentTerms":
            element = etree.Element(f"{{{CAC}}}PaymentTerms")
            etree.SubElement(element, f"{{{CBC}}}Note").text = text  # BT-20
        root.append(element)
        if name in ("BuyerReference", "InvoicePeriod") and note.invoice:
            _billing_reference_after(root, note)
    etree.indent(root)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


def _billing_reference_after(root, note: CreditNote) -> None:
    """BG-3 (BT-25, BT-26) after BuyerReference and InvoicePeriod, in UBL 2.1 order: once."""
    existing = root.find("cac:BillingReference", UBL_NS)
    if existing is not None:
        root.remove(existing)
    reference = etree.SubElement(root, f"{{{CAC}}}BillingReference")
    document = etree.SubElement(reference, f"{{{CAC}}}InvoiceDocumentReference")
    etree.SubElement(document, f"{{{CBC}}}ID").text = note.invoice
    etree.SubElement(document, f"{{{CBC}}}IssueDate").text = note.invoice_issued_on


def embed_in_pdf(pdf: bytes, note: CreditNote) -> bytes:
    """The credit note PDF with its Factur-X EN 16931 XML embedded (PDF/A-3)."""
    xml = build_credit_note_cii(note, FACTUR_X_CII)
    return einvoice.embed_xml(pdf, xml, "Gutschrift", note.number, note.detail, note.issued_on)
