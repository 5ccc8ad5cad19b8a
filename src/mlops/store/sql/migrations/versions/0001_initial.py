"""Initial schema: projects, experiments, datasets, iterations, parameters, metrics, tags, tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("revoked_at", sa.Double(), nullable=True),
        sa.Column("last_used_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_api_tokens_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("version", sa.String(length=250), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=71), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("file_count", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
        sa.UniqueConstraint("name", "version", name="uq_datasets_name_version"),
    )
    op.create_table(
        "projects",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=250), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("title", name=op.f("uq_projects_title")),
    )
    op.create_table(
        "experiments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_experiments_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
        sa.UniqueConstraint("project_id", "name", name="uq_experiments_project_name"),
    )
    op.create_table(
        "iterations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("experiment_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("ended_at", sa.Double(), nullable=True),
        sa.Column("heartbeat_at", sa.Double(), nullable=True),
        sa.Column("model_path", sa.Text(), nullable=True),
        sa.Column("model_size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("model_sha256", sa.String(length=64), nullable=True),
        sa.Column("error_type", sa.String(length=250), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("system", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_iterations_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_iterations_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_iterations")),
    )
    op.create_index(
        "ix_iterations_experiment_started",
        "iterations",
        ["experiment_id", "started_at"],
        unique=False,
    )
    op.create_index(
        "ix_iterations_project_started", "iterations", ["project_id", "started_at"], unique=False
    )
    op.create_index("ix_iterations_started", "iterations", ["started_at"], unique=False)
    op.create_table(
        "iteration_datasets",
        sa.Column("iteration_id", sa.String(length=36), nullable=False),
        sa.Column("dataset_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_iteration_datasets_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["iteration_id"],
            ["iterations.id"],
            name=op.f("fk_iteration_datasets_iteration_id_iterations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("iteration_id", "dataset_id", name=op.f("pk_iteration_datasets")),
    )
    op.create_index(
        "ix_iteration_datasets_dataset", "iteration_datasets", ["dataset_id"], unique=False
    )
    op.create_table(
        "iteration_tags",
        sa.Column("iteration_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["iteration_id"],
            ["iterations.id"],
            name=op.f("fk_iteration_tags_iteration_id_iterations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("iteration_id", "key", name=op.f("pk_iteration_tags")),
    )
    op.create_index("ix_iteration_tags_key_value", "iteration_tags", ["key", "value"], unique=False)
    op.create_table(
        "metric_points",
        sa.Column("iteration_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("timestamp", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["iteration_id"],
            ["iterations.id"],
            name=op.f("fk_metric_points_iteration_id_iterations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("iteration_id", "name", "step", name=op.f("pk_metric_points")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "metric_summaries",
        sa.Column("iteration_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("experiment_id", sa.String(length=36), nullable=False),
        sa.Column("last", sa.Double(), nullable=True),
        sa.Column("last_step", sa.BigInteger(), nullable=False),
        sa.Column("min", sa.Double(), nullable=True),
        sa.Column("max", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["iteration_id"],
            ["iterations.id"],
            name=op.f("fk_metric_summaries_iteration_id_iterations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("iteration_id", "name", name=op.f("pk_metric_summaries")),
    )
    op.create_index(
        "ix_metric_summaries_experiment_last",
        "metric_summaries",
        ["experiment_id", "name", "last"],
        unique=False,
    )
    op.create_index(
        "ix_metric_summaries_experiment_max",
        "metric_summaries",
        ["experiment_id", "name", "max"],
        unique=False,
    )
    op.create_index(
        "ix_metric_summaries_experiment_min",
        "metric_summaries",
        ["experiment_id", "name", "min"],
        unique=False,
    )
    op.create_index(
        "ix_metric_summaries_name_last", "metric_summaries", ["name", "last"], unique=False
    )
    op.create_table(
        "parameters",
        sa.Column("iteration_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("value_json", sa.Text(), nullable=False),
        sa.Column("value_num", sa.Double(), nullable=True),
        sa.Column("value_str", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["iteration_id"],
            ["iterations.id"],
            name=op.f("fk_parameters_iteration_id_iterations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("iteration_id", "name", name=op.f("pk_parameters")),
    )
    op.create_index("ix_parameters_name_num", "parameters", ["name", "value_num"], unique=False)
    op.create_index("ix_parameters_name_str", "parameters", ["name", "value_str"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_parameters_name_str", table_name="parameters")
    op.drop_index("ix_parameters_name_num", table_name="parameters")
    op.drop_table("parameters")
    op.drop_index("ix_metric_summaries_name_last", table_name="metric_summaries")
    op.drop_index("ix_metric_summaries_experiment_min", table_name="metric_summaries")
    op.drop_index("ix_metric_summaries_experiment_max", table_name="metric_summaries")
    op.drop_index("ix_metric_summaries_experiment_last", table_name="metric_summaries")
    op.drop_table("metric_summaries")
    op.drop_table("metric_points")
    op.drop_index("ix_iteration_tags_key_value", table_name="iteration_tags")
    op.drop_table("iteration_tags")
    op.drop_index("ix_iteration_datasets_dataset", table_name="iteration_datasets")
    op.drop_table("iteration_datasets")
    op.drop_index("ix_iterations_started", table_name="iterations")
    op.drop_index("ix_iterations_project_started", table_name="iterations")
    op.drop_index("ix_iterations_experiment_started", table_name="iterations")
    op.drop_table("iterations")
    op.drop_table("experiments")
    op.drop_table("projects")
    op.drop_table("datasets")
    op.drop_table("api_tokens")
