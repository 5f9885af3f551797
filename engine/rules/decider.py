"""Deciding which rules apply to a fact, with durable-rules, safely and fast.

durable-rules is used as a per-fact classifier (shared/reference/durable-rules.md): each
ruleset is registered once per process under its terms version's name; a fact of integers and
strings is asserted under one short-lived session id, the rules that fired are collected, and
the session's state is deleted at once. No timers, no correlated patterns, no state between
facts, and never a fact that matches no rule (that corrupts its heap when the state is then
deleted; each ruleset has a catch-all rule per subject). A decision is cached under the
ruleset's cache key, so the rule engine decides each distinct situation once and the hot path
is a dictionary lookup.
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Mapping

from durable import engine as durable_engine

from engine.rules.compiler import CompiledRule, CompiledRuleset, evaluate

_SESSION = "decide"


class _Host(durable_engine.Host):
    """A durable-rules host whose actions record which rule fired."""

    def __init__(self) -> None:
        self.fired: list[str] = []
        super().__init__()

    def get_action(self, action_name: str):
        fired = self.fired

        def record(_context, *_more) -> None:
            fired.append(action_name)

        return record


class RuleEngineError(RuntimeError):
    """durable-rules failed while deciding (its exceptions are caught, never ignored)."""


class Decider:
    """Decides which rules of a compiled ruleset apply to a fact.

    Create it in the process that uses it (after a server forks): durable-rules' host runs
    background threads that do not survive ``fork()``.
    """

    def __init__(self) -> None:
        self._pid = os.getpid()
        self._host = _Host()
        self._registered: set[str] = set()
        self._cache: dict[tuple, tuple[CompiledRule, ...]] = {}
        self._lock = threading.Lock()
        self.rule_engine_calls = 0

    def decide(
        self, ruleset: CompiledRuleset, subject: str, facts: Mapping[str, str | int]
    ) -> tuple[CompiledRule, ...]:
        """The rules that apply, in catalog order; durable-rules decides, a cache remembers."""
        key = (ruleset.name, ruleset.cache_key(subject, facts))
        decided = self._cache.get(key)
        if decided is None:
            decided = self._ask_rule_engine(ruleset, subject, facts)
            self._cache[key] = decided
        return decided

    def _ask_rule_engine(self, ruleset, subject, facts) -> tuple[CompiledRule, ...]:
        if os.getpid() != self._pid:
            raise RuleEngineError("a Decider was created before fork(); create one per process")
        with self._lock:
            if ruleset.name not in self._registered:
                # set_rulesets mutates what it is given; registering a name twice raises.
                self._host.set_rulesets(copy.deepcopy(ruleset.durable_definition()))
                self._registered.add(ruleset.name)
            fact = {"sid": _SESSION, "subject": subject, **facts}
            self._host.fired.clear()
            # Every fact matches its subject's catch-all rule (see durable_definition).
            self._host.assert_fact(ruleset.name, fact)
            state = self._host.get_state(ruleset.name, _SESSION)
            self._host.delete_state(ruleset.name, _SESSION)
            if state and state.get("exception"):
                raise RuleEngineError(f"durable-rules failed on {fact}: {state['exception']}")
            fired = set(self._host.fired)
            self.rule_engine_calls += 1
        return tuple(rule for rule in ruleset.rules if rule.key in fired)


def oracle_decide(
    ruleset: CompiledRuleset, subject: str, facts: Mapping[str, str | int]
) -> tuple[CompiledRule, ...]:
    """The same decision in plain Python: the differential oracle, and a readable reference."""
    return tuple(
        rule
        for rule in ruleset.rules
        if rule.subject == subject and evaluate(rule.condition, facts)
    )


class OracleDecider(Decider):
    """Decides with the plain-Python evaluator only: the reference the tests compare against."""

    def decide(self, ruleset, subject, facts):
        return oracle_decide(ruleset, subject, facts)
