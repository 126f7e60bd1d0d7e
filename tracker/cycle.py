"""The supervision cycle (督查督办): 交办 → 签收 → 办理/反馈 → 审核 → 办结, or 退回; extension requests.

Every step is a function here, so the CLI and the web pages do the same thing and differ only in
who the actor is: a unit (through its personal link) or the office (a login, or the operator at
the command line). A unit may act only on its own principal assignments: ``unit_assignment`` is
the one place an assignment id coming from outside is turned into a row, and it refuses another
unit's id exactly as it refuses an id that does not exist, so a form cannot probe for others' work.

State changes reuse tracker.status (update_status, extend), so validation and the ``status`` and
``extend`` journal entries are the same as a clerk's; the cycle adds its own entries
(acknowledge, report, review_approve, review_return, extension_request, extension_refuse) with
the actor, so the history shows who signed, who reported and who decided.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from tracker.calendar import WorkCalendar
from tracker.deadlines import DeadlineRule
from tracker.directory import Directory
from tracker.occurrences import period_start
from tracker.errors import AccessError, CycleError
from tracker.models import CLOSED_STATES, Assignment, ExtensionRequest, Item, JournalEntry, Notice, Plan, Unit, UnitReport
from tracker.queries import AssignmentView, ItemFilter, ItemView, LightRules, filter_views, item_dues, load_views
from tracker.plans import active_plan_ids, plan_code, shown_key
from tracker.status import StatusChange, extend, item_dependencies, update_status
from tracker.text import clean_line, clean_text

CYCLE_ACTIONS = {
    "acknowledge": "签收", "report": "反馈", "review_approve": "审核通过（办结）", "review_return": "退回",
    "extension_request": "申请延期", "extension_refuse": "不同意延期",
}
REVIEWS = {"pending": "待审核", "approved": "已办结", "returned": "已退回", "none": "无需审核"}
DECISIONS = {"pending": "待审批", "granted": "已同意", "refused": "不同意"}


def unit_assignment(session: Session, assignment_id: int, unit_id: int) -> tuple[Assignment, Item, Unit]:
    """The unit's own principal assignment with this id, in an active plan; anything else (another unit's, a retired
    one, one of an archived plan, which sends nothing and takes no reports) is refused with the same words."""
    row = session.get(Assignment, assignment_id)
    item = session.get(Item, row.item_id) if row is not None else None
    plan = session.get(Plan, item.plan_id) if item is not None else None
    if (row is None or row.unit_id != unit_id or row.role != "principal" or row.retired
            or plan is None or plan.state != "active"):
        raise AccessError(f"没有找到编号为 {assignment_id} 的本单位任务。请从本单位的任务页面操作。")
    unit = session.get(Unit, unit_id)
    assert item is not None and unit is not None
    return row, item, unit


def _journal(session: Session, now: dt.datetime, by: str, action: str, row: Assignment, item: Item, unit: Unit,
             note: str = "", **details: Any) -> None:
    session.add(JournalEntry(
        at=now, actor=by, action=action, item_key=item.key, unit_name=unit.name, assignment_id=row.id, plan_id=item.plan_id,
        from_state=row.state, to_state=row.state, note=note,
        details={**({"occurrence": row.occurrence} if row.occurrence else {}), **details},
    ))


def _change(session: Session, row: Assignment, item: Item, unit: Unit, change: StatusChange, today: dt.date,
            now: dt.datetime) -> None:
    update_status(session, Directory.load(session), item.key, [unit.name], change, today=today, now=now,
                  occurrence=row.occurrence or None, plan=plan_code(session, item))


def acknowledge(session: Session, assignment_id: int, *, unit_id: int, by: str, now: dt.datetime) -> bool:
    """签收: the unit says it has the task. False when it had already signed (nothing is written)."""
    row, item, unit = unit_assignment(session, assignment_id, unit_id)
    if row.acknowledged_at is not None:
        return False
    _journal(session, now, clean_line(by), "acknowledge", row, item, unit)
    row.acknowledged_at, row.acknowledged_by = now, clean_line(by)
    session.add(row)
    session.flush()
    return True


def review_required(item: Item, setting: str) -> bool:
    """Whether a completion report of this item waits for the office (config ``cycle.review``)."""
    if setting:
        return setting == "required"
    return DeadlineRule.from_json(item.deadline).kind != "recurring"


def _pending(session: Session, assignment_id: int) -> UnitReport | None:
    return session.exec(select(UnitReport).where(UnitReport.assignment_id == assignment_id,
                                                 UnitReport.review == "pending")).first()


def report(
    session: Session, assignment_id: int, *, unit_id: int, kind: str, by: str, today: dt.date, now: dt.datetime,
    progress: int | None = None, completed_on: dt.date | None = None, note: str = "", evidence: str = "",
    files: list[dict[str, Any]] | None = None, review: str = "",
) -> UnitReport:
    """A unit's report: ``progress`` (0–100 with a note, and evidence or files if it has any) or ``done`` (a date,
    evidence, files). 100 % is "the work is finished" while the unit gathers what it reports completion with: the
    assignment becomes done only by a completion report (a date), never by a percentage.

    A completion that needs review changes nothing yet: it waits, and the unit cannot report again
    until the office decides. Otherwise the assignment changes at once, as if a clerk had typed it.
    Signing is implied: a unit that reports has the task.
    """
    row, item, unit = unit_assignment(session, assignment_id, unit_id)
    note, evidence, by = clean_text(note), clean_text(evidence), clean_line(by)
    files = files or []
    if row.state in ("done", "na"):
        raise CycleError(f"事项 {item.key} 已是“{'已完成' if row.state == 'done' else '不适用'}”，无需再反馈。如有变化请联系县政府办公室。")
    if _pending(session, assignment_id) is not None:
        raise CycleError(f"事项 {item.key} 已有完成情况在等待县政府办公室审核，审核结果出来之前不能再次反馈。")
    if kind == "progress":
        if progress is None or not 0 <= progress <= 100:
            raise CycleError(f"进度应为 0 到 100 之间的整数（填了 {progress}）；已全部完成请用“报告完成”并写明完成日期。")
        if not note.strip():
            raise CycleError("反馈进度时请写明进展情况。")
    elif kind == "done":
        if completed_on is None:
            raise CycleError("报告完成时请填写完成日期。")
        if completed_on > today:
            raise CycleError(f"完成日期 {completed_on} 晚于今天（{today}），不能报告未来的完成日期。")
        earliest, what = earliest_completion(session, item, row)
        if earliest is not None and completed_on < earliest:
            raise CycleError(f"完成日期 {completed_on} 早于{what}（{earliest}），不可能在此之前完成。请核对日期（格式 YYYY-MM-DD）。")
        if not evidence.strip() and not files:
            raise CycleError("报告完成时请写明佐证材料（文号、网址等）或上传佐证文件。")
    else:
        raise CycleError(f"未知的反馈类型“{kind}”。")
    needs_review = kind == "done" and review_required(item, review)
    entry = UnitReport(
        assignment_id=assignment_id, kind=kind, progress=100 if kind == "done" else int(progress or 0),
        completed_on=completed_on, note=note, evidence=evidence, files=files, submitted_at=now, submitted_by=by,
        review="pending" if needs_review else "none",
    )
    session.add(entry)
    _flush_one_pending(session, f"事项 {item.key} 已有完成情况在等待县政府办公室审核（可能刚刚从另一个窗口提交），审核结果出来之前不能再次反馈。")
    if row.acknowledged_at is None:
        _journal(session, now, by, "acknowledge", row, item, unit)
        row.acknowledged_at, row.acknowledged_by = now, by
        session.add(row)
    _journal(session, now, by, "report", row, item, unit, note, report_id=entry.id, kind=kind,
             completed_on=completed_on.isoformat() if completed_on else None, files=[f["name"] for f in files],
             review=entry.review)
    if kind == "progress":
        _change(session, row, item, unit, StatusChange(state="in_progress" if progress == 100 else None, progress=progress,
                                                       note=note, by=by, evidence=_evidence_text(entry),
                                                       source=f"单位反馈 #{entry.id}"), today, now)
    elif not needs_review:
        _change(session, row, item, unit, StatusChange(state="done", on=completed_on, note=note, by=by,
                                                       evidence=_evidence_text(entry), source=f"单位反馈 #{entry.id}"),
                today, now)
    session.flush()
    return entry


def earliest_completion(session: Session, item: Item, row: Assignment) -> tuple[dt.date | None, str]:
    """The first day a completion can fall on, and what it is: the occurrence's period start for a recurring duty,
    else the plan's start (its 起始日期, or 1 January of its plan year); (None, "") when the plan says neither."""
    if row.occurrence:
        rule = DeadlineRule.from_json(item.deadline)
        if rule.every:
            return period_start(rule.every, row.occurrence), f"本期（{row.occurrence}）的开始日期"
    plan = session.get(Plan, item.plan_id)  # the item's own plan: plans start at different dates
    if plan is not None and plan.starts_on is not None:
        return plan.starts_on, "工作计划的开始日期"
    if plan is not None and plan.plan_year:
        return dt.date(plan.plan_year, 1, 1), f"计划年度 {plan.plan_year} 年的第一天"
    return None, ""


