"""What each job of Platform: schedule does at its due instant.

Every job can run twice without doing anything twice (a crash mid-run is resumed by running it
again): the clock's events are named by their instant (a second one is a duplicate), an invoice
is issued once per period, a SEPA file is recorded once per date (sepa_export.py), the files
have deterministic bytes (written once, engine/operation/exports.py). The instants a job puts
into the ledger and into files come from its due instant, so replaying the events gives the
same ledger and the same bytes; the wall clock only decides what is due (run_due.py), and what
talks to the outside world (SMTP, webhooks) uses it for its own attempts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from engine.core.money import format_amount, from_cents
from engine.engine import Engine
from engine.interchange import datev, sepa_export
from engine.ledger import audit
from engine.ledger.store import invoice_from_row
from engine.ledger.tables import deadlines, invoices, sepa_batches
from engine.operation.exports import write_export
from engine.payments.sepa_mandates import latest_submission

# A debit's collection date lies within this many days after its deadline fired
# (sepa_export._WINDOW: weekends, holidays and the lead time).
_COLLECTION_WINDOW = timedelta(days=62)


class SmtpFromEnvironment:
    """The outbox job's default: ``SmtpSettings.from_environment()`` read at each run."""


@dataclass
class JobContext:
    """What a job run has: the engine (store, catalog), its due instant, the wall clock at
    the run, the export folder, the audit checkpoint folder and the SMTP settings."""

    engine: Engine
    due: datetime
    now: datetime
    export_dir: Path
    checkpoint_dir: Path
    smtp: Any = SmtpFromEnvironment  # SmtpSettings, None (not configured) or the environment


def _previous_month(local_day: date) -> str:
    first = local_day.replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def _file_outcome(summary: str, files: list[dict], **counts: Any) -> dict[str, Any]:
    return {"summary": summary, "files": files, **counts}


def run_clock(ctx: JobContext) -> dict[str, Any]:
    """The daily clock (Platform: clock): every account's deadlines due up to the due instant
    fire, as ``clock`` events of that instant (AGB 4.2.2, 4.4, 4.5, 1.5 …)."""
    results = ctx.engine.advance(ctx.due)
    effects = sum(len(result.get("effects", ())) for result in results)
    return {
        "summary": f"{len(results)} accounts advanced to {ctx.due.isoformat()}, {effects} effects",
        "accounts": len(results),
        "effects": effects,
    }


def run_invoices(ctx: JobContext) -> dict[str, Any]:
    """The month's invoice run (AGB 4.3.1; Platform: invoicing): the clock passes the end of
    the month before, as ``billing invoices run --month`` does."""
    day = ctx.engine.catalog.local_date(ctx.due)
    month = _previous_month(day)
    zone = ctx.engine.catalog.at(ctx.due).calendar.zone
    until = max(ctx.due, datetime.combine(day.replace(day=1), time.min, zone))
    with _unsigned_said_once():
        results = ctx.engine.advance(until)
    issued = [
        effect["invoice"]
        for result in results
        for effect in result["effects"]
        if effect["kind"] == "invoice_issued" and effect.get("period") == month
    ]
    warnings: list[str] = []
    if issued:  # AGB 4.3.2: invoices that should be signed and are not, for the operator
        from engine.services import signatures  # loads the PDF and signing libraries

        warnings = signatures.unsigned_invoices(ctx.engine.store, ctx.engine.catalog, issued)
    unsigned = (
        f"; {len(warnings)} not signed although AGB 4.3.2 asks for it (BILLING_SIGNING_P12)"
        if warnings
        else ""
    )
    return {
        "summary": f"{len(issued)} invoices issued for {month}{unsigned}",
        "month": month,
        "issued": len(issued),
        "accounts": len(results),
        "warnings": warnings,
    }


@contextmanager
def _unsigned_said_once() -> Iterator[None]:
    """The run's outcome lists the invoices AGB 4.3.2 wants signed that are not; the signing
    module's warning per invoice, logged while the run archives them, would say each again."""
    signing_log = logging.getLogger("engine.documents.signing")
    previous = signing_log.level
    signing_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        signing_log.setLevel(previous)


def pending_collection_dates(ctx: JobContext) -> list[tuple[date, str]]:
    """Collection dates and schemes with debits the engine requested, whose file is due at the
    bank by the due day (D-1, Platform: sepa) and not written yet, and whose collection date
    still lies ahead."""
    today = ctx.engine.catalog.local_date(ctx.due)
    with ctx.engine.store.db.connect() as connection:
        numbers = sorted(
            {
                json.loads(row.payload)["invoice"]
                for row in connection.execute(
                    select(deadlines.c.payload).where(
                        deadlines.c.kind == "direct_debit",
                        deadlines.c.status == "done",
                        deadlines.c.due >= (today - _COLLECTION_WINDOW).isoformat(),
                        deadlines.c.due <= today.isoformat(),
                    )
                )
            }
        )
        details = [
            invoice_from_row(row).detail.get("direct_debit")
            for row in connection.execute(select(invoices).where(invoices.c.number.in_(numbers)))
        ]
        written = {
            (row.collection_date, row.scheme)
            for row in connection.execute(
                select(sepa_batches.c.collection_date, sepa_batches.c.scheme)
            )
        }
    pending = set()
    for debit in details:
        if not debit:
            continue
        day = date.fromisoformat(debit["collection_date"])
        scheme = debit["mandate"]["scheme"]
        # A recorded batch whose file is not in the folder (a run that stopped between the two)
        # is written again, with the recorded bytes: sepa_export gives them back.
        name = export_name(day, scheme)
        if day <= today or (
            (day.isoformat(), scheme) in written and (ctx.export_dir / name).exists()
        ):
            continue
        if latest_submission(day, ctx.engine.catalog.at(day)) <= today:
            pending.add((day, scheme))
    return sorted(pending)


