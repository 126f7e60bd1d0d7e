"""The occurrences of a recurring duty: one per period, each with its own label and due date.

A recurring rule (每月25日前, 每季度末, 每年4月30日前, 每周五前, 每季度结束后10日内) is not one deadline
but a series. Each principal assignment of such an item is stored once per occurrence, so that
state, the reminder ledger, lights and the report work per occurrence exactly as they do for a
one-off deadline. Labels name the period the way offices write it: 2020-10, 2020-Q4, 2020-H2,
2020, 2020-W41.

Due dates are calendar dates like every other deadline; the working-day calendar moves the
reminders (to the previous working day) and the overdue notices (to the next), never the date.
"""

from __future__ import annotations

import calendar as _stdcal
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

from tracker.deadlines import DeadlineRule
from tracker.errors import StatusError

PERIOD_DAYS = {"week": 7, "month": 30, "quarter": 91, "half_year": 182, "year": 365}
PERIOD_NAMES = {"week": "每周", "month": "每月", "quarter": "每季度", "half_year": "每半年", "year": "每年"}
AddWorkingDays = Callable[[dt.date, int], dt.date]


@dataclass(frozen=True)
class Occurrence:
    label: str
    starts: dt.date
    ends: dt.date
    due: dt.date


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, _stdcal.monthrange(year, month)[1])


def period_of(every: str, day: dt.date) -> tuple[str, dt.date, dt.date]:
    """The label, first and last day of the period of kind ``every`` that contains ``day``."""
    if every == "week":
        start = day - dt.timedelta(days=day.weekday())
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}", start, start + dt.timedelta(days=6)
    if every == "month":
        return f"{day.year}-{day.month:02d}", day.replace(day=1), _month_end(day.year, day.month)
    if every == "quarter":
        quarter = (day.month - 1) // 3 + 1
        return f"{day.year}-Q{quarter}", dt.date(day.year, 3 * quarter - 2, 1), _month_end(day.year, 3 * quarter)
    if every == "half_year":
        half = 1 if day.month <= 6 else 2
        return f"{day.year}-H{half}", dt.date(day.year, 6 * half - 5, 1), _month_end(day.year, 6 * half)
    if every == "year":
        return str(day.year), dt.date(day.year, 1, 1), dt.date(day.year, 12, 31)
    raise ValueError(every)


def due_in(rule: DeadlineRule, starts: dt.date, ends: dt.date, add_working_days: AddWorkingDays) -> dt.date:
    """The due date of the occurrence running from ``starts`` to ``ends``."""
    if rule.every == "week" and rule.weekday is not None:
        return starts + dt.timedelta(days=rule.weekday)
    if rule.every == "month" and rule.day is not None:
        return starts.replace(day=min(rule.day, ends.day))
    if rule.every == "year" and rule.month is not None:
        last = _month_end(starts.year, rule.month)
        return last.replace(day=min(rule.day, last.day)) if rule.day else last
    if rule.working_days:
        return add_working_days(ends, rule.working_days)
    if rule.days:
        return ends + dt.timedelta(days=rule.days)
    return ends


def occurrences(rule: DeadlineRule, first: dt.date, last: dt.date, add_working_days: AddWorkingDays) -> list[Occurrence]:
    """Every occurrence due from ``first`` (the plan's start or the item's first listing) to ``last``."""
    found: list[Occurrence] = []
    day = first
    while True:
        label, starts, ends = period_of(rule.every or "", day)
        due = due_in(rule, starts, ends, add_working_days)
        if starts > last:
            return found
        if first <= due <= last:
            found.append(Occurrence(label, starts, ends, due))
        day = ends + dt.timedelta(days=1)


def occurrence_of(rule: DeadlineRule, label: str, add_working_days: AddWorkingDays) -> Occurrence:
    """The occurrence that ``label`` names; StatusError for a label of another kind of period."""
    starts = _label_start(rule.every or "", label)
    found_label, starts, ends = period_of(rule.every or "", starts)
    return Occurrence(found_label, starts, ends, due_in(rule, starts, ends, add_working_days))


def next_due(rule: DeadlineRule, label: str, add_working_days: AddWorkingDays) -> dt.date:
    """When the occurrence after ``label`` falls due: overdue notices about ``label`` stop then."""
    current = occurrence_of(rule, label, add_working_days)
    _label, starts, ends = period_of(rule.every or "", current.ends + dt.timedelta(days=1))
    return due_in(rule, starts, ends, add_working_days)


_LABELS = {
    "week": re.compile(r"^(\d{4})-?W(\d{1,2})$"),
    "month": re.compile(r"^(\d{4})-(\d{1,2})$"),
    "quarter": re.compile(r"^(\d{4})-?Q([1-4])$"),
    "half_year": re.compile(r"^(\d{4})-?H([12])$"),
    "year": re.compile(r"^(\d{4})$"),
}
EXAMPLES = {"week": "2020-W41", "month": "2020-10", "quarter": "2020-Q4", "half_year": "2020-H2", "year": "2020"}


def _label_start(every: str, label: str) -> dt.date:
    match = _LABELS[every].match(label.strip().upper())
    try:
        if match is None:
            raise ValueError(label)
        year = int(match.group(1))
        if every == "week":
            return dt.date.fromisocalendar(year, int(match.group(2)), 1)
        if every == "month":
            return dt.date(year, int(match.group(2)), 1)
        if every == "quarter":
            return dt.date(year, 3 * int(match.group(2)) - 2, 1)
        if every == "half_year":
            return dt.date(year, 6 * int(match.group(2)) - 5, 1)
        return dt.date(year, 1, 1)
    except ValueError as exc:
        raise StatusError(
            f"期次“{label}”不是{PERIOD_NAMES[every]}一次的事项的期次。请写成 {EXAMPLES[every]} 这样的形式，"
            "或用 --period 写出该期中的任一月份或日期（如 2020-10）。"
        ) from exc


def period_start(every: str, label: str) -> dt.date:
    """The first day of the period a stored occurrence label names."""
    return _label_start(every, label)


def occurrence_for_period(rule: DeadlineRule, period: str) -> str:
    """The label of the occurrence whose period contains ``period`` (a month 2020-10, a day 2020-10-09, or a label)."""
    text = period.strip()
    for pattern in (r"^\d{4}-\d{1,2}-\d{1,2}$", r"^\d{4}-\d{1,2}$"):
        if re.match(pattern, text):
            parts = [int(p) for p in text.split("-")]
            try:
                day = dt.date(parts[0], parts[1], parts[2] if len(parts) > 2 else 1)
            except ValueError as exc:
                raise StatusError(f"--period 的值“{period}”不是有效的月份或日期。请写成 2020-10 或 2020-10-09。") from exc
            return period_of(rule.every or "", day)[0]
    return period_of(rule.every or "", _label_start(rule.every or "", text))[0]


def fitting_lead_days(every: str, before_days: tuple[int, ...]) -> tuple[int, ...]:
    """The reminder lead times that fit a period: at most a quarter of it, so that a monthly duty gets 7/3/1 days
    rather than a 30-day reminder that would land on the previous occurrence's deadline."""
    limit = PERIOD_DAYS[every] / 4
    return tuple(days for days in before_days if days <= limit)


def plan_end(plan_year: int | None, starts_on: dt.date, configured: dt.date | None) -> dt.date:
    """The last day occurrences are made for: the configured date, or the end of the plan year after next."""
    if configured is not None:
        return configured
    return dt.date((plan_year or starts_on.year) + 2, 12, 31)
