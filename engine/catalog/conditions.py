"""The conditions of catalog rules: a small language the rule engine can evaluate safely.

A rule looks at one *subject* (a call, an account being opened, an account's balance after a
booking) described by a few *facts*, strings and integers only. Conditions combine comparisons
of facts with ``all`` and ``any``; an operand may name a parameter of the same file, and is
replaced by that parameter's value in the rule's version (money becomes integer cents). There
is no negation beyond ``not_equals``/``not_in``, no regular expression and no float: the things
durable-rules handles badly (see shared/reference/durable-rules.md) cannot be written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from engine.core.money import to_cents

# The facts each subject offers, with their Python type.
FACTS: dict[str, dict[str, type]] = {
    "call": {"plan": str, "zone": str, "account_country": str, "caller_country": str},
    "account.opened": {
        "plan": str,
        "country": str,
        "customer_type": str,
        "billing_method": str,
    },
    "balance": {
        "plan": str,
        "billing_method": str,
        "balance_cents": int,
        # balance minus the customer's autoprepay threshold; 0 without autoprepay
        "autoprepay_headroom_cents": int,
        # "valid" while a direct debit or card mandate is on file, else "none" (AGB 4.1.4)
        "mandate": str,
    },
    "termination": {
        "plan": str,
        "by": str,
        "channel": str,
        # the ground of an extraordinary termination, "none" for an ordinary one
        "ground": str,
    },
    "withdrawal": {"customer_type": str, "channel": str},
    "objection": {"channel": str},
}
# What a rule may decide about each subject.
DECISIONS: dict[str, tuple[str, ...]] = {
    "call": ("reject", "free_of_charge", "flat_rate", "free_minutes"),
    "account.opened": ("reject",),
    "balance": ("topup", "negative_credit_invoice", "settlement_request"),
    "termination": ("reject",),
    "withdrawal": ("reject",),
    "objection": ("reject",),
}
SCALAR_OPERATORS = ("equals", "not_equals")
SET_OPERATORS = ("in", "not_in")
ORDER_OPERATORS = ("less_than", "at_most", "greater_than", "at_least")


@dataclass(frozen=True)
class Comparison:
    """``fact <operator> value``; ``parameter`` names the file parameter the value came from."""

    fact: str
    operator: str
    value: str | int | tuple[str | int, ...]
    parameter: str | None = None


@dataclass(frozen=True)
class AllOf:
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    conditions: tuple[Condition, ...]


Condition = Union[Comparison, AllOf, AnyOf]  # noqa: UP007 (a forward reference)


@dataclass(frozen=True)
class RuleSpec:
    """A rule as a catalog version states it, with its operands resolved to constants."""

    name: str
    applies_to: str
    when: Condition
    decide: str
    reason: str | None = None


class ConditionError(ValueError):
    """A condition that cannot be evaluated: ``pointer`` says where (relative to the rule)."""

    def __init__(self, pointer: str, message: str):
        super().__init__(message)
        self.pointer = pointer


def parse_rule(raw: dict[str, Any], resolve_parameter) -> RuleSpec:
    """Build a :class:`RuleSpec` from schema-valid YAML; raise ConditionError on a fault.

    ``resolve_parameter(name)`` returns ``(type, value)`` of a parameter of the same version.
    """
    applies_to, decide = raw["applies_to"], raw["decide"]
    if decide not in DECISIONS[applies_to]:
        raise ConditionError(
            "/decide",
            f"a rule about {applies_to} can decide {', '.join(DECISIONS[applies_to])}, "
            f"not {decide}",
        )
    when = _parse_condition(raw["when"], "/when", FACTS[applies_to], resolve_parameter)
    return RuleSpec(raw["name"], applies_to, when, decide, raw.get("reason"))


def _parse_condition(raw, pointer, facts, resolve_parameter) -> Condition:
    if "all" in raw:
        return AllOf(
            tuple(
                _parse_condition(c, f"{pointer}/all/{i}", facts, resolve_parameter)
                for i, c in enumerate(raw["all"])
            )
        )
    if "any" in raw:
        return AnyOf(
            tuple(
                _parse_condition(c, f"{pointer}/any/{i}", facts, resolve_parameter)
                for i, c in enumerate(raw["any"])
            )
        )
    fact = raw["fact"]
    ((operator, operand),) = ((k, v) for k, v in raw.items() if k != "fact")
    where = f"{pointer}/{operator}"
    if fact not in facts:
        raise ConditionError(
            f"{pointer}/fact",
            f"fact {fact!r} is not known here; facts: {', '.join(facts)}",
        )
    parameter = None
    if isinstance(operand, dict):
        parameter = operand["parameter"]
        try:
            operand = _parameter_operand(*resolve_parameter(parameter))
        except KeyError:
            raise ConditionError(
                f"{where}/parameter", f"{parameter!r} is not a parameter of this file"
            ) from None
    fact_type = facts[fact]
    if operator in SET_OPERATORS:
        if not isinstance(operand, list | tuple):
            raise ConditionError(where, f"{operator} needs a list, got {operand!r}")
        values = tuple(operand)
        if not values:
            raise ConditionError(where, f"{operator} needs at least one value")
        _check_types(values, fact_type, fact, where)
        return Comparison(fact, operator, values, parameter)
    if isinstance(operand, list | tuple):
        raise ConditionError(where, f"{operator} compares with one value, not a list")
    _check_types((operand,), fact_type, fact, where)
    if operator in ORDER_OPERATORS and fact_type is not int:
        raise ConditionError(where, f"{fact} is text: it can only be compared for equality")
    return Comparison(fact, operator, operand, parameter)


def _parameter_operand(type_: str, value: Any):
    if type_ == "money":
        return to_cents(value)
    if type_ in ("integer", "text", "reference"):
        return value
    if type_ == "set":
        return tuple(value)
    raise ConditionError("", f"a {type_} parameter cannot be compared in a rule")


def _check_types(values, fact_type: type, fact: str, where: str) -> None:
    for value in values:
        if isinstance(value, bool) or not isinstance(value, fact_type):
            kind = "an integer" if fact_type is int else "text"
            raise ConditionError(where, f"{fact} is {kind}; {value!r} cannot be compared with it")