def _flush_one_pending(session: Session, message: str) -> None:
    """Write the new pending row; the partial unique index refuses a second one that a concurrent request just wrote
    (the check before it could not see that request's row), which the unit is told as if it had been seen."""
    try:
        session.flush()
    except IntegrityError as exc:
        found = str(exc.orig)  # PostgreSQL names the index; SQLite names the column
        if not any(name in found for name in ("_one_pending", "unitreport.assignment_id", "extensionrequest.assignment_id")):
            raise
        raise CycleError(message) from exc


def _evidence_text(entry: UnitReport) -> str:
    names = "、".join(f["name"] for f in entry.files)
    return "；".join(part for part in (entry.evidence, f"附件：{names}" if names else "") if part)


def _assignment(session: Session, assignment_id: int) -> tuple[Assignment, Item, Unit]:
    """The assignment a stored report or request is about (the office's side: no ownership to check)."""
    row = session.get(Assignment, assignment_id)
    assert row is not None
    item, unit = session.get(Item, row.item_id), session.get(Unit, row.unit_id)
    assert item is not None and unit is not None
    return row, item, unit


def _report_for_review(session: Session, report_id: int) -> tuple[UnitReport, Assignment, Item, Unit]:
    entry = session.get(UnitReport, report_id)
    if entry is None:
        raise CycleError(f"没有编号为 {report_id} 的单位反馈。可用 tracker review list 查看待审核的反馈。")
    return entry, *_assignment(session, entry.assignment_id)


