"""Webhook subscriptions and their transactional outbox (issue 15).

Revision ID: 0012
Revises: 0009

``webhook_subscriptions`` holds each subscriber's URL, event types and signing secret;
``webhook_messages`` one row per message and subscriber, written in the transaction of the
event that caused it, with its delivery state (pending, delivered, dead, cancelled).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("events", sa.Text, nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("allow_private", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(254), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("removed_at", sa.String(40), nullable=True),
    )
    op.create_table(
        "webhook_messages",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("subscription", sa.BigInteger, nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("effect_index", sa.Integer, nullable=False),
        sa.Column("type", sa.String(48), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.String(32), nullable=True),
        sa.Column("last_attempt_at", sa.String(32), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("delivered_at", sa.String(32), nullable=True),
        sa.UniqueConstraint(
            "subscription", "message_id", name="uq_webhook_messages_subscription_id"
        ),
    )
    op.create_index(
        "ix_webhook_messages_status_next", "webhook_messages", ["status", "next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_messages_status_next", table_name="webhook_messages")
    op.drop_table("webhook_messages")
    op.drop_table("webhook_subscriptions")
