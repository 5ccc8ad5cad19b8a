"""The experiment workspace: saved views and a change marker of each metric series.

- ``saved_views``: a named view of an experiment page (its address parameters as JSON), with a
  short id for its short URL (``/v/{short_id}``); names are unique within an experiment.
- ``metric_summaries.rewrites``: how many times a batch wrote a step at or before the stored
  last step of the series (an earlier point replaced, a late point): a live page that sees it
  change refetches that series instead of only the points after its last step. Existing
  summaries start at 0.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "saved_views",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("short_id", sa.String(length=16), nullable=False),
        sa.Column("experiment_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=250), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_saved_views_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_views")),
        sa.UniqueConstraint("short_id", name=op.f("uq_saved_views_short_id")),
        sa.UniqueConstraint("experiment_id", "name", name="uq_saved_views_experiment_name"),
    )
    with op.batch_alter_table("metric_summaries") as batch:
        batch.add_column(sa.Column("rewrites", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("metric_summaries") as batch:
        batch.drop_column("rewrites")
    op.drop_table("saved_views")