def approve(session: Session, report_id: int, *, by: str, today: dt.date, now: dt.datetime, note: str = "") -> UnitReport:
    """办结: the assignment is done on the date the unit reported, not the day the office got round to it."""
    entry, row, item, unit = _report_for_review(session, report_id)
    if entry.review != "pending":
        raise CycleError(f"反馈 #{report_id}（{unit.name}，事项 {item.key}）不在待审核状态（{REVIEWS[entry.review]}）。")
    if row.state in CLOSED_STATES or row.retired:
        now_is = "已移出计划" if row.retired else {"done": "已完成", "na": "不适用"}.get(row.state, row.state)
        raise CycleError(f"反馈 #{report_id}（{unit.name}，事项 {item.key}）提交后，该任务已被改为“{now_is}”，审核通过会推翻这一决定，"
                         f"因此不予办理。如确需按单位的报告办结，请先用 tracker status 把任务改回进行中，再审核；"
                         f"否则请用 tracker review return {report_id} --reason 原因 退回。")
    by, note = clean_line(by), clean_text(note)
    _journal(session, now, by, "review_approve", row, item, unit, note, report_id=entry.id,
             completed_on=entry.completed_on.isoformat() if entry.completed_on else None)
    _change(session, row, item, unit, StatusChange(state="done", on=entry.completed_on, note=entry.note, by=by,
                                                   evidence=_evidence_text(entry), force=True,
                                                   source=f"审核通过单位反馈 #{entry.id}"), today, now)
    entry.review, entry.reviewed_at, entry.reviewed_by, entry.review_note = "approved", now, by, note
    session.add(entry)
    session.flush()
    return entry


