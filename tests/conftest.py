from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from tracker.cli.app import app

os.environ["TRACKER_PRELOAD"] = "0"  # `tracker` processes the tests start run in-process (tests/test_preload.py turns it on)

ROOT = Path(__file__).resolve().parent.parent
SEED_ANNEX1 = ROOT / "tracker" / "data" / "wuding_plan.txt"
SHARED_SEED = ROOT / "tests" / "data" / "wuding_seed_with_annex2.txt"  # the whole seed: Annex 1 and Annex 2


POSTGRES = os.environ.get("TRACKER_TEST_POSTGRES")  # an admin URL; .ci/run starts a throw-away server
BACKENDS = ["sqlite", "postgres"] if POSTGRES else ["sqlite"]


class Cli:
    """Runs `tracker` in-process against one config file, the way an operator would."""

    def __init__(self, home: Path, url: str) -> None:
        self.home = home
        self.url = url
        self.backend = "sqlite" if url.startswith("sqlite") else "postgres"
        self.config = home / "config.toml"
        self.write_config()
        self.runner = CliRunner()

    def write_config(self, extra: str = "") -> None:
        self.config.write_text(f'[database]\nurl = "{self.url}"\n' + extra, encoding="utf-8")

    @property
    def db_path(self) -> Path:
        assert self.backend == "sqlite", "this check is about the SQLite file"
        return self.home / "tracker.db"

    @property
    def absolute_url(self) -> str:
        return f"sqlite:///{self.db_path}" if self.backend == "sqlite" else self.url

    def __call__(self, *args: str, ok: bool = True):
        result = self.runner.invoke(app, ["--config", str(self.config), *args])
        if ok and result.exit_code != 0:
            raise AssertionError(f"tracker {' '.join(args)} failed ({result.exit_code}):\n{result.output}\n{result.exception!r}")
        return result

    def json(self, *args: str):
        return json.loads(self(*args, "--json").stdout)

    def snapshot(self) -> dict[str, list[tuple]]:
        """Every row of every table, for checking that a refused command changed nothing."""
        engine = create_engine(self.absolute_url)
        with engine.connect() as conn:
            tables = inspect(conn).get_table_names()
            data = {t: sorted(map(tuple, conn.execute(text(f'SELECT * FROM "{t}"')).fetchall()), key=repr) for t in tables}
        engine.dispose()
        return data


@pytest.fixture(params=BACKENDS)
def database_url(request):
    """A fresh database per test: a SQLite file beside the config, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield "sqlite:///tracker.db"
        return
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def cli(tmp_path: Path, database_url: str) -> Cli:
    return Cli(tmp_path, database_url)


@pytest.fixture
def sqlite_only(cli: Cli) -> None:
    if cli.backend != "sqlite":
        pytest.skip("about the SQLite file itself")


@pytest.fixture
def seeded(cli: Cli) -> Cli:
    cli("init", "--start", "2020-08-01")
    return cli


def wait_for(condition, timeout: float) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass; tests that wait are bounded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def smtp_server():
    from tests.smtp_server import SmtpServer

    server = SmtpServer().start()
    yield server
    server.stop()


def use_smtp(cli: Cli, port: int, **mail: object) -> None:
    """Point the CLI's config at an SMTP server on localhost."""
    extra = "".join(f"{k} = {v!r}\n".replace("'", '"') if isinstance(v, str) else f"{k} = {v}\n" for k, v in mail.items())
    cli.write_config('\n[mail]\ntransport = "smtp"\n' + extra
                     + f'\n[mail.smtp]\nhost = "127.0.0.1"\nport = {port}\ntimeout_seconds = 5\n')
