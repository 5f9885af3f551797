"""Whether an invoice bears German VAT: domestic, reverse charge, or not taxable in Germany.

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
  steuerbare Leistung" (category ``O``).
"""

from __future__ import annotations

from engine.catalog import Terms
from engine.core.vat_ids import vat_id_country

DOMESTIC = "domestic"
REVERSE_CHARGE = "reverse_charge"
NOT_TAXABLE = "not_taxable"
HOME = "DE"  # the provider's member state (Platform: provider, Düsseldorf)
CATEGORIES = {DOMESTIC: "S", REVERSE_CHARGE: "AE", NOT_TAXABLE: "O"}


def vat_treatment(
    terms: Terms, *, customer_type: str, country: str, vat_id: str | None = None
) -> dict:
    """The VAT treatment of an invoice to this customer under ``terms`` and why.

    Returns ``treatment``, ``category`` (EN 16931, for taxable lines), ``note`` (printed on the
    invoice, or None), ``reason``, the ``clauses`` it rests on and the ``terms_version``.
    """
    law = terms.clause("UStG § 13b")
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
