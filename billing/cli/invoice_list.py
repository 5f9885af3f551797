"""``billing invoices list``: every account's invoices, filtered, with totals (issue 28).

The list is :func:`engine.services.invoice_list.list_invoices`, as the API and the admin UI
show it; "today" (for overdue) is the platform's local date unless ``--at`` names another.
"""

from __future__ import annotations

import argparse
import json
import sys

from billing.cli.common import now_for_query, terms_of
from engine.ledger.store import Store
from engine.services.invoice_list import (
    SORTS,
    STATUSES,
    InvoiceQueryInvalid,
    invoices_csv,
    iterate_invoices,
    list_invoices,
    parse_query,
)


def add_list_command(invoice_commands) -> None:
    """``list``, added to the ``invoices`` group (billing/cli/invoices.py)."""
    listing = invoice_commands.add_parser(
        "list", help="list invoices by status, month and account, with totals"
    )
    listing.add_argument(
        "--status", choices=STATUSES, help="open, paid, overdue, in_default, credited"
    )
    listing.add_argument("--month", help="the month the invoices were issued, YYYY-MM")
    listing.add_argument("--account", help="one account (customer number)")
    listing.add_argument(
        "--sort", default="number", help=f"{', '.join(SORTS)}; a leading - sorts descending"
    )
    listing.add_argument("--after", help="continue after this invoice number (paging)")
    listing.add_argument("--limit", default="100", help="invoices per page (1-1000)")
    listing.add_argument("--all", action="store_true", help="every invoice, no paging")
    listing.add_argument("--csv", action="store_true", help="write CSV (with --all: every row)")
    listing.add_argument("--json", action="store_true", help="write JSON as the API answers")
    listing.add_argument("--db", help="database URL")
    listing.set_defaults(handler=cmd_invoices_list)


def cmd_invoices_list(args: argparse.Namespace) -> int:
    try:
        query = parse_query(
            status=args.status,
            month=args.month,
            account=args.account,
            after=args.after,
            limit=args.limit,
            sort=args.sort,
        )
    except InvoiceQueryInvalid as refused:
        print(f"error: --{refused.field}: {refused.message}", file=sys.stderr)
        return 2
    today = terms_of(args).local_date(now_for_query())  # overdue: as of today
    with Store(args.db) as store:
        try:
            if args.csv:
                rows = (
                    iterate_invoices(store, query, today)
                    if args.all
                    else iter(list_invoices(store, query, today).rows)
                )
                sys.stdout.write(invoices_csv(rows))
                return 0
            page = list_invoices(store, query, today)
        except InvoiceQueryInvalid as refused:
            print(f"error: --{refused.field}: {refused.message}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(page.to_json(), indent=2, ensure_ascii=False))
        return 0
    shown = page.to_json()
    for row in shown["invoices"]:
        print(
            f"{row['number']}  {row['account']:<16} {(row['customer'] or '')[:28]:<28} "
            f"{row['issued_on']}  due {row['due_on']}  {row['amount']:>10}  open "
            f"{row['open']:>10}  {row['status']}"
            + (f"  credited by {', '.join(row['credit_notes'])}" if row["credit_notes"] else "")
        )
    totals = shown["totals"]
    print(f"{totals['count']} invoices, {totals['amount']} EUR, {totals['open']} EUR open")
    if page.next_after:
        print(f"more: --after {page.next_after}")
    return 0