def return_report(session: Session, report_id: int, *, reason: str, by: str, today: dt.date, now: dt.datetime) -> UnitReport:
    """退回: the unit sees the reason and the assignment is open again (a completion that had counted is undone)."""
    entry, row, item, unit = _report_for_review(session, report_id)
    by, reason = clean_line(by), clean_text(reason)
    if not reason.strip():
        raise CycleError("退回时必须写明原因（单位会看到），例如：佐证材料缺少盖章文件。")
    latest = session.exec(select(UnitReport).where(UnitReport.assignment_id == row.id, UnitReport.kind == "done")
                          .order_by(col(UnitReport.id).desc())).first()
    if entry.kind != "done" or entry.review not in ("pending", "none", "approved") or latest is not entry:
        raise CycleError(f"反馈 #{report_id} 不能退回：只能退回单位最近一次的完成报告。")
    if entry.review != "pending" and row.state != "done":
        raise CycleError(f"反馈 #{report_id} 对应的任务已不是“已完成”，无需退回。")
    _journal(session, now, by, "review_return", row, item, unit, reason, report_id=entry.id)
    if row.state == "done":
        _change(session, row, item, unit, StatusChange(state="in_progress", note=f"退回：{reason}", by=by, force=True,
                                                       source=f"退回单位反馈 #{entry.id}"), today, now)
    entry.review, entry.reviewed_at, entry.reviewed_by, entry.review_note = "returned", now, by, reason
    session.add(entry)
    session.flush()
    return entry


def current_due(session: Session, item: Item, row: Assignment, calendar: WorkCalendar) -> dt.date | None:
    """The assignment's effective deadline: an extension, else its occurrence's or its item's due date."""
    if row.extended_due is not None:
        return row.extended_due
    if row.occurrence:
        return row.occurrence_due
    return item_dues(session, [item, *item_dependencies(session, item)], calendar)[item.id][0]  # type: ignore[index]


def request_extension(
    session: Session, assignment_id: int, *, unit_id: int, to: dt.date, reason: str, by: str, today: dt.date,
    now: dt.datetime, calendar: WorkCalendar,
) -> ExtensionRequest:
    """A unit asks for more time; only before its deadline (after it the item is simply overdue)."""
    row, item, unit = unit_assignment(session, assignment_id, unit_id)
    reason, by = clean_text(reason), clean_line(by)
    due = current_due(session, item, row, calendar)
    if row.state in ("done", "na"):
        raise CycleError(f"事项 {item.key} 已完成或不适用，不能申请延期。")
    if due is None:
        raise CycleError(f"事项 {item.key} 目前没有确定的期限（{item.deadline_text}），无需申请延期。")
    if today > due:
        raise CycleError(f"事项 {item.key} 的期限 {due} 已过，不能再申请延期：延期须在期限之前申请。该任务仍按逾期处理，请尽快完成。")
    if to <= due:
        raise CycleError(f"申请延期到的日期 {to} 不晚于当前期限 {due}。")
    if not reason.strip():
        raise CycleError("申请延期时必须写明原因。")
    waiting = session.exec(select(ExtensionRequest).where(ExtensionRequest.assignment_id == assignment_id,
                                                          ExtensionRequest.decision == "pending")).first()
    if waiting is not None:
        raise CycleError(f"事项 {item.key} 已有延期申请（到 {waiting.proposed_due}）在等待审批。")
    request = ExtensionRequest(assignment_id=assignment_id, current_due=due, proposed_due=to, reason=reason,
                               requested_at=now, requested_by=by)
    session.add(request)
    _flush_one_pending(session, f"事项 {item.key} 已有延期申请在等待审批（可能刚刚从另一个窗口提交）。")
    _journal(session, now, by, "extension_request", row, item, unit, reason, request_id=request.id,
             from_due=due.isoformat(), to_due=to.isoformat())
    session.flush()
    return request


