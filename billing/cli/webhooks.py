"""``billing webhooks add|list|remove|deliver``: subscriptions and delivery.

The operator's view: ``add`` makes a subscription of the operator's (no API token sees or
removes it); ``list`` shows every subscription with its ``owner`` (``operator`` or
``token:NAME``), and ``remove`` ends any of them.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from billing.cli.common import cli_actor
from engine.delivery.webhook_delivery import main_loop
from engine.delivery.webhooks import (
    EVENT_TYPES,
    WebhookError,
    add_subscription,
    list_subscriptions,
    remove_subscription,
)
from engine.ledger.store import Store


def add_commands(commands) -> None:
    """The ``webhooks`` command and its actions, added to the ``billing`` parser."""
    webhooks = commands.add_parser("webhooks", help="webhook subscriptions and their delivery")
    actions = webhooks.add_subparsers(dest="webhooks_command", required=True)

    add = actions.add_parser(
        "add", help="subscribe a URL to event types; prints the signing secret once"
    )
    add.add_argument("url", help="http(s) URL that receives signed POSTs")
    add.add_argument(
        "--events",
        required=True,
        help="comma-separated event types: " + ", ".join(EVENT_TYPES),
    )
    add.add_argument(
        "--secret-file",
        help="a file holding the signing secret (whsec_...); default: a new one is generated",
    )
    add.add_argument(
        "--allow-private-address",
        action="store_true",
        help="allow a URL on a loopback or private address (tests, an internal receiver)",
    )
    add.add_argument("--db", help="database URL")
    add.set_defaults(handler=cmd_webhooks_add)

    listing = actions.add_parser(
        "list", help="every subscription with its owner (never their secrets)"
    )
    listing.add_argument("--db", help="database URL")
    listing.set_defaults(handler=cmd_webhooks_list)

    remove = actions.add_parser(
        "remove", help="end a subscription (the operator's or a token's); cancels what it owes"
    )
    remove.add_argument("id", type=int)
    remove.add_argument("--db", help="database URL")
    remove.set_defaults(handler=cmd_webhooks_remove)

    deliver = actions.add_parser("deliver", help="deliver due messages (until interrupted)")
    deliver.add_argument("--once", action="store_true", help="one pass over the due messages")
    deliver.add_argument("--db", help="database URL")
    deliver.set_defaults(handler=cmd_webhooks_deliver)


def cmd_webhooks_add(args: argparse.Namespace) -> int:
    secret = None
    if args.secret_file:
        try:
            secret = Path(args.secret_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            print(f"error: --secret-file: cannot read {args.secret_file}: {exc}", file=sys.stderr)
            return 2
    try:
        with Store(args.db) as store, store.db.begin() as connection:
            subscription, secret = add_subscription(
                connection,
                args.url,
                args.events,
                secret=secret,
                created_by=cli_actor(),
                at=datetime.now(UTC),
                allow_private=args.allow_private_address,
            )
    except WebhookError as exc:
        option = {"url": "URL", "events": "--events", "secret": "--secret-file"}[exc.field]
        print(f"error: {option}: {exc.message}", file=sys.stderr)
        return 2
    print(f"webhook {subscription['id']} for {subscription['url']}", file=sys.stderr)
    if not args.secret_file:
        print(secret)
        print("the signing secret above is shown only now", file=sys.stderr)
    return 0


def cmd_webhooks_list(args: argparse.Namespace) -> int:
    with Store(args.db) as store, store.db.connect() as connection:
        for subscription in list_subscriptions(connection, token=None):
            print(json.dumps(subscription))
    return 0


def cmd_webhooks_remove(args: argparse.Namespace) -> int:
    with Store(args.db) as store, store.db.begin() as connection:
        removed = remove_subscription(
            connection, args.id, at=datetime.now(UTC), actor=cli_actor(), token=None
        )
    if not removed:
        print(f"error: no active webhook {args.id}", file=sys.stderr)
        return 2
    print(f"webhook {args.id} removed")
    return 0


def cmd_webhooks_deliver(args: argparse.Namespace) -> int:
    counts = main_loop(args.db, args.once)
    if counts is not None:
        print(f"delivered {counts['delivered']}, failed {counts['failed']}")
    return 0


# ``billing serve`` runs the delivery loop as ``python -m billing.cli.webhooks deliver``
# (engine/delivery/webhook_delivery.py, spawn_delivery).
if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="billing-webhooks")
    add_commands(parser.add_subparsers(dest="command", required=True))
    parsed = parser.parse_args(["webhooks", *sys.argv[1:]])
    sys.exit(parsed.handler(parsed))
