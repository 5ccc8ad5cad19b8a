"""Access for a team: tokens limited to projects, expiring tokens, and the audit trail.

- ``api_tokens.projects``: the ids of the projects a token may see (a JSON list); NULL, what
  every existing token gets, means every project.
- ``api_tokens.expires_at``: when a token stops working; NULL, what every existing token gets,
  means never.
- ``audit_events``: who changed what, on which object, when.

Every existing row stays as it is: existing tokens keep working, unscoped, never expiring.

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_tokens", sa.Column("projects", sa.Text(), nullable=True))
    op.add_column("api_tokens", sa.Column("expires_at", sa.Double(), nullable=True))
    op.create_table(
        "audit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("actor", sa.String(length=250), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=250), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_actor", "audit_events", ["actor"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_actor", table_name="audit_events")
    op.drop_index("ix_audit_events_at", table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_column("api_tokens", "expires_at")
    op.drop_column("api_tokens", "projects")
