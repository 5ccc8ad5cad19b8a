"""Tags of registered models and of model versions (what MLflow's registry clients send).

- ``registered_model_tags``: free-form text labels of a registered model, removed with it.
- ``model_version_tags``: free-form text labels of one model version, removed with it.

- ``registered_models.last_version``: the highest version number ever given, so that a
  deleted version's number is never given to another version (filled from each existing
  model's highest version: nothing could be deleted before).

Every existing row stays as it is.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("registered_models", sa.Column("last_version", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE registered_models SET last_version = (SELECT max(version) FROM model_versions "
        "WHERE model_versions.name = registered_models.name)"
    )
    op.create_table(
        "registered_model_tags",
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["name"],
            ["registered_models.name"],
            name="fk_registered_model_tags_name_registered_models",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("name", "key", name="pk_registered_model_tags"),
    )
    op.create_table(
        "model_version_tags",
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["name", "version"],
            ["model_versions.name", "model_versions.version"],
            name="fk_model_version_tags_name_model_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("name", "version", "key", name="pk_model_version_tags"),
    )


def downgrade() -> None:
    op.drop_table("model_version_tags")
    op.drop_table("registered_model_tags")
    op.drop_column("registered_models", "last_version")
