"""Indexes that let a grouping of an experiment's iterations read only indexes.

- ``ix_iterations_experiment_id`` (experiment_id, id, deleted_at): the live iterations of an
  experiment in id order, read from the index alone; every other table is keyed by the
  iteration id first, so the lookups that follow walk their indexes in order too.
- ``ix_metric_summaries_iteration_last`` (iteration_id, name, last): the final value of a
  metric of an iteration from one index entry, without reading the summary's row.

Every existing row stays as it is.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_iterations_experiment_id", "iterations", ["experiment_id", "id", "deleted_at"]
    )
    op.create_index(
        "ix_metric_summaries_iteration_last", "metric_summaries", ["iteration_id", "name", "last"]
    )


def downgrade() -> None:
    op.drop_index("ix_metric_summaries_iteration_last", table_name="metric_summaries")
    op.drop_index("ix_iterations_experiment_id", table_name="iterations")
