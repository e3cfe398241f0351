"""Alembic environment: runs on the connection the hub hands over (see Database.migrate)."""

from __future__ import annotations

from alembic import context

from artifact_hub.adapters.index.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through artifact_hub.adapters.index.Database.migrate()")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
