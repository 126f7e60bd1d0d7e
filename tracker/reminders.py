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
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import bindparam, exists, func
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from tracker.bulk import collector_paused
from tracker.calendar import WorkCalendar
from tracker.deadlines import DeadlineRule
from tracker.directory import UnitRow, delivery_unit, unit_rows
from tracker.models import Assignment, Notice, Unit, UnitReport
from tracker.occurrences import fitting_lead_days, next_due
from tracker.queries import (
    ITEMS, OPEN_PRINCIPAL, LightRules, PlanContext, assignment_query, assignment_rows, item_rows, rows_of_items,
)


@dataclass(frozen=True)
class Policy:
    before_days: tuple[int, ...] = (30, 14, 7, 3, 1)
    on_due_day: bool = True
    overdue_every_days: int = 7
    escalate_to: frozenset[str] = frozenset({"lead", "guiding", "county_office"})
    acknowledge_within_days: int | None = None  # not signed this many working days after the first reminder: lead and office told


UNSIGNED = "unsigned"  # the ledger stage of "not signed in time", told once to the lead unit and the county office
UNSIGNED_RANK = -10**6  # below every reminder stage, so it never stands in for one in the ledger's comparisons


@dataclass(frozen=True)
class Stage:
    name: str
    rank: int
    send_on: dt.date


def stage_label(name: str) -> str:
    """The name of a stage of the policy ("提前30天提醒"), which stays true whatever day it is sent on; what a
    recipient reads about the deadline itself comes from ``timing_words``."""
    if name == "due":
        return "到期日提醒"
    if name == UNSIGNED:
        return "未按时签收"
    kind, _, number = name.partition("-")
    return f"提前{number}天提醒" if kind == "before" else f"逾期第{number}次催办"


def for_period(policy: Policy, every: str) -> Policy:
    """The policy for an occurrence of a duty repeating every ``every``: lead times that do not fit the period are
    dropped (a monthly duty gets 7/3/1 days, not 30/14)."""
    return replace(policy, before_days=fitting_lead_days(every, policy.before_days))


def stages_until(
    due: dt.date, today: dt.date, calendar: WorkCalendar, policy: Policy, stop_on: dt.date | None = None
) -> list[Stage]:
    """Every stage of a deadline whose sending day is on or before ``today``, in order of rank. Overdue notices
    stop on ``stop_on``: when the next occurrence of a recurring duty falls due, that one is what units hear about."""
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
        if send_on > today or (stop_on is not None and send_on >= stop_on):
            break
        found.append(Stage(f"overdue-{number}", number, send_on))
        number += 1
    return found


def latest_stage(
    due: dt.date, today: dt.date, calendar: WorkCalendar, policy: Policy, stop_on: dt.date | None = None
) -> Stage | None:
    """The stage to notify on ``today``: the highest-ranked one already due, or None."""
    if today < calendar.previous_workday(due - dt.timedelta(days=max(policy.before_days, default=0))):
        return None
    if stop_on is not None and today >= stop_on:
        return None  # the next occurrence is due: a late one is not brought up again, it stays red in lists and reports
    stages = stages_until(due, today, calendar, policy, stop_on)
    return max(stages, key=lambda s: s.rank) if stages else None


def timing_words(due: dt.date, days_left: int) -> str:
    """What is true on the day the reminder is read, whichever stage it was sent for: a stage moved to an
    earlier working day, or sent late after downtime, must not say "30天后到期" with 22 days left."""
    day = due.isoformat()  # what f"{due}" writes, without format()'s detour through str(): this runs per entry, twice
    if days_left > 0:
        return f"期限 {day}，还剩 {days_left} 天"
    if days_left == 0:
        return f"期限 {day}，今日到期"
    return f"期限 {day}，已逾期 {-days_left} 天"


@dataclass(slots=True)
class DigestEntry:
    item: str
    title: str
    unit: str
    role: str
    stage: str  # the ledger's stage name; the words a person reads come from the dates (``timing``)
    due: dt.date
    days_left: int
    light: str
    escalation: bool = False
    on_behalf: bool = False
    note: str = ""
    task: str = ""
    domain: str | None = None
    progress: int = 0
    occurrence: str = ""
    plan: str = ""  # the code of the item's plan: a unit's one digest covers every active plan
    plan_title: str = ""
    signed: bool = True  # the unit has signed for it (签收); an unsigned entry asks for it

    @property
    def stage_label(self) -> str:
        return stage_label(self.stage)

    @property
    def heading(self) -> str:
        """What the work is: a domain row of item (1) is named by its task and domain, not by the domain twice."""
        return f"{self.task}——{self.domain}领域" if self.domain and self.task else self.title

    @property
    def timing(self) -> str:
        return timing_words(self.due, self.days_left)

    def to_json(self) -> dict[str, object]:
        return {"plan": self.plan, "item": self.item, "occurrence": self.occurrence or None, "unit": self.unit,
                "role": self.role, "stage": self.stage, "due": self.due.isoformat(), "days_left": self.days_left,
                "light": self.light, "escalation": self.escalation, "task": self.task, "heading": self.heading,
                "timing": self.timing, "progress": self.progress, "note": self.note, "signed": self.signed}


