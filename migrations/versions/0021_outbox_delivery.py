"""The outbox delivered by e-mail (issue 27): invoices, credit notes, notices; status, retries.

Revision ID: 0021
Revises: 0020

The outbox carries every e-mail to a customer (docs/mail.md): ``kind`` says what it is
(``notice``, the AGB 8 letters as before; ``invoice``; ``credit_note``), ``document`` the
number of the invoice or credit note it carries, ``attachment`` which archived file of it
(``pdf``, ``xrechnung-cii``, ``xrechnung-ubl``). Sending records ``attempts``, the last SMTP
error or bounce (``error``), when to try again (``next_attempt_at``; NULL after the last
attempt) and the RFC 5322 ``message_id``, kept across retries so a duplicate can be
recognised; ``claimed_by`` is the sender holding the message while it is ``sending``. One
document is queued once (unique ``kind``, ``document``). ``publication`` is now nullable:
only notices have one. Existing rows stay notices.

Documents issued before this revision are never mailed by surprise: every issued document
not archived yet (archiving is what queues its e-mail) gets a ``skipped`` row here, which
holds its place in the unique constraint. Documents archived before were issued without
e-mail delivery and are never archived again, so they are never queued.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

SKIPPED = "issued before e-mail delivery existed (migration 0021): not mailed on upgrade"


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("publication", existing_type=sa.BigInteger, nullable=True)
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="notice"))
        batch.add_column(sa.Column("document", sa.String(32), nullable=True))
        batch.add_column(sa.Column("attachment", sa.String(32), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("error", sa.Text, nullable=True))
        batch.add_column(sa.Column("next_attempt_at", sa.String(40), nullable=True))
        batch.add_column(sa.Column("message_id", sa.String(254), nullable=True))
        batch.add_column(sa.Column("claimed_by", sa.String(64), nullable=True))
        batch.create_unique_constraint("uq_outbox_document", ["kind", "document"])
        batch.create_unique_constraint("uq_outbox_message_id", ["message_id"])
    op.create_index("ix_outbox_status", "outbox", ["status", "next_attempt_at"])
    _skip_unarchived()


def _skip_unarchived() -> None:
    """A ``skipped`` row for every issued document not archived yet (see the module's text)."""
    connection = op.get_bind()
    for kind, table in (("invoice", "invoices"), ("credit_note", "credit_notes")):
        rows = connection.execute(
            sa.text(
                f"SELECT number, account, issued_on FROM {table} WHERE number NOT IN "
                "(SELECT number FROM document_archive WHERE kind = :kind)"
            ),
            {"kind": kind},
        ).all()
        if not rows:
            continue
        connection.execute(
            sa.text(
                "INSERT INTO outbox (publication, account, channel, recipient, subject, body, "
                "status, created_at, kind, document, attempts, error) VALUES (NULL, :account, "
                "'email', NULL, :subject, '', 'skipped', :created_at, :kind, :document, 0, "
                ":error)"
            ),
            [
                {
                    "account": row.account,
                    "subject": f"{'Rechnung' if kind == 'invoice' else 'Gutschrift'} {row.number}",
                    "created_at": f"{row.issued_on}T00:00:00+00:00",
                    "kind": kind,
                    "document": row.number,
                    "error": SKIPPED,
                }
                for row in rows
            ],
        )


def downgrade() -> None:
    op.drop_index("ix_outbox_status", table_name="outbox")
    op.execute("DELETE FROM outbox WHERE kind <> 'notice'")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("uq_outbox_message_id", type_="unique")
        batch.drop_constraint("uq_outbox_document", type_="unique")
        for column in (
            "claimed_by",
            "message_id",
            "next_attempt_at",
            "error",
            "attempts",
            "attachment",
            "document",
            "kind",
        ):
            batch.drop_column(column)
        batch.alter_column("publication", existing_type=sa.BigInteger, nullable=False)
