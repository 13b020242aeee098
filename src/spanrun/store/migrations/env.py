"""Alembic environment: runs migrations on the connection spanrun hands over.

spanrun calls Alembic itself (see ``spanrun.store._migrate``) with an open connection that
already holds the migration lock, passed in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context

from spanrun.store._models import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - spanrun always passes a connection
    raise RuntimeError("spanrun migrations run through spanrun.store, not the alembic CLI")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
# Inside spanrun's open transaction this is a no-op; the caller commits.
with context.begin_transaction():
    context.run_migrations()
