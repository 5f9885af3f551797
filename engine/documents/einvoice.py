"""Structured e-invoices (EN 16931) from an issued invoice: XRechnung 3.0 and Factur-X in CII.

The document is built with drafthorse's models of UN/CEFACT CII (D16B) and serialized with its
XSD check; everything in it comes from the invoice as issued (``Invoice.detail``), like the
PDF. Two guideline ids (BT-24) share one builder:

* XRechnung 3.0 (the German CIUS): ``urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:
  kosit:xrechnung_3.0``, a plain XML file;
* Factur-X / ZUGFeRD profile EN 16931: ``urn:cen.eu:en16931:2017``, embedded into the invoice
  PDF as ``factur-x.xml`` (PDF/A-3) by :func:`embed_in_pdf`.

VAT categories (BT-151, BT-118). Calls and fees for users bear VAT at the rate of UStG § 12:
category ``S``. The flat fees for returned debits and payment requests and default interest
are damages, not supplies, and are not subject to VAT (Platform: invoicing). EN 16931 has the
category ``O`` (not subject to VAT) for that, but ``O`` may not be mixed with any other
category in one invoice (BR-O-11 to BR-O-14) and forbids the seller's and the buyer's VAT
identifiers (BR-O-02). So:

* an invoice with only non-taxable items (the invoice of an outstanding credit balance, an
  invoice of fees and interest only) uses ``O`` with the exemption reason code
  ``VATEX-EU-O`` and without VAT identifiers (the seller is identified by its tax number,
  BT-32);
* an invoice that mixes taxable and non-taxable items puts the non-taxable ones in category
  ``E`` (exempt, rate 0 %) with the exemption reason as text, which EN 16931 allows next to
  ``S``. The reason names them as non-taxable damages, so nobody reads ``E`` as a tax
  exemption of § 4 UStG.

Amounts: the credit that paid part of the invoice and what earlier invoices already claim are
the paid amount (BT-113); the amount due (BT-115) is what the invoice asks for. Quantities:
minutes (``MIN``) per zone and rate, months (``MON``), users and fees (``C62``) as the ledger
recorded them (engine/core/invoice_lines.py); a cent difference from rounding each call is a line
charge or allowance. Invoices issued before the ledger kept quantities have lines of one unit
(``C62``) at their net amount.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from drafthorse.models.accounting import ApplicableTradeTax, TradeAllowanceCharge
from drafthorse.models.document import Document
from drafthorse.models.note import IncludedNote
from drafthorse.models.party import TaxRegistration
from drafthorse.models.payment import PaymentMeans, PaymentTerms
from drafthorse.models.tradelines import LineItem

from engine.core.invoice_lines import LineFigures, figures, plain
from engine.core.state import Invoice
from engine.core.text import printable_data
from engine.documents.german import item_name, numeric_date
from engine.documents.invoice_pdf import dated
from engine.documents.settlement_text import month_name, settlement_notes

XRECHNUNG_CII = "xrechnung-cii"
XRECHNUNG_UBL = "xrechnung-ubl"
FACTUR_X_CII = "factur-x"
FORMATS = (XRECHNUNG_CII, XRECHNUNG_UBL, FACTUR_X_CII)

GUIDELINES = {
    XRECHNUNG_CII: "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0",
    FACTUR_X_CII: "urn:cen.eu:en16931:2017",
}
BUSINESS_PROCESS = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"  # BT-23
INVOICE = "380"
CREDIT_TRANSFER = "58"
SEPA_DIRECT_DEBIT = "59"
CENT = Decimal("0.01")
# Platform: invoicing decides it; the customer reads the reason, not the catalog's name.
NON_TAXABLE_REASON = (
    "Nicht steuerbar: pauschalierter Schadensersatz bzw. Verzugszinsen, kein Entgelt für eine "
    "Leistung"
)


SETTLEMENT_REASON = (
    "Ausgleich des Guthabenkontos (CLINQ SD 1.3): keine Leistung dieser Rechnung; die "
    "Umsatzsteuer auf die Leistungen weist die Monatsrechnung ihres Leistungszeitraums aus"
)


def non_taxable_reason(detail: dict) -> str:
    """BT-120: why the non-taxable lines bear no VAT (damages, or a settlement of credit)."""
    return SETTLEMENT_REASON if detail.get("settlement") else NON_TAXABLE_REASON


class EInvoiceUnavailable(ValueError):
    """The invoice lacks data a structured e-invoice needs; names the business term."""


def filename(number: str, fmt: str) -> str:
    suffix = {XRECHNUNG_CII: "xrechnung", XRECHNUNG_UBL: "xrechnung-ubl"}.get(fmt, "factur-x")
    return f"Rechnung-{number}.{suffix}.xml"


def _money(value: str | Decimal) -> Decimal:
    return Decimal(value).quantize(CENT)


def _day(iso: str) -> date:
    return date.fromisoformat(iso)


def vat_layout(detail: dict) -> dict[bool, tuple[str, Decimal | None]]:
    """The VAT category and rate of taxable (True) and non-taxable (False) lines.

    The invoice's VAT treatment (``detail["vat_treatment"]``, UStG § 13b, § 3a, engine/
    vat_treatment.py) decides the taxable lines: ``S`` at the rate (German, or a consumer's
    member state's under the One-Stop-Shop, ``oss``), ``AE`` (reverse charge) at 0 %, or ``O``
    outside the EU, where every line is ``O`` (BR-O-11 to BR-O-14).
    Invoices issued before the treatment was recorded are domestic (``S``).
    """
    rate = Decimal(detail["vat_rate"]).quantize(CENT)
    category = (detail.get("vat_treatment") or {}).get("category", "S")
    if category == "O":
        return {True: ("O", None), False: ("O", None)}
    taxable = ("AE", Decimal("0.00")) if category == "AE" else ("S", rate)
    mixed = any(i["vat"] for i in detail["items"]) and not all(i["vat"] for i in detail["items"])
    return {True: taxable, False: ("E", Decimal("0.00")) if mixed else ("O", None)}


def vat_breakdown(detail: dict) -> list[dict]:
    """BG-23: one group per VAT category with its rate (BT-119), basis (BT-116), tax (BT-117)
    and exemption reason text and code (BT-120, BT-121) where the category needs one."""
    layout = vat_layout(detail)
    treatment = detail.get("vat_treatment") or {}
    groups: dict[str, dict] = {}
    for item in detail["items"]:
        code, rate = layout[item["vat"]]
        group = groups.setdefault(
            code, {"category": code, "rate": rate, "basis": Decimal("0.00"), "tax": CENT * 0}
        )
        group["basis"] += _money(item["net"])
    for group in groups.values():
        code = group["category"]
        group["reason"], group["reason_code"] = None, None
        if code == "S":
            group["tax"] = _money(detail["vat"])
        elif code == "AE":  # BR-AE-10
            group["reason"], group["reason_code"] = treatment["note"], "VATEX-EU-AE"
        elif code == "O":
            group["reason_code"] = "VATEX-EU-O"
            # a consumer outside the EU (Platform: oss not_taxable) is § 3a (5), a business (2)
            section = "5" if "Platform: oss" in treatment.get("clauses", []) else "2"
            group["reason"] = (
                f"{treatment['note']} (§ 3a Abs. {section} UStG)"
                if treatment.get("category") == "O"
                else non_taxable_reason(detail)
            )
        elif code == "E":
            group["reason"] = non_taxable_reason(detail)
    return list(groups.values())


def without_vat_ids(detail: dict) -> bool:
    """BR-O-02: an invoice whose lines are all ``O`` names neither party's VAT id."""
    layout = vat_layout(detail)
    return all(layout[i["vat"]][0] == "O" for i in detail["items"])


def build_einvoice(invoice: Invoice, fmt: str = XRECHNUNG_CII) -> bytes:
    """The invoice as a structured e-invoice in one of :data:`FORMATS`."""
    if fmt == XRECHNUNG_UBL:
        return build_ubl(invoice)
    return build_cii(invoice, fmt)


# Within built_once(): each document's CII per profile, with the document it was built from
_built: ContextVar[dict | None] = ContextVar("einvoice_built", default=None)


@contextmanager
def built_once() -> Iterator[None]:
    """Within this, a document's CII in one profile is built once: archiving one invoice asks
    for it four times (the PDF's embedded Factur-X, the XRechnung and Factur-X files, the
    check before the UBL), a credit note for its Factur-X twice, always of the same object."""
    token = _built.set({})
    try:
        yield
    finally:
        _built.reset(token)


def once(document: Any, fmt: str, build: Callable[[Any, str], bytes]) -> bytes:
    """``build(document, fmt)``, or what it gave for this very object within built_once()."""
    memo = _built.get()
    if memo is None:
        return build(document, fmt)
    found = memo.get((id(document), fmt))
    if found is None or found[0] is not document:
        # the document is kept with its XML: its id cannot name another object meanwhile
        found = memo[(id(document), fmt)] = (document, build(document, fmt))
    return found[1]


def build_cii(invoice: Invoice, fmt: str = XRECHNUNG_CII) -> bytes:
    """The invoice as CII XML in the profile ``fmt`` (``xrechnung-cii`` or ``factur-x``)."""
    return once(invoice, fmt, _build_cii)


def _build_cii(invoice: Invoice, fmt: str) -> bytes:
    if fmt not in GUIDELINES:
        raise ValueError(f"unknown e-invoice format {fmt!r}; one of {', '.join(FORMATS)}")
    invoice = replace(invoice, detail=printable_data(invoice.detail))  # XML 1.0 (core/text.py)
    detail = invoice.detail
    if not detail:
        raise EInvoiceUnavailable(f"invoice {invoice.number} has no detail")
    provider, customer = detail["provider"], detail.get("customer") or {}
    address = customer.get("address") or {}
    for field, term in (("postal_code", "BT-53"), ("city", "BT-52")):
        if not address.get(field):
            raise EInvoiceUnavailable(
                f"the customer's postal address has no {field} ({term}, BR-DE-8, BR-DE-9)"
            )
    layout = vat_layout(detail)
    only_non_taxable = without_vat_ids(detail)

    doc = Document()
    doc.context.business_parameter.id = BUSINESS_PROCESS
    doc.context.guideline_parameter.id = GUIDELINES[fmt]
    doc.header.id = invoice.number  # BT-1
    doc.header.type_code = INVOICE  # BT-3
    doc.header.issue_date_time = _day(invoice.issued_on)  # BT-2
    for text in notes(invoice):  # BT-22
        doc.header.notes.add(IncludedNote(content=text))

    agreement = doc.trade.agreement
    # BT-10: the customer's Leitweg-ID where one is on file, else the customer number.
    agreement.buyer_reference = customer.get("leitweg_id") or invoice.account
    _cii_seller(agreement.seller, provider, only_non_taxable)
    _cii_buyer(agreement.buyer, invoice, customer, only_non_taxable)

    settlement = doc.trade.settlement
    settlement.currency_code = "EUR"  # BT-5
    settlement.period.start = _day(detail["period_start"])  # BT-73
    settlement.period.end = _day(detail["period_end"])  # BT-74
    _payment(settlement, invoice, provider)

    lines_net = _cii_lines(doc, invoice, layout)
    net_total = _money(detail["net"])
    vat_total = _money(detail["vat"])
    if lines_net != net_total:
        raise EInvoiceUnavailable(f"invoice {invoice.number}: the lines do not add up to the net")
    _cii_vat_breakdown(settlement, detail)

    gross, due = _money(detail["gross"]), _money(detail["due"])
    if net_total + vat_total != gross:
        raise EInvoiceUnavailable(f"invoice {invoice.number}: net and VAT do not add up to gross")
    totals = settlement.monetary_summation
    totals.line_total = net_total  # BT-106
    totals.charge_total = Decimal("0.00")  # BT-108
    totals.allowance_total = Decimal("0.00")  # BT-107
    totals.tax_basis_total = net_total  # BT-109
    totals.tax_total = (vat_total, "EUR")  # BT-110
    totals.grand_total = gross  # BT-112
    totals.prepaid_total = gross - due  # BT-113
    totals.due_amount = due  # BT-115
    return doc.serialize(schema="FACTUR-X_EN16931")


def _cii_seller(seller, provider: dict, only_non_taxable: bool) -> None:
    """BG-4: the seller, the provider as on the invoice."""
    seller.name = provider["name"]  # BT-27
    seller.description = (  # BT-33
        f"{provider['register']}; Geschäftsführer: {provider['managing_directors']}"
    )
    seller.legal_organization.id = provider["register"]  # BT-30 (BR-CO-26 without BT-31)
    seller.contact.person_name = f"Rechnungsservice {provider['name']}"  # BT-41
    seller.contact.telephone.number = provider["phone"]  # BT-42
    seller.contact.email.address = provider["email"]  # BT-43
    seller.address.line_one = provider["street"]
    seller.address.postcode = provider["postal_code"]
    seller.address.city_name = provider["city"]
    seller.address.country_id = "DE"
    seller.electronic_address.uri_ID = ("EM", provider["email"])  # BT-34
    seller.tax_registrations.add(TaxRegistration(id=("FC", provider["tax_number"])))  # BT-32
    if not only_non_taxable:  # BR-O-02: no VAT identifiers with category O
        seller.tax_registrations.add(TaxRegistration(id=("VA", provider["vat_id"])))  # BT-31


def _cii_buyer(buyer, invoice: Invoice, customer: dict, only_non_taxable: bool) -> None:
    """BG-7: the buyer, the customer as on the invoice."""
    detail = invoice.detail
    address = customer.get("address") or {}
    buyer.id = invoice.account  # BT-46
    buyer.name = customer.get("name") or f"Kunde {invoice.account}"  # BT-44
    buyer.address.line_one = address.get("street")
    buyer.address.postcode = address["postal_code"]
    buyer.address.city_name = address["city"]
    buyer.address.country_id = address.get("country") or detail.get("country") or "DE"
    if customer.get("email"):
        buyer.electronic_address.uri_ID = ("EM", customer["email"])  # BT-49
    if customer.get("vat_id") and not only_non_taxable:
        buyer.tax_registrations.add(TaxRegistration(id=("VA", customer["vat_id"])))  # BT-48


def _cii_lines(doc, invoice: Invoice, layout: dict) -> Decimal:
    """BG-25: one invoice line per item, each checked (:func:`checked_figures`); their net."""
    detail = invoice.detail
    lines: dict[bool, Decimal] = {True: Decimal("0.00"), False: Decimal("0.00")}
    for index, item in enumerate(detail["items"], start=1):
        line_figures = checked_figures(invoice, item)
        net = line_figures.net
        category, rate = layout[item["vat"]]
        line = LineItem()
        line.document.line_id = str(index)  # BT-126
        line.product.name = item_name(item)  # BT-153
        line.product.description = line_description(detail, item)  # BT-154
        line.agreement.net.amount = line_figures.unit_price  # BT-146 (BR-27: not negative)
        # BT-129, BT-130
        line.delivery.billed_quantity = (line_figures.quantity, line_figures.unit)
        if line_figures.rounding:  # BG-28 line charge / BG-27 line allowance
            difference = TradeAllowanceCharge()
            difference.indicator = line_figures.rounding > 0
            difference.actual_amount = abs(line_figures.rounding)  # BT-141 / BT-136
            difference.reason = line_figures.rounding_reason  # BT-144 / BT-139
            line.settlement.allowance_charge.add(difference)
        line.settlement.trade_tax.type_code = "VAT"
        line.settlement.trade_tax.category_code = category  # BT-151
        if rate is not None:
            line.settlement.trade_tax.rate_applicable_percent = rate  # BT-152
        line.settlement.monetary_summation.total_amount = net  # BT-131
        doc.trade.items.add(line)
        lines[item["vat"]] += net
    return sum(lines.values())


def _cii_vat_breakdown(settlement, detail: dict) -> None:
    """BG-23: the VAT breakdown, one group per category (:func:`vat_breakdown`)."""
    for group in vat_breakdown(detail):
        tax = ApplicableTradeTax()  # BG-23
        tax.calculated_amount = group["tax"]  # BT-117
        tax.type_code = "VAT"
        tax.basis_amount = group["basis"]  # BT-116
        tax.category_code = group["category"]  # BT-118
        if group["reason"]:
            tax.exemption_reason = group["reason"]  # BT-120
        if group["reason_code"]:
            tax.exemption_reason_code = group["reason_code"]  # BT-121
        # BT-119: XRechnung demands it in every breakdown (BR-DE-14), also with O: 0 %.
        rate = group["rate"]
        tax.rate_applicable_percent = rate if rate is not None else Decimal("0.00")
        settlement.trade_tax.add(tax)


def line_description(detail: dict, item: dict) -> str:
    """BT-154: the clause of the item; for the settlement, which periods it covers."""
    settlement = detail.get("settlement")
    if item["kind"] == "outstanding" and settlement:
        periods = ", ".join(month_name(p) for p in settlement["periods"]) or "-"
        return (
            f"Grundlage: {item['clause']}; noch nicht abgerechnete Leistungen {periods}: "
            f"{settlement['uninvoiced']} EUR netto, verrechnet mit Zahlungen und Guthaben: "
            f"{settlement['offset']} EUR"
        )
    return f"Grundlage: {item['clause']}"


def checked_figures(invoice: Invoice, item: dict) -> LineFigures:
    """An item's line figures, refused unless quantity x unit price (rounded to the cent)
    plus the rounding charge (or minus the allowance) is exactly the line's net."""
    line = figures(item)
    product = (line.quantity * line.unit_price).quantize(CENT, rounding=ROUND_HALF_UP)
    if product + line.rounding != line.net or line.net != _money(item["net"]):
        raise EInvoiceUnavailable(
            f"invoice {invoice.number}: the line {item_name(item)} does not add up "
            f"({line.quantity} x {line.unit_price} + {line.rounding} != {line.net})"
        )
    return line


def notes(invoice: Invoice) -> list[str]:
    """BT-22: the objection hint (AGB 4.5.3), the consumer's default hint (BGB § 286 (3)) and
    what the paid amount (BT-113) consists of."""
    detail = invoice.detail
    found = [detail["hint"]]
    treatment = detail.get("vat_treatment") or {}
    if treatment.get("note"):  # UStG § 14a (5): reverse charge; or not taxable in Germany
        found.insert(0, treatment["note"])
    if detail.get("default_hint"):
        found.append(detail["default_hint"])
    if detail.get("settlement"):  # the invoice of the 20th: what it settles (CLINQ SD 1.3)
        found += settlement_notes(detail)
    paid = _money(detail.get("paid_by_credit", "0.00"))
    claimed = _money(detail.get("claimed_by_earlier_invoices", "0.00"))
    if paid or claimed:
        parts = []
        if paid:
            parts.append(f"{paid} EUR aus Ihrem Guthaben bezahlt")
        if claimed:
            numbers = ", ".join(detail.get("earlier_invoices", []))
            parts.append(f"{claimed} EUR bereits mit Rechnung {numbers} angefordert")
        found.append("Bereits bezahlter Betrag: " + "; ".join(parts) + ".")
    found.append(
        "Diese Rechnung enthält keinen Einzelverbindungsnachweis (AGB 4.3.3); Sie können ihn "
        "in Ihrem Account abrufen."
    )
    return found


def _payment(settlement, invoice: Invoice, provider: dict) -> None:
    """BG-16: SEPA direct debit (59) where a mandate with reference and debtor IBAN is on the
    invoice, else credit transfer (58) to the provider's account; BT-9 and BT-20."""
    detail = invoice.detail
    mandate = detail.get("mandate")
    means = PaymentMeans()
    terms = PaymentTerms()
    due_on = _day(detail["due_on"])
    if isinstance(mandate, dict) and mandate.get("reference") and mandate.get("iban"):
        means.type_code = SEPA_DIRECT_DEBIT
        means.payer_account.iban = mandate["iban"]  # BT-91
        settlement.creditor_reference_id = provider["creditor_id"]  # BT-90
        terms.debit_mandate_id = mandate["reference"]  # BT-89
        text = (
            f"Der Betrag wird frühestens sechs Arbeitstage nach Zugang per SEPA-Lastschrift "
            f"eingezogen (AGB 4.2.2), Mandatsreferenz {mandate['reference']}."
        )
    else:
        means.type_code = CREDIT_TRANSFER
        means.payee_account.iban = provider["iban"]  # BT-84
        means.payee_account.account_name = provider["name"]  # BT-85
        means.payee_institution.bic = provider["bic"]  # BT-86
        text = (
            f"Fällig mit Zugang der Rechnung (AGB 4.4.1), zahlbar bis {numeric_date(str(due_on))}."
        )
        settlement.payment_reference = invoice.number  # BT-83
    settlement.payment_means.add(means)
    terms.description = text  # BT-20
    terms.due = due_on  # BT-9
    settlement.terms.add(terms)


def embed_in_pdf(pdf: bytes, invoice: Invoice) -> bytes:
    """The invoice PDF with its Factur-X EN 16931 XML embedded (PDF/A-3, ``factur-x.xml``)."""
    xml = build_cii(invoice, FACTUR_X_CII)
    return embed_xml(pdf, xml, "Rechnung", invoice.number, invoice.detail, invoice.issued_on)


def embed_xml(
    pdf: bytes, xml: bytes, kind: str, number: str, detail: dict, issued_on: str
) -> bytes:
    """``pdf`` with the Factur-X EN 16931 ``xml`` attached (factur-x), dated ``issued_on``:
    one document renders to the same bytes every time. ``kind``: Rechnung or Gutschrift."""
    from facturx import generate_from_binary

    provider = printable_data(detail["provider"])  # the XMP is XML
    keywords = {"Gutschrift": "Gutschrift, Rechnungskorrektur"}.get(kind, kind)
    hybrid = generate_from_binary(
        io.BytesIO(pdf).getvalue(),
        xml,
        flavor="factur-x",
        level="en16931",
        check_xsd=True,
        pdf_metadata={
            "author": provider["name"],
            "keywords": f"Factur-X, ZUGFeRD, {keywords}",
            "title": f"{kind} {number}",
            "subject": f"{kind} {number} von {provider['name']}",
        },
        lang="de-DE",
    )
    return dated(hybrid, _day(issued_on))


# --- XRechnung 3.0 in UBL 2.1 -----------------------------------------------------------------

UBL_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
UBL_CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
UBL_CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"


class _Ubl:
    """lxml's element makers for UBL 2.1 and the compound elements the invoice repeats."""

    def __init__(self) -> None:
        from lxml.builder import ElementMaker

        self.root = ElementMaker(
            namespace=UBL_INVOICE, nsmap={None: UBL_INVOICE, "cac": UBL_CAC, "cbc": UBL_CBC}
        )
        self.cac = ElementMaker(namespace=UBL_CAC)
        self.cbc = ElementMaker(namespace=UBL_CBC)

    def amount(self, tag: str, value: Decimal | str):
        return getattr(self.cbc, tag)(f"{_money(value)}", currencyID="EUR")

    def postal(self, street, postcode, city, country):
        cac, cbc = self.cac, self.cbc
        parts = [cbc.StreetName(street)] if street else []
        return cac.PostalAddress(
            *parts,
            cbc.CityName(city),
            cbc.PostalZone(postcode),
            cac.Country(cbc.IdentificationCode(country)),
        )

    def tax_scheme(self, company_id: str, scheme: str):
        cac, cbc = self.cac, self.cbc
        return cac.PartyTaxScheme(cbc.CompanyID(company_id), cac.TaxScheme(cbc.ID(scheme)))

    def category(self, element, code: str, rate: Decimal | None, group: dict | None = None):
        cac, cbc = self.cac, self.cbc
        parts = [cbc.ID(code)]
        if rate is not None or group is not None:
            parts.append(cbc.Percent(f"{rate if rate is not None else Decimal('0.00')}"))
        if group is not None and group["reason_code"]:
            parts.append(cbc.TaxExemptionReasonCode(group["reason_code"]))
        if group is not None and group["reason"]:
            parts.append(cbc.TaxExemptionReason(group["reason"]))
        return element(*parts, cac.TaxScheme(cbc.ID("VAT")))


def build_ubl(invoice: Invoice) -> bytes:
    """The invoice as XRechnung 3.0 in UBL 2.1: the same business terms as :func:`build_cii`.

    No maintained Python model of UBL invoices was at hand, so this builds the element tree
    with lxml's ElementMaker in the order of the UBL 2.1 schema; the tests validate it with
    CEN's EN 16931 UBL rules and KoSIT's XRechnung UBL Schematron (not with the UBL XSD).
    """
    from lxml import etree

    # Build the CII first: it checks the data and the sums once for both syntaxes.
    build_cii(invoice, XRECHNUNG_CII)
    invoice = replace(invoice, detail=printable_data(invoice.detail))  # XML 1.0 (core/text.py)
    detail = invoice.detail
    customer = detail.get("customer") or {}
    ubl = _Ubl()
    cac, cbc, amount = ubl.cac, ubl.cbc, ubl.amount
    mandate = detail.get("mandate")
    direct_debit = isinstance(mandate, dict) and mandate.get("reference") and mandate.get("iban")
    seller = _ubl_seller(ubl, detail["provider"], direct_debit, without_vat_ids(detail))
    buyer_parts = _ubl_buyer(ubl, invoice)
    due_on = _day(detail["due_on"])
    means, terms_text = _ubl_payment(ubl, invoice, direct_debit, due_on)

    vat_total = _money(detail["vat"])
    subtotals = [
        cac.TaxSubtotal(
            amount("TaxableAmount", group["basis"]),
            amount("TaxAmount", group["tax"]),
            ubl.category(cac.TaxCategory, group["category"], group["rate"], group),
        )
        for group in vat_breakdown(detail)
    ]
    gross, due, net = _money(detail["gross"]), _money(detail["due"]), _money(detail["net"])
    invoice_lines = _ubl_lines(ubl, invoice)
    document = ubl.root.Invoice(
        cbc.CustomizationID(GUIDELINES[XRECHNUNG_CII]),
        cbc.ProfileID(BUSINESS_PROCESS),
        cbc.ID(invoice.number),
        cbc.IssueDate(invoice.issued_on),
        cbc.DueDate(due_on.isoformat()),
        cbc.InvoiceTypeCode(INVOICE),
        *[cbc.Note(text) for text in notes(invoice)],
        cbc.DocumentCurrencyCode("EUR"),
        cbc.BuyerReference(customer.get("leitweg_id") or invoice.account),
        cac.InvoicePeriod(cbc.StartDate(detail["period_start"]), cbc.EndDate(detail["period_end"])),
        seller,
        cac.AccountingCustomerParty(cac.Party(*buyer_parts)),
        means,
        cac.PaymentTerms(cbc.Note(terms_text)),
        cac.TaxTotal(amount("TaxAmount", vat_total), *subtotals),
        cac.LegalMonetaryTotal(
            amount("LineExtensionAmount", net),
            amount("TaxExclusiveAmount", net),
            amount("TaxInclusiveAmount", gross),
            amount("AllowanceTotalAmount", Decimal("0.00")),
            amount("ChargeTotalAmount", Decimal("0.00")),
            amount("PrepaidAmount", gross - due),
            amount("PayableAmount", due),
        ),
        *invoice_lines,
    )
    return etree.tostring(document, xml_declaration=True, encoding="utf-8", pretty_print=True)


def _ubl_seller(ubl: _Ubl, provider: dict, direct_debit: bool, only_non_taxable: bool):
    """BG-4 in UBL: the provider, with its SEPA creditor id where the invoice is collected."""
    cac, cbc = ubl.cac, ubl.cbc
    seller_taxes = [] if only_non_taxable else [ubl.tax_scheme(provider["vat_id"], "VAT")]
    seller_taxes.append(ubl.tax_scheme(provider["tax_number"], "FC"))
    seller_ids = (
        [cac.PartyIdentification(cbc.ID(provider["creditor_id"], schemeID="SEPA"))]
        if direct_debit
        else []
    )
    return cac.AccountingSupplierParty(
        cac.Party(
            cbc.EndpointID(provider["email"], schemeID="EM"),
            *seller_ids,
            ubl.postal(provider["street"], provider["postal_code"], provider["city"], "DE"),
            *seller_taxes,
            cac.PartyLegalEntity(
                cbc.RegistrationName(provider["name"]),
                cbc.CompanyID(provider["register"]),
                cbc.CompanyLegalForm(
                    f"{provider['register']}; Geschäftsführer: {provider['managing_directors']}"
                ),
            ),
            cac.Contact(
                cbc.Name(f"Rechnungsservice {provider['name']}"),
                cbc.Telephone(provider["phone"]),
                cbc.ElectronicMail(provider["email"]),
            ),
        )
    )


def _ubl_buyer(ubl: _Ubl, invoice: Invoice) -> list:
    """BG-7 in UBL: the parts of the customer's ``cac:Party``."""
    cac, cbc = ubl.cac, ubl.cbc
    detail = invoice.detail
    customer = detail.get("customer") or {}
    address = customer["address"]
    buyer_parts = []
    if customer.get("email"):
        buyer_parts.append(cbc.EndpointID(customer["email"], schemeID="EM"))
    buyer_parts += [
        cac.PartyIdentification(cbc.ID(invoice.account)),
        ubl.postal(
            address.get("street"),
            address["postal_code"],
            address["city"],
            address.get("country") or detail.get("country") or "DE",
        ),
    ]
    if customer.get("vat_id") and not without_vat_ids(detail):
        buyer_parts.append(ubl.tax_scheme(customer["vat_id"], "VAT"))
    buyer_parts.append(
        cac.PartyLegalEntity(
            cbc.RegistrationName(customer.get("name") or f"Kunde {invoice.account}")
        )
    )
    return buyer_parts


def _ubl_payment(ubl: _Ubl, invoice: Invoice, direct_debit: bool, due_on: date):
    """BG-16 and BT-20 in UBL, as :func:`_payment` for CII: the payment means and the terms."""
    cac, cbc = ubl.cac, ubl.cbc
    detail = invoice.detail
    provider = detail["provider"]
    if direct_debit:
        mandate = detail["mandate"]
        means = cac.PaymentMeans(
            cbc.PaymentMeansCode(SEPA_DIRECT_DEBIT),
            cac.PaymentMandate(
                cbc.ID(mandate["reference"]), cac.PayerFinancialAccount(cbc.ID(mandate["iban"]))
            ),
        )
        terms_text = (
            "Der Betrag wird frühestens sechs Arbeitstage nach Zugang per SEPA-Lastschrift "
            f"eingezogen (AGB 4.2.2), Mandatsreferenz {mandate['reference']}."
        )
    else:
        means = cac.PaymentMeans(
            cbc.PaymentMeansCode(CREDIT_TRANSFER),
            cbc.PaymentID(invoice.number),
            cac.PayeeFinancialAccount(
                cbc.ID(provider["iban"]),
                cbc.Name(provider["name"]),
                cac.FinancialInstitutionBranch(cbc.ID(provider["bic"])),
            ),
        )
        terms_text = (
            f"Fällig mit Zugang der Rechnung (AGB 4.4.1), zahlbar bis {numeric_date(str(due_on))}."
        )
    return means, terms_text


def _ubl_lines(ubl: _Ubl, invoice: Invoice) -> list:
    """BG-25 in UBL: one ``cac:InvoiceLine`` per item."""
    cac, cbc, amount = ubl.cac, ubl.cbc, ubl.amount
    detail = invoice.detail
    layout = vat_layout(detail)
    invoice_lines = []
    for index, item in enumerate(detail["items"], start=1):
        line_figures = checked_figures(invoice, item)
        code, rate = layout[item["vat"]]
        differences = []
        if line_figures.rounding:  # BG-28 line charge / BG-27 line allowance
            differences.append(
                cac.AllowanceCharge(
                    cbc.ChargeIndicator("true" if line_figures.rounding > 0 else "false"),
                    cbc.AllowanceChargeReason(line_figures.rounding_reason),
                    amount("Amount", abs(line_figures.rounding)),
                )
            )
        invoice_lines.append(
            cac.InvoiceLine(
                cbc.ID(str(index)),
                cbc.InvoicedQuantity(plain(line_figures.quantity), unitCode=line_figures.unit),
                amount("LineExtensionAmount", line_figures.net),
                *differences,
                cac.Item(
                    cbc.Description(line_description(detail, item)),
                    cbc.Name(item_name(item)),
                    ubl.category(cac.ClassifiedTaxCategory, code, rate),
                ),
                cac.Price(cbc.PriceAmount(f"{line_figures.unit_price}", currencyID="EUR")),
            )
        )
    return invoice_lines
