"""What every command needs: the configuration, the database, the calendar and the date."""

from __future__ import annotations

import datetime as dt
import getpass
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Engine

from tracker import config as config_module
from tracker.calendar import WorkCalendar
from tracker.db import make_engine, require_initialised
from tracker.errors import TrackerError
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

    @cached_property
    def calendar(self) -> WorkCalendar:
        return WorkCalendar.from_settings(self.config.settings.calendar.years)

    @property
    def lights(self) -> LightRules:
        s = self.config.settings.lights
        return LightRules(yellow_within_days=s.yellow_within_days, behind_by_percent=s.behind_by_percent)

    def today(self, given: str | None, option: str = "--today") -> dt.date:
        """``given`` (the value of ``option``, named in the error when it is not a date) or today in the zone."""
        return parse_date(given, option) if given else dt.datetime.now(self.config.tz).date()

    def now(self, given_today: str | None, option: str = "--today") -> dt.datetime:
        """The current moment; with --today, that day at the current time of day, so runs replay consistently."""
        current = dt.datetime.now(self.config.tz)
        if not given_today:
            return current
        return dt.datetime.combine(parse_date(given_today, option), current.time(), tzinfo=self.config.tz)


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