@dataclass
class Digest:
    recipient: str
    to: list[str]
    run_date: dt.date
    entries: list[DigestEntry] = field(default_factory=list)
    contact: str = ""  # whom to ask: the county office's contact person, phone and address
    several_plans: bool = False  # more than one active plan: items are named CODE:KEY, as in the 通报

    @property
    def own(self) -> list[DigestEntry]:
        return [e for e in self.entries if not e.escalation]

    @property
    def escalations(self) -> list[DigestEntry]:
        """Overdue work of units this recipient leads or guides (not the signing notices)."""
        return [e for e in self.entries if e.escalation and e.stage != UNSIGNED]

    @property
    def unsigned(self) -> list[DigestEntry]:
        """Units this recipient leads (or, for the county office, any unit) that did not sign in time."""
        return [e for e in self.entries if e.escalation and e.stage == UNSIGNED]


class PlannedNotice(NamedTuple):
    """A ledger row to write; a tuple, because the first check of a province plans tens of thousands."""

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
    contact: str = ""
    disclosure_notices: list[Any] = field(default_factory=list)  # tracker.disclosures.PlannedDisclosureNotice


def _extended_ledger(session: Session) -> dict[tuple[int, dt.date], int]:
    """The highest stage already notified for each (assignment, deadline) of the assignments that were extended."""
    query = (select(Notice.assignment_id, Notice.due_on, func.max(Notice.rank))
             .join(Assignment, Assignment.id == Notice.assignment_id).where(Assignment.extended_due != None))  # noqa: E711
    rows = session.exec(query.group_by(Notice.assignment_id, Notice.due_on)).all()
    return {(assignment_id, due_on): rank for assignment_id, due_on, rank in rows}


