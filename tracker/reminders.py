"""Deciding who is told what on a given day: stages, the ledger, digests and escalations.

The policy (domain.md, numbers from config.toml): reminders 30/14/7/3/1 days before the deadline
and on the day, sent on the previous working day when that day is not one; overdue notices on the
first working day after the deadline and then every 7 days, each moved to the next working day,
escalated to the lead and guiding units and the county office. Only the latest stage due is ever
sent, so a daemon that was down does not send a burst of stale reminders.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from collections.abc import Callable
from typing import Any

from sqlalchemy import exists, func
from sqlmodel import Session, select

from tracker.calendar import WorkCalendar
from tracker.directory import Directory
from tracker.models import Assignment, Notice, Unit
from tracker.queries import OPEN_STATES, AssignmentView, ItemView, LightRules, PlanContext, assignment_rows



@dataclass(frozen=True)
class Policy:
    before_days: tuple[int, ...] = (30, 14, 7, 3, 1)
    on_due_day: bool = True
    overdue_every_days: int = 7
    escalate_to: frozenset[str] = frozenset({"lead", "guiding", "county_office"})


@dataclass(frozen=True)
class Stage:
    name: str
    rank: int
    send_on: dt.date


def stage_label(name: str) -> str:
    if name == "due":
        return "今日到期"
    kind, _, number = name.partition("-")
    return f"{number}天后到期" if kind == "before" else f"已逾期（第{number}次通知）"


def stages_until(due: dt.date, today: dt.date, calendar: WorkCalendar, policy: Policy) -> list[Stage]:
    """Every stage of a deadline whose sending day is on or before ``today``, in order of rank."""
    found = []
    for days in sorted(policy.before_days, reverse=True):
        send_on = calendar.previous_workday(due - dt.timedelta(days=days))
        if send_on <= today:
            found.append(Stage(f"before-{days}", -days, send_on))
    if policy.on_due_day:
        send_on = calendar.previous_workday(due)
        if send_on <= today:
            found.append(Stage("due", 0, send_on))
    first = calendar.next_workday(due + dt.timedelta(days=1))
    number = 1
    while True:
        send_on = calendar.next_workday(first + dt.timedelta(days=policy.overdue_every_days * (number - 1)))
        if send_on > today:
            break
        found.append(Stage(f"overdue-{number}", number, send_on))
        number += 1
    return found


def latest_stage(due: dt.date, today: dt.date, calendar: WorkCalendar, policy: Policy) -> Stage | None:
    """The stage to notify on ``today``: the highest-ranked one already due, or None."""
    if today < calendar.previous_workday(due - dt.timedelta(days=max(policy.before_days, default=0))):
        return None
    stages = stages_until(due, today, calendar, policy)
    return max(stages, key=lambda s: s.rank) if stages else None


@dataclass
class DigestEntry:
    item: str
    title: str
    unit: str
    role: str
    stage: str
    due: dt.date
    days_left: int
    light: str
    escalation: bool = False
    on_behalf: bool = False
    note: str = ""

    @property
    def stage_label(self) -> str:
        return stage_label(self.stage)

    def to_json(self) -> dict[str, object]:
        return {"item": self.item, "unit": self.unit, "role": self.role, "stage": self.stage, "due": self.due.isoformat(),
                "days_left": self.days_left, "light": self.light, "escalation": self.escalation}


@dataclass
class Digest:
    recipient: str
    to: list[str]
    run_date: dt.date
    entries: list[DigestEntry] = field(default_factory=list)

    @property
    def own(self) -> list[DigestEntry]:
        return [e for e in self.entries if not e.escalation]

    @property
    def escalations(self) -> list[DigestEntry]:
        return [e for e in self.entries if e.escalation]


@dataclass(frozen=True)
class PlannedNotice:
    assignment_id: int
    due_on: dt.date
    stage: str
    rank: int
    recipient: str


@dataclass
class CheckPlan:
    """What one daily check would send: the digests, and the ledger rows that claim them."""

    today: dt.date
    digests: list[Digest]
    notices: list[PlannedNotice]
    unreachable: list[str]


def delivery_unit(unit: Unit, directory: Directory) -> Unit | None:
    """The unit whose addresses receive ``unit``'s mail: itself, its 'via' unit, or its nearest parent with one."""
    seen: set[int | None] = set()
    current: Unit | None = unit
    while current is not None and current.id not in seen:
        if current.emails:
            return current
        seen.add(current.id)
        nxt = current.via_id or current.parent_id
        current = directory.units.get(nxt) if nxt else None
    return None


