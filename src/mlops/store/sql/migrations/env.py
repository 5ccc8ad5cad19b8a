"""Alembic environment of mlops: migrations run on a connection the caller hands in."""

from __future__ import annotations

from alembic import context

from mlops.store.sql.models import Base, in_schema_of

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_object=in_schema_of(connection.dialect.name),
)
with context.begin_transaction():
    context.run_migrations()
