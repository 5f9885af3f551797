"""One collection can be returned once (issue 24, item 2; AGB 4.2.3): whatever the path, the
bank's file imported twice, another bank reference of the same return, a billing service posting
``direct_debit.returned`` for a collection the import already returned, the second return books
nothing: the same return is a duplicate of the first, another one is refused naming the first.

The engine's rule (the invoice knows its returns) decides; the unique key of
``direct_debit_returns`` (invoice, collection) guards it between concurrent transactions."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from sqlalchemy import delete, select, update

from engine.engine import Engine
from engine.interchange.sepa_returns import event_id, import_returns
from engine.ledger.tables import direct_debit_returns, events, invoices, ledger_entries
from tests.test_sepa_returns import a_collected_month, camt054, entries, open_of, returned

ROOT = Path(__file__).resolve().parent.parent


def fees(engine, account: str) -> list[str]:
    with engine.store.unit(commit=False) as unit:
        return [
            row.event_id
            for row in unit.connection.execute(
                select(ledger_entries.c.event_id).where(
                    ledger_entries.c.account == account,
                    ledger_entries.c.kind == "returned_debit_fee",
                )
            )
        ]


def return_rows(engine) -> list[tuple]:
    with engine.store.unit(commit=False) as unit:
        query = select(
            direct_debit_returns.c.invoice,
            direct_debit_returns.c.collection,
            direct_debit_returns.c.event_id,
            direct_debit_returns.c.collection_date,
        ).order_by(direct_debit_returns.c.invoice, direct_debit_returns.c.collection)
        return [tuple(row) for row in unit.connection.execute(query)]


def stored_status(engine, event: str) -> str:
    with engine.store.unit(commit=False) as unit:
        return unit.connection.execute(
            select(events.c.status).where(events.c.id == event)
        ).scalar_one()


def returns_counted(engine, account: str) -> int:
    return engine.account(account)["contract"]["returned_debits"]


# -- one path after the other -------------------------------------------------------------------


def test_a_billing_service_cannot_return_what_the_import_returned(engine):
    """The import returned anna's collection; the billing service then posts the same return
    (with and without the end-to-end id): refused naming the import's event, nothing booked."""
    customers, tx, message_id = a_collected_month(engine)
    anna = customers[0]
    invoice = tx["anna"]["e2e"]
    report = import_returns(engine, camt054([returned(tx["anna"], message_id, "AM04", "RL-1")]))
    (outcome,) = report.outcomes
    assert outcome.status == "applied"
    first = event_id(invoice, "RL-1")
    assert anna.balance == "-38.80"  # 29.00 reversed, 9.80 fee (AM04)
    before = entries(engine)
    for extra in ({}, {"end_to_end_id": invoice}):
        result = anna.send(
            "direct_debit.returned",
            "2026-12-04T10:00:00+01:00",
            amount="29.00",
            invoice=invoice,
            reason_code="AM04",
            **extra,
        )
        assert result["status"] == "rejected", result
        assert result["clause"] == "AGB 4.2.3"
        assert result["reason"].startswith(
            f"the collection of invoice {invoice} was already returned (event {first})"
        )
    assert entries(engine) == before
    assert anna.balance == "-38.80"
    assert open_of(engine, invoice) == 2900  # reopened once
    assert fees(engine, "anna") == [first]
    assert returns_counted(engine, "anna") == 1  # AGB 1.3.1 counts one return
    assert return_rows(engine) == [(invoice, 1, first, "2026-11-30")]


def test_another_bank_reference_of_a_returned_collection_is_refused_naming_the_first(engine):
    customers, tx, message_id = a_collected_month(engine)
    anna = customers[0]
    invoice = tx["anna"]["e2e"]
    import_returns(engine, camt054([returned(tx["anna"], message_id, "AM04", "RL-1")]))
    before = entries(engine)
    again = import_returns(engine, camt054([returned(tx["anna"], message_id, "AM04", "RL-1")]))
    assert [o.status for o in again.outcomes] == ["already_imported"]  # the same return
    other = import_returns(engine, camt054([returned(tx["anna"], message_id, "AM04", "RL-77")]))
    (outcome,) = other.outcomes
    assert outcome.status == "rejected"
    assert outcome.reason.startswith(
        f"the collection of invoice {invoice} was already returned "
        f"(event {event_id(invoice, 'RL-1')})"
    )
    assert other.to_json()["rejected"] == 1
    assert entries(engine) == before
    assert anna.balance == "-38.80"


def test_a_return_posted_first_is_the_one_the_import_then_finds(engine):
    """The billing service was quicker: the bank's file then finds the collection returned."""
    customers, tx, message_id = a_collected_month(engine)
    firm = customers[1]
    invoice = tx["firm"]["e2e"]
    posted = firm.send(
        "direct_debit.returned",
        "2026-12-02T10:00:00+01:00",
        amount="72.50",
        invoice=invoice,
        reason_code="AC01",
    )
    assert posted["status"] == "applied"
    report = import_returns(engine, camt054([returned(tx["firm"], message_id, "MS02", "RL-5")]))
    (outcome,) = report.outcomes
    assert outcome.status == "rejected"
    assert f"(event {posted['id']})" in outcome.reason
    assert firm.balance == "-72.50"


