"""The jobs, as plain functions: the scheduler only calls them, and `tracker run --once` calls them directly.

The daily check renders and stores every message of the day together with the ledger rows that
claim its stages, in one transaction: after it commits, nothing is lost, whatever happens to the
delivery that follows; if another process got there first, its unique ledger rows make this
transaction fail and nothing is stored twice. Only that conflict means "already done": any other
integrity error is a fault and is reported as one.

Each check first records the clock it ran on; a check whose date comes from the clock (the daemon,
``run --once`` without ``--today``) is refused when that clock jumped forward (tracker.ledger).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from sqlmodel import Session, select

from notifications.render import render_digest
from notifications.weekly import ledger_file, light_cells, render_weekly_message, weekly_parts, written_parts
from notifications.workbook_process import WorkbookProcess
from schedules.robot_posts import office_warnings, store_robot_posts, store_weekly_robot_posts
from tracker.bulk import give_back_memory
from tracker.calendar import WorkCalendar
from tracker.db import read_session, write_session
from tracker.directory import Directory, delivery_unit, routing_rows
from tracker.errors import DatabaseStateError, TrackerError
from tracker.ledger import ClockReading, is_claim_conflict, record_check, require_trusted_clock
from tracker.links import unit_link
from tracker.models import ReportRun, Unit
from tracker.outbox import store_check, store_message
from tracker.queries import DERIVED, LightRules
from tracker.reminders import CheckPlan, Policy, plan_check
from tracker.report import Ledger, WeeklyReport, build_weekly_report

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckSettings:
    policy: Policy
    lights: LightRules
    sender: str
    county: str
    subject_prefix: str
    link_base: str = ""  # web.public_url: each digest carries its unit's personal link (tracker.links)
    link_secret: str = ""


@dataclass
class CheckReport:
    today: dt.date
    workday: bool
    messages: int = 0
    notices: int = 0
    unreachable: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped_reason: str = ""
    robot_posts: int = 0

    def to_json(self) -> dict[str, object]:
        return {"today": self.today.isoformat(), "workday": self.workday, "messages": self.messages,
                "notices": self.notices, "unreachable": self.unreachable, "warnings": self.warnings,
                "skipped": self.skipped_reason or None, "robot_posts": self.robot_posts}


def preview_check(engine: Engine, settings: CheckSettings, calendar: WorkCalendar, today: dt.date) -> CheckPlan:
    """What the check of ``today`` would send; writes nothing."""
    with read_session(engine) as session:
        return plan_check(session, today, calendar, settings.policy, settings.lights)


def daily_check(
    engine: Engine, settings: CheckSettings, calendar: WorkCalendar, today: dt.date, now: dt.datetime, *,
    reading: ClockReading | None = None, guard: bool = False,
) -> CheckReport:
    """Decide, render and store the day's digests; nothing on a day that is not a working day.

    With ``reading`` the check is recorded with the clock it ran on; with ``guard`` (the date came from
    that clock) a clock that jumped forward raises ClockError before anything is written.
    """
    def note_clock(session: Session) -> None:  # in the check's own transaction: a failed check leaves no record
        if reading is not None:
            if guard:
                require_trusted_clock(session, today, reading)
            record_check(session, today, reading)

    if not calendar.is_workday(today):
        with write_session(engine) as session:
            note_clock(session)
        return CheckReport(today, workday=False, warnings=calendar.warnings, skipped_reason=f"{today} 不是工作日，不发送提醒。")
    try:
        with write_session(engine) as session:
            note_clock(session)
            plan = plan_check(session, today, calendar, settings.policy, settings.lights)
            office = office_warnings(session, now.tzinfo or dt.timezone.utc)
            link = _links(session, settings, now)
            rendered = (  # rendered as store_check writes them, a block at a time: the day's mail is never held whole
                render_digest(d, sender=settings.sender, now=now, county=settings.county, prefix=settings.subject_prefix,
                              warnings=calendar.warnings + (office[1] if d.recipient in office[0] else []), link=link(d.recipient),
                              unit_links={unit: url for unit in {e.unit for e in d.own if e.on_behalf} if (url := link(unit))})
                for d in plan.digests
            )
            messages = len(store_check(session, plan, rendered, now=now))
            posts = store_robot_posts(session, plan.digests, county=settings.county, prefix=settings.subject_prefix, now=now,
                                      warnings=calendar.warnings, office=office)
    except IntegrityError as exc:
        if not is_claim_conflict(exc, "notice"):
            raise _write_fault(f"{today} 的每日检查", exc) from exc
        log.info("另一个进程已处理 %s 的检查，本次不重复发送。", today)
        return CheckReport(today, workday=True, warnings=calendar.warnings, skipped_reason="另一个进程已完成本次检查。")
    for name in plan.unreachable:
        log.warning("单位“%s”及其上级都没有邮箱，提醒无法送达。", name)
    log.info("%s 检查完成：%d 封邮件，%d 条机器人消息，%d 条提醒。", today, messages, posts, len(plan.notices))
    return CheckReport(today, workday=True, messages=messages, notices=len(plan.notices),
                       unreachable=plan.unreachable, warnings=calendar.warnings, robot_posts=posts)


def _links(session: Session, settings: CheckSettings, now: dt.datetime) -> Callable[[str], str]:
    """The personal link of a digest's recipient unit, or "" when links are not configured."""
    if not (settings.link_base and settings.link_secret):
        return lambda _name: ""
    ids = dict(session.exec(select(Unit.name, Unit.id)).all())
    return lambda name: unit_link(session, settings.link_secret, settings.link_base, ids[name], now) if name in ids else ""


