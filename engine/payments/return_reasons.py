"""Who answers for a returned direct debit: the platform decision on ISO reason codes.

AGB 4.2.3 charges the fee for a returned debit only "soweit er diese zu vertreten hat": whether
the customer is responsible for a return is decided by its ISO 20022 reason code, in the
platform decision ``rules/platform/sepa-returns.yaml``.
"""

from __future__ import annotations

from engine.catalog import Terms

DECISION = "Platform: sepa-returns"


def customer_responsible(reason_code: str, terms: Terms) -> bool:
    """Whether the customer is responsible for a return with this ISO reason code."""
    decision = terms.clause(DECISION)
    if reason_code in decision["customer_responsible"]:
        return True
    if reason_code in decision["not_customer_responsible"]:
        return False
    return bool(decision["unknown_code_responsible"])