class _Escalation:
    """Who hears about overdue work: worked out once per item (and parent unit), not once per late assignment."""

    def __init__(self, units: dict[int, UnitRow], people: list[Any], policy: Policy) -> None:
        self.offices = {u.id: u for u in units.values() if u.kind == "office"}
        self.leads: dict[int, list[UnitRow]] = defaultdict(list)
        self.guiding: dict[int, list[UnitRow]] = defaultdict(list)
        for row in people:
            (self.leads if row.role == "lead" else self.guiding)[row.item_id].append(units[row.unit_id])
        self.policy = policy
        self._cache: dict[tuple[int, int | None], list[tuple[UnitRow, str]]] = {}

    def county_offices(self, leads: list[UnitRow], guiding: list[UnitRow]) -> list[UnitRow]:
        """The county office; where several counties share a database, the one of the row's county."""
        if len(self.offices) <= 1:
            return list(self.offices.values())
        ids = {u.via_id for u in leads} | {u.id for u in [*leads, *guiding]}
        return [self.offices[i] for i in sorted(i for i in ids if i in self.offices)]  # type: ignore[type-var]

    def targets(self, item_id: int, assignee: UnitRow, roles: tuple[str, ...] | None = None) -> list[tuple[UnitRow, str]]:
        """The units told about ``assignee``'s late work on the item, never the assignee itself; only those in
        ``roles`` when given (a unit that has not signed is reported to its lead and the county office)."""
        key = (item_id, assignee.parent_id)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._targets(item_id, assignee.parent_id)
        if roles is not None:
            found = [(u, role) for u, role in found if role in roles]
        if any(u is assignee for u, _ in found):
            return [(u, role) for u, role in found if u is not assignee]
        return found

    def _targets(self, item_id: int, parent_id: int | None) -> list[tuple[UnitRow, str]]:
        leads, guiding = self.leads.get(item_id, []), self.guiding.get(item_id, [])
        found: list[tuple[UnitRow, str]] = []
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
    Rows, units and items stay plain rows: at province scale, objects per row cost more than the SQL.
    """
    from tracker.disclosures import add_disclosure_entries  # catalogue disclosures join the same digests

    with collector_paused():
        plan = _check(session, today, calendar, policy, lights)
    add_disclosure_entries(session, plan, calendar, policy, lights)
    return plan


# a unit whose completion report waits for the office has done its part: no deadline reminder, overdue notice or
# escalation is planned for it until the office approves (done) or returns it (open again, and reminded as before)
_NOT_UNDER_REVIEW = ~exists(select(UnitReport.id).where(UnitReport.assignment_id == Assignment.id, UnitReport.review == "pending"))

_UNNOTIFIED = assignment_query(  # open principals of some items, not yet told about stage ``rank`` of deadline ``due``
    *OPEN_PRINCIPAL, _NOT_UNDER_REVIEW, Assignment.extended_due == None, Assignment.item_id.in_(ITEMS),  # type: ignore[attr-defined]  # noqa: E711
    ~exists(select(Notice.id).where(Notice.assignment_id == Assignment.id, Notice.due_on == bindparam("due"),
                                    Notice.rank >= bindparam("rank"))),
)


_UNNOTIFIED_OCCURRENCE = assignment_query(  # the same for one occurrence of a recurring item
    *OPEN_PRINCIPAL, _NOT_UNDER_REVIEW, Assignment.extended_due == None, Assignment.item_id == bindparam("item"),  # noqa: E711
    Assignment.occurrence == bindparam("occurrence"),
    ~exists(select(Notice.id).where(Notice.assignment_id == Assignment.id, Notice.due_on == bindparam("due"),
                                    Notice.rank >= bindparam("rank"))),
)


class _Stages:
    """The latest due stage of each deadline, worked out once per (deadline, period, occurrence): a recurring duty's
    occurrence has the lead times that fit its period, and its overdue notices stop when the next one falls due."""

    def __init__(self, today: dt.date, calendar: WorkCalendar, policy: Policy) -> None:
        self.today, self.calendar, self.policy = today, calendar, policy
        self.policies: dict[str, Policy] = {}
        self.found: dict[tuple[dt.date, str, str], Stage | None] = {}

    def __call__(self, due: dt.date, rule: DeadlineRule | None = None, occurrence: str = "") -> Stage | None:
        every = rule.every or "" if rule is not None and occurrence else ""
        key = (due, every, occurrence)
        if key not in self.found:
            if every:
                policy = self.policies.get(every) or self.policies.setdefault(every, for_period(self.policy, every))
                stop_on = next_due(rule, occurrence, self.calendar.add_working_days)  # type: ignore[arg-type]
                self.found[key] = latest_stage(due, self.today, self.calendar, policy, stop_on)
            else:
                self.found[key] = latest_stage(due, self.today, self.calendar, self.policy)
        return self.found[key]


_LONGEST_PERIOD = dt.timedelta(days=400)  # an occurrence older than this is past its next one: no stage is left


def _check(session: Session, today: dt.date, calendar: WorkCalendar, policy: Policy, lights: LightRules) -> CheckPlan:
    units = unit_rows(session)
    context = PlanContext.load(session, calendar, unit_names={i: u.name for i, u in units.items()})
    stage = _Stages(today, calendar, policy)

    rows: list[Any] = []
    for due, item_ids in context.items_by_due(stage).items():
        rows += rows_of_items(session, _UNNOTIFIED, item_ids, due=due, rank=stage(due).rank)  # type: ignore[union-attr]
    rules = {item.id: DeadlineRule.from_json(item.deadline) for item in context.items if item.deadline.get("kind") == "recurring"}
    for item_id, occurrence, due in _open_occurrences(session, today):
        found = stage(due, rules[item_id], occurrence) if item_id in rules else None
        if found:
            rows += session.connection().execute(
                _UNNOTIFIED_OCCURRENCE, {"item": item_id, "occurrence": occurrence, "due": due, "rank": found.rank}).all()
    ledger = _extended_ledger(session)
    for row in assignment_rows(session, *OPEN_PRINCIPAL, _NOT_UNDER_REVIEW, Assignment.extended_due != None):  # noqa: E711
        found = stage(row.extended_due, rules.get(row.item_id), row.occurrence)
        if found and ledger.get((row.id, row.extended_due), -10**6) < found.rank:
            rows.append(row)
    late = _unsigned_rows(session, today, calendar, policy.acknowledge_within_days) if policy.acknowledge_within_days else []
    involved = sorted({row.item_id for row in rows} | {row.item_id for row, _first in late})
    people = item_rows(session, involved, Assignment.role.in_(("lead", "guiding", "cooperating")))  # type: ignore[attr-defined]
    plan = _plan(context, units, rows, people, today, policy, lights, stage, late)
    plan.contact = office_contact(session)
    for digest in plan.digests:
        digest.contact = plan.contact
    return plan


def _unsigned_rows(session: Session, today: dt.date, calendar: WorkCalendar, within: int) -> list[tuple[Any, dt.date]]:
    """Open principal rows not signed for within ``within`` working days of their first reminder and not yet reported
    as such, each with the day of that first reminder."""
    earlier = aliased(Notice)
    told = select(earlier.id).where(earlier.assignment_id == Assignment.id, earlier.stage == UNSIGNED)
    query = (select(Notice.assignment_id, func.min(Notice.sent_on)).join(Assignment, Assignment.id == Notice.assignment_id)
             .where(*OPEN_PRINCIPAL, Assignment.retired == False, Assignment.acknowledged_at == None, ~exists(told))  # noqa: E711,E712
             .group_by(Notice.assignment_id))
    first = {i: day for i, day in session.connection().execute(query).all()
             if calendar.add_working_days(day, within) < today}
    if not first:
        return []
    return [(row, first[row.id]) for row in assignment_rows(session, Assignment.id.in_(sorted(first)))]  # type: ignore[attr-defined]


def office_contact(session: Session) -> str:
    """The county office as a recipient should reach it: contact person, phone and address from the directory."""
    office = session.exec(select(Unit).where(Unit.kind == "office").order_by(Unit.id)).first()
    if office is None:
        return ""
    parts = [office.name, office.contact.strip()]
    if office.phone.strip():
        parts.append(f"电话 {office.phone.strip()}")
    if office.emails:
        parts.append(f"邮箱 {office.emails[0]}")
    return " ".join(p for p in parts if p)


def _open_occurrences(session: Session, today: dt.date) -> list[tuple[int, str, dt.date]]:
    """(item, occurrence, due) of the open occurrences that can have a stage today: due within the longest lead time,
    and not so old that a later occurrence has taken over."""
    query = (select(Assignment.item_id, Assignment.occurrence, Assignment.occurrence_due).distinct()
             .where(*OPEN_PRINCIPAL, Assignment.retired == False, Assignment.extended_due == None,  # noqa: E711,E712
                    Assignment.occurrence_due != None, Assignment.occurrence_due > today - _LONGEST_PERIOD,  # noqa: E711
                    Assignment.occurrence_due <= today + _LONGEST_PERIOD))  # type: ignore[operator]
    return sorted(session.connection().execute(query).all())  # type: ignore[arg-type]


def _plan(
    context: PlanContext, units: dict[int, UnitRow], rows: list[Any], people: list[Any], today: dt.date, policy: Policy,
    lights: LightRules, stage: Callable[..., Stage | None], unsigned: list[tuple[Any, dt.date]] = (),  # type: ignore[assignment]
) -> CheckPlan:
    """The digests and ledger rows for the candidate ``rows``, in plan order; ``people`` are the items' lead and guiding rows."""
    digests = _Digests(units, today, several_plans=len(context.plans) > 1)
    escalation = _Escalation(units, people, policy)
    by_item: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        by_item[row.item_id].append(row)
    notices: list[PlannedNotice] = []
    for item in context.items:
        if item.id not in by_item:
            continue
        key, title, rule, due = item.key, item.title, DeadlineRule.from_json(item.deadline), context.dues[item.id][0]
        task = context.tasks.get(item.task_id, "")
        plan_row = context.plans.get(item.plan_id)
        code, plan_title = (plan_row.code, plan_row.title) if plan_row else ("", "")
        for row in sorted(by_item[item.id], key=itemgetter(0)):  # type: ignore[index]
            effective, _status, light, _days = context.derive(row, rule, due, today, lights)
            found = stage(effective, rule, row.occurrence) if effective else None
            if found is None:
                continue
            assignee = units[row.unit_id]
            days_left = (effective - today).days  # type: ignore[operator]
            entry = DigestEntry(key, title, assignee.name, "principal", found.name, effective, days_left, light,  # type: ignore[arg-type]
                                note=row.note, task=task, domain=item.domain, progress=row.progress,
                                occurrence=row.occurrence, plan=code, plan_title=plan_title,
                                signed=row.acknowledged_at is not None)
            recipient = digests.add(assignee, entry)
            notices.append(PlannedNotice(row.id, effective, found.name, found.rank, recipient or ""))  # type: ignore[arg-type]
            if found.rank > 0:
                for unit, role in escalation.targets(item.id, assignee):  # type: ignore[arg-type]
                    digests.add(unit, DigestEntry(key, title, assignee.name, role, found.name, effective,  # type: ignore[arg-type]
                                                  days_left, light, True, False, row.note, task, item.domain,
                                                  row.progress, row.occurrence, code, plan_title))
    items = {item.id: item for item in context.items}
    for row, first_day in unsigned:
        item = items.get(row.item_id)
        if item is None:
            continue
        rule, due = DeadlineRule.from_json(item.deadline), context.dues[item.id][0]
        effective, _status, light, _days = context.derive(row, rule, due, today, lights)
        assignee = units[row.unit_id]
        shown = effective or first_day
        plan_row = context.plans.get(item.plan_id)
        code, plan_title = (plan_row.code, plan_row.title) if plan_row else ("", "")
        recipient = None
        for unit, role in escalation.targets(item.id, assignee, ("lead", "county_office")):  # type: ignore[arg-type]
            recipient = digests.add(unit, DigestEntry(
                item.key, item.title, assignee.name, role, UNSIGNED, shown, (shown - today).days, light, True, False,
                row.note, context.tasks.get(item.task_id, ""), item.domain, row.progress, row.occurrence, code, plan_title,
                signed=False)) or recipient
        notices.append(PlannedNotice(row.id, first_day, UNSIGNED, UNSIGNED_RANK, recipient or ""))
    return CheckPlan(today, digests.ordered(), notices, sorted(digests.unreachable))


