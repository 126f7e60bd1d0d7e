"""Engines and transactions.

SQLite is shared by the daemon and the CLI, so it runs in WAL mode with a busy timeout, and every
write transaction starts with ``BEGIN IMMEDIATE``: a writer waits for the lock up front instead of
failing with "database is locked" halfway through. PostgreSQL needs none of this.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

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
    """An engine. It creates nothing: a SQLite file is made only by ``create_sqlite_file`` (tracker init), so a
    command run in the wrong folder leaves no empty database behind."""
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


def create_sqlite_file(engine: Engine) -> None:
    """Make a new SQLite file readable by its owner only (its WAL files inherit that); nothing for other databases."""
    path = sqlite_path(str(engine.url))
    if path is not None and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


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


def _shown(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _tables(engine: Engine) -> set[str]:
    """The tables of the database; none (and no connection, so no new file) for a SQLite file that does not exist."""
    path = sqlite_path(str(engine.url))
    if path is not None and not path.exists():
        return set()
    return set(inspect(engine).get_table_names())


def _has_rows(connection: Connection, table: str) -> bool:
    return connection.exec_driver_sql(f"SELECT 1 FROM {table} LIMIT 1").first() is not None


def is_initialised(engine: Engine) -> bool:
    """A schema exists (complete or not): ``init`` must not build over it without ``--force``."""
    return "plan" in _tables(engine)


def schema_problem(engine: Engine) -> DatabaseStateError | None:
    """What keeps this program from using the database, said with the way out; None when it is ready.

    Checked before every command that reads or writes: a database that an older version made (or that
    predates migrations) gets "run tracker db upgrade" instead of "no such table" halfway through a
    command, and one whose ``init`` was cut short is refused instead of looking like an empty plan.
    """
    tables = _tables(engine)
    if "plan" not in tables:
        return DatabaseStateError(f"数据库 {_shown(engine)} 尚未初始化。请先运行 tracker init。")
    with engine.connect() as connection:
        revision = current_revision(connection) if "alembic_version" in tables else None
        if revision is None:
            return DatabaseStateError(
                f"数据库 {_shown(engine)} 建于表结构版本记录出现之前，当前程序不能直接使用。"
                "请先备份（tracker db backup 文件），再运行 tracker db upgrade：能识别的旧表结构会原样升级，数据保留。")
        revisions = known_revisions()
        if revision not in revisions:
            return DatabaseStateError(
                f"数据库 {_shown(engine)} 的表结构版本 {revision} 不是本程序认识的版本（可能由更新版本的程序创建）。"
                "请安装与数据库相同或更新版本的 county-tracker。")
        if revision != revisions[-1]:
            return DatabaseStateError(
                f"数据库 {_shown(engine)} 的表结构是旧版本（{revision}），当前程序需要 {revisions[-1]}。"
                "请运行 tracker db upgrade 升级（数据保留），再重试本命令。")
        if not _has_rows(connection, "plan"):
            return DatabaseStateError(
                f"数据库 {_shown(engine)} 的初始化没有完成：表已建好，但单位名录和计划没有载入（上次 tracker init 可能被中断）。"
                "请运行 tracker init 完成初始化（库中还没有任何数据，不会丢失）。")
    return None


def require_initialised(engine: Engine) -> None:
    problem = schema_problem(engine)
    if problem is not None:
        raise problem


def is_half_made(engine: Engine) -> bool:
    """Tables but no directory, plan or journal: what an ``init`` cut short by an older version left; safe to rebuild."""
    if not is_initialised(engine):
        return False
    with engine.connect() as connection:
        return not any(_has_rows(connection, table) for table in ("plan", "unit", "journalentry"))


_REVISION = re.compile(r"^revision\s*=\s*['\"](\w+)['\"]", re.M)
_DOWN = re.compile(r"^down_revision\s*=\s*(?:['\"](\w+)['\"]|None)", re.M)


@lru_cache(maxsize=1)
def known_revisions() -> tuple[str, ...]:
    """The migration chain, oldest first, read from the version files without importing Alembic (start-up cost)."""
    parents: dict[str, str | None] = {}
    for path in (Path(__file__).resolve().parent / "migrations" / "versions").glob("*.py"):
        text = path.read_text("utf-8")
        revision, down = _REVISION.search(text), _DOWN.search(text)
        if revision and down:
            parents[revision.group(1)] = down.group(1)
    chain: list[str] = []
    children = {parent: child for child, parent in parents.items()}
    current = children.get(None)  # type: ignore[call-overload]
    while current is not None:
        chain.append(current)
        current = children.get(current)
    return tuple(chain)


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
                if before is None and inspect(connection).has_table("plan"):
                    stamp_unversioned(connection)
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
    """The revision stamped in ``alembic_version`` (read directly: Alembic is not imported for this)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def head_revision() -> str:
    return known_revisions()[-1]


def _columns(connection: Connection) -> dict[str, set[str]]:
    found = inspect(connection)
    return {t: {c["name"] for c in found.get_columns(t)} for t in found.get_table_names() if t != "alembic_version"}


def stamp_unversioned(connection: Connection) -> str:
    """Give a database made before migrations existed the revision whose tables and columns it has exactly.

    Each known revision is built in a scratch database and compared; a schema that matches none is
    refused rather than guessed at, since upgrading from the wrong revision would damage it.
    """
    from alembic import command

    have = _columns(connection)
    for revision in known_revisions():
        scratch = make_engine("sqlite://")
        with scratch.begin() as scratch_connection:
            command.upgrade(_alembic(scratch_connection), revision)
            if _columns(scratch_connection) == have:
                command.stamp(_alembic(connection), revision)
                return revision
    raise DatabaseStateError(
        "数据库建于表结构版本记录出现之前，其表和列与本程序的任何已知版本都不一致，无法自动升级（以免损坏数据）。"
        "请用创建它的旧版程序运行 tracker export --json > 存档.json 保存数据，再用 tracker init 新建数据库，"
        "按存档重新登记进度。")


def create_database(engine: Engine, *, force: bool = False) -> None:
    """Create the schema through the migrations; refuse to touch an existing database unless ``force``."""
    create_sqlite_file(engine)
    with _writer(engine).begin() as connection:
        _build_schema(engine, connection, force=force)


def _build_schema(engine: Engine, connection: Connection, *, force: bool) -> None:
    from alembic import command

    if inspect(connection).has_table("plan"):
        if not force:
            raise DatabaseStateError(
                f"数据库 {_shown(engine)} 已存在，未做任何改动。"
                "如确需清空重建（现有进度和历史记录将全部丢失），请加 --force。"
            )
        SQLModel.metadata.drop_all(connection)
        connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    command.upgrade(_alembic(connection), "head")


T = TypeVar("T")


def initialise_database(engine: Engine, fill: Callable[[Session], T], *, force: bool = False) -> T:
    """Create the schema and ``fill`` it in one transaction: a killed or failed ``init`` leaves nothing half made.

    Both SQLite and PostgreSQL run DDL inside a transaction, so the tables appear together with the
    directory and the plan, or not at all. A schema left empty by an older version's interrupted init
    is rebuilt without ``--force``: there is nothing in it to lose.
    """
    create_sqlite_file(engine)
    rebuild = force or is_half_made(engine)
    with _writer(engine).begin() as connection:
        _build_schema(engine, connection, force=rebuild)
        with Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False) as session:
            result = fill(session)
            session.commit()
    return result


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
    copy = make_engine(f"sqlite:///{target}")
    create_sqlite_file(copy)
    source = sqlite_path(str(engine.url))
    if source is None:
        copy_database(engine, copy)
        return
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
