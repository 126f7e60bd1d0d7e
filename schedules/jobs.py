"""The jobs, as plain functions: the scheduler only calls them, and `tracker run --once` calls them directly.

The daily check renders and stores every message of the day together with the ledger rows that
claim its stages, in one transaction: after it commits, nothing is lost, whatever happens to the
delivery that follows; if another process got there first, its unique ledger rows make this
transaction fail and nothing is stored twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from notifications.render import render_digest
from tracker.calendar import WorkCalendar
from tracker.db import read_session, write_session
from tracker.outbox import store_check
from tracker.queries import LightRules
from tracker.reminders import CheckPlan, Policy, plan_check

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckSettings:
    policy: Policy
    lights: LightRules
    sender: str
    county: str
    subject_prefix: str


@dataclass
class CheckReport:
    today: dt.date
    workday: bool
    messages: int = 0
    notices: int = 0
    unreachable: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped_reason: str = ""

    def to_json(self) -> dict[str, object]:
        return {"today": self.today.isoformat(), "workday": self.workday, "messages": self.messages,
                "notices": self.notices, "unreachable": self.unreachable, "warnings": self.warnings,
                "skipped": self.skipped_reason or None}


def preview_check(engine: Engine, settings: CheckSettings, calendar: WorkCalendar, today: dt.date) -> CheckPlan:
    """What the check of ``today`` would send; writes nothing."""
    with read_session(engine) as session:
        return plan_check(session, today, calendar, settings.policy, settings.lights)


def daily_check(engine: Engine, settings: CheckSettings, calendar: WorkCalendar, today: dt.date, now: dt.datetime) -> CheckReport:
    """Decide, render and store the day's digests; nothing on a day that is not a working day."""
    if not calendar.is_workday(today):
        return CheckReport(today, workday=False, warnings=calendar.warnings, skipped_reason=f"{today} 不是工作日，不发送提醒。")
    try:
        with write_session(engine) as session:
            plan = plan_check(session, today, calendar, settings.policy, settings.lights)
            rendered = [
                render_digest(d, sender=settings.sender, now=now, county=settings.county, prefix=settings.subject_prefix,
                              warnings=calendar.warnings)
                for d in plan.digests
            ]
            store_check(session, plan, rendered, now=now)
    except IntegrityError:
        log.info("另一个进程已处理 %s 的检查，本次不重复发送。", today)
        return CheckReport(today, workday=True, warnings=calendar.warnings, skipped_reason="另一个进程已完成本次检查。")
    for name in plan.unreachable:
        log.warning("单位“%s”及其上级都没有邮箱，提醒无法送达。", name)
    log.info("%s 检查完成：%d 封邮件，%d 条提醒。", today, len(rendered), len(plan.notices))
    return CheckReport(today, workday=True, messages=len(rendered), notices=len(plan.notices),
                       unreachable=plan.unreachable, warnings=calendar.warnings)
