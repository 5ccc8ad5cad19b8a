"""A covering index of the parameters' values per iteration, on SQLite.

- ``ix_parameters_iteration_value`` (iteration_id, name, value_json, value_num): a grouping
  key's value and number for each iteration from one index entry, without reading the
  parameter's row (SQLite reads an experiment's iterations in id order and looks each key up).

PostgreSQL is left as it is: a b-tree entry there holds at most ~2.7 kB while ``value_json``
may be 65,536 characters (a long parameter would fail to write), and its planner joins a
grouping's keys by hashing the rows it reads by name (``ix_parameters_name_str``), not by a
lookup per iteration. Every existing row stays as it is.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.create_index(
            "ix_parameters_iteration_value",
            "parameters",
            ["iteration_id", "name", "value_json", "value_num"],
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_parameters_iteration_value", table_name="parameters")
