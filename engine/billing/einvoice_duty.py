"""Which format an invoice is issued in: a structured e-invoice or a plain PDF (UStG § 14).

The dates, the turnover threshold and the small-amount limit are catalog values (UStG § 14 in
rules/law/, the provider's previous-year turnover in Platform: provider, the platform's choice
to send e-invoices where it may in Platform: invoicing); this module only combines them. It is
a pure function of the terms in force on the issue date and the invoice's facts.
"""

from __future__ import annotations

from decimal import Decimal

from engine.catalog import Terms

PDF = "pdf"
FACTUR_X = "factur-x-en16931"  # ZUGFeRD / Factur-X, profile EN 16931: a hybrid PDF/A-3


def einvoice_decision(
    terms: Terms,
    *,
    customer_type: str,
    country: str,
    gross: Decimal,
    address_on_file: bool = True,
) -> dict:
    """The format of one invoice issued under ``terms`` and why.

    Returns ``format`` (``pdf`` or ``factur-x-en16931``), ``required`` (the statute demands a
    structured e-invoice), ``reason``, the ``clauses`` it rests on and the ``terms_version``.
    """
    law = terms.clause("UStG § 14")
    platform = terms.clause("Platform: invoicing")
    provider = terms.clause("Platform: provider")
    clauses = ["UStG § 14"]

    def result(fmt: str, required: bool, reason: str) -> dict:
        return {
            "format": fmt,
            "required": required,
            "reason": reason,
            "clauses": clauses,
            "terms_version": terms.version,
        }

    if customer_type != "business":
        return result(PDF, False, "consumers never have to accept a structured e-invoice")
    if country != "DE":
        return result(PDF, False, "the e-invoice duty covers domestic business customers only")
    duty = law["einvoice_issuing_duty"]
    turnover = provider["previous_year_turnover"]
    threshold = law["einvoice_turnover_threshold"]
    limit = law["small_amount_limit"]
    if duty == "all":
        required, why = True, "every supplier issues e-invoices to domestic businesses"
    elif duty == "above_turnover_threshold" and turnover > threshold:
        clauses.append("Platform: provider")
        required = True
        why = f"the provider's previous-year turnover {turnover} EUR exceeds {threshold} EUR"
    else:
        required, why = False, "no issuing duty yet"
    if required and gross <= limit:
        required, why = False, f"a small-amount invoice up to {limit} EUR gross (§ 33 UStDV)"
    if not address_on_file:
        return result(
            PDF,
            False,
            f"{why}; the customer's postal address is not on file, which a structured "
            "e-invoice needs (BR-DE-8, BR-DE-9)",
        )
    if required:
        return result(FACTUR_X, True, f"required: {why}")
    if law["einvoice_receiving_required"] and platform["einvoice_when_permitted"]:
        clauses.append("Platform: invoicing")
        return result(
            FACTUR_X,
            False,
            f"{why}; domestic businesses must be able to receive e-invoices, so one is sent "
            "without consent",
        )
    return result(PDF, False, f"{why}; an e-invoice would need the customer's consent")


def einvoice_decision_for(terms: Terms, account, gross) -> dict:
    """Which format the invoice is issued in and why (UStG § 14), recorded in its detail."""
    address = account.customer.get("address") or {}
    return einvoice_decision(
        terms,
        customer_type=account.customer_type,
        country=address.get("country", account.country),
        gross=gross,
        address_on_file=bool(address.get("postal_code") and address.get("city")),
    )


# Provider parameters that are internal and never printed on an invoice.
INTERNAL_PROVIDER_PARAMETERS = frozenset(
    {
        "previous_year_turnover",
        "chart_of_accounts",
        "datev_consultant_number",
        "datev_client_number",
        "fiscal_year_start",
    }
)


def provider_detail(provider) -> dict:
    """The provider's details an invoice carries (Platform: provider), as on the issue date."""
    return {
        name: provider[name]
        for name in provider.file.parameters
        if name not in INTERNAL_PROVIDER_PARAMETERS
    }
