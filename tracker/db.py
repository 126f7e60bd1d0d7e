"""Engines and transactions.

SQLite is shared by the daemon and the CLI, so it runs in WAL mode with a busy timeout, and every
write transaction starts with ``BEGIN IMMEDIATE``: a writer waits for the lock up front instead of
failing with "database is locked" halfway through. PostgreSQL needs none of this.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, event, inspect
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel, create_engine

from tracker import models  # noqa: F401  (registers the tables)
from tracker.errors import DatabaseStateError

BUSY_TIMEOUT_MS = 30_000


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def make_engine(url: str) -> Engine:
    """An engine; a new SQLite file is created readable by its owner only (WAL files inherit that)."""
    path = sqlite_path(url)
    if path is not None and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection):  # type: ignore[no-untyped-def]
            mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
            connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """One write transaction: committed when the block ends, rolled back on any error."""
    bound = engine.execution_options(sqlite_begin="IMMEDIATE") if engine.dialect.name == "sqlite" else engine
    with Session(bound, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def is_initialised(engine: Engine) -> bool:
    return inspect(engine).has_table("plan")


def require_initialised(engine: Engine) -> None:
    if not is_initialised(engine):
        raise DatabaseStateError(
            f"数据库 {engine.url.render_as_string(hide_password=True)} 尚未初始化。请先运行 tracker init。"
        )


def create_database(engine: Engine, *, force: bool = False) -> None:
    """Create an empty schema; refuse to touch an existing one unless ``force``."""
    if is_initialised(engine):
        if not force:
            raise DatabaseStateError(
                f"数据库 {engine.url.render_as_string(hide_password=True)} 已存在，未做任何改动。"
                "如确需清空重建（现有进度和历史记录将全部丢失），请加 --force。"
            )
        SQLModel.metadata.drop_all(engine)
    SQLModel.metadata.create_all(engine)