def export_name(day: date, scheme: str) -> str:
    """The file name of a collection date's pain.008: ``pain.008-2026-12-09-CORE.xml``."""
    return f"pain.008-{day.isoformat()}-{scheme}.xml"


def run_sepa(ctx: JobContext) -> dict[str, Any]:
    """The SEPA files (Platform: sepa): one pain.008 per collection date and scheme whose
    submission is due, created at the start of its last submission day (deterministic bytes),
    into the export folder as ``pain.008-2026-12-09-CORE.xml``."""
    files = []
    for day, scheme in pending_collection_dates(ctx):
        try:
            exported = sepa_export.export(ctx.engine.store, ctx.engine.catalog, day, scheme)
        except sepa_export.ExportRefused as refused:
            if refused.field == "collection_date" and refused.message.startswith("no "):
                continue  # every debit of the date was paid otherwise since
            raise
        name = export_name(day, scheme)
        status = write_export(ctx.export_dir, name, exported.xml)
        files.append(
            {
                "name": name,
                "status": status,
                "count": exported.count,
                "total": format_amount(from_cents(exported.total_cents)),
                "message_id": exported.message_id,
            }
        )
    summary = (
        "no SEPA file due"
        if not files
        else f"{len(files)} SEPA files: " + ", ".join(f["name"] for f in files)
    )
    return _file_outcome(summary, files)


def run_outbox(ctx: JobContext) -> dict[str, Any]:
    """Sending the e-mail outbox (AGB 8.6: notices; AGB 4.3.1: invoices) by the mail service;
    without SMTP settings the messages stay queued and the run succeeds saying so."""
    from engine.delivery.notifications import SmtpSettings
    from engine.services.mail_delivery import send_outbox

    settings = SmtpSettings.from_environment() if ctx.smtp is SmtpFromEnvironment else ctx.smtp
    # The wall clock at sending (the instant of receipt runs from it, AGB 8); a run of a due
    # instant beyond the wall clock (run-due --i-know) sends at that instant.
    report = send_outbox(ctx.engine, settings, max(ctx.now, ctx.due))
    outcome = report.to_json()
    if not report.configured:
        summary = f"SMTP not configured: {report.still_queued} messages stay queued"
    else:
        summary = (
            f"{report.sent} sent, {report.failed} failed, {report.retry_later} to retry, "
            f"{report.no_address} without an e-mail address"
        )
    return {"summary": summary, **outcome}


def run_webhooks(ctx: JobContext) -> dict[str, Any]:
    """Delivering the due webhook messages (Platform: webhooks), each attempt at the wall
    clock (engine/delivery/webhook_delivery.py)."""
    from engine.delivery.webhook_delivery import Deliverer, DeliveryPolicy

    policy = DeliveryPolicy.from_catalog(ctx.engine.catalog, ctx.now)
    counts = Deliverer(ctx.engine.store, policy).deliver_due(limit=1000)
    return {
        "summary": f"{counts['delivered']} webhook messages delivered, {counts['failed']} failed",
        **counts,
    }


def run_checkpoint(ctx: JobContext) -> dict[str, Any]:
    """The audit checkpoint of the due instant (docs/security.md; GoBD records unaltered)."""
    with ctx.engine.store.db.connect() as connection:
        path = audit.write_checkpoint(connection, ctx.checkpoint_dir, at=ctx.due)
    return {"summary": f"audit checkpoint {path.name}", "checkpoint": str(path)}


def run_datev(ctx: JobContext) -> dict[str, Any]:
    """The month before as a DATEV Buchungsstapel (Platform: datev), created at the first
    instant after the month (deterministic bytes): ``EXTF_Buchungsstapel_2026-11.csv``."""
    month = _previous_month(ctx.engine.catalog.local_date(ctx.due))
    content, batch = datev.export(ctx.engine.store, ctx.engine.catalog, month)
    name = f"EXTF_Buchungsstapel_{month}.csv"
    status = write_export(ctx.export_dir, name, content)
    files = [{"name": name, "status": status, "count": len(batch.postings)}]
    return _file_outcome(f"DATEV {month}: {len(batch.postings)} bookings in {name}", files)


JOBS: dict[str, Callable[[JobContext], dict[str, Any]]] = {
    "clock": run_clock,
    "invoices": run_invoices,
    "sepa": run_sepa,
    "outbox": run_outbox,
    "webhooks": run_webhooks,
    "checkpoint": run_checkpoint,
    "datev": run_datev,
}
