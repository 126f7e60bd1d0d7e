"""Engines and transactions.

SQLite is shared by the daemon and the CLI, so it runs in WAL mode with a busy timeout, and every
write transaction starts with ``BEGIN IMMEDIATE``: a writer waits for the lock up front instead of
failing with "database is locked" halfway through. PostgreSQL needs none of this.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, event, inspect
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel, create_engine

from tracker import models  # noqa: F401  (registers the tables)
from tracker.errors import DatabaseStateError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

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
            connection.connection.driver_connection.execute(f"BEGIN {mode}")  # straight to sqlite3: it runs per transaction

    return engine


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


def _writer(engine: Engine) -> Engine:
    """The engine whose transactions start with ``BEGIN IMMEDIATE`` on SQLite (see the module docstring)."""
    return engine.execution_options(sqlite_begin="IMMEDIATE") if engine.dialect.name == "sqlite" else engine


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """One write transaction: committed when the block ends, rolled back on any error."""
    with Session(_writer(engine), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """A connection held for a hot loop of one-statement writes: each ``with connection.begin():`` is one short
    write transaction (``BEGIN IMMEDIATE`` on SQLite), without asking the pool every time."""
    with _writer(engine).connect() as connection:
        yield connection


def is_initialised(engine: Engine) -> bool:
    return inspect(engine).has_table("plan")


def require_initialised(engine: Engine) -> None:
    if not is_initialised(engine):
        raise DatabaseStateError(
            f"数据库 {engine.url.render_as_string(hide_password=True)} 尚未初始化。请先运行 tracker init。"
        )


def _alembic(connection: Connection) -> AlembicConfig:
    """Alembic is imported only here: every other command starts without it (it costs a fifth of start-up)."""
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(Path(__file__).resolve().parent / "migrations"))
    config.attributes["connection"] = connection
    return config


def upgrade_database(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Apply the migrations up to ``revision``; returns the revision before and after."""
    from alembic import command

    with engine.connect() as connection:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:  # SQLite's way to rebuild a table that others point at: keys off, then checked before commit
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys = OFF")  # type: ignore[union-attr]
        try:
            with connection.begin():
                before = current_revision(connection)
                command.upgrade(_alembic(connection), revision)
                after = current_revision(connection)
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall() if sqlite else []
                if broken:
                    raise DatabaseStateError(f"升级表结构后发现 {len(broken)} 处外键不一致，已撤销升级。")
        finally:
            if sqlite:
                connection.connection.dbapi_connection.execute("PRAGMA foreign_keys = ON")  # type: ignore[union-attr]
        return before, after


def current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    with make_engine("sqlite://").connect() as connection:
        return ScriptDirectory.from_config(_alembic(connection)).get_current_head() or ""


def create_database(engine: Engine, *, force: bool = False) -> None:
    """Create the schema through the migrations; refuse to touch an existing database unless ``force``."""
    if is_initialised(engine):
        if not force:
            raise DatabaseStateError(
                f"数据库 {engine.url.render_as_string(hide_password=True)} 已存在，未做任何改动。"
                "如确需清空重建（现有进度和历史记录将全部丢失），请加 --force。"
            )
        SQLModel.metadata.drop_all(engine)
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    upgrade_database(engine)


def create_scratch_schema(engine: Engine) -> None:
    """Tables straight from the models, for throw-away databases (validation, simulation copies)."""
    SQLModel.metadata.create_all(engine)


def copy_database(source: Engine, target: Engine) -> None:
    """Copy every row of every table (SQLite or PostgreSQL) into an empty scratch SQLite schema, from one snapshot."""
    create_scratch_schema(target)
    options = {"isolation_level": "REPEATABLE READ"} if source.dialect.name == "postgresql" else {}
    with source.connect().execution_options(**options) as src, target.connect() as dst:
        # rows of a table may point at later rows of the same table (a unit's parent): check keys after the copy
        dst.connection.dbapi_connection.execute("PRAGMA foreign_keys = OFF")  # type: ignore[union-attr]
        with dst.begin():
            for table in SQLModel.metadata.sorted_tables:
                rows = [dict(row) for row in src.execute(table.select()).mappings()]
                if rows:
                    dst.execute(table.insert(), rows)
        broken = dst.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        dst.commit()
        dst.connection.dbapi_connection.execute("PRAGMA foreign_keys = ON")  # type: ignore[union-attr]
    if broken:
        raise DatabaseStateError(f"复制数据库时发现 {len(broken)} 处外键不一致，副本不可用。")


def backup_database(engine: Engine, target: Path) -> None:
    """A consistent copy of a live database as a SQLite file readable by its owner only.

    SQLite uses its online backup API; PostgreSQL is copied table by table from one snapshot.
    """
    if target.exists():
        raise DatabaseStateError(f"备份文件 {target} 已存在，未覆盖。请换一个文件名。")
    target.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o600))
    source = sqlite_path(str(engine.url))
    if source is None:
        copy_database(engine, make_engine(f"sqlite:///{target}"))
        return
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
