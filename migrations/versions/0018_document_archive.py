"""Issued documents archived as issued (issue 24, item 4; GoBD, § 14b UStG).

Revision ID: 0018
Revises: 0017

``document_archive`` holds every invoice and credit note as it was rendered once when it was
issued: the PDF and each e-invoice format served (XRechnung CII and UBL, Factur-X XML), with
the SHA-256 of each file, which the audit chain also holds (``document_archived`` entries). The
API, the admin UI and the command line serve these bytes (docs/documents.md).

This migration only creates the table. The documents issued before it are archived, each
rendered once from its invoice or credit note as stored, by ``billing documents archive``
(run it after ``billing db upgrade``); any that is asked for before is archived on that first
request. Rendering here would tie the schema history to the renderers of the day and hold the
upgrade's transaction for minutes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_archive",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("number", sa.String(32), primary_key=True),
        sa.Column("format", sa.String(32), primary_key=True),
        sa.Column("filename", sa.String(128), nullable=False),
        sa.Column("media_type", sa.String(64), nullable=False),
        sa.Column("document_format", sa.String(32), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("unavailable", sa.Text, nullable=True),
        sa.Column("archived_at", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("document_archive")
