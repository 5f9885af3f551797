"""durable-rules decides exactly as the plain-Python evaluator of the same compiled conditions."""

from __future__ import annotations

import json
import random
from datetime import date

import pytest

from billing.demo import month_of_events
from engine.catalog import load_catalog
from engine.catalog.conditions import FACTS
from engine.engine import Engine
from engine.rules import Decider, OracleDecider, compile_ruleset, oracle_decide

SYNTHETIC_RULES = """
      - name: synthetic-nested
        applies_to: balance
        when:
          any:
            - all:
                - {fact: balance_cents, greater_than: 500}
                - {fact: billing_method, not_equals: prepay}
            - {fact: autoprepay_headroom_cents, at_least: -250}
        decide: topup
      - name: synthetic-call
        applies_to: call
        when:
          all:
            - {fact: zone, not_in: [de_landline, de_mobile, emergency]}
            - any:
                - {fact: caller_country, equals: DE}
                - {fact: account_country, in: [AT, CH, FR]}
        decide: flat_rate
      - name: synthetic-opening
        applies_to: account.opened
        when:
          all:
            - {fact: customer_type, equals: consumer}
            - {fact: billing_method, in: [postpay, prepay]}
            - {fact: plan, not_equals: clinq}
        decide: reject
        reason: synthetic
"""

VALUES = {
    "plan": ["clinq", "clinq-premium", "other"],
    "zone": [
        "de_landline",
        "de_mobile",
        "eu_landline",
        "eu_mobile",
        "world",
        "emergency",
        "de_freephone",
        "de_premium_rate",
        "de_directory",
    ],
    "account_country": ["DE", "AT", "FR", "US", "CH"],
    "caller_country": ["DE", "FR", "US"],
    "country": ["DE", "US", "GU", "CU", "FR", "PR", "KP"],
    "customer_type": ["consumer", "business"],
    "billing_method": ["prepay", "autoprepay", "postpay"],
    "mandate": ["valid", "none"],
    "by": ["customer", "provider"],
    "channel": ["email", "letter", "fax", "phone", "web"],
    "ground": ["none", "misuse", "insolvency", "false_identity", "returned_debits", "other"],
}


def random_facts(rng: random.Random, subject: str, edges: dict[str, tuple[int, ...]]) -> dict:
    facts = {}
    for name, kind in FACTS[subject].items():
        if kind is int:
            near = [e + d for e in edges.get(name, (0,)) for d in (-1, 0, 1)]
            facts[name] = rng.choice(near) if rng.random() < 0.5 else rng.randint(-5000, 5000)
        else:
            facts[name] = rng.choice(VALUES[name])
    return facts


def rulesets(catalog):
    for edition in catalog.editions:
        terms = catalog.at(edition)
        try:
            yield compile_ruleset(terms)
        except Exception:
            continue


@pytest.fixture(scope="module")
def synthetic_catalog(tmp_path_factory):
    import shutil

    from engine.catalog import PROJECT_ROOT

    root = tmp_path_factory.mktemp("synthetic")
    for folder in ("rules", "tariffs", "schemas", "docs"):
        shutil.copytree(PROJECT_ROOT / folder, root / folder)
    credit = root / "rules/clinq-sd/1.3-credit-account.yaml"
    credit.write_text(credit.read_text() + SYNTHETIC_RULES)
    return load_catalog(root)


def test_durable_rules_and_the_oracle_agree_on_thousands_of_facts(catalog, synthetic_catalog):
    rng = random.Random(2026)
    decider = Decider()
    compared = 0
    for ruleset in [*rulesets(catalog), compile_ruleset(synthetic_catalog.at(date(2026, 11, 21)))]:
        for subject in FACTS:
            for _ in range(400):
                facts = random_facts(rng, subject, ruleset.breakpoints.get(subject, {}))
                # Ask durable-rules itself, bypassing the cache, for every fact.
                fired = decider._ask_rule_engine(ruleset, subject, facts)
                assert fired == oracle_decide(ruleset, subject, facts), (ruleset.name, facts)
                compared += 1
    assert compared >= 3000
    assert decider.rule_engine_calls == compared


def test_the_decision_cache_never_changes_a_decision(synthetic_catalog):
    ruleset = compile_ruleset(synthetic_catalog.at(date(2026, 11, 21)))
    rng = random.Random(7)
    decider = Decider()
    for _ in range(3000):
        subject = rng.choice(list(FACTS))
        facts = random_facts(rng, subject, ruleset.breakpoints.get(subject, {}))
        assert decider.decide(ruleset, subject, facts) == oracle_decide(ruleset, subject, facts)
    assert decider.rule_engine_calls < 3000, "the cache answered some of them"


def test_a_month_of_events_gives_identical_results_with_durable_rules_and_the_oracle(
    tmp_path, catalog, decider
):
    events = list(month_of_events("2026-11", accounts=40, calls=3000, seed=5))
    with_durable = Engine(f"sqlite:///{tmp_path / 'durable.sqlite'}", catalog, decider)
    with_oracle = Engine(f"sqlite:///{tmp_path / 'oracle.sqlite'}", catalog, OracleDecider())
    try:
        first = with_durable.handle_many(events)
        second = with_oracle.handle_many(events)
    finally:
        with_durable.close()
        with_oracle.close()
    assert len(first) == len(events) > 3000
    assert json.dumps(first) == json.dumps(second)
    assert {r["status"] for r in first} <= {"applied", "rejected"}