class _Digests:
    """One digest per unit that receives mail; a unit without addresses has its entries routed to the unit that reads for it."""

    def __init__(self, units: dict[int, UnitRow], today: dt.date, several_plans: bool = False) -> None:
        self.units = units
        self.today = today
        self.several_plans = several_plans
        self.digests: dict[int, Digest] = {}
        self.routes: dict[int, UnitRow | None] = {}
        self.unreachable: set[str] = set()

    def add(self, unit: UnitRow, entry: DigestEntry) -> str | None:
        """File ``entry`` for ``unit``; returns the name of the unit whose digest got it, or None."""
        if unit.id not in self.routes:
            self.routes[unit.id] = delivery_unit(unit, self.units)  # type: ignore[assignment]
        target = self.routes[unit.id]
        if target is None:
            self.unreachable.add(unit.name)
            return None
        digest = self.digests.get(target.id)
        if digest is None:
            digest = self.digests[target.id] = Digest(target.name, list(target.emails), self.today,
                                                        several_plans=self.several_plans)
        entry.on_behalf = target.id != unit.id
        digest.entries.append(entry)
        return target.name

    def ordered(self) -> list[Digest]:
        ordered = sorted(self.digests.values(), key=lambda d: d.recipient)
        for digest in ordered:
            digest.entries = _dedupe(digest.entries)
        return ordered