def _request(session: Session, request_id: int) -> tuple[ExtensionRequest, Assignment, Item, Unit]:
    request = session.get(ExtensionRequest, request_id)
    if request is None:
        raise CycleError(f"没有编号为 {request_id} 的延期申请。可用 tracker extension list 查看待审批的申请。")
    if request.decision != "pending":
        raise CycleError(f"延期申请 #{request_id} 已处理（{DECISIONS[request.decision]}），不能再次审批。")
    return request, *_assignment(session, request.assignment_id)


def grant_extension(session: Session, request_id: int, *, by: str, now: dt.datetime, calendar: WorkCalendar,
                    to: dt.date | None = None, note: str = "") -> ExtensionRequest:
    """The office grants (to the date asked, or to an earlier or later one it decides): a new effective deadline."""
    request, row, item, unit = _request(session, request_id)
    by, note = clean_line(by), clean_text(note)
    reason = f"同意单位延期申请 #{request.id}：{request.reason}" + (f"（{note}）" if note else "")
    extend(session, Directory.load(session), item.key, [unit.name], to or request.proposed_due, reason, by=by,
           calendar=calendar, now=now, occurrence=row.occurrence or None, plan=plan_code(session, item))
    request.decision, request.decided_at, request.decided_by, request.decision_note = "granted", now, by, note
    if to is not None and to != request.proposed_due:
        request.decision_note = f"批准延期到 {to}" + (f"；{note}" if note else "")
    session.add(request)
    session.flush()
    return request


def refuse_extension(session: Session, request_id: int, *, reason: str, by: str, now: dt.datetime) -> ExtensionRequest:
    request, row, item, unit = _request(session, request_id)
    by, reason = clean_line(by), clean_text(reason)
    if not reason.strip():
        raise CycleError("不同意延期时必须写明理由（单位会看到）。")
    _journal(session, now, by, "extension_refuse", row, item, unit, reason, request_id=request.id)
    request.decision, request.decided_at, request.decided_by, request.decision_note = "refused", now, by, reason
    session.add(request)
    session.flush()
    return request


# ---- reads shared by the CLI, the pages and the API ----------------------------------------------------------


@dataclass
class QueueEntry:
    """A report waiting for review, or an extension request, with what the office needs to decide."""

    id: int
    item: str
    title: str
    unit: str
    occurrence: str
    at: dt.datetime
    by: str
    row: UnitReport | ExtensionRequest

    def to_json(self, tz: dt.tzinfo) -> dict[str, Any]:
        base = {"id": self.id, "item": self.item, "title": self.title, "unit": self.unit,
                "occurrence": self.occurrence or None, "at": self.at.astimezone(tz).isoformat(), "by": self.by}
        r = self.row
        if isinstance(r, UnitReport):
            return {**base, "kind": r.kind, "completed_on": _iso(r.completed_on), "note": r.note, "evidence": r.evidence,
                    "files": [{"name": f["name"], "size": f["size"], "sha256": f["sha256"]} for f in r.files],
                    "review": r.review, "review_note": r.review_note}
        return {**base, "current_due": r.current_due.isoformat(), "proposed_due": r.proposed_due.isoformat(),
                "reason": r.reason, "decision": r.decision, "decision_note": r.decision_note}


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def _as_utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _keys(session: Session) -> Any:
    """How a queue names an item: ``CODE:KEY`` once the database holds several plans, the bare key before."""
    codes = {p.id: p.code for p in session.exec(select(Plan)).all()}
    return lambda item: shown_key(codes.get(item.plan_id, ""), item.key, len(codes) > 1)