def _extended_ledger(session: Session) -> dict[tuple[int, dt.date], int]:
    """The highest stage already notified for each (assignment, deadline) of the assignments that were extended."""
    query = (select(Notice.assignment_id, Notice.due_on, func.max(Notice.rank))
             .join(Assignment, Assignment.id == Notice.assignment_id).where(Assignment.extended_due != None))  # noqa: E711
    rows = session.exec(query.group_by(Notice.assignment_id, Notice.due_on)).all()
    return {(assignment_id, due_on): rank for assignment_id, due_on, rank in rows}


class _Escalation:
    """Who hears about overdue work: worked out once per item (and parent unit), not once per late assignment."""

    def __init__(self, directory: Directory, policy: Policy) -> None:
        units = list(directory.units.values())
        self.by_name = {u.name: u for u in units}
        self.offices = {u.id: u for u in units if u.kind == "office"}
        self.policy = policy
        self._cache: dict[tuple[str, int | None], list[tuple[Unit, str]]] = {}

    def county_offices(self, leads: list[Unit], guiding: list[Unit]) -> list[Unit]:
        """The county office; where several counties share a database, the one of the row's county."""
        if len(self.offices) <= 1:
            return list(self.offices.values())
        ids = {u.via_id for u in leads} | {u.id for u in [*leads, *guiding]}
        return [self.offices[i] for i in sorted(i for i in ids if i in self.offices)]  # type: ignore[type-var]

    def targets(self, view: ItemView, assignee: Unit) -> list[tuple[Unit, str]]:
        key = (view.item.key, assignee.parent_id)
        if key not in self._cache:
            self._cache[key] = self._targets(view, assignee.parent_id)
        return [(u, role) for u, role in self._cache[key] if u.id != assignee.id]

    def _targets(self, view: ItemView, parent_id: int | None) -> list[tuple[Unit, str]]:
        leads = [self.by_name[n] for n in view.lead]
        guiding = [self.by_name[n] for n in view.guiding]
        found: list[tuple[Unit, str]] = []
        if "lead" in self.policy.escalate_to:
            parent = [u for u in leads if u.id == parent_id]
            found += [(u, "lead") for u in (parent or leads)]
        if "guiding" in self.policy.escalate_to:
            found += [(u, "guiding") for u in guiding]
        if "county_office" in self.policy.escalate_to:
            found += [(u, "county_office") for u in self.county_offices(leads, guiding)]
        return found


