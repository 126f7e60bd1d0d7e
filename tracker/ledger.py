"""The reminder ledger's guard rails: which clock dated a check, and undoing checks made for the wrong dates.

A check claims the stages due up to its day in the ledger (``Notice``), and a claimed stage is
never notified again. So a check dated in the future, by a mistyped ``--today`` or by a system
clock that jumped, silences the real reminders of every date up to it. Each check therefore
records the clock it ran on (``CheckRun``): the wall time and the seconds since the machine
booted, which no clock change moves. A later check whose date is more than a day past the last
one is trusted only if the wall clock advanced no more than a day beyond the time that really
passed; across a reboot nothing can be measured and the operator confirms the date. ``rewind``
repairs a mistake: it removes ledger rows, unsent messages and report claims made for later dates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import delete, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from tracker.errors import ClockError
from tracker.models import CheckRun, JournalEntry, Notice, OutboxBody, OutboxMessage, ReportRun

ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class ClockReading:
    """What the real clock said, read once at the edge, with this boot's id and the seconds since boot."""

    at: dt.datetime
    boot_id: str
    uptime: float


def record_check(session: Session, day: dt.date, reading: ClockReading, *, kind: str = "check", actor: str = "") -> None:
    session.add(CheckRun(kind=kind, day=day, at=reading.at, boot_id=reading.boot_id, uptime=reading.uptime, actor=actor))


def last_check(session: Session) -> CheckRun | None:
    return session.exec(select(CheckRun).order_by(CheckRun.id.desc()).limit(1)).first()  # type: ignore[union-attr]


def clock_jump(last: CheckRun | None, day: dt.date, reading: ClockReading) -> str | None:
    """Why a check of ``day`` by this clock cannot be trusted, or None when it can (see the module docstring)."""
    if last is None or day <= last.day + ONE_DAY:
        return None
    same_boot = bool(last.boot_id) and last.boot_id == reading.boot_id and reading.uptime >= last.uptime
    if same_boot:
        passed = dt.timedelta(seconds=reading.uptime - last.uptime)
        if reading.at - last.at <= passed + ONE_DAY:
            return None
        why = f"其间实际只过去了 {_span(passed)}，系统时钟却向前跳了 {_span(reading.at - last.at)}"
    else:
        why = "其间本机重启过（或换了机器），无法核实时钟"
    return (f"上次检查的日期是 {last.day}，系统时钟现在是 {day}，{why}。为免把将来日期的提醒提前记入台账（到那天就不再发送），"
            f"本次不检查、不生成周报（已排队的邮件照常发送）。如果 {day} 确是今天，请运行 tracker ledger confirm-date {day}；"
            "否则请先校正系统时间。")


def _span(delta: dt.timedelta) -> str:
    return f"{delta.days} 天" if delta.days else f"{int(delta.total_seconds() // 60)} 分钟"


def require_trusted_clock(session: Session, day: dt.date, reading: ClockReading) -> None:
    problem = clock_jump(last_check(session), day, reading)
    if problem:
        raise ClockError(problem)


def is_claim_conflict(exc: IntegrityError, table: str) -> bool:
    """Whether an integrity error is a unique-key conflict on ``table`` (another process's claim), not another fault."""
    orig = exc.orig
    diag = getattr(orig, "diag", None)
    if diag is not None:  # PostgreSQL: unique_violation on that table
        return getattr(orig, "sqlstate", None) == "23505" and diag.table_name == table
    return str(orig).startswith(f"UNIQUE constraint failed: {table}.")


@dataclass
class RewindReport:
    after: dt.date
    notices: int = 0
    messages: int = 0
    reports: int = 0
    checks: int = 0
    sent_kept: int = 0
    sending: int = 0
    dates: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"after": self.after.isoformat(), "notices": self.notices, "messages": self.messages, "reports": self.reports,
                "checks": self.checks, "sent_kept": self.sent_kept, "sending": self.sending, "dates": self.dates}


def rewind(session: Session, after: dt.date, *, now: dt.datetime, actor: str, write: bool) -> RewindReport:
    """Remove what checks dated after ``after`` wrote: ledger rows, unsent messages, weekly-report claims, check records.

    Messages already sent cannot be recalled: they are kept and counted. A message being sent
    right now is refused (stop ``tracker run`` first): deleting it under the sender would lose its outcome.
    """
    report = RewindReport(after)
    later_messages = select(OutboxMessage.id).where(OutboxMessage.run_date > after)
    unsent = later_messages.where(OutboxMessage.state.in_(["pending", "failed"]))  # type: ignore[attr-defined]
    count = lambda query: session.exec(select(func.count()).select_from(query.subquery())).one()  # noqa: E731
    report.notices = count(select(Notice.id).where(Notice.sent_on > after))
    report.messages = count(unsent)
    report.reports = count(select(ReportRun.id).where(ReportRun.as_of > after))
    report.checks = count(select(CheckRun.id).where(CheckRun.day > after))
    report.sent_kept = count(later_messages.where(OutboxMessage.state == "sent"))
    report.sending = count(later_messages.where(OutboxMessage.state == "sending"))
    report.dates = [d.isoformat() for d in session.exec(
        select(Notice.sent_on).where(Notice.sent_on > after).distinct().order_by(Notice.sent_on)).all()]
    if not write:
        return report
    if report.sending:
        raise ClockError(f"有 {report.sending} 封 {after} 之后日期的邮件正在发送。请先停止 tracker run，再运行本命令。")
    unsent_ids = list(session.exec(unsent).all())
    session.exec(delete(ReportRun).where(ReportRun.as_of > after))  # type: ignore[call-overload]
    session.exec(delete(Notice).where(Notice.sent_on > after))  # type: ignore[call-overload]
    session.exec(delete(CheckRun).where(CheckRun.day > after))  # type: ignore[call-overload]
    if unsent_ids:
        session.exec(delete(OutboxBody).where(OutboxBody.id.in_(unsent_ids)))  # type: ignore[call-overload,attr-defined]
        session.exec(delete(OutboxMessage).where(OutboxMessage.id.in_(unsent_ids)))  # type: ignore[call-overload,attr-defined]
    session.add(JournalEntry(at=now, actor=actor, action="rewind", note=f"撤销 {after} 之后日期的提醒台账",
                             details=report.to_json()))
    session.flush()
    return report
