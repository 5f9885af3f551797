"""The demo's story (issue 29): six customers whose October and November reach every walkthrough.

``billing serve`` loads the generated month of :mod:`billing.demo` (unchanged, so ``billing
demo`` and the benchmarks keep their output) and, with it, this layer: German master data and
SEPA mandates for the generated accounts, and six named customers opened on 1 October with a
history of their own: October's invoices collected by SEPA on 11 November (a real pain.008 of
the platform, booked as the bank credited it), three returns of it on 13 November (a camt.054 of
the simulated bank, :mod:`billing.demo_bank`, each with the fee of AGB 4.2.3), a justified
objection and its credit note (AGB 4.5.4), an upgrade to CLINQ Premium (Platform:
plan-changes), top-ups and bank transfers, a reverse-charge business in Austria (UStG § 13b) and
a consumer in France (UStG § 3a (5)); and a draft of AGB 4.2.3 raising the fee to 12.00 EUR
that legal has not published. Every instant is before 2026-12-07 and after the generated
month's, so the walkthroughs' own steps (the invoice run of 1 December, the collection of 9
December) run after it. Deterministic: the same database every time.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from billing import demo_bank
from billing.demo import month_of_events
from engine.engine import Engine
from engine.interchange import sepa_export, sepa_returns
from engine.ledger import audit
from engine.ledger.tables import drafts, invoices

BERLIN = ZoneInfo("Europe/Berlin")
FEE_FILE = "rules/agb/4.2.3-returned-direct-debit.yaml"
DRAFT_AUTHOR = "legal@example.com"
# Generated accounts whose weekly direct debit (a top-up, no invoice) comes back late in November,
# reported by the billing service with the bank's reason code.
TOPUP_RETURNS = {"acct-000002": "AM04", "acct-000018": "AM04", "acct-000019": "MS02"}
OBJECTION = "5.95"  # the disputed premium-rate call, with VAT (AGB 4.5.4)
DRAFTED_AT = datetime(2026, 12, 4, 10, 0, tzinfo=BERLIN)

# German master data for the generated accounts, by their number (cycled beyond 20).
_FIRST = ("Jonas", "Lea", "Felix", "Mia", "Paul", "Emma", "Leon", "Hannah", "Noah", "Lina")
_LAST = ("Fischer", "Weber", "Meyer", "Wagner", "Schulz", "Hoffmann", "Koch", "Richter", "Wolf")
_FIRMS = ("Rheinblick", "Altstadt", "Medienhafen", "Kö-Bogen", "Hofgarten", "Nordpark")
_KINDS = ("Steuerberatung GmbH", "Immobilien GmbH", "Architekten PartG", "Handels-KG")
_STREETS = ("Königsallee", "Graf-Adolf-Straße", "Berliner Allee", "Kasernenstraße", "Bilker Allee")


@dataclass(frozen=True)
class StoryCustomer:
    account: str
    plan: str
    customer_type: str
    billing_method: str
    country: str
    customer: dict
    iban: str | None = None  # a SEPA mandate for this IBAN
    scheme: str = "CORE"
    returned_with: str | None = None  # the reason code of its return on 13 November


def _address(street: str, postal_code: str, city: str, country: str = "DE") -> dict:
    return {"street": street, "postal_code": postal_code, "city": city, "country": country}


STORY = (
    StoryCustomer(
        "acct-100001", "clinq", "consumer", "postpay", "DE",
        {"name": "Anna Schmidt", "email": "anna.schmidt@example.com",
         "address": _address("Lindenstraße 12", "40233", "Düsseldorf")},
        iban="DE83370400440532013011", returned_with="AM04",
    ),
    StoryCustomer(
        "acct-100002", "clinq", "business", "postpay", "DE",
        {"name": "Müller & Söhne Sanitär GmbH", "email": "buchhaltung@mueller-sanitaer.example",
         "address": _address("Ackerstraße 88", "40233", "Düsseldorf"),
         "vat_id": "DE136695976", "input_tax_deduction": True},
        iban="DE77370400440532013022", scheme="B2B", returned_with="MS02",
    ),
    StoryCustomer(
        "acct-100003", "clinq", "consumer", "postpay", "DE",
        {"name": "Lukas Becker", "email": "lukas.becker@example.com",
         "address": _address("Brunnenstraße 3", "40223", "Düsseldorf")},
        iban="DE71370400440532013033", returned_with="MD06",
    ),
    StoryCustomer(
        "acct-100004", "clinq", "consumer", "prepay", "DE",
        {"name": "Sophie Wagner", "email": "sophie.wagner@example.com",
         "address": _address("Rethelstraße 40", "40237", "Düsseldorf")},
    ),
    StoryCustomer(
        "acct-100005", "clinq-premium", "business", "postpay", "AT",
        {"name": "Kaffeehaus Gruber GmbH", "email": "office@kaffeehaus-gruber.example",
         "address": _address("Kärntner Straße 21", "1010", "Wien", "AT"),
         "vat_id": "ATU13585627", "input_tax_deduction": True},
    ),
    StoryCustomer(
        "acct-100006", "clinq", "consumer", "prepay", "FR",
        {"name": "Camille Dubois", "email": "camille.dubois@example.com",
         "address": _address("8 rue de Londres", "75009", "Paris", "FR")},
    ),
)  # fmt: skip


def _at(day: date, hour: int, minute: int = 0) -> str:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN).isoformat()


def _event(kind: str, account: str, at: str, number: int, **fields) -> dict:
    return {"id": f"story-{account}-{number:04d}-{kind}", "type": kind, "account": account,
            "at": at, **fields}  # fmt: skip


# -- the generated accounts: German master data and mandates -----------------------------------


def german_customer(account: str, customer_type: str, vat_id: str | None) -> dict:
    """Name, e-mail and Düsseldorf address of generated account ``account`` (its number)."""
    number = int(account.rsplit("-", 1)[-1])
    street = f"{_STREETS[number % len(_STREETS)]} {number % 90 + 1}"
    if customer_type == "business":
        name = f"{_FIRMS[number % len(_FIRMS)]} {_KINDS[number % len(_KINDS)]}"
        email = f"rechnung.{account}@example.com"
    else:
        first, last = _FIRST[number % len(_FIRST)], _LAST[number % len(_LAST)]
        name, email = f"{first} {last}", f"{first}.{last}.{number}@example.com".lower()
    customer = {"name": name, "email": email,
                "address": _address(street, "40212", "Düsseldorf")}  # fmt: skip
    if vat_id:
        customer.update(vat_id=vat_id, input_tax_deduction=True)
    return customer


def demo_iban(account: str) -> str:
    """A valid German IBAN (schwifty: check digits) for generated account ``account``."""
    from schwifty import IBAN

    number = int(account.rsplit("-", 1)[-1])
    return str(IBAN.generate("DE", bank_code="30050110", account_code=f"{7100000 + number}"))


def with_master_data(month: Iterable[dict]) -> Iterator[dict]:
    """The generated month, each opening followed by German master data (AGB 2.4,
    ``account.updated``) at the opening's instant."""
    pending = set(TOPUP_RETURNS)
    for event in month:
        yield event
        account = event["account"]
        if (
            event["type"] == "payment.received"
            and account in pending
            and (event["method"] == "direct_debit" and event["at"] >= "2026-11-20")
        ):
            pending.discard(account)  # the billing service reports its return (AGB 4.2.3)
            yield {"id": f"story-{account}-return", "type": "direct_debit.returned",
                   "account": account, "at": event["at"].replace("T06:", "T10:"),
                   "amount": event["amount"], "reason_code": TOPUP_RETURNS[account]}  # fmt: skip
        if event["type"] != "account.opened":
            continue
        at = event["at"]
        customer = german_customer(account, event["customer_type"], event["customer"].get("vat_id"))
        yield {"id": f"story-{account}-update", "type": "account.updated", "account": account,
               "at": at, "customer": customer}  # fmt: skip


