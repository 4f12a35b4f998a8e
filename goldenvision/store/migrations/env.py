"""Alembic environment of the goldenvision results store.

Run programmatically by :func:`goldenvision.store.open_store` (the connection is passed in
``config.attributes["connection"]``); ``render_as_batch`` is on for SQLite so ALTERs become
table rebuilds there, and the naming convention of :mod:`goldenvision.store.models` names
every constraint.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from goldenvision.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # pragma: no cover - `alembic -x url=...` from a shell
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("alembic: expected a database URL (-x url=... or sqlalchemy.url), got none")
    with create_engine(url).begin() as conn:
        _run(conn)