def _write_fault(what: str, exc: IntegrityError) -> DatabaseStateError:
    detail = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
    return DatabaseStateError(
        f"{what}写入数据库时违反了约束（{detail}），本次没有保存任何内容。这不是另一个进程已完成的情形。"
        "请运行 tracker config check 检查数据库版本；如仍出错，请把这条信息交给维护人员。")


@dataclass(frozen=True)
class ReportSettings:
    title: str
    recipients: tuple[str, ...]
    sender: str
    weekday: int
    lights: LightRules
    tz: dt.tzinfo
    folder: Path = Path("reports")  # where a workbook too large to mail is kept (config: [report] folder)
    attachment_max_bytes: int = 10 * 1024 * 1024  # larger workbooks are not attached ([report] attachment_max_mb)
    mail_units_max: int = 500  # above this many units the mail lists only those needing attention ([report] mail_units_max)
    acknowledge_within: int | None = None  # working days after the first reminder before a unit that has not signed is named


def is_report_day(day: dt.date, calendar: WorkCalendar, weekday: int) -> bool:
    """The first working day of the ISO week on or after ``weekday`` (0 = Monday): after a holiday, a later day."""
    if day.weekday() < weekday or not calendar.is_workday(day):
        return False
    earlier = (day - dt.timedelta(days=n) for n in range(1, day.weekday() - weekday + 1))
    return not any(calendar.is_workday(d) for d in earlier)


