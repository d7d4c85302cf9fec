"""Alembic environment: migrates the database that storage.db.upgrade() hands over."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection

from storage.db import make_engine
from storage.models import Base, SafeJson, SafeText, UtcDateTime

# Every migrating process takes this PostgreSQL advisory lock, so that a poller and an
# outbox sender starting together do not both try to create the tables.
MIGRATION_LOCK_KEY = 590_054


def render_item(kind: str, obj: Any, autogen: AutogenContext) -> str | Literal[False]:
    """Render the project's column types with plain SQLAlchemy names in new revisions."""
    if kind != "type":
        return False
    if isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    if isinstance(obj, SafeText):
        return "sa.Text()"
    if isinstance(obj, SafeJson):
        autogen.imports.add("from sqlalchemy.dialects import postgresql")
        return 'sa.JSON().with_variant(postgresql.JSONB(), "postgresql")'
    return False


def run_offline() -> None:
    """Write the migration SQL to standard output instead of running it."""
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=Base.metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_on(connection: Connection) -> None:
    """Run the migrations on an open connection, inside its transaction."""
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things: later revisions rebuild tables in batch mode.
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
        context.run_migrations()


def run_online() -> None:
    """Run the migrations on the given connection, or on a fresh engine for the URL."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    engine = make_engine(context.config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.begin() as fresh:
            run_on(fresh)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
