"""What every command needs: the configuration, the database, the calendar and the date."""

from __future__ import annotations

import datetime as dt
import getpass
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine

from tracker import config as config_module
from tracker.calendar import WorkCalendar
from tracker.db import make_engine, require_initialised, sqlite_path
from tracker.errors import TrackerError
from tracker.outfiles import mode_like
from tracker.queries import LightRules


@dataclass
class Context:
    config_path: str | None = None
    _engines: dict[str, Engine] = field(default_factory=dict)

    @cached_property
    def config(self) -> config_module.Config:
        return config_module.load(self.config_path)

    @property
    def engine(self) -> Engine:
        url = self.config.database_url
        if url not in self._engines:
            self._engines[url] = make_engine(url)
        return self._engines[url]

    def ready_engine(self) -> Engine:
        engine = self.engine
        require_initialised(engine)
        return engine

    def protected_paths(self) -> list[Path]:
        """Files no output may overwrite: the SQLite database with its journals, the configuration, the password file."""
        paths: list[Path] = []
        database = sqlite_path(self.config.database_url)
        if database is not None:
            paths += [database, *(Path(f"{database}{suffix}") for suffix in ("-wal", "-shm", "-journal"))]
        located, _how = config_module.locate(self.config_path)
        if located is not None:
            paths.append(located)
        password_file = self.config.settings.mail.smtp.password_file
        if password_file:
            paths.append(self.config.path(password_file))
        return paths

    @property
    def output_mode(self) -> int:
        """Reports hold what the database holds: they get its permissions (0600 for PostgreSQL)."""
        return mode_like(sqlite_path(self.config.database_url))

    @cached_property
    def calendar(self) -> WorkCalendar:
        return WorkCalendar.from_settings(self.config.settings.calendar.years)

    @property
    def lights(self) -> LightRules:
        s = self.config.settings.lights
        return LightRules(yellow_within_days=s.yellow_within_days, behind_by_percent=s.behind_by_percent)

    def today(self, given: str | None) -> dt.date:
        """The business date; a year without holiday data is noted at once, so that every command using it warns."""
        day = parse_date(given, "--today") if given else dt.datetime.now(self.config.tz).date()
        self.calendar.is_workday(day)
        return day

    def now(self, given_today: str | None) -> dt.datetime:
        """The current moment; with --today, that day at the current time of day, so runs replay consistently."""
        current = dt.datetime.now(self.config.tz)
        if not given_today:
            return current
        return dt.datetime.combine(parse_date(given_today, "--today"), current.time(), tzinfo=self.config.tz)


def parse_date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError as exc:
        raise TrackerError(f"{option} 的值“{value}”不是有效日期。请写成 YYYY-MM-DD，例如 2020-10-09。") from exc


def actor(given: str | None) -> str:
    if given:
        return given
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