def test_a_collection_after_a_return_may_be_returned_again(engine):
    """An invoice collected again after its return is a new collection: its return is booked
    (with its fee); a third return without a collection in between is refused."""
    customers, tx, message_id = a_collected_month(engine)
    anna = customers[0]
    invoice = tx["anna"]["e2e"]
    import_returns(engine, camt054([returned(tx["anna"], message_id, "AM04", "RL-1")]))
    paid = anna.send(
        "payment.received",
        "2026-12-10T12:00:00+01:00",
        amount="29.00",
        method="direct_debit",
        reference=invoice,
    )
    assert paid["status"] == "applied"
    assert open_of(engine, invoice) == 0
    second = anna.send(
        "direct_debit.returned",
        "2026-12-14T10:00:00+01:00",
        amount="29.00",
        invoice=invoice,
        reason_code="AM04",
    )
    assert second["status"] == "applied", second
    assert anna.balance == "-48.60"  # -38.80 + 29.00 - 29.00 - 9.80
    third = anna.send(
        "direct_debit.returned",
        "2026-12-15T10:00:00+01:00",
        amount="29.00",
        invoice=invoice,
        reason_code="AM04",
    )
    assert third["status"] == "rejected"
    assert f"(event {second['id']})" in third["reason"]
    assert anna.balance == "-48.60"
    assert [(row[0], row[1]) for row in return_rows(engine)] == [(invoice, 1), (invoice, 2)]
    assert returns_counted(engine, "anna") == 2


def test_a_transfer_after_a_return_is_no_collection_that_could_be_returned(engine):
    """The customer pays the reopened invoice by transfer: nothing was collected again, so a
    later return of the invoice (without end-to-end id) is the first one again: refused naming
    it, no second fee (AGB 4.2.3)."""
    customers, tx, message_id = a_collected_month(engine)
    anna = customers[0]
    invoice = tx["anna"]["e2e"]
    import_returns(engine, camt054([returned(tx["anna"], message_id, "AM04", "RL-1")]))
    paid = anna.send(
        "payment.received",
        "2026-12-10T12:00:00+01:00",
        amount="29.00",
        method="bank_transfer",
        reference=invoice,
    )
    assert paid["status"] == "applied" and open_of(engine, invoice) == 0
    again = anna.send(
        "direct_debit.returned",
        "2026-12-14T10:00:00+01:00",
        amount="29.00",
        invoice=invoice,
        reason_code="AM04",
    )
    assert again["status"] == "rejected" and "already returned" in again["reason"], again
    assert anna.balance == "-9.80"  # -38.80 + 29.00: one return, one fee
    assert returns_counted(engine, "anna") == 1


def test_a_unique_violation_between_two_transactions_becomes_the_refusal(engine):
    """Two transactions that both read the collection as not returned: the second one's row of
    ``direct_debit_returns`` violates the unique key; it is tried again and refused, not a 500."""
    customers, tx, message_id = a_collected_month(engine)
    anna = customers[0]
    invoice = tx["anna"]["e2e"]
    # What a second writer read before the first one committed: the account as it is now.
    with engine.store.unit(commit=False) as unit:
        stale = (
            unit.account_versions({"anna"}),
            unit.load_accounts({"anna"}),
            unit.load_pending({"anna"}),
            unit.load_invoices({"anna"}),
        )
    import_returns(engine, camt054([returned(tx["anna"], message_id, "AM04", "RL-1")]))
    second = Engine(engine.store.url, catalog=engine.catalog, decider=engine.decider)
    reads = []
    real = second._accounts_of

    def first_read_stale(unit, names):
        reads.append(names)
        return stale if len(reads) == 1 else real(unit, names)

    second._accounts_of = first_read_stale
    try:
        result = second.handle(
            anna.event(
                "direct_debit.returned",
                "2026-12-04T10:00:00+01:00",
                amount="29.00",
                invoice=invoice,
                reason_code="AM04",
            )
        )
    finally:
        second.close()
    assert len(reads) == 2  # the stale attempt was rolled back at the unique key
    assert result["status"] == "rejected"
    assert f"(event {event_id(invoice, 'RL-1')})" in result["reason"]
    assert anna.balance == "-38.80"
    assert len(fees(engine, "anna")) == 1


# -- at once, in real processes -----------------------------------------------------------------

_IMPORT = """
import sys, time
from billing.cli.main import main
start = float(sys.argv[1])
time.sleep(max(0.0, start - time.time()))
sys.exit(main(["sepa", "import", sys.argv[2], "--db", sys.argv[3], "--json"]))
"""

