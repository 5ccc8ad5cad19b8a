"""The trash for every kind: deleted projects and datasets, who deleted what, descriptions of
iterations.

- ``projects.deleted_at`` / ``datasets.deleted_at``: a deleted project (with its experiments
  and iterations) or dataset version is hidden until restored.
- ``deleted_by`` on projects, experiments, iterations and datasets: who deleted it (the audit
  trail's "who"); NULL for what was deleted before this migration.
- Project titles and dataset ``(name, version)`` are unique among live rows only (partial
  unique indexes, as experiment names are since 0004), so a deleted one's name is free at once.
- ``iterations.description``: a free text describing a run.

Every existing row stays as it is (nothing was deleted yet among projects and datasets).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_LIVE = sa.text("deleted_at IS NULL")


def _who() -> sa.Column[str]:
    return sa.Column("deleted_by", sa.String(length=250), nullable=True)


def upgrade() -> None:
    # SQLite drops a unique constraint only by rebuilding the table: batch mode does that
    with op.batch_alter_table("projects", recreate="auto") as batch:
        batch.drop_constraint("uq_projects_title", type_="unique")
        batch.add_column(sa.Column("deleted_at", sa.Double(), nullable=True))
        batch.add_column(_who())
    with op.batch_alter_table("datasets", recreate="auto") as batch:
        batch.drop_constraint("uq_datasets_name_version", type_="unique")
        batch.add_column(sa.Column("deleted_at", sa.Double(), nullable=True))
        batch.add_column(_who())
    op.create_index(
        "uq_projects_title_live",
        "projects",
        ["title"],
        unique=True,
        sqlite_where=_LIVE,
        postgresql_where=_LIVE,
    )
    op.create_index(
        "uq_datasets_name_version_live",
        "datasets",
        ["name", "version"],
        unique=True,
        sqlite_where=_LIVE,
        postgresql_where=_LIVE,
    )
    op.add_column("experiments", _who())
    op.add_column("iterations", _who())
    op.add_column("iterations", sa.Column("description", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("iterations", "description")
    op.drop_column("iterations", "deleted_by")
    op.drop_column("experiments", "deleted_by")
    op.drop_index("uq_datasets_name_version_live", table_name="datasets")
    op.drop_index("uq_projects_title_live", table_name="projects")
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("deleted_by")
        batch.drop_column("deleted_at")
        batch.create_unique_constraint("uq_datasets_name_version", ["name", "version"])
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("deleted_by")
        batch.drop_column("deleted_at")
        batch.create_unique_constraint("uq_projects_title", ["title"])
