"""Exact metric values on SQLite: value, last, min and max without type affinity.

A SQLite ``REAL`` column stores integral values as integers, so -0.0 came back as 0.0. Declared
``BLOB`` (no affinity) a column keeps each float as its 8 bytes. SQLite cannot change a column's
type in place, so ``metric_points`` and ``metric_summaries`` are copied into new tables; every
stored value is kept (a -0.0 stored before is already 0.0). PostgreSQL's ``double precision``
keeps every bit: nothing changes there.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _points(name: str, value_type: Any) -> None:
    op.create_table(
        name,
        sa.Column("iteration_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("value", value_type, nullable=True),
        sa.Column("timestamp", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["iteration_id"],
            ["iterations.id"],
            name="fk_metric_points_iteration_id_iterations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("iteration_id", "name", "step", name="pk_metric_points"),
        sqlite_with_rowid=False,
    )


def _summaries(name: str, value_type: Any) -> None:
    op.create_table(
        name,
        sa.Column("iteration_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("experiment_id", sa.String(length=36), nullable=False),
        sa.Column("last", value_type, nullable=True),
        sa.Column("last_step", sa.BigInteger(), nullable=False),
        sa.Column("min", value_type, nullable=True),
        sa.Column("max", value_type, nullable=True),
        sa.ForeignKeyConstraint(
            ["iteration_id"],
            ["iterations.id"],
            name="fk_metric_summaries_iteration_id_iterations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("iteration_id", "name", name="pk_metric_summaries"),
    )


_SUMMARY_INDEXES = {
    "ix_metric_summaries_experiment_last": ["experiment_id", "name", "last"],
    "ix_metric_summaries_experiment_max": ["experiment_id", "name", "max"],
    "ix_metric_summaries_experiment_min": ["experiment_id", "name", "min"],
    "ix_metric_summaries_name_last": ["name", "last"],
}
_COLUMNS = {
    "metric_points": "iteration_id, name, step, value, timestamp",
    "metric_summaries": "iteration_id, name, experiment_id, last, last_step, min, max",
}


def _rebuild(value_type: Any) -> None:
    """Copy both tables into new ones whose value columns are ``value_type``."""
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, create in (("metric_points", _points), ("metric_summaries", _summaries)):
        create(f"{table}_copy", value_type)
        names = _COLUMNS[table]
        # REAL columns hand integral values back as floats: they land in the copy as floats
        op.execute(f"INSERT INTO {table}_copy ({names}) SELECT {names} FROM {table}")
        op.drop_table(table)  # its indexes go with it
        op.rename_table(f"{table}_copy", table)
    for index, columns in _SUMMARY_INDEXES.items():
        op.create_index(index, "metric_summaries", columns, unique=False)


def upgrade() -> None:
    _rebuild(sa.BLOB())


def downgrade() -> None:
    _rebuild(sa.Double())
