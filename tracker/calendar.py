"""The official working-day calendar: holidays and make-up working days (调休).

chinese-calendar knows 2004–2026. For later years the operator adds ``holidays`` and
``workdays`` under ``[calendar.years.YYYY]`` in config.toml. A year known to neither falls back to
Monday–Friday, and every place that relies on such a year must say so: ``warnings`` lists them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping

import chinese_calendar

log = logging.getLogger(__name__)


class WorkCalendar:
    """Answers "is this a working day?" from the package, the config, or Monday–Friday."""

    def __init__(self, extra_years: Mapping[int, tuple[Iterable[dt.date], Iterable[dt.date]]] | None = None) -> None:
        self._holidays: dict[int, frozenset[dt.date]] = {}
        self._workdays: dict[int, frozenset[dt.date]] = {}
        for year, (holidays, workdays) in (extra_years or {}).items():
            self._holidays[year] = frozenset(holidays)
            self._workdays[year] = frozenset(workdays)
        self._guessed: set[int] = set()
        self._answers: dict[dt.date, bool] = {}

    @classmethod
    def from_settings(cls, years: Mapping[str, object]) -> WorkCalendar:
        """Build from ``config.settings.calendar.years`` (year → object with holidays/workdays)."""
        return cls({int(y): (c.holidays, c.workdays) for y, c in years.items()})  # type: ignore[attr-defined]

    def is_workday(self, day: dt.date) -> bool:
        known = self._answers.get(day)
        if known is None:
            known = self._answers[day] = self._lookup(day)
        return known

    def _lookup(self, day: dt.date) -> bool:
        if day.year in self._holidays:
            if day in self._workdays[day.year]:
                return True
            if day in self._holidays[day.year]:
                return False
            return day.weekday() < 5
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            if day.year not in self._guessed:
                self._guessed.add(day.year)
                log.warning("%s", self.year_warning(day.year))
            return day.weekday() < 5

    @staticmethod
    def year_warning(year: int) -> str:
        return (
            f"{year} 年的法定节假日和调休安排未知：chinese-calendar 只收录到 2026 年，config.toml 中也没有 "
            f"[calendar.years.{year}]。本系统暂按周一至周五为工作日计算，提醒日期可能不准确，请尽快补充。"
        )

    @property
    def warnings(self) -> list[str]:
        """One sentence per year that was computed Monday–Friday for lack of data."""
        return [self.year_warning(y) for y in sorted(self._guessed)]

    def add_working_days(self, start: dt.date, count: int) -> dt.date:
        """The ``count``-th working day after ``start`` (``start`` itself not counted)."""
        day = start
        remaining = count
        while remaining > 0:
            day += dt.timedelta(days=1)
            if self.is_workday(day):
                remaining -= 1
        return day

    def previous_workday(self, day: dt.date) -> dt.date:
        """``day`` itself when it is a working day, else the working day before it."""
        while not self.is_workday(day):
            day -= dt.timedelta(days=1)
        return day

    def next_workday(self, day: dt.date) -> dt.date:
        """``day`` itself when it is a working day, else the working day after it."""
        while not self.is_workday(day):
            day += dt.timedelta(days=1)
        return day