# -- the six customers ----------------------------------------------------------------------


def _calls(rng: random.Random, story: StoryCustomer, first: date, last: date, count: int):
    """``count`` ordinary calls on working days between ``first`` and ``last``."""
    days = [first + timedelta(d) for d in range((last - first).days + 1)]
    days = [d for d in days if d.weekday() < 5]
    targets = ("+4921155", "+4930", "+49170", "+49151", "+331", "+4312", "+12125")
    picked = sorted((rng.choice(days), rng.randrange(8 * 60, 18 * 60)) for _ in range(count))
    for day, minute in picked:
        prefix = rng.choice(targets)
        digits = "".join(str(rng.randrange(10)) for _ in range(12 - len(prefix)))
        yield {"type": "call", "at": _at(day, minute // 60, minute % 60),
               "user": f"{story.account}-1", "duration_s": rng.randrange(20, 900),
               "to": prefix + digits}  # fmt: skip


def october(rng: random.Random) -> list[dict]:
    """Opened on 1 October; October's calls; the clock of 1 November issues October's invoices
    (AGB 4.3.1). Lukas Becker calls a premium-rate number he later disputes."""
    events: list[dict] = []
    opening = date(2026, 10, 1)
    for story in STORY:
        seq = iter(range(1, 10_000))
        add = lambda kind, at, story=story, seq=seq, **f: events.append(  # noqa: E731
            _event(kind, story.account, at, next(seq), **f)
        )
        opened = {"plan": story.plan, "customer_type": story.customer_type,
                  "billing_method": story.billing_method, "country": story.country,
                  "area_code": "0211", "customer": story.customer}  # fmt: skip
        if story.plan == "clinq-premium":
            opened["evn"] = {"enabled": True, "shorten": False}
        add("account.opened", _at(opening, 9), **opened)
        add("user.added", _at(opening, 9, 1), user=f"{story.account}-1")
        if story.iban:
            add("mandate.granted", _at(opening, 9, 2), reference=f"CLINQ-{story.account.upper()}-1",
                signed_on="2026-09-28", debtor_name=story.customer["name"], iban=story.iban,
                scheme=story.scheme)  # fmt: skip
        if story.billing_method == "prepay":
            add("credit.topped_up", _at(opening, 9, 3), amount="30.00")
        for call in _calls(rng, story, date(2026, 10, 2), date(2026, 10, 30), 25):
            add("call", call.pop("at"), **call)
        if story.account == "acct-100003":
            add("call", _at(date(2026, 10, 22), 21, 14), user=f"{story.account}-1",
                to="+4990012345678", duration_s=300)  # fmt: skip
        add("clock", _at(date(2026, 10, 20), 23, 59))
        add("clock", _at(date(2026, 11, 1), 0, 1))
    return events


def november(
    rng: random.Random, invoices: dict[str, str], returned: dict[str, str], opened: dict
) -> list[dict]:
    """After the collection's returns: the objection, transfers that settle the returns (AGB
    4.2.1), the upgrade, top-ups, November's calls and the clock of the 20th.
    ``invoices``: October's invoice number per account (and ``ACCOUNT:open``, what is open of
    it); ``returned``: what each account owes after its return (the debit and the fee);
    ``opened``: the open invoices (number, amount) of the account that pays by transfer."""
    events: list[dict] = []
    for story in STORY:
        seq = iter(range(100, 10_000))
        account = story.account
        calls = list(_calls(rng, story, date(2026, 11, 23), date(2026, 11, 26), 20))
        timeline = [(c.pop("at"), "call", c) for c in calls]
        if account == "acct-100003":  # AGB 4.5.4: the disputed premium-rate call
            timeline.append((_at(date(2026, 11, 16), 7), "objection.received",
                             {"channel": "email", "invoice": invoices[account],
                              "justified_amount": OBJECTION}))  # fmt: skip
        if account in returned:  # the returned debit and its fee, by transfer (AGB 4.2.1)
            timeline.append((_at(date(2026, 11, 17), 0), "payment.received", {
                "amount": returned[account], "method": "bank_transfer",
                "reference": invoices[account]}))  # fmt: skip
        for number, amount in opened.get(account, []):  # transfers naming the invoice
            timeline.append((_at(date(2026, 11, 17), 0), "payment.received", {
                "amount": amount, "method": "bank_transfer", "reference": number}))  # fmt: skip
        if account == "acct-100004":  # Platform: plan-changes, an upgrade at once
            timeline.append((_at(date(2026, 11, 16), 9), "plan.changed", {"plan": "clinq-premium"}))
            timeline.append((_at(date(2026, 11, 20), 8), "credit.topped_up", {"amount": "20.00"}))
        if account == "acct-100006":
            timeline.append((_at(date(2026, 11, 18), 8), "credit.topped_up", {"amount": "25.00"}))
        for at, kind, fields in sorted(timeline, key=lambda item: item[0]):
            events.append(_event(kind, account, at, next(seq), **fields))
        events.append(_event("clock", account, _at(date(2026, 11, 20), 23, 59), next(seq)))
    return events


def generated_mandates(month: Iterable[dict]) -> Iterator[dict]:
    """CORE mandates (AGB 4.2.1) of the generated accounts that pay by direct debit
    (autoprepay, postpay), received after the generated month: December's collection takes
    their November invoices."""
    at = datetime(2026, 11, 30, 23, 59, 30, tzinfo=BERLIN).isoformat()
    for event in month:
        if event["type"] == "account.opened" and event["billing_method"] != "prepay":
            account = event["account"]
            name = german_customer(account, event["customer_type"], None)["name"]
            yield {
                "id": f"story-{account}-mandate", "type": "mandate.granted", "account": account,
                "at": at, "reference": f"CLINQ-{account.upper()}-1", "signed_on": "2026-11-27",
                "debtor_name": name, "iban": demo_iban(account),
            }  # fmt: skip


def apply_story(engine: Engine, accounts: int, calls: int) -> None:
    """The story and the generated month of ``accounts`` and ``calls`` (billing.demo, seed 1,
    with German master data) into ``engine``'s database, in the order a month of operation
    would have written them."""
    rng = random.Random(29)
    _handle(engine, sorted(october(rng), key=lambda e: datetime.fromisoformat(e["at"])))
    _handle(engine, with_master_data(month_of_events("2026-11", accounts, calls, seed=1)))
    invoices = _october_invoices(engine)
    morning = _at(date(2026, 11, 9), 6)  # the debits of October's invoices fall due
    debits = _handle(engine, [_event("clock", s.account, morning, 80) for s in STORY if s.iban])
    day = min(date.fromisoformat(e["collection_date"]) for r in debits
              for e in r.get("effects", []) if e["kind"] == "direct_debit_requested")  # fmt: skip
    files = []
    for scheme in ("CORE", "B2B"):
        created = sepa_export.default_created_at(day, engine.catalog)
        files.append(sepa_export.export(engine.store, engine.catalog, day, scheme, created).xml)
    # what the bank credited on the collection day, then what it returned two days later
    bank = demo_bank.DemoBank({s.iban: s.returned_with for s in STORY if s.returned_with})
    for xml in files:
        _handle(engine, bank.collected(xml))
    report = sepa_returns.import_returns(engine, bank.returns(files, day))
    for outcome in report.outcomes:
        if outcome.status != "applied":
            raise RuntimeError(f"demo story return not applied: {outcome.to_json()}")
    # each transfers what it owes then (the return, its fee, the month's fees in advance)
    returned = {}
    for outcome in report.outcomes:
        account = outcome.event["account"]
        owed = -Decimal(engine.account(account)["balance"])
        if account == "acct-100003":
            owed -= Decimal(OBJECTION)  # credited by the objection the day before he pays
        returned[account] = f"{owed:.2f}"
    transfers = {"acct-100005": _open_invoices(engine, "acct-100005")}
    _handle(engine, november(rng, invoices, returned, transfers))
    # the debits of the 20th's invoices fall due on the 27th, collected on the 30th
    late = _handle(engine, [_event("clock", s.account, _at(date(2026, 11, 27), 6), 81)
                            for s in STORY if s.iban])  # fmt: skip
    due = {e["collection_date"] for r in late for e in r.get("effects", [])
           if e["kind"] == "direct_debit_requested"}  # fmt: skip
    for day in sorted(date.fromisoformat(d) for d in due):
        for scheme in ("CORE", "B2B"):
            try:
                created = sepa_export.default_created_at(day, engine.catalog)
                xml = sepa_export.export(engine.store, engine.catalog, day, scheme, created).xml
            except sepa_export.ExportRefused:
                continue  # none of this scheme on that day
            _handle(engine, demo_bank.DemoBank({}).collected(xml))
    _handle(
        engine, [_event("clock", s.account, _at(date(2026, 11, 30), 23, 59), 82) for s in STORY]
    )
    _handle(engine, generated_mandates(month_of_events("2026-11", accounts, calls, seed=1)))
    _draft_fee(engine)


def _handle(engine: Engine, events: Iterable[dict]) -> list[dict]:
    results, batch = [], []
    for event in events:
        batch.append(event)
        if len(batch) == 1000:
            results += _checked(engine.handle_many(batch), batch)
            batch = []
    if batch:
        results += _checked(engine.handle_many(batch), batch)
    return results


def _checked(results: list[dict], batch: list[dict]) -> list[dict]:
    for event, result in zip(batch, results, strict=True):
        if event["id"].startswith("story-") and result["status"] != "applied":
            raise RuntimeError(f"demo story event {event['id']} not applied: {result}")
    return results


def _october_invoices(engine: Engine) -> dict[str, str]:
    """October's monthly invoice of each story account (the newest), and ``ACCOUNT:open``
    what is open of all its invoices."""
    found: dict[str, str] = {}
    with engine.store.db.connect() as connection:
        rows = connection.execute(
            select(invoices.c.account, invoices.c.number, invoices.c.open_cents)
            .where(invoices.c.account.in_([s.account for s in STORY]))
            .order_by(invoices.c.number)
        ).all()
    for row in rows:
        found[row.account] = row.number
        cents = int(Decimal(found.get(f"{row.account}:open", "0")) * 100) + row.open_cents
        found[f"{row.account}:open"] = f"{Decimal(cents) / 100:.2f}"
    return found


def _open_invoices(engine: Engine, account: str) -> list[tuple[str, str]]:
    """The open invoices of ``account``: number and open amount."""
    with engine.store.db.connect() as connection:
        rows = connection.execute(
            select(invoices.c.number, invoices.c.open_cents)
            .where(invoices.c.account == account, invoices.c.open_cents > 0)
            .order_by(invoices.c.number)
        ).all()
    return [(row.number, f"{Decimal(row.open_cents) / 100:.2f}") for row in rows]


def _draft_fee(engine: Engine) -> None:
    """Legal's unpublished draft of AGB 4.2.3: the fee 12.00 EUR instead of 9.80, effective
    2027-01-19 (six weeks after 7 December, AGB 8.1); what ``billing terms export`` writes and
    ``billing terms impact`` measures."""
    source = (engine.catalog.root / FEE_FILE).read_text(encoding="utf-8").rstrip("\n")
    lines = source.splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("  - effective_from:"))
    version = [line[4:] for line in lines[start:]]
    if "examples:" in version:  # as the admin UI starts a draft: without the examples
        version = version[: version.index("examples:")]
    text = "\n".join(["effective_from: 2027-01-19", *version[1:]]) + "\n"
    text = text.replace('flat_fee: "9.80 EUR"', 'flat_fee: "12.00 EUR"', 1)
    with engine.store.db.begin() as connection:
        draft = connection.execute(
            insert(drafts).returning(drafts.c.id),
            [{"file": FEE_FILE, "author": DRAFT_AUTHOR, "text": text, "status": "draft",
              "updated_at": DRAFTED_AT.isoformat()}],
        ).scalar_one()  # fmt: skip
        audit.record(connection, DRAFT_AUTHOR, "draft_created", at=DRAFTED_AT, draft=draft,
                     file=FEE_FILE)  # fmt: skip