def review_queue(session: Session) -> list[QueueEntry]:
    """Completion reports of the active plans waiting for the office, oldest first (an archived plan leaves the
    queues as it leaves the report, so the dashboard and the 通报 count the same)."""
    rows = session.exec(select(UnitReport, Assignment, Item, Unit).join(Assignment, Assignment.id == UnitReport.assignment_id)
                        .join(Item, Item.id == Assignment.item_id).join(Unit, Unit.id == Assignment.unit_id)
                        .where(UnitReport.review == "pending", col(Item.plan_id).in_(active_plan_ids(session)))
                        .order_by(UnitReport.id)).all()
    key = _keys(session)
    return [QueueEntry(r.id, key(i), i.title, u.name, a.occurrence, _as_utc(r.submitted_at), r.submitted_by, r)  # type: ignore[arg-type]
            for r, a, i, u in rows]


def waiting_for_review(session: Session, as_of: dt.date, tz: dt.tzinfo, plan_ids: list[int] | None = None) -> int:
    """How many completion reports (of the plans ``plan_ids``, or all) were waiting for the office at the end of
    ``as_of``: submitted by then, and still pending or decided only after it."""
    query = select(UnitReport.submitted_at, UnitReport.reviewed_at).where(UnitReport.kind == "done", UnitReport.review != "none")
    if plan_ids is not None:
        query = (query.join(Assignment, Assignment.id == UnitReport.assignment_id).join(Item, Item.id == Assignment.item_id)
                 .where(col(Item.plan_id).in_(plan_ids)))
    rows = session.exec(query).all()
    return sum(1 for submitted, reviewed in rows if _as_utc(submitted).astimezone(tz).date() <= as_of
               and (reviewed is None or _as_utc(reviewed).astimezone(tz).date() > as_of))


def extension_queue(session: Session, *, all_decisions: bool = False) -> list[QueueEntry]:
    query = (select(ExtensionRequest, Assignment, Item, Unit).join(Assignment, Assignment.id == ExtensionRequest.assignment_id)
             .join(Item, Item.id == Assignment.item_id).join(Unit, Unit.id == Assignment.unit_id))
    query = query.where(col(Item.plan_id).in_(active_plan_ids(session)))
    if not all_decisions:
        query = query.where(ExtensionRequest.decision == "pending")
    key = _keys(session)
    return [QueueEntry(r.id, key(i), i.title, u.name, a.occurrence, _as_utc(r.requested_at), r.requested_by, r)  # type: ignore[arg-type]
            for r, a, i, u in session.exec(query.order_by(ExtensionRequest.id)).all()]


@dataclass
class UnitTask:
    """One assignment as its unit sees it: the derived view, whether signed, the last returned report, open requests."""

    item: ItemView
    view: AssignmentView
    acknowledged_at: dt.datetime | None
    reports: list[UnitReport]
    requests: list[ExtensionRequest]

    @property
    def pending_report(self) -> UnitReport | None:
        return next((r for r in self.reports if r.review == "pending"), None)

    @property
    def returned(self) -> UnitReport | None:
        """The last completion report, when the office sent it back (shown until the unit reports again)."""
        done = [r for r in self.reports if r.kind == "done"]
        return done[-1] if done and done[-1].review == "returned" else None

    @property
    def pending_request(self) -> ExtensionRequest | None:
        return next((r for r in self.requests if r.decision == "pending"), None)

    @property
    def open(self) -> bool:
        return self.view.state not in ("done", "na")

    def to_json(self, tz: dt.tzinfo) -> dict[str, Any]:
        returned = self.returned
        return {
            "assignment_id": self.view.id, "item": self.item.item.key, "title": self.item.item.title,
            **self.view.to_json(), "acknowledged_at": self.acknowledged_at.astimezone(tz).isoformat() if self.acknowledged_at else None,
            "waiting_for_review": self.pending_report is not None,
            "returned_reason": returned.review_note if returned else None,
            "extension_request": ({"proposed_due": self.pending_request.proposed_due.isoformat(),
                                   "reason": self.pending_request.reason} if self.pending_request else None),
        }


