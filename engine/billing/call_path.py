"""The call path: rating an ordinary call without a ``Booking``.

A call is most of what the engine applies. The general path (engine/billing/calls.py ``rate_call``
through a :class:`~engine.effects.Booking`) copies the account, builds the booking, asks the
rule engine twice (two cache keys), prices the call and builds the effects field by field. This
path gives the same result for the ordinary call with less work:

- what the rules decided for a call situation (terms version, plan, zone, account country,
  caller country) and what follows from it (the clause, increments, rate, tariff, free minutes)
  is a :class:`Pricing`, made once from the :class:`~engine.rules.Decider`'s decision and kept;
- zones are looked up once per number prefix as long as the zone table's longest prefix;
- every refusal is checked before anything changes, so the account needs no copy per call:
  the batch copies an account once and changes that copy from call to call;
- the result's effects and the ledger entry are built in their final form.

Anything unusual is left to the general path, which then applies the call as any other event:
an account not open, gone, blocked, a user not on the account, no zone, a refusing rule, a
catalog gap (NotInForce), a plan change due that day, and a balance after the call at which
the rules would do something (request a top-up, schedule the negative-credit invoice, request
settlement: AGB 4.1.2, CLINQ SD 1.3, AGB 4.1.4). The balance rules are asked exactly as
``after_booking`` asks them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

import orjson

from engine.billing.calls import PRICING_CLAUSE
from engine.billing.credit import NEGATIVE_CREDIT_INVOICE
from engine.billing.plan_changes import PLAN_CHANGE, plan_at
from engine.billing.rating import billed_seconds, price, split_free_seconds
from engine.catalog import Catalog, NotInForce, Terms
from engine.core.contract_states import CONTRACT_OVER, GONE
from engine.core.invoice_lines import MINUTE, Quantity, add_to_line, call_minutes
from engine.core.money import MoneyRule, format_amount, from_cents, to_cents
from engine.core.state import (
    AccountState,
    Deadline,
    LedgerEntry,
    free_seconds_used_in,
    use_free_seconds,
)
from engine.effects import _copy_total
from engine.events import Event
from engine.ledger.compact import Shapes
from engine.rules import CompiledRuleset, Decider

FREE = "free"  # CLINQ SD 3.1: an emergency call is free of charge
FLAT = "flat"  # CLINQ SD 2.2: the Premium EU flat rate
RATED = "rated"  # AGB 3.4: the rate table's per-minute rate, after free minutes
_dumps = orjson.dumps


@dataclass
class Pricing:
    """What the rules decided for one call situation and what it costs (AGB 3.4).

    ``kind`` is free, flat or rated; ``clause`` is what the charge effect cites. A rated call
    has the rate table's increments, rate and citation; ``free_clause`` is set when the
    plan's free minutes cover the zone (CLINQ SD 2.1), with the plan's pool in seconds.
    """

    terms_version: str
    kind: str
    clause: str
    first_increment: int = 0
    next_increment: int = 0
    rate: Decimal = Decimal(0)
    rate_text: str = ""
    line: str = ""  # the invoice line's key in period_charges (engine/core/invoice_lines.py)
    tariff: str = ""
    free_clause: str | None = None
    free_seconds: int = 0
    money: MoneyRule | None = None
    # charged seconds -> (cents charged, amount as JSON, quantity for the invoice line)
    _amounts: dict[int, tuple[int, str, Quantity]] = field(default_factory=dict, repr=False)
    # per effect this pricing builds (charge, free minutes, ledger detail): its stored shape
    # as (code, number, keys of the stored values), see engine/ledger/compact.py
    templates: dict[str, tuple[str, int, tuple[str, ...]]] = field(default_factory=dict, repr=False)

    def amount(self, charged: int) -> tuple[int, str, Quantity]:
        """The charge of ``charged`` seconds in cents (positive), as JSON, and its quantity."""
        found = self._amounts.get(charged)
        if found is None:
            assert self.money is not None
            cents = to_cents(price(charged, self.rate, self.money))
            found = (cents, format_amount(from_cents(cents)), call_minutes(charged, self.rate))
            self._amounts[charged] = found
        return found


def pricing_from_decision(
    terms: Terms, plan_id: str, zone: str, decided: Sequence[Any]
) -> Pricing | None:
    """The pricing the decided rules give, as ``rate_call`` reads them; None if the call is
    refused or the catalog lacks something (the general path then says why)."""
    decisions = {rule.decide: rule for rule in decided}
    if "reject" in decisions:
        return None
    version = terms.version
    try:
        plan = terms.plan(plan_id)  # rate_call asks for the plan first: NotInForce refuses
        if "free_of_charge" in decisions:
            return Pricing(version, FREE, decisions["free_of_charge"].citation)
        if "flat_rate" in decisions:
            return Pricing(version, FLAT, decisions["flat_rate"].citation)
        rates = terms.rates(plan["rate_table"])
        rate = rates[zone]
        pricing = Pricing(
            version,
            RATED,
            PRICING_CLAUSE,
            first_increment=rates["first_increment"],
            next_increment=rates["next_increment"],
            rate=rate,
            rate_text=f"{rate}",
            line=f"{MINUTE} {rate}",
            tariff=rates.citation,
            money=terms.money,
        )
        if "free_minutes" in decisions:
            pricing.free_clause = decisions["free_minutes"].citation
            pricing.free_seconds = plan["free_minutes"] * 60
    except NotInForce:
        return None
    return pricing


class _Day(NamedTuple):
    """A day in Berlin as the call path uses it: the terms in force, the ISO date, the month,
    and the zones and pricings kept for that terms version."""

    local: date
    terms: Terms
    ruleset: CompiledRuleset
    iso: str
    month: str
    zones: dict[str, str | None]
    pricings: dict[tuple, Pricing | None]


@dataclass
class Rated:
    """A call rated by the call path: its result, the account after it, its ledger entry,
    and both as stored (engine/ledger/compact.py) with the numbers of the shapes they use."""

    result: dict[str, Any]
    account: AccountState
    entry: LedgerEntry | None
    stored_result: str
    stored_detail: str | None
    shapes: tuple[int, ...]


@dataclass
class CallPath:
    """Rates ordinary calls for an engine; its pricings and zones are kept per terms version.

    ``ruleset`` gives the compiled rules of a terms version (the engine's, compiled once).
    ``taken`` and ``left`` count the calls rated here and those left to the general path.
    """

    decider: Decider
    ruleset: Callable[[Terms], CompiledRuleset]
    shapes: Shapes  # the engine's shapes of stored results
    # per terms version (its first day): pricings by situation, zones by number prefix
    _pricings: dict[date, dict[tuple, Pricing | None]] = field(default_factory=dict, repr=False)
    _zones: dict[date, dict[str, str | None]] = field(default_factory=dict, repr=False)
    # per day in Berlin: the terms in force, the day as ISO date and as month (YYYY-MM)
    _days: dict[date, _Day] = field(default_factory=dict, repr=False)
    # per ruleset: the constants its balance rules compare with; decisions by cache key
    _balance_edges: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = field(
        default_factory=dict, repr=False
    )
    _balance_decisions: dict[tuple, tuple] = field(default_factory=dict, repr=False)
    taken: int = 0
    left: int = 0

    def forget(self) -> None:
        """Drop what was kept: the catalog changed (a publication in the admin UI)."""
        self._pricings.clear()
        self._zones.clear()
        self._days.clear()
        self._balance_edges.clear()
        self._balance_decisions.clear()

    def day(self, catalog: Catalog, day: date) -> _Day:
        """The terms in force on ``day`` (NotInForce before the catalog starts) and what the
        call path keeps of them."""
        found = self._days.get(day)
        if found is None:
            terms = catalog.at(day)
            first = terms.effective_from
            found = self._days[day] = _Day(
                day,
                terms,
                self.ruleset(terms),
                day.isoformat(),
                day.strftime("%Y-%m"),
                self._zones.setdefault(first, {}),
                self._pricings.setdefault(first, {}),
            )
        return found

    @staticmethod
    def zone_of(terms: Terms, zones: dict[str, str | None], number: str) -> str | None:
        """``terms.zones.zone_of(number)``, looked up once per prefix (kept in ``zones``).

        The longest-prefix match reads at most the table's longest prefix of the number, so
        numbers that agree on that many characters have the same zone.
        """
        table = terms.zones
        key = number[: table.longest] if number[:1] == "+" else number
        try:
            return zones[key]
        except KeyError:
            zone = zones[key] = table.zone_of(number)
            return zone

    def pricing(
        self,
        terms: Terms,
        pricings: dict[tuple, Pricing | None],
        situation: tuple[str, str, str, str],
    ) -> Pricing | None:
        """The pricing of a call situation (plan, zone, account country, caller country): the
        decider's decision on the facts ``rate_call`` shows it, read once per terms version
        (``pricings`` are that version's)."""
        try:
            return pricings[situation]
        except KeyError:
            pass
        plan_id, zone, country, caller = situation
        facts = {
            "plan": plan_id,
            "zone": zone,
            "account_country": country,
            "caller_country": caller,
        }
        try:
            decided = self.decider.decide(self.ruleset(terms), "call", facts)  # as cached
        except NotInForce:
            decided = None
        found = None if decided is None else pricing_from_decision(terms, plan_id, zone, decided)
        pricings[situation] = found
        return found

    def rate(
        self,
        event: Event,
        catalog: Catalog,
        state: AccountState | None,
        pending: Sequence[Deadline],
        owned: dict[str, tuple[AccountState, set]],
    ) -> Rated | None:
        """Rate an ordinary call, or None to leave it to the general path (nothing changed).

        ``owned`` holds the account copies this batch made and may change, with the months
        and items of ``period_charges`` each copy has of its own (copy on write, as
        ``Booking.period_total``); the state the batch started from is never changed.
        """
        try:
            # AGB 3.4: the tariff in force at the call's start
            day = self.day(catalog, catalog.local_date(event.at))
        except NotInForce:
            found = None
        else:
            found = self._rate(event, day, state, pending, owned)
        if found is None:
            self.left += 1
        else:
            self.taken += 1
        return found

    def _rate(self, event, day: _Day, state, pending, owned) -> Rated | None:
        """The call rated as ``Booking`` would rate it, or None where the general path must.

        Long on purpose: it runs once for every ordinary call of a replay
        (benchmarks/replay_month.py), and a function call per step would cost on that path.
        """
        if state is None:
            return None
        contract = state.contract
        data = event.data
        user = data["user"]
        if contract.blocked or contract.status in GONE or user not in state.users:
            return None  # CLINQ SD 1.2, AGB 1.1.1, 1.5, 2.11, 4.4.3: refused there
        terms = day.terms
        at = event.at
        local_date = terms.calendar.local_date(at)  # as the Booking's local_date
        if local_date == day.local:
            iso, month = day.iso, day.month
        else:  # not where the catalog's time zone is the calendar's
            iso, month = local_date.isoformat(), local_date.strftime("%Y-%m")
        if contract.term_notices and any(
            n["effective_for_customer"] is None or iso < n["effective_for_customer"]
            for n in contract.term_notices.values()
        ):
            return None  # a change of the terms is held back for this customer (AGB 8; TKG § 57)
        if contract.plan_change is not None:
            for deadline in pending:
                if deadline.kind == PLAN_CHANGE and deadline.due <= local_date:
                    return None  # the change takes effect first (Platform: plan-changes)
        plan_id = (
            plan_at(state, at) if contract.plan_change or contract.plan_history else state.plan
        )
        to = data["to"]
        zone = self.zone_of(terms, day.zones, to)
        if zone is None:
            return None
        pricing = self.pricing(
            terms, day.pricings, (plan_id, zone, state.country, data.get("caller_country", "DE"))
        )
        if pricing is None:
            return None
        duration = data["duration_s"]
        version = pricing.terms_version
        if pricing.kind != RATED:
            effect = {
                "kind": "charge",
                "clause": pricing.clause,
                "terms_version": version,
                "amount": "0.00",
                "item": "call",
                "user": user,
                "to": to,
                "zone": zone,
                "duration_s": duration,
                "charged_seconds": 0,
            }
            if pricing.kind == FLAT:
                effect["flat_rate"] = True
            account, _ = _own(state, event.account, owned)
            account.contract.last_use = iso  # AGB 1.5
            stored = self._stored(pricing, "charge", effect, data)
            return Rated(
                {"id": event.id, "status": "applied", "effects": [effect]},
                account,
                None,
                _dumps([stored]).decode(),
                None,
                (pricing.templates["charge"][1],),
            )

        billed = billed_seconds(duration, pricing.first_increment, pricing.next_increment)
        charged, free, left = billed, 0, 0
        if pricing.free_clause is not None and billed:
            used = free_seconds_used_in(state, month)
            left = pricing.free_seconds - used
            free, charged = split_free_seconds(billed, left)
        cents, amount_text, quantity = pricing.amount(charged)
        balance = state.balance_cents - cents
        if cents and not self._balance_quiet(day.ruleset, state, balance, pending):
            return None  # the balance rules act on this call: the general path books it

        account, months = _own(state, event.account, owned)
        account.contract.last_use = iso  # AGB 1.5
        effects = []
        stored = []
        if free:
            use_free_seconds(account, month, free)
            effects.append(
                {
                    "kind": "free_minutes_used",
                    "clause": pricing.free_clause,
                    "terms_version": version,
                    "minutes": free // 60,
                    "seconds": free,
                    "left_seconds": left - free,
                }
            )
            stored.append(self._stored(pricing, "free", effects[0], data))
        detail = {
            "user": user,
            "to": to,
            "zone": zone,
            "duration_s": duration,
            "billed_seconds": billed,
            "charged_seconds": charged,
            "rate": pricing.rate_text,
            "tariff": pricing.tariff,
        }
        charge = {
            "kind": "charge",
            "clause": PRICING_CLAUSE,
            "terms_version": version,
            "amount": amount_text,
            "item": "call",
            **detail,
        }
        effects.append(charge)
        stored.append(self._stored(pricing, "charge", charge, data))
        templates = pricing.templates
        used = (templates["free"][1], templates["charge"][1]) if free else (templates["charge"][1],)
        entry = stored_detail = None
        if cents:
            entry = LedgerEntry("call", -cents, PRICING_CLAUSE, version, detail)
            stored_detail = _dumps(self._stored(pricing, "detail", detail, data)).decode()
            used += (templates["detail"][1],)
            total = _period_total(account, months, month, f"call:{zone}", PRICING_CLAUSE)
            total[0] += cents
            # the invoice line of the zone's rate (accumulate, with its key kept per pricing)
            add_to_line(total, pricing.line, MINUTE, pricing.rate_text, quantity.amount, cents)
            account.balance_cents = balance
            if balance >= 0:
                account.contract.settlement_requested = False  # as after_booking does
        return Rated(
            {"id": event.id, "status": "applied", "effects": effects},
            account,
            entry,
            _dumps(stored).decode(),
            stored_detail,
            used,
        )

    def _stored(self, pricing: Pricing, name: str, effect: dict, payload: Any) -> list:
        """``Shapes.compact_effect`` of an effect this pricing builds: its shape is the same
        from call to call (the constants are the pricing's, the payload's fields the event's
        own), so it is found once and kept as a template."""
        template = pricing.templates.get(name)
        if template is None:
            template = pricing.templates[name] = self.shapes.template(effect, payload)
        return [template[0], *[effect[key] for key in template[2]]]

    def _balance_quiet(
        self,
        ruleset: CompiledRuleset,
        state: AccountState,
        balance: int,
        pending: Sequence[Deadline],
    ) -> bool:
        """Whether the balance rules, asked as ``after_booking`` asks them, do nothing at
        ``balance``: no top-up to request (AGB 4.1.2), no negative-credit invoice to schedule
        (CLINQ SD 1.3), no settlement to request (AGB 4.1.4)."""
        threshold = state.autoprepay_threshold_cents
        contract = state.contract
        headroom = balance - threshold if threshold is not None else 0
        edges = self._balance_edges.get(ruleset.name)
        if edges is None:
            points = ruleset.breakpoints.get("balance", {})
            edges = self._balance_edges[ruleset.name] = (
                points.get("balance_cents", ()),
                points.get("autoprepay_headroom_cents", ()),
            )
        # The decider's cache key of these facts (CompiledRuleset.cache_key): the strings,
        # and each integer's place among the constants the rules compare it with.
        mandate = "valid" if contract.mandate else "none"
        at_balance = bisect_left(edges[0], balance)
        at_headroom = bisect_left(edges[1], headroom)
        key = (
            ruleset.name,
            state.plan,
            state.billing_method,
            mandate,
            at_balance,
            at_balance < len(edges[0]) and edges[0][at_balance] == balance,
            at_headroom,
            at_headroom < len(edges[1]) and edges[1][at_headroom] == headroom,
        )
        decided = self._balance_decisions.get(key)
        if decided is None:
            facts = {
                "plan": state.plan,
                "billing_method": state.billing_method,
                "balance_cents": balance,
                "autoprepay_headroom_cents": headroom,
                "mandate": mandate,
            }
            decided = self._balance_decisions[key] = self.decider.decide(ruleset, "balance", facts)
        if not decided:
            return True
        running = contract.status not in CONTRACT_OVER
        requested = contract.settlement_requested and balance < 0
        for rule in decided:
            if rule.decide == "topup":
                if running and not state.topup_pending:
                    return False
            elif rule.decide == NEGATIVE_CREDIT_INVOICE:
                if not any(d.kind == NEGATIVE_CREDIT_INVOICE for d in pending):
                    return False
            elif rule.decide == "settlement_request" and not requested:
                return False
        return True


def _own(
    state: AccountState, name: str, owned: dict[str, tuple[AccountState, set]]
) -> tuple[AccountState, set]:
    """The batch's own copy of the account (made once while the batch keeps changing it)."""
    mine = owned.get(name)
    if mine is not None and mine[0] is state:
        return mine
    mine = owned[name] = (state.copy(), set())
    return mine


def _period_total(account: AccountState, months: set, month: str, item: str, clause: str) -> list:
    """``period_charges[month][item]``, copied once into the batch's copy before a change."""
    charges = account.period_charges
    if month not in months:
        charges[month] = dict(charges.get(month) or {})
        months.add(month)
    items = charges[month]
    key = (month, item)
    if key not in months:
        total = items.get(item)
        items[item] = [0, clause] if total is None else _copy_total(total)
        months.add(key)
    return items[item]
