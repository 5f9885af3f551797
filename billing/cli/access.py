"""``billing token|user|audit``: who may use the platform, and the log of what they changed.

Two adders: ``billing --help`` lists commands in the order they are added, and ``audit`` sits
apart from ``token`` and ``user`` in that list.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from billing.cli.common import cli_actor, read_password
from engine.access import people
from engine.access.tokens import TokenError, create_token, list_tokens, revoke_token
from engine.ledger import audit
from engine.ledger.store import Store


def add_commands(commands) -> None:
    """The ``token`` and ``user`` commands and their actions, added to ``billing``."""
    token = commands.add_parser("token", help="API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="create a token and print it once")
    create.add_argument("name")
    create.add_argument("--role", required=True, help="billing-service, reader or finance")
    create.add_argument(
        "--account",
        action="append",
        metavar="ID",
        help="bind the token to this account (repeatable): it reads only these accounts, and "
        "the API answers 404 for any other; a reader token only",
    )
    create.add_argument("--db", help="database URL")
    create.set_defaults(handler=cmd_token_create)
    revoke = token_commands.add_parser("revoke", help="revoke a token")
    revoke.add_argument("name")
    revoke.add_argument("--db", help="database URL")
    revoke.set_defaults(handler=cmd_token_revoke)
    tokens = token_commands.add_parser(
        "list", help="list tokens and the accounts they are bound to (never their secrets)"
    )
    tokens.add_argument("--db", help="database URL")
    tokens.set_defaults(handler=cmd_token_list)

    user = commands.add_parser("user", help="people who use the admin UI")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    create_user = user_commands.add_parser(
        "create", help="create a person; password prompted (or one line of stdin)"
    )
    create_user.add_argument("email")
    create_user.add_argument("--role", required=True, help=", ".join(people.ROLES))
    create_user.add_argument("--db", help="database URL")
    create_user.set_defaults(handler=cmd_user_create)
    listing = user_commands.add_parser("list", help="everyone, with role and state")
    listing.add_argument("--db", help="database URL")
    listing.set_defaults(handler=cmd_user_list)
    for action, text in (
        ("disable", "refuse logins and end every session of the person"),
        ("enable", "allow logins again"),
        ("set-password", "a new password (prompted, or one line of stdin); ends the sessions"),
    ):
        change = user_commands.add_parser(action, help=text)
        change.add_argument("email")
        change.add_argument("--db", help="database URL")
        change.set_defaults(handler=cmd_user_change, user_action=action)
    set_role = user_commands.add_parser("set-role", help="a new role; ends the sessions")
    set_role.add_argument("email")
    set_role.add_argument("role", help=", ".join(people.ROLES))
    set_role.add_argument("--db", help="database URL")
    set_role.set_defaults(handler=cmd_user_change, user_action="set-role")


def add_audit_commands(commands) -> None:
    """The ``audit`` command and its actions, added to the ``billing`` parser."""
    audit_parser = commands.add_parser("audit", help="the audit log")
    audit_commands = audit_parser.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser(
        "verify",
        help="check the audit log's hash chain and compare it with a checkpoint",
        description="Exit 0: the chain is intact (the line says whether a checkpoint was "
        "compared: without one it says 'no checkpoint given'); 1: tampered; 2: the "
        "checkpoint cannot be read; 3: no checkpoint at all, with --require-checkpoint.",
    )
    verify.add_argument("--db", help="database URL")
    verify.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="compare with this checkpoint (finds truncation); default: the newest in "
        f"${audit.CHECKPOINT_DIR_ENV} (else audit-checkpoints/ next to the SQLite database, "
        "var/audit-checkpoints/ by default), where billing serve writes one every hour",
    )
    verify.add_argument(
        "--require-checkpoint",
        action="store_true",
        help="exit 3 when there is no checkpoint to compare with",
    )
    verify.set_defaults(handler=cmd_audit_verify)
    checkpoint = audit_commands.add_parser(
        "checkpoint", help="write the log's head (count, last hash; HMAC-signed) for safekeeping"
    )
    checkpoint.add_argument("--out", metavar="FILE", help="file to write (default: stdout)")
    checkpoint.add_argument("--db", help="database URL")
    checkpoint.set_defaults(handler=cmd_audit_checkpoint)


def cmd_token_create(args: argparse.Namespace) -> int:
    try:
        with Store(args.db) as store:
            secret = create_token(
                store, args.name, args.role, actor=cli_actor(), accounts=args.account
            )
    except TokenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(secret)
    scope = f"; it reads only {_scope(sorted(set(args.account)))}" if args.account else ""
    print(
        f"token {args.name!r} ({args.role}) created{scope}; it is shown only now",
        file=sys.stderr,
    )
    return 0


def _scope(accounts: list[str] | None) -> str:
    """The accounts a token reads, as ``billing token`` prints them."""
    if accounts is None:
        return "all accounts"
    return ("account " if len(accounts) == 1 else "accounts ") + ",".join(accounts)


def cmd_token_revoke(args: argparse.Namespace) -> int:
    try:
        with Store(args.db) as store:
            revoke_token(store, args.name, actor=cli_actor())
    except TokenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"token {args.name!r} revoked")
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    with Store(args.db) as store:
        tokens = list_tokens(store)
    for token in tokens:
        state = f"revoked {token['revoked_at']}" if token["revoked_at"] else "active"
        print(
            f"{token['name']}\t{token['role']}\tcreated {token['created_at']}\t{state}"
            f"\t{_scope(token['accounts'])}"
        )
    return 0


def cmd_user_create(args: argparse.Namespace) -> int:
    try:
        password = read_password()
        with Store(args.db) as store, store.db.begin() as connection:
            people.create_person(connection, args.email, args.role, password, actor=cli_actor())
    except people.PersonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.email} ({args.role}) can log in at /admin/login")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    with Store(args.db) as store, store.db.connect() as connection:
        everyone = people.list_people(connection)
    for person in everyone:
        state = f"disabled {person['disabled_at']}" if person["disabled_at"] else "active"
        print(f"{person['email']}\t{person['role']}\tcreated {person['created_at']}\t{state}")
    return 0


def cmd_user_change(args: argparse.Namespace) -> int:
    """disable, enable, set-role, set-password: each ends the person's sessions and is audited."""
    actor = cli_actor()
    try:
        password = read_password() if args.user_action == "set-password" else None
        with Store(args.db) as store, store.db.begin() as connection:
            if args.user_action == "disable":
                people.disable_person(connection, args.email, actor=actor)
                done = "disabled; their sessions have ended"
            elif args.user_action == "enable":
                people.enable_person(connection, args.email, actor=actor)
                done = "enabled"
            elif args.user_action == "set-role":
                people.set_role(connection, args.email, args.role, actor=actor)
                done = f"now has the role {args.role}; their sessions have ended"
            else:
                people.set_password(connection, args.email, password, actor=actor)
                done = "has a new password; their sessions have ended"
    except people.PersonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.email} {done}")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """The chain, and the log against a checkpoint: the one given, else the newest in the
    checkpoint folder; without any, the line says what cannot be known (exit 0, or 3 with
    ``--require-checkpoint``)."""
    with Store(args.db) as store, store.db.connect() as connection:
        folder = audit.checkpoint_folder(connection.engine.url)
        path = Path(args.checkpoint) if args.checkpoint else audit.newest_checkpoint(folder)
        try:
            checkpoint = json.loads(path.read_text(encoding="utf-8")) if path else None
        except (OSError, ValueError) as exc:
            print(f"error: cannot read the checkpoint {path}: {exc}", file=sys.stderr)
            return 2
        if path and not args.checkpoint:
            print(f"billing: comparing with the newest checkpoint in {folder}", file=sys.stderr)
        problems = audit.verify(connection)
        if checkpoint is not None:
            problems += audit.check_checkpoint(connection, checkpoint)
        count = audit.count(connection)
        legacy = audit.legacy_count(connection)
    for problem in problems:
        print(f"TAMPERED: {problem}")
    if problems:
        if path:
            print(f"(compared with the checkpoint {path})")
        return 1
    note = f" ({legacy} unkeyed legacy entries from before the audit key)" if legacy else ""
    if path:
        print(
            f"OK: {count} entries{note}, the hash chain is intact; it agrees with the "
            f"checkpoint {path} of {checkpoint['at']} ({checkpoint['count']} entries)"
        )
        return 0
    print(
        f"{'NO CHECKPOINT' if args.require_checkpoint else 'OK'}: {count} entries chained"
        f"{note}; no checkpoint given (none in {folder} either), so removed newest entries "
        "or an emptied log cannot be detected (billing audit checkpoint)"
    )
    return 3 if args.require_checkpoint else 0


def cmd_audit_checkpoint(args: argparse.Namespace) -> int:
    with Store(args.db) as store, store.db.begin() as connection:
        document = audit.checkpoint(connection, at=datetime.now(UTC))
    text = json.dumps(document, indent=2) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(
            f"wrote {args.out}: {document['count']} entries; keep it where the database's "
            "writers cannot change it",
            file=sys.stderr,
        )
    else:
        sys.stdout.write(text)
    return 0
