"""The runs of the scheduled jobs (issue 27): one row per job and due instant, claimed exactly once.

Revision ID: 0022
Revises: 0021

``job_runs`` holds one row per run of a job of Platform: schedule at one due instant
(``UNIQUE(job, due_at)``): a node claims a run by inserting its row (a second node's insert
fails), a ``running`` row whose lease expired is reclaimed by a compare-and-set update.
Instants are UTC text (``2026-12-01T00:00:00Z``), so they compare as text; ``outcome`` is the
run's JSON (counts, files written).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(32), nullable=False),
        sa.Column("due_at", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("node", sa.String(200), nullable=True),
        sa.Column("started_at", sa.String(32), nullable=True),
        sa.Column("finished_at", sa.String(32), nullable=True),
        sa.Column("lease_until", sa.String(32), nullable=True),
        sa.Column("next_attempt_at", sa.String(32), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("outcome", sa.Text, nullable=True),
        sa.UniqueConstraint("job", "due_at", name="uq_job_runs_job_due"),
    )
    op.create_index("ix_job_runs_status", "job_runs", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_job_runs_status", table_name="job_runs")
    op.drop_table("job_runs")
