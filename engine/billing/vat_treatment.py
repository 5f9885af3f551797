"""Whose VAT an invoice bears: German, a member state's (OSS), reverse charge, or none.

Telecommunications services to a business are supplied where the business is (§ 3a (2) UStG).
The member states and the notes are catalog data (UStG § 13b in rules/law/); where the statute
leaves the choice to the supplier's proof, the platform's decisions are in Platform:
place-of-supply. This module only combines them: a pure function of the terms in force at the
end of the invoiced period and the customer's data on file.

Treatments (and their EN 16931 VAT category for the taxable lines, BT-151):

* ``domestic``: German VAT at the rate of UStG § 12 (category ``S``);
* ``reverse_charge``: a business in another EU member state with a valid VAT id of that state:
  no German VAT, the note "Steuerschuldnerschaft des Leistungsempfängers", both VAT ids
  (§ 14a (1), (5) UStG; category ``AE``) and a line in the EU sales list (§ 18a UStG);
* ``not_taxable``: a business outside the EU: no German VAT, the note "Nicht im Inland
  steuerbare Leistung" (category ``O``);
* ``oss``: a consumer in another EU member state: supplied where the consumer lives (§ 3a (5)
  UStG), that state's standard rate (UStG § 3a in rules/law/), declared through the
  One-Stop-Shop (§ 18j UStG) unless Platform: oss says the provider stays below the threshold
  (category ``S`` at the destination rate).

A consumer the catalog cannot tax (outside the EU, Platform: oss ``third_country_consumers:
refuse``) raises :class:`CannotTax`, which names the field: the account is refused at
account.opened / account.updated (engine/contract/accounts.py), never billed at 19 %.
"""

from __future__ import annotations

from decimal import Decimal

from babel import Locale

from engine.catalog import Terms
from engine.core.vat_ids import vat_id_country

DOMESTIC = "domestic"
REVERSE_CHARGE = "reverse_charge"
NOT_TAXABLE = "not_taxable"
OSS = "oss"
HOME = "DE"  # the provider's member state (Platform: provider, Düsseldorf)
CATEGORIES = {DOMESTIC: "S", REVERSE_CHARGE: "AE", NOT_TAXABLE: "O", OSS: "S"}
ZERO = Decimal("0.00")


class CannotTax(ValueError):
    """The catalog cannot tax this customer: ``reason`` in words, ``clause`` that says so."""

    def __init__(self, reason: str, clause: str):
        super().__init__(reason)
        self.reason = reason
        self.clause = clause


def vat_treatment(
    terms: Terms, *, customer_type: str, country: str, vat_id: str | None = None
) -> dict:
    """The VAT treatment of an invoice to this customer under ``terms`` and why.

    Returns ``treatment``, ``category`` (EN 16931, for taxable lines), ``note`` (printed on the
    invoice, or None), ``reason``, the ``clauses`` it rests on and the ``terms_version``; an
    ``oss`` treatment also its ``country``, ``rate`` (percent, as text) and ``vat_clause`` (the
    clause its VAT charge cites). Raises :class:`CannotTax` for a customer it cannot tax.
    """
    law = terms.clause("UStG § 13b")
    if customer_type != "business" and country != HOME:
        return consumer_abroad(terms, country)
    platform = terms.clause("Platform: place-of-supply")
    clauses = ["UStG § 13b"]

    def result(treatment: str, reason: str, note: str | None = None) -> dict:
        return {
            "treatment": treatment,
            "category": CATEGORIES[treatment],
            "note": note,
            "reason": reason,
            "clauses": clauses,
            "terms_version": terms.version,
        }

    if customer_type != "business":
        return result(DOMESTIC, "a consumer: German VAT (UStG § 12)")
    if country == HOME:
        return result(DOMESTIC, "a business in Germany: German VAT (UStG § 12)")
    if country in law["eu_member_states"]:
        if vat_id and vat_id_country(vat_id) == country:
            return result(
                REVERSE_CHARGE,
                f"a business in {country} with the VAT id {vat_id}: supplied where the "
                "recipient is (§ 3a (2) UStG), the recipient owes the VAT (reverse charge)",
                law["reverse_charge_note"],
            )
        clauses.append("Platform: place-of-supply")
        choice = platform["eu_business_without_vat_id"]
        if choice == "as_consumer":  # not shown to be a business: § 3a (5) UStG
            decided = consumer_abroad(terms, country)
            return decided | {"clauses": [*clauses, *decided["clauses"]]}
        if choice != "domestic_vat":
            raise ValueError(f"Platform: place-of-supply: unknown choice {choice!r}")
        return result(
            DOMESTIC,
            f"a business in {country} without a VAT id of {country} on file: not shown to "
            "receive the service as a business (UStAE 3a.2 (9)), German VAT",
        )
    clauses.append("Platform: place-of-supply")
    choice = platform["third_country_business"]
    if choice == "domestic_vat":
        return result(DOMESTIC, f"a business in {country} outside the EU: German VAT")
    if choice != "not_taxable":
        raise ValueError(f"Platform: place-of-supply: unknown choice {choice!r}")
    return result(
        NOT_TAXABLE,
        f"a business in {country} outside the EU: supplied where the recipient is "
        "(§ 3a (2) UStG), not taxable in Germany",
        law["not_taxable_note"],
    )