def iso_week(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class ReportOutcome:
    generated: bool
    text: str


def weekly_report_job(
    engine: Engine, settings: ReportSettings, calendar: WorkCalendar, today: dt.date, now: dt.datetime
) -> ReportOutcome:
    """Store this week's report on the week's first working day (from the configured weekday on); once per ISO week."""
    if not is_report_day(today, calendar, settings.weekday):
        return ReportOutcome(False, "今天不是发送周报的日子。")
    week = iso_week(today)
    try:
        with write_session(engine) as session:
            if session.exec(select(ReportRun).where(ReportRun.week == week)).first():
                return ReportOutcome(False, f"{week} 的周报已发送过。")
            # the workbook is written by a process of its own from the ledger's rows as the report finds them, on
            # another core (notifications.workbook_process); the report is passed on, not kept: store_weekly_messages
            # lets it go before it writes the mail
            with WorkbookProcess(light_cells(), DERIVED) if settings.recipients else contextlib.nullcontext() as writer:
                stored = store_weekly_messages(session, build_weekly_report(
                    session, today, calendar, settings.lights, title=settings.title, tz=settings.tz,
                    acknowledge_within=settings.acknowledge_within, ledger=Ledger(sink=writer.send) if writer else None),
                    settings, now, writer=writer)
            session.add(ReportRun(week=week, as_of=today, message_id=stored[0] if stored else None, created_at=now))
    except IntegrityError as exc:
        if not is_claim_conflict(exc, "reportrun"):
            raise _write_fault(f"{week} 的周报", exc) from exc
        return ReportOutcome(False, f"{week} 的周报已由另一个进程生成。")
    log.info("%s 周报已生成，等待发送。", week)
    return ReportOutcome(True, f"{week} 的周报已生成。")


def store_weekly_messages(session: Session, report: WeeklyReport, settings: ReportSettings, now: dt.datetime,
                          writer: WorkbookProcess | None = None) -> list[int]:
    """Render the report once (the workbook streamed to a file, attached only up to the configured size), address it to
    each configured recipient and put it in the outbox, after the robots' summary; returns the message ids. The
    report's ledger rows are let go once the workbook is written (write the workbook before calling this if you want
    it too). ``writer``: the process that was sent the ledger's rows as the report was built, which completes the
    workbook instead."""
    recipients = report_recipients(session, settings.recipients)
    # the robots' summary first: then nothing after the mail needs the report, and the job lets it go before the
    # mail, tens of megabytes at a province's scale, is written (the database copies it twice as it writes it)
    store_weekly_robot_posts(session, report, [name for name, _ in recipients], now=now)
    if not recipients:
        return []
    if writer is None:
        workbook = ledger_file(report, settings.folder, settings.attachment_max_bytes)
        report.ledger.release()  # the workbook was its only reader
        parts = weekly_parts(report, workbook, units_max=settings.mail_units_max)
    else:
        parts = written_parts(writer, report, settings.folder, settings.attachment_max_bytes, units_max=settings.mail_units_max)
        if writer.peak_bytes:
            log.info("周报的 Excel 台账由单独的进程写入，该进程峰值内存约 %.0f MB。", writer.peak_bytes / 1024 / 1024)
    rendered = [render_weekly_message(report, recipient=recipient, to=to, sender=settings.sender, now=now, parts=parts)
                for recipient, to in recipients]
    as_of = report.as_of
    del parts, report  # the encoded bodies are in the messages now; the daemon's job holds no other reference to the report
    ids = [store_message(session, message, run_date=as_of, now=now, kind="report").id for message in rendered]
    del rendered
    give_back_memory()
    session.flush()
    return ids  # type: ignore[return-value]


def report_recipients(session: Session, names: tuple[str, ...]) -> list[tuple[str, list[str]]]:
    """Each configured recipient unit with the addresses that reach it (the county government through its office)."""
    # plain rows of the named units and those their mail goes through: a province's directory as ORM objects took
    # longer than the rest of the job, and all of it as rows still a tenth of a second
    rows = routing_rows(session, names)
    by_name = {row.name: row for row in rows.values()}
    if all(name in by_name for name in names):
        units: Mapping[int, Any] = rows
        named = [by_name[name] for name in names]
    else:  # an alias or a misspelling: the directory resolves it, or says which names come close
        directory = Directory.load(session)
        units, named = directory.units, [directory.unit(name) for name in names]
    found = []
    for name, wanted in zip(names, named):
        unit = delivery_unit(wanted, units)
        if unit is None:
            raise TrackerError(f"周报收件单位“{name}”没有邮箱，也没有代收单位。请用 tracker units set {name} --email 地址 补充。")
        found.append((unit.name, list(unit.emails)))
    return found
