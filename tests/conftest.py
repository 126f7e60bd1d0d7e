from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from typer.testing import CliRunner

from tracker.cli.app import app

ROOT = Path(__file__).resolve().parent.parent
SEED_ANNEX1 = ROOT / "tracker" / "data" / "wuding_plan.txt"
SHARED_SEED = ROOT / "tests" / "data" / "wuding_seed_with_annex2.txt"  # the whole seed: Annex 1 and Annex 2


class Cli:
    """Runs `tracker` in-process against one config file, the way an operator would."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.config = home / "config.toml"
        self.config.write_text('[database]\nurl = "sqlite:///tracker.db"\n', encoding="utf-8")
        self.runner = CliRunner()

    @property
    def db_path(self) -> Path:
        return self.home / "tracker.db"

    def __call__(self, *args: str, ok: bool = True):
        result = self.runner.invoke(app, ["--config", str(self.config), *args])
        if ok and result.exit_code != 0:
            raise AssertionError(f"tracker {' '.join(args)} failed ({result.exit_code}):\n{result.output}\n{result.exception!r}")
        return result

    def json(self, *args: str):
        return json.loads(self(*args, "--json").stdout)

    def snapshot(self) -> dict[str, list[tuple]]:
        """Every row of every table, for checking that a refused command changed nothing."""
        engine = create_engine(f"sqlite:///{self.db_path}")
        with engine.connect() as conn:
            tables = inspect(conn).get_table_names()
            data = {t: sorted(map(tuple, conn.execute(text(f'SELECT * FROM "{t}"')).fetchall()), key=repr) for t in tables}
        engine.dispose()
        return data


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


@pytest.fixture
def seeded(cli: Cli) -> Cli:
    cli("init", "--start", "2020-08-01")
    return cli


@pytest.fixture
def smtp_server():
    from tests.smtp_server import SmtpServer

    server = SmtpServer().start()
    yield server
    server.stop()


def use_smtp(cli: Cli, port: int, **mail: object) -> None:
    """Point the CLI's config at an SMTP server on localhost."""
    extra = "".join(f"{k} = {v!r}\n".replace("'", '"') if isinstance(v, str) else f"{k} = {v}\n" for k, v in mail.items())
    cli.config.write_text(
        '[database]\nurl = "sqlite:///tracker.db"\n\n[mail]\ntransport = "smtp"\n' + extra
        + f'\n[mail.smtp]\nhost = "127.0.0.1"\nport = {port}\ntimeout_seconds = 5\n',
        encoding="utf-8",
    )