def consumer_abroad(terms: Terms, country: str) -> dict:
    """A consumer abroad: in another member state that state's rate (§ 3a (5) UStG) unless
    Platform: oss declares the provider below the threshold (German VAT); outside the EU as
    Platform: oss says (by default refused, :class:`CannotTax`)."""
    platform = terms.clause("Platform: oss")

    def result(treatment: str, reason: str, rate: Decimal, note: str | None = None) -> dict:
        return {
            "treatment": treatment,
            "category": CATEGORIES[treatment],
            "country": country,
            "rate": f"{rate}",
            "vat_clause": "UStG § 3a",
            "note": note,
            "reason": reason,
            "clauses": ["UStG § 3a", "Platform: oss"],
            "terms_version": terms.version,
        }

    if country in terms.clause("UStG § 13b")["eu_member_states"]:
        choice = platform["eu_consumers"]
        if choice == "home":
            german = result(
                DOMESTIC,
                f"a consumer in {country}: German VAT while the provider stays below the "
                "threshold of § 3a (5) sentence 3 UStG and has not opted (Platform: oss)",
                terms.clause("UStG § 12")["standard_rate"],
            )
            return german | {"country": HOME, "vat_clause": "UStG § 12"}
        if choice != "destination":
            raise ValueError(f"Platform: oss: unknown choice {choice!r}")
        law = terms.clause("UStG § 3a")
        if country.lower() not in law.file.parameters:
            raise CannotTax(
                f"the catalog has no VAT rate of {country} (UStG § 3a), so a consumer there "
                "cannot be billed",
                "UStG § 3a",
            )
        rate = law[country.lower()]
        shown = f"{rate:.2f}".replace(".", ",")
        # The note is German like every customer text (the country's name per CLDR).
        name = Locale.parse("de_DE").territories.get(country, country)
        return result(
            OSS,
            f"a consumer in {country}: supplied where the consumer lives (§ 3a (5) UStG), "
            f"VAT of {country} at {rate} %, declared through the One-Stop-Shop (§ 18j UStG)",
            rate,
            f"Leistungsort nach § 3a Abs. 5 UStG: {name}; Umsatzsteuer {name} {shown} %, "
            "erklärt im One-Stop-Shop (§ 18j UStG)",
        )
    choice = platform["third_country_consumers"]
    if choice == "not_taxable":
        return result(
            NOT_TAXABLE,
            f"a consumer in {country} outside the EU: supplied where the consumer lives "
            "(§ 3a (5) UStG), not taxable in Germany",
            ZERO,
            terms.clause("UStG § 13b")["not_taxable_note"],
        )
    if choice != "refuse":
        raise ValueError(f"Platform: oss: unknown choice {choice!r}")
    raise CannotTax(
        f"a consumer in {country}, outside the EU, is supplied where the consumer lives "
        "(§ 3a (5) UStG): the platform cannot tax the service there and does not bill it "
        "with German VAT",
        "Platform: oss",
    )
