"""The liability cap for financial loss (AGB 6.1).

Per damaging event: each customer's claim is capped at 12,500 EUR; all claims together at
10 million EUR, reduced in the ratio of the cap to their sum. No cap for intent.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_DOWN, Decimal

from engine.catalog import Terms


def cap_claims(
    claims: Mapping[str, Decimal], terms: Terms, *, intentional: bool = False
) -> dict[str, Decimal]:
    """What each customer receives for one damaging event, in the input's order.

    The proportional shares are rounded down to the cent and the cents left over go to the
    largest remainders, so the total is exactly the overall cap when it applies.
    """
    if any(claim < 0 for claim in claims.values()):
        raise ValueError("a claim cannot be negative")
    clause = terms.clause("AGB 6.1")
    if intentional and not clause["capped_for_intent"]:
        return dict(claims)
    capped = {name: min(claim, clause["per_customer"]) for name, claim in claims.items()}
    total = sum(capped.values(), Decimal(0))
    limit = clause["per_event"]
    if total <= limit:
        return capped
    exact = {name: claim * limit / total for name, claim in capped.items()}
    paid = {
        name: share.quantize(Decimal("0.01"), rounding=ROUND_DOWN) for name, share in exact.items()
    }
    left = int((limit - sum(paid.values(), Decimal(0))) * 100)
    for name in sorted(exact, key=lambda n: (exact[n] - paid[n], n), reverse=True)[:left]:
        paid[name] += Decimal("0.01")
    return paid
