"""Soft deletion, experiment tags and every value of a metric (what MLflow clients need).

- ``experiments.deleted_at`` and ``iterations.deleted_at``: a deleted experiment or iteration is
  hidden until restored. Experiment names become unique among the LIVE experiments of a project
  (a partial unique index), so a deleted experiment's name can be reused at once.
- ``experiment_tags``: free-form text labels of experiments.
- The iterations' indexes end in ``deleted_at``, so that lists and counts of live iterations
  still read one index.
- ``metric_points.seq`` joins the primary key: several values at one step, in the order they
  were logged (every existing point gets ``seq`` 0, mlops' own writes keep using 0).

SQLite cannot drop a unique constraint or change a primary key in place, so ``experiments`` and
``metric_points`` are copied into new tables, as 0002 did; every row is kept. Dropping the old
``experiments`` would cascade to its iterations while foreign keys are enforced: the migration
runner turns enforcement off around migrations on SQLite and checks every reference after.
PostgreSQL alters the tables in place.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_LIVE = sa.text("deleted_at IS NULL")
_ITERATION_INDEXES = {
    "ix_iterations_experiment_started": ["experiment_id", "started_at"],
    "ix_iterations_project_started": ["project_id", "started_at"],
    "ix_iterations_started": ["started_at"],
}


def _experiments(name: str) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("deleted_at", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_experiments_project_id_projects",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_experiments"),
    )


def _points(name: str) -> None:
    op.create_table(
        name,
        sa.Column("iteration_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.BLOB(), nullable=True),
        sa.Column("timestamp", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["iteration_id"],
            ["iterations.id"],
            name="fk_metric_points_iteration_id_iterations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("iteration_id", "name", "step", "seq", name="pk_metric_points"),
        sqlite_with_rowid=False,
    )


def _rebuild_on_sqlite() -> None:
    _experiments("experiments_copy")
    columns = "id, project_id, name, description, created_at"
    op.execute(f"INSERT INTO experiments_copy ({columns}) SELECT {columns} FROM experiments")
    op.drop_table("experiments")
    op.rename_table("experiments_copy", "experiments")
    _points("metric_points_copy")
    columns = "iteration_id, name, step, value, timestamp"
    op.execute(
        f"INSERT INTO metric_points_copy ({columns}, seq) SELECT {columns}, 0 FROM metric_points"
    )
    op.drop_table("metric_points")
    op.rename_table("metric_points_copy", "metric_points")


def _alter_on_postgresql() -> None:
    op.drop_constraint("uq_experiments_project_name", "experiments", type_="unique")
    op.add_column("experiments", sa.Column("deleted_at", sa.Double(), nullable=True))
    op.add_column(
        "metric_points",
        sa.Column("seq", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.alter_column("metric_points", "seq", server_default=None)
    op.drop_constraint("pk_metric_points", "metric_points", type_="primary")
    op.create_primary_key(
        "pk_metric_points", "metric_points", ["iteration_id", "name", "step", "seq"]
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_on_sqlite()
    else:
        _alter_on_postgresql()
    op.create_index(
        "uq_experiments_project_name_live",
        "experiments",
        ["project_id", "name"],
        unique=True,
        sqlite_where=_LIVE,
        postgresql_where=_LIVE,
    )
    op.add_column("iterations", sa.Column("deleted_at", sa.Double(), nullable=True))
    # deleted_at last in the iterations' indexes: lists and counts of live ones stay in them
    for index, columns in _ITERATION_INDEXES.items():
        op.drop_index(index, table_name="iterations")
        op.create_index(index, "iterations", [*columns, "deleted_at"], unique=False)
    op.create_table(
        "experiment_tags",
        sa.Column("experiment_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name="fk_experiment_tags_experiment_id_experiments",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("experiment_id", "key", name="pk_experiment_tags"),
    )


def downgrade() -> None:
    raise NotImplementedError(
        "schema 0004 keeps several values per step and reusable experiment names, which 0003 "
        "cannot hold: restore the backup taken before `mlops db upgrade`"
    )