_POST = """
import json, os, sys, time
from billing.wsgi import create_app
from engine.engine import Engine
start = float(sys.argv[1])
engine = Engine(sys.argv[2])
client = create_app(engine=engine).test_client()
headers = {"Authorization": "Bearer " + os.environ["BILLING_TEST_TOKEN"]}
event = json.loads(sys.argv[3])
time.sleep(max(0.0, start - time.time()))
answer = client.post("/api/v1/events", json=event, headers=headers)
print(json.dumps({"code": answer.status_code, "body": answer.json}))
engine.close()
"""


def test_concurrent_imports_and_an_api_post_of_one_return_book_it_once(engine, tmp_path):
    """Four ``billing sepa import`` runs of one return (the same file twice, another bank
    reference twice) and a billing service posting it over the API, all at once in their own
    processes: one fee, the invoice reopened once, on SQLite and on PostgreSQL."""
    from engine.access.tokens import create_token

    customers, tx, message_id = a_collected_month(engine)
    anna = customers[0]
    invoice = tx["anna"]["e2e"]
    url = engine.store.url
    secret = create_token(engine.store, "svc", "billing-service")
    files = []
    for reference in ("RL-1", "RL-2"):
        path = tmp_path / f"{reference}.xml"
        path.write_bytes(camt054([returned(tx["anna"], message_id, "AM04", reference)]))
        files += [path, path]
    posted = anna.event(
        "direct_debit.returned",
        "2026-12-03T15:00:00+01:00",
        amount="29.00",
        invoice=invoice,
        reason_code="AM04",
        end_to_end_id=invoice,
    )
    python = str(ROOT / ".venv/bin/python")
    if not Path(python).exists():
        python = sys.executable
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "BILLING_TEST_TOKEN": secret, "PYTHONPATH": path}
    start = f"{time.time() + 6:.3f}"  # every process has imported the code by then
    processes = [
        subprocess.Popen(
            [python, "-c", textwrap.dedent(_IMPORT), start, str(path), url],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in files
    ]
    processes.append(
        subprocess.Popen(
            [python, "-c", textwrap.dedent(_POST), start, url, json.dumps(posted)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    )
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, err
        outputs.append(json.loads(out))
    imports, post = outputs[:4], outputs[4]
    assert post["code"] in (200, 201, 409, 422), post
    statuses = [t["status"] for report in imports for t in report["transactions"]]
    statuses.append(post["body"]["status"])
    assert statuses.count("applied") == 1, outputs
    # The other runs of the applied file are duplicates; every other return is refused
    # naming the one applied.
    assert set(statuses) <= {"applied", "already_imported", "rejected"}, outputs
    applied = return_rows(engine)
    assert len(applied) == 1
    first = applied[0][2]
    for report in imports:
        for t in report["transactions"]:
            if t["status"] == "rejected":
                assert f"(event {first})" in t["reason"]
            if t["status"] == "already_imported":
                # a duplicate of the first run of its file: applied, or refused naming `first`
                assert stored_status(engine, t["event"]) == (
                    "applied" if t["event"] == first else "rejected"
                )
    if post["body"]["status"] == "rejected":
        assert f"(event {first})" in post["body"]["reason"]
    assert anna.balance == "-38.80"
    assert open_of(engine, invoice) == 2900
    assert fees(engine, "anna") == [first]
    assert returns_counted(engine, "anna") == 1


def _migration():
    path = ROOT / "migrations/versions/0017_direct_debit_returns.py"
    spec = importlib.util.spec_from_file_location("migration_0017", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_migration_finds_the_returns_applied_before_it(engine):
    """0017 fills ``direct_debit_returns`` and the invoices' returns from the stored events: a
    database returned into before it refuses the second return as well."""
    customers, tx, message_id = a_collected_month(engine)
    invoice = tx["anna"]["e2e"]
    import_returns(engine, camt054([returned(tx["anna"], message_id, "AM04", "RL-1")]))
    expected = return_rows(engine)
    # The database as it was before 0017: no rows, invoices without their returns.
    with engine.store.unit() as unit:
        unit.connection.execute(delete(direct_debit_returns))
        for row in unit.connection.execute(select(invoices.c.number, invoices.c.state)).all():
            state = json.loads(row.state)
            state.pop("returns", None)
            unit.connection.execute(
                update(invoices)
                .where(invoices.c.number == row.number)
                .values(state=json.dumps(state, sort_keys=True))
            )
    with engine.store.unit() as unit:
        _migration().fill(unit.connection)
    assert return_rows(engine) == expected
    fresh = Engine(engine.store.url, catalog=engine.catalog, decider=engine.decider)
    try:
        result = fresh.handle(
            customers[0].event(
                "direct_debit.returned",
                "2026-12-04T10:00:00+01:00",
                amount="29.00",
                invoice=invoice,
                reason_code="AM04",
            )
        )
    finally:
        fresh.close()
    assert result["status"] == "rejected"
    assert f"(event {event_id(invoice, 'RL-1')})" in result["reason"]
