"""What every command needs: the configuration, the database, the calendar and the date.

The real clock is read here and nowhere else: ``Context.clock`` (the system clock unless a caller
of the CLI hands in another, as tests do through ``obj=``) gives the moment, and every date a
command acts on is checked against it before anything is written. A date in the future would
write ledger rows for stages that have not come and silence their reminders for good, so writing
commands refuse it unless the operator asks for a drill, which runs on a throw-away copy.
"""

from __future__ import annotations

import datetime as dt
import getpass
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from tracker import config as config_module
from tracker.calendar import WorkCalendar
from tracker.db import copy_database, make_engine, require_initialised, sqlite_path
from tracker.errors import ClockError, TrackerError
from tracker.outfiles import mode_like
from tracker.queries import LightRules

if TYPE_CHECKING:  # imported where used: a read command needs neither the reminder rules nor the ledger
    from tracker.ledger import ClockReading
    from tracker.reminders import Policy

Clock = Callable[[], dt.datetime]
EARLIEST, LATEST = dt.date(2000, 1, 1), dt.date(2100, 12, 31)
TOLERANCE = dt.timedelta(days=1)


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _boot() -> tuple[str, float]:
    """This boot's id and the seconds since it (CLOCK_BOOTTIME counts suspended time and never jumps)."""
    try:
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot_id = ""
    try:
        return boot_id, time.clock_gettime(time.CLOCK_BOOTTIME)
    except (AttributeError, OSError):
        return boot_id, time.monotonic()


@dataclass
class Context:
    config_path: str | None = None
    clock: Clock = system_clock
    _engines: dict[str, Engine] = field(default_factory=dict)
    _drill: tuple[tempfile.TemporaryDirectory[str], Engine] | None = None

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
        """The database to work on, checked for a complete, current schema; in a drill, its throw-away copy."""
        if self._drill is not None:
            return self._drill[1]
        engine = self.engine
        require_initialised(engine)
        return engine

    @property
    def drilling(self) -> bool:
        return self._drill is not None

    def start_drill(self) -> Path:
        """From now on every command works on a SQLite copy of the database in a temporary folder (removed at exit)."""
        if self._drill is None:
            source = self.ready_engine()
            folder = tempfile.TemporaryDirectory(prefix="tracker-drill-")
            copy = make_engine(f"sqlite:///{Path(folder.name) / 'drill.db'}")
            copy_database(source, copy)
            self._drill = (folder, copy)
        return Path(self._drill[0].name)

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

    @property
    def policy(self) -> Policy:
        """When reminders fall due and whom overdue work escalates to, from ``[reminders]``; and after how many
        working days a unit that has not signed is named (``[cycle]``)."""
        from tracker.reminders import Policy

        r = self.config.settings.reminders
        return Policy(before_days=tuple(r.before_days), on_due_day=r.on_due_day, overdue_every_days=r.overdue_every_days,
                      escalate_to=frozenset(r.escalate_to), acknowledge_within_days=self.signing_days)

    @property
    def signing_days(self) -> int | None:
        """Units can sign only through their links: without ``web.public_url`` nobody is reported for not signing."""
        s = self.config.settings
        return s.cycle.acknowledge_within_days if s.web.public_url else None

    def real_now(self) -> dt.datetime:
        """The moment by the real clock, in the configured zone."""
        return self.clock().astimezone(self.config.tz)

    def reading(self) -> ClockReading:
        """The real clock with what it takes to tell later whether it jumped (see tracker.ledger)."""
        from tracker.ledger import ClockReading

        boot_id, uptime = _boot()
        return ClockReading(at=self.real_now(), boot_id=boot_id, uptime=uptime)

    def today(self, given: str | None, option: str = "--today") -> dt.date:
        """``given`` (the value of ``option``, named in the error when it is not a date) or today in the zone; a year
        without holiday data is noted at once, so that every command using it warns."""
        day = parse_date(given, option) if given else self.real_now().date()
        self.calendar.is_workday(day)
        return day

    def writing_day(self, given: str | None, *, drill: bool | None = None, option: str = "--today") -> dt.date:
        """The day a writing command acts on: never later than the real date (a day's tolerance for clocks and
        zones) unless ``drill``, which switches the command to a copy; ``drill=None``: the command has no --drill."""
        day = parse_date(given, option) if given else self.real_now().date()
        self.calendar.is_workday(day)
        if drill:
            self.start_drill()
            return day
        real = self.real_now().date()
        if day > real + TOLERANCE:
            how = ("如只是演练，请加 --drill：在数据库副本上运行，真实数据库不变，也不会发出真实邮件。" if drill is not None
                   else "如只是预览，请去掉写入数据库或发送的选项。")
            raise ClockError(
                f"{option} {day} 晚于今天（{real}，{self.config.settings.general.timezone}）。用将来的日期写入，会提前记下这些日期的提醒，"
                f"到了那天真正的提醒就不再发送。{how}")
        return day

    def now(self, given_today: str | None, option: str = "--today") -> dt.datetime:
        """The current moment; with --today, that day at the current time of day, so runs replay consistently."""
        current = self.real_now()
        if not given_today:
            return current
        return dt.datetime.combine(parse_date(given_today, option), current.time(), tzinfo=self.config.tz)


def parse_date(value: str, option: str) -> dt.date:
    """A date an operator typed, between 2000 and 2100: outside that it is a typing mistake (and the calendar's
    arithmetic would overflow near 9999)."""
    try:
        day = dt.date.fromisoformat(value.strip())
    except ValueError as exc:
        raise TrackerError(f"{option} 的值“{value}”不是有效日期。请写成 YYYY-MM-DD，例如 2020-10-09。") from exc
    if not EARLIEST <= day <= LATEST:
        raise ClockError(f"{option} 的值 {day} 超出可用范围（{EARLIEST} 至 {LATEST}）。请检查年份是否写错。")
    return day


def actor(given: str | None) -> str:
    if given:
        return given
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
