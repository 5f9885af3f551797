"""Compiling the rules of one terms version into a durable-rules ruleset.

Every rule of every file in force becomes one durable-rules rule that matches a *fact*
``{"subject": ..., <facts>}``. Rules in a plan file are scoped to that plan. The same compiled
conditions are evaluated in plain Python by :func:`evaluate`, the differential oracle.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.catalog import Terms
from engine.catalog.conditions import FACTS, AllOf, AnyOf, Comparison, Condition

CATCH_ALL = "any:"
_ORDER = {"less_than": "$lt", "at_most": "$lte", "greater_than": "$gt", "at_least": "$gte"}


@dataclass(frozen=True)
class CompiledRule:
    """One rule of a terms version: what it decides, and the clause an effect of it cites."""

    key: str
    citation: str
    name: str
    subject: str
    condition: Condition
    decide: str
    reason: str | None


@dataclass(frozen=True)
class CompiledRuleset:
    """All rules of one terms version, registered with durable-rules as ``name``."""

    name: str
    terms_version: str
    rules: tuple[CompiledRule, ...]
    breakpoints: Mapping[str, Mapping[str, tuple[int, ...]]]

    def rule(self, key: str) -> CompiledRule:
        return self.rules[int(key.removeprefix("r"))]

    def durable_definition(self) -> dict[str, Any]:
        """The ruleset as durable-rules' declarative JSON.

        Besides the catalog's rules it has one catch-all rule per subject, so that every fact
        matches some rule: deleting the state after a fact that matched nothing corrupts
        durable-rules' heap (measured: "double free or corruption" in ``delete_state``).
        """
        rules = {
            rule.key: {
                "all": [{"m": {"$and": [{"subject": rule.subject}, to_durable(rule.condition)]}}],
                "run": rule.key,
            }
            for rule in self.rules
        }
        for subject in FACTS:
            key = f"{CATCH_ALL}{subject}"
            rules[key] = {"all": [{"m": {"subject": subject}}], "run": key}
        return {self.name: rules}

    def cache_key(self, subject: str, facts: Mapping[str, str | int]) -> tuple:
        """A key under which every fact set gets the same decision.

        Strings are kept; an integer is replaced by its position among the constants the
        ruleset compares that fact with, so all balances between two thresholds share a key.
        """
        points = self.breakpoints.get(subject, {})
        key: list[Any] = [subject]
        for name in sorted(facts):
            value = facts[name]
            if isinstance(value, int):
                edges = points.get(name, ())
                position = bisect.bisect_left(edges, value)
                exact = position < len(edges) and edges[position] == value
                key.append((name, position, exact))
            else:
                key.append((name, value))
        return tuple(key)


def compile_ruleset(terms: Terms) -> CompiledRuleset:
    """Compile the rules of every file in force in ``terms``."""
    rules: list[CompiledRule] = []
    for in_force in terms.in_force():
        for spec in in_force.version.rules:
            condition = spec.when
            if in_force.file.kind == "plan":
                condition = AllOf((Comparison("plan", "equals", in_force.file.name), condition))
            rules.append(
                CompiledRule(
                    key=f"r{len(rules)}",
                    citation=in_force.citation,
                    name=spec.name,
                    subject=spec.applies_to,
                    condition=condition,
                    decide=spec.decide,
                    reason=spec.reason,
                )
            )
    breakpoints: dict[str, dict[str, set[int]]] = {}
    for rule in rules:
        for comparison in _comparisons(rule.condition):
            if FACTS[rule.subject][comparison.fact] is int:
                values = (
                    comparison.value if isinstance(comparison.value, tuple) else (comparison.value,)
                )
                breakpoints.setdefault(rule.subject, {}).setdefault(comparison.fact, set()).update(
                    values
                )
    body = CompiledRuleset("", terms.version, tuple(rules), {}).durable_definition()[""]
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
    return CompiledRuleset(
        # The content's digest is part of the name: durable-rules cannot replace a registered
        # ruleset, and two catalogs with the same terms version may hold different rules.
        name=f"billing@{terms.version}#{digest}",
        terms_version=terms.version,
        rules=tuple(rules),
        breakpoints={
            subject: {fact: tuple(sorted(v)) for fact, v in facts.items()}
            for subject, facts in breakpoints.items()
        },
    )


def _comparisons(condition: Condition):
    if isinstance(condition, Comparison):
        yield condition
    else:
        for child in condition.conditions:
            yield from _comparisons(child)


def to_durable(condition: Condition) -> dict[str, Any]:
    """A condition as a durable-rules expression (equality, $neq, $lt..., $and, $or only)."""
    if isinstance(condition, AllOf):
        return {"$and": [to_durable(c) for c in condition.conditions]}
    if isinstance(condition, AnyOf):
        return {"$or": [to_durable(c) for c in condition.conditions]}
    fact, operator, value = condition.fact, condition.operator, condition.value
    if operator == "equals":
        return {fact: value}
    if operator == "not_equals":
        return {"$neq": {fact: value}}
    if operator == "in":
        return {"$or": [{fact: v} for v in value]}
    if operator == "not_in":
        return {"$and": [{"$neq": {fact: v}} for v in value]}
    return {_ORDER[operator]: {fact: value}}


def evaluate(condition: Condition, facts: Mapping[str, str | int]) -> bool:
    """The plain-Python meaning of a condition: the oracle durable-rules is tested against."""
    if isinstance(condition, AllOf):
        return all(evaluate(c, facts) for c in condition.conditions)
    if isinstance(condition, AnyOf):
        return any(evaluate(c, facts) for c in condition.conditions)
    actual, value = facts[condition.fact], condition.value
    match condition.operator:
        case "equals":
            return actual == value
        case "not_equals":
            return actual != value
        case "in":
            return actual in value
        case "not_in":
            return actual not in value
        case "less_than":
            return actual < value
        case "at_most":
            return actual <= value
        case "greater_than":
            return actual > value
        case "at_least":
            return actual >= value
    raise ValueError(f"unknown operator {condition.operator!r}")