@dataclass
class PlanGroup:
    """The tasks of one plan; a page lists one group per active plan that gives the unit work."""

    title: str
    tasks: list[UnitTask] = field(default_factory=list)


def unit_tasks(session: Session, unit_id: int, today: dt.date, calendar: WorkCalendar, lights: LightRules) -> list[PlanGroup]:
    """Every principal assignment of one unit (nobody else's) in the active plans, grouped by plan in plan order,
    with its cycle state."""
    views = filter_views(load_views(session, today, calendar, lights), ItemFilter(unit_ids=frozenset({unit_id})), today)
    pairs = [(v, a) for v in views for a in v.principals]
    ids = [a.id for _v, a in pairs]
    reports: dict[int, list[UnitReport]] = {i: [] for i in ids}
    for r in session.exec(select(UnitReport).where(col(UnitReport.assignment_id).in_(ids)).order_by(UnitReport.id)).all():
        reports[r.assignment_id].append(r)
    requests: dict[int, list[ExtensionRequest]] = {i: [] for i in ids}
    for q in session.exec(select(ExtensionRequest).where(col(ExtensionRequest.assignment_id).in_(ids))
                          .order_by(ExtensionRequest.id)).all():
        requests[q.assignment_id].append(q)
    signed = dict(session.exec(select(Assignment.id, Assignment.acknowledged_at).where(col(Assignment.id).in_(ids))).all())
    tasks = [UnitTask(v, a, _as_utc(signed[a.id]) if signed.get(a.id) else None, reports[a.id], requests[a.id])
             for v, a in pairs]
    groups: dict[str, PlanGroup] = {}
    for task in tasks:
        groups.setdefault(task.item.plan, PlanGroup(task.item.plan_title or task.item.plan)).tasks.append(task)
    return list(groups.values())


def unsigned(session: Session, today: dt.date, calendar: WorkCalendar, within_days: int, *,
             tz: dt.tzinfo = dt.timezone.utc, plan_ids: list[int] | None = None) -> list[tuple[str, str, dt.date]]:
    """(unit, item, first reminder day) of open assignments not signed for within ``within_days`` working days of
    their first reminder: the clock starts when the unit was first told, not when the plan was imported. As it stood
    at the end of ``today`` (days in ``tz``): reminders sent later and signatures given later do not count. Of the
    active plans, or of ``plan_ids``; items are named ``CODE:KEY`` once there are several plans."""
    first = (select(Notice.assignment_id, Notice.sent_on, Assignment.acknowledged_at)
             .join(Assignment, Assignment.id == Notice.assignment_id)
             .where(Assignment.role == "principal", Assignment.retired == False,  # noqa: E712
                    col(Assignment.state).in_(("not_started", "in_progress")), Notice.sent_on <= today))
    earliest: dict[int, dt.date] = {}
    for assignment_id, sent_on, signed in session.exec(first).all():
        if signed is not None and _as_utc(signed).astimezone(tz).date() <= today:
            continue
        if assignment_id not in earliest or sent_on < earliest[assignment_id]:
            earliest[assignment_id] = sent_on
    late = {i: d for i, d in earliest.items() if calendar.add_working_days(d, within_days) < today}
    if not late:
        return []
    wanted = plan_ids if plan_ids is not None else active_plan_ids(session)
    rows = session.exec(select(Assignment.id, Unit.name, Item).join(Unit, Unit.id == Assignment.unit_id)
                        .join(Item, Item.id == Assignment.item_id)
                        .where(col(Assignment.id).in_(list(late)), col(Item.plan_id).in_(wanted))).all()
    key = _keys(session)
    return sorted((unit, key(item), late[i]) for i, unit, item in rows)


def assignment_history(session: Session, assignment_id: int) -> list[JournalEntry]:
    return list(session.exec(select(JournalEntry).where(JournalEntry.assignment_id == assignment_id)
                             .order_by(JournalEntry.at, JournalEntry.id)).all())