def _dedupe(entries: list[DigestEntry]) -> list[DigestEntry]:
    """One line per (item, unit, own/escalation): a unit that is both lead and county office sees it once."""
    seen: dict[tuple[str, str, str, str, bool, bool], DigestEntry] = {}
    for entry in entries:
        seen.setdefault((entry.plan, entry.item, entry.occurrence, entry.unit, entry.escalation, entry.stage == UNSIGNED), entry)
    return sorted(seen.values(), key=lambda e: (e.escalation, e.days_left, e.plan, e.item, e.unit))


def group_by_item(entries: list[DigestEntry], several_plans: bool = False) -> dict[str, list[DigestEntry]]:
    """Entries by item, an occurrence of a recurring item apart from the others (keyed "5（2020-10期）"); when there
    are several active plans (or the entries come from more than one), the item is written ``CODE:KEY``, as the 通报
    writes it, whichever plans this recipient's entries happen to come from."""
    grouped: dict[str, list[DigestEntry]] = defaultdict(list)
    several = several_plans or len({e.plan for e in entries}) > 1
    for entry in entries:
        item = f"{entry.plan}:{entry.item}" if several else entry.item
        grouped[f"{item}（{entry.occurrence}期）" if entry.occurrence else item].append(entry)
    return dict(grouped)


def group_by_plan(entries: list[DigestEntry]) -> list[tuple[str, str, list[DigestEntry]]]:
    """(code, title, entries) per plan, in the order the plans first appear: one digest covers every active plan,
    and a unit reads each plan's work under that plan's title."""
    grouped: dict[str, list[DigestEntry]] = {}
    titles: dict[str, str] = {}
    for entry in entries:
        grouped.setdefault(entry.plan, []).append(entry)
        titles.setdefault(entry.plan, entry.plan_title)
    return [(code, titles[code], found) for code, found in grouped.items()]