def plan_check(
    session: Session, today: dt.date, calendar: WorkCalendar, policy: Policy, lights: LightRules
) -> CheckPlan:
    """Everything the daily check of ``today`` should notify, grouped into one digest per recipient.

    The database is asked only for open assignments whose latest due stage is not in the ledger yet:
    one query per distinct deadline, so a province's check reads what it sends, not the whole plan.
    """
    directory = Directory.load(session)
    context = PlanContext.load(session, calendar, unit_names={i: u.name for i, u in directory.units.items()})
    stage_of: dict[dt.date, Stage | None] = {}

    def stage(due: dt.date) -> Stage | None:
        if due not in stage_of:
            stage_of[due] = latest_stage(due, today, calendar, policy)
        return stage_of[due]

    by_due: dict[dt.date, list[int]] = defaultdict(list)
    for item in context.items:
        due = context.dues[item.key][0]
        if due is not None and item.deadline.get("kind") not in ("ongoing", "recurring") and stage(due):
            by_due[due].append(item.id)  # type: ignore[arg-type]
    open_principal = (Assignment.role == "principal", Assignment.state.in_(OPEN_STATES))  # type: ignore[attr-defined]
    rows: list[Any] = []
    for due, item_ids in by_due.items():
        notified = select(Notice.id).where(
            Notice.assignment_id == Assignment.id, Notice.due_on == due, Notice.rank >= stage(due).rank  # type: ignore[union-attr]
        )
        rows += assignment_rows(session, *open_principal, Assignment.extended_due == None,  # noqa: E711
                                Assignment.item_id.in_(item_ids), ~exists(notified))  # type: ignore[attr-defined]
    ledger = _extended_ledger(session)
    for row in assignment_rows(session, *open_principal, Assignment.extended_due != None):  # noqa: E711
        found = stage(row.extended_due)
        if found and ledger.get((row.id, row.extended_due), -10**6) < found.rank:
            rows.append(row)
    involved = sorted({row.item_id for row in rows})
    people = assignment_rows(session, Assignment.role.in_(("lead", "guiding", "cooperating")),  # type: ignore[attr-defined]
                             Assignment.item_id.in_(involved)) if involved else []  # type: ignore[attr-defined]
    views = context.views(rows + people, today, lights, keep_empty=False)
    return _digests(directory, views, today, policy, stage)


def _digests(
    directory: Directory, views: list[ItemView], today: dt.date, policy: Policy, stage: Callable[[dt.date], Stage | None]
) -> CheckPlan:
    escalation = _Escalation(directory, policy)
    digests: dict[int, Digest] = {}
    notices: list[PlannedNotice] = []
    unreachable: set[str] = set()

    routes: dict[int, Unit | None] = {}

    def add(unit: Unit, entry: DigestEntry) -> str | None:
        unit_id: int = unit.id  # type: ignore[assignment]
        if unit_id not in routes:
            routes[unit_id] = delivery_unit(unit, directory)
        target = routes[unit_id]
        if target is None:
            unreachable.add(unit.name)
            return None
        target_id: int = target.id  # type: ignore[assignment]
        if target_id not in digests:
            digests[target_id] = Digest(target.name, list(target.emails), today)
        entry.on_behalf = target_id != unit_id
        digests[target_id].entries.append(entry)
        return target.name

    for view in views:
        for a in view.principals:
            if a.effective_due is None:
                continue
            found = stage(a.effective_due)
            if found is None:
                continue
            assignee = directory.units[a.unit_id]
            recipient = add(assignee, _entry(view, a, found, "principal", escalation=False, today=today))
            notices.append(PlannedNotice(a.id, a.effective_due, found.name, found.rank, recipient or ""))
            if found.rank > 0:
                for unit, role in escalation.targets(view, assignee):
                    add(unit, _entry(view, a, found, role, escalation=True, today=today))
    ordered = sorted(digests.values(), key=lambda d: d.recipient)
    for digest in ordered:
        digest.entries = _dedupe(digest.entries)
    return CheckPlan(today, ordered, notices, sorted(unreachable))


def _entry(view: ItemView, a: AssignmentView, stage: Stage, role: str, *, escalation: bool, today: dt.date) -> DigestEntry:
    due = a.effective_due
    assert due is not None
    return DigestEntry(item=view.item.key, title=view.item.title, unit=a.unit, role=role, stage=stage.name, due=due,
                       days_left=(due - today).days, light=a.light, escalation=escalation, note=a.note)


def _dedupe(entries: list[DigestEntry]) -> list[DigestEntry]:
    """One line per (item, unit, own/escalation): a unit that is both lead and county office sees it once."""
    seen: dict[tuple[str, str, bool], DigestEntry] = {}
    for entry in entries:
        seen.setdefault((entry.item, entry.unit, entry.escalation), entry)
    return sorted(seen.values(), key=lambda e: (e.escalation, e.days_left, e.item, e.unit))


def group_by_item(entries: list[DigestEntry]) -> dict[str, list[DigestEntry]]:
    grouped: dict[str, list[DigestEntry]] = defaultdict(list)
    for entry in entries:
        grouped[entry.item].append(entry)
    return dict(grouped)
