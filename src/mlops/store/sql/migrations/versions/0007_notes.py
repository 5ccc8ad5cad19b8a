"""Markdown notes of projects, experiments and iterations.

- ``notes``: one row per annotated object, keyed by its kind (``project``, ``experiment``,
  ``iteration``) and id; an object without a note has no row.

Every existing row stays as it is.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notes",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "owner_id", name=op.f("pk_notes")),
    )


def downgrade() -> None:
    op.drop_table("notes")
