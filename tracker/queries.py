"""Reading the plan back with everything derived from it as of a given day.

Nothing here is stored: an item's due date follows from its rule and from what happened (an
event recorded, the item it depends on completed); an assignment's overdue days and light follow
from its effective deadline, its status and ``today``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict, namedtuple
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from sqlalchemy import Select, String, and_, bindparam, case, cast, func, or_
from sqlmodel import Session, select

from tracker.bulk import collector_paused
from tracker.calendar import WorkCalendar
from tracker.deadlines import DeadlineRule, due_after
from tracker.errors import StatusError
from tracker.models import CLOSED_STATES, Assignment, Event, Item, Plan, Unit, UnitReport, WorkTask
from tracker.occurrences import occurrence_for_period, occurrence_of, period_start

DERIVED = {
    "not_started": "未开始", "in_progress": "进行中", "done": "已完成", "na": "不适用", "overdue": "已逾期",
    "waiting": "待触发", "done_late": "逾期完成", "ongoing": "持续推进", "recurring": "定期",
}


@dataclass(frozen=True)
class LightRules:
    yellow_within_days: int = 7
    behind_by_percent: int = 20


@dataclass(slots=True)
class AssignmentView:
    id: int
    item_key: str
    unit: str
    unit_id: int
    role: str
    state: str
    progress: int
    completed_on: dt.date | None
    due: dt.date | None
    effective_due: dt.date | None
    extended: bool
    status: str
    light: str
    overdue_days: int
    note: str
    evidence: str
    occurrence: str = ""
    plan: str = ""  # the code of the item's plan
    review: str = ""  # "pending" while a completion report waits for the office (待审核); reminders are held meanwhile

    def to_json(self) -> dict[str, Any]:
        due, effective, completed = self.due, self.effective_due, self.completed_on  # inline, not _iso: a province lists ~100k
        return {
            "plan": self.plan, "unit": self.unit, "role": self.role, "occurrence": self.occurrence or None, "state": self.state,
            "status": self.status, "review": self.review or None,
            "due": due.isoformat() if due else None, "effective_due": effective.isoformat() if effective else None,
            "extended": self.extended, "light": self.light, "overdue_days": self.overdue_days, "progress": self.progress,
            "completed_on": completed.isoformat() if completed else None, "note": self.note, "evidence": self.evidence,
        }


@dataclass
class ItemView:
    item: Item  # a read-only row with the columns views need (PlanContext reads rows: a province has thousands of items)
    task_title: str
    rule: DeadlineRule
    due: dt.date | None
    waiting_for: str | None
    lead: list[str]
    guiding: list[str]
    principals: list[AssignmentView] = field(default_factory=list)  # the units doing the work; lead and guiding are names
    # the whole item's light and counts, kept when a filter narrows ``principals`` to some units: a filter selects
    # what is listed, it does not change how the item stands
    overall_light: str | None = None
    counts: tuple[int, int] | None = None  # (closed, total) principal assignments
    plan: str = ""  # the code of the item's plan
    plan_title: str = ""

    @property
    def ref(self) -> str:
        """The item as an operator writes it where plans must be told apart: ``CODE:KEY``."""
        return f"{self.plan}:{self.item.key}" if self.plan else self.item.key

    @property
    def light(self) -> str:
        if self.overall_light is not None:
            return self.overall_light
        lights = {a.light for a in self.principals}
        return next((light for light in ("red", "yellow") if light in lights), "green")

    @property
    def closed_and_total(self) -> tuple[int, int]:
        """(done or not applicable, all) of the item's principal assignments, whatever a filter kept."""
        if self.counts is not None:
            return self.counts
        return sum(1 for a in self.principals if a.status in CLOSED_STATUSES), len(self.principals)

    def to_json(self) -> dict[str, Any]:
        item = self.item
        closed, total = self.closed_and_total
        return {
            "plan": self.plan, "key": item.key, "task": self.task_title, "title": item.title, "domain": item.domain,
            "parent": item.parent_key, "deadline_text": item.deadline_text, "deadline": self.rule.to_json(),
            "due": _iso(self.due), "waiting_for": self.waiting_for, "light": self.light,
            "units_closed": closed, "units_total": total,
            "lead": self.lead, "guiding": self.guiding,
            "assignments": [a.to_json() for a in self.principals],
        }


CLOSED_STATUSES = frozenset({"done", "done_late", "na"})


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def item_dues(
    session: Session, items: Iterable[Item], calendar: WorkCalendar, rules: dict[int, DeadlineRule] | None = None,
) -> dict[int, tuple[dt.date | None, str | None]]:
    """Each item's due date (by item id), or None with what it is waiting for; events and the items an item depends
    on are those of its own plan. ``rules``: the items' rules by id when the caller has read them already."""
    items = list(items)
    events = {(e.plan_id, e.key): e for e in session.exec(select(Event)).all()}
    completion = completion_dates(session, items)
    result: dict[int, tuple[dt.date | None, str | None]] = {}
    for item in items:
        rule = rules[item.id] if rules is not None else DeadlineRule.from_json(item.deadline)  # type: ignore[index]
        if rule.kind == "fixed":
            result[item.id] = (rule.due, None)  # type: ignore[index]
        elif rule.kind == "after_event":
            event = events.get((item.plan_id, item.event_key or ""))
            if event is None or event.occurred_on is None:
                result[item.id] = (None, f"等待事件“{rule.event}”（{item.event_key}）")  # type: ignore[index]
            else:
                result[item.id] = (due_after(rule, event.occurred_on, calendar.add_working_days), None)  # type: ignore[index]
        elif rule.kind == "after_item":
            done_on = completion.get((item.plan_id, item.depends_on or ""))  # type: ignore[arg-type]
            if done_on is None:
                result[item.id] = (None, f"等待事项 {item.depends_on} 全部完成")  # type: ignore[index]
            else:
                result[item.id] = (due_after(rule, done_on, calendar.add_working_days), None)  # type: ignore[index]
        else:
            result[item.id] = (None, None)  # type: ignore[index]
    return result


def completion_dates(session: Session, items: Iterable[Item]) -> dict[tuple[int, str], dt.date]:
    """For each (plan, item) that another item of the plan waits for (a parent through its domain rows), if its
    principals are all closed, the last completion date."""
    items = list(items)
    wanted = {(i.plan_id, i.depends_on) for i in items if i.depends_on}
    by_id = {i.id: i for i in items if (i.plan_id, i.key) in wanted or (i.plan_id, i.parent_key) in wanted}
    if not by_id:
        return {}
    rows = session.exec(
        select(Assignment).where(Assignment.role == "principal", Assignment.retired == False,  # noqa: E712
                                 Assignment.item_id.in_(list(by_id)))  # type: ignore[attr-defined]
    ).all()
    grouped: dict[tuple[int, str], list[Assignment]] = defaultdict(list)
    for row in rows:
        item = by_id.get(row.item_id)
        if item is None:
            continue
        grouped[(item.plan_id, item.key)].append(row)  # type: ignore[index]
        if item.parent_key:
            grouped[(item.plan_id, item.parent_key)].append(row)  # type: ignore[index]
    result = {}
    for key, assignments in grouped.items():
        if all(a.state in CLOSED_STATES for a in assignments):
            dates = [a.completed_on for a in assignments if a.state == "done" and a.completed_on]
            if dates:
                result[key] = max(dates)
    return result


def derive(
    row: Any, rule: DeadlineRule, due: dt.date | None, today: dt.date, starts_on: dt.date | None, lights: LightRules
) -> tuple[dt.date | None, str, str, int]:
    """(effective due, derived status, light, overdue days) of one assignment as of ``today``."""
    effective = row.extended_due or due
    if row.state == "na":
        return effective, "na", "green", 0
    if row.state == "done":
        late = bool(effective and row.completed_on and row.completed_on > effective)
        days = (row.completed_on - effective).days if late else 0  # type: ignore[operator]
        return effective, "done_late" if late else "done", "green", days
    if rule.kind == "ongoing" or (rule.kind == "recurring" and effective is None):
        return effective, rule.kind, "green", 0  # a recurring row without an occurrence predates 0006
    if effective is None:
        return None, "waiting", "green", 0
    if today > effective:
        return effective, "overdue", "red", (today - effective).days
    days_left = (effective - today).days
    light = "yellow" if days_left <= lights.yellow_within_days or _behind(row, starts_on, effective, today, lights) else "green"
    return effective, row.state, light, 0


def _behind(row: Any, starts_on: dt.date | None, due: dt.date, today: dt.date, lights: LightRules) -> bool:
    if starts_on is None or due <= starts_on or today <= starts_on:
        return False
    planned = 100 * (today - starts_on).days / (due - starts_on).days
    return row.progress + lights.behind_by_percent < planned


_COLUMNS = (
    Assignment.id, Assignment.item_id, Assignment.unit_id, Assignment.role, Assignment.state, Assignment.progress,
    Assignment.completed_on, Assignment.note, Assignment.evidence, Assignment.extended_due, Assignment.occurrence,
    Assignment.occurrence_due, Assignment.acknowledged_at,
)


# Rows as named tuples: SQLAlchemy's Row finds a column by name in Python (about 0.7 µs an access, twenty times a
# tuple's), and deriving a province's states reads a dozen columns of hundreds of thousands of rows.
AssignmentRow = namedtuple("AssignmentRow", [c.key for c in _COLUMNS])  # type: ignore[misc]


def _named(result: Any) -> list[Any]:
    return list(map(AssignmentRow._make, result))


def assignment_query(*where: Any) -> Select[Any]:
    """The select behind ``assignment_rows``; built once with bound parameters where it runs in a loop, because
    building a statement costs more than running it on a county's data."""
    return select(*_COLUMNS).where(Assignment.retired == False, *where).order_by(Assignment.id)  # noqa: E712


def assignment_rows(session: Session, *where: Any) -> list[Any]:
    """Active assignments as plain rows, in id order: a province has hundreds of thousands, so neither ORM objects
    nor the ORM's result machinery (Core execution reads the same rows in about half the time)."""
    return _named(session.connection().execute(assignment_query(*where)))


_ITEM_COLUMNS = (  # what views read; the source cells (``lead_text`` and so on) are for re-imports only
    Item.id, Item.plan_id, Item.key, Item.task_id, Item.parent_key, Item.domain, Item.title, Item.deadline_text,
    cast(Item.deadline, String).label("deadline"),  # as text: see ``_item_rows``
    Item.event_key, Item.depends_on, Item.position, Item.retired,
)
ItemRow = namedtuple("ItemRow", [c.key for c in _ITEM_COLUMNS])  # type: ignore[misc]  # as ``AssignmentRow``
_DEADLINE = ItemRow._fields.index("deadline")


def _item_rows(result: Any) -> tuple[list[Any], dict[int, DeadlineRule]]:
    """Item rows, and their deadline rules by item id. A province's items have a few dozen distinct deadlines: each
    text is decoded and made a rule once, and the items that share it share the (read-only) dict and rule."""
    parsed: dict[str, tuple[dict[str, Any], DeadlineRule]] = {}
    items, rules = [], {}
    for values in result:
        text = values[_DEADLINE]
        found = parsed.get(text)
        if found is None:
            data = json.loads(text)
            found = parsed[text] = (data, DeadlineRule.from_json(data))
        values = list(values)
        values[_DEADLINE] = found[0]
        item = ItemRow._make(values)
        items.append(item)
        rules[item.id] = found[1]
    return items, rules


ITEMS = bindparam("items", expanding=True)  # the item ids of a prebuilt ``assignment_query``, for ``rows_of_items``
_CHUNK = 10_000  # items per statement: well under SQLite's 32,766 bound parameters


def rows_of_items(session: Session, query: Select[Any], item_ids: list[int], **params: Any) -> list[Any]:
    """Run ``query`` (which filters on ``ITEMS``) for the given items in chunks, so that a province's list never
    exceeds the database's limit on parameters; each chunk is in id order."""
    connection = session.connection()
    rows: list[Any] = []
    for start in range(0, len(item_ids), _CHUNK):
        rows += _named(connection.execute(query, {**params, "items": item_ids[start:start + _CHUNK]}))
    return rows


def item_rows(session: Session, item_ids: list[int], *where: Any) -> list[Any]:
    """``assignment_rows`` of the given items."""
    return rows_of_items(session, assignment_query(Assignment.item_id.in_(ITEMS), *where), item_ids)  # type: ignore[attr-defined]


@dataclass
class PlanContext:
    """What every view of the plan needs besides the assignments: items, dues, names."""

    items: list[Item]
    dues: dict[int, tuple[dt.date | None, str | None]]  # by item id
    tasks: dict[int, str]
    unit_names: dict[int, str]
    plans: dict[int, Plan]  # the plans the items belong to, by id
    rules: dict[int, DeadlineRule] = field(default_factory=dict)  # by item id, when read with the items
    _period_starts: dict[tuple[str, str], dt.date] = field(default_factory=dict)
    _item_plan: dict[int, int] = field(default_factory=dict)

    @classmethod
    def load(
        cls, session: Session, calendar: WorkCalendar, *, include_retired: bool = False,
        unit_names: dict[int, str] | None = None, plan_ids: Iterable[int] | None = None,
    ) -> PlanContext:
        """The items of the active plans, in plan order (plans by creation, items by position), or of the plans
        ``plan_ids`` names, archived or not. ``unit_names`` when the caller already holds the directory, so that
        units are not read twice."""
        plans = {p.id: p for p in session.exec(select(Plan).order_by(Plan.id)).all()}  # type: ignore[arg-type]
        wanted = [i for i, p in plans.items() if p.state == "active"] if plan_ids is None else list(plan_ids)
        query = select(*_ITEM_COLUMNS)
        if len(wanted) != len(plans):
            query = query.where(Item.plan_id.in_(wanted))  # type: ignore[union-attr]
        if not include_retired:
            query = query.where(Item.retired == False)  # noqa: E712
        order = {plan_id: n for n, plan_id in enumerate(plans)}
        items, rules = _item_rows(session.connection().execute(query))
        items.sort(key=lambda i: (order.get(i.plan_id, 0), i.position))
        return cls(
            items=items, dues=item_dues(session, items, calendar, rules), rules=rules,
            tasks={t.id: t.title for t in session.exec(select(WorkTask)).all()},  # type: ignore[misc]
            unit_names=unit_names if unit_names is not None else dict(session.exec(select(Unit.id, Unit.name)).all()),  # type: ignore[arg-type]
            plans={i: p for i, p in plans.items() if i in wanted},  # type: ignore[misc]
            _item_plan={i.id: i.plan_id for i in items},  # type: ignore[misc]
        )

    @property
    def starts_on(self) -> dt.date | None:
        """The start of the first plan (for callers that know one plan only)."""
        first = next(iter(self.plans.values()), None)
        return first.starts_on if first else None

    def code(self, item: Any) -> str:
        plan = self.plans.get(item.plan_id)
        return plan.code if plan else ""

    def _starts(self, item_id: int) -> dt.date | None:
        plan = self.plans.get(self._item_plan.get(item_id, -1))
        return plan.starts_on if plan else None

    def items_by_due(self, wanted: Callable[[dt.date], object]) -> dict[dt.date, list[int]]:
        """Ids of the items with a due date that ``wanted`` accepts, grouped by that date: callers ask the database
        once per deadline for just those items."""
        by_due: dict[dt.date, list[int]] = defaultdict(list)
        for item in self.items:
            due = self.dues[item.id][0]  # type: ignore[index]
            if due is not None and wanted(due):
                by_due[due].append(item.id)  # type: ignore[arg-type]
        return by_due

    def period_start(self, rule: DeadlineRule, occurrence: str) -> dt.date:
        """The first day of an occurrence's period (worked out once per label)."""
        key = (rule.every or "", occurrence)
        starts = self._period_starts.get(key)
        if starts is None:
            starts = self._period_starts[key] = period_start(rule.every or "", occurrence)
        return starts

    def begun(self, rule: DeadlineRule, occurrence: str, today: dt.date) -> bool:
        """Whether the period of an occurrence has begun by ``today``."""
        return self.period_start(rule, occurrence) <= today

    def derive(self, row: Any, rule: DeadlineRule, due: dt.date | None, today: dt.date, lights: LightRules) -> tuple[
            dt.date | None, str, str, int]:
        """``derive`` for a row of an item whose due date is ``due``: an occurrence has its own due date, and its
        planned progress runs from the start of its period, not from the plan's start."""
        plan_start = self._starts(row.item_id)
        if not row.occurrence:
            return derive(row, rule, due, today, plan_start, lights)
        starts = self.period_start(rule, row.occurrence)
        return derive(row, rule, row.occurrence_due, today, max(starts, plan_start or starts), lights)

    def views(self, rows: list[Any], today: dt.date, lights: LightRules, *, worked_only: bool = False) -> list[ItemView]:
        """Item views holding ``rows``, each principal with its derived state as of ``today``; lead and guiding
        rows give the views their names only. ``worked_only``: only the items with a principal row in ``rows``
        (the others cannot pass a filter that narrows the listing, and a province has thousands of them)."""
        names = self.unit_names
        views = []
        for item, rule, due, waiting, plan, mine, principals in self.derived(rows, today, lights, worked_only=worked_only):
            code = plan.code if plan else ""
            view = ItemView(
                item=item, task_title=self.tasks.get(item.task_id, ""), rule=rule, due=due, waiting_for=waiting,
                plan=code, plan_title=plan.title if plan else "",
                lead=[names[r.unit_id] for r in mine if r.role == "lead"],
                guiding=[names[r.unit_id] for r in mine if r.role in ("guiding", "cooperating")],
            )
            view.principals.extend(AssignmentView(
                row.id, item.key, names[row.unit_id], row.unit_id, "principal", row.state, row.progress, row.completed_on,
                row_due, effective, row.extended_due is not None, status, light, overdue, row.note, row.evidence,
                row.occurrence, code) for row, row_due, effective, status, light, overdue in principals)
            views.append(view)
        return views

    def derived(self, rows: list[Any], today: dt.date, lights: LightRules, *, worked_only: bool = False) -> Iterator[
            tuple[Any, DeadlineRule, dt.date | None, str | None, Plan | None, list[Any], list[DerivedRow]]]:
        """Per item, in the context's order: (item, rule, due date, what it waits for, plan, its rows in ``rows``, its
        principal rows with their state derived as of ``today``). ``views`` makes the CLI's views of them; the weekly
        report reads a province's 180k rows from here directly, without a view object per row, by the same rules."""
        by_item: dict[int, list[Any]] = defaultdict(list)
        for row in rows:
            by_item[row.item_id].append(row)
        for item in self.items:
            mine = by_item.get(item.id, ())  # type: ignore[call-overload]
            if worked_only and not any(r.role == "principal" for r in mine):
                continue
            rule = self.rules.get(item.id) or DeadlineRule.from_json(item.deadline)  # type: ignore[arg-type]
            due, waiting = self.dues[item.id]  # type: ignore[index]
            plan = self.plans.get(item.plan_id)  # type: ignore[arg-type]
            plan_start = plan.starts_on if plan else None
            principals = []
            for row in mine:
                if row.role != "principal":
                    continue
                occurrence = row.occurrence
                if occurrence:  # as ``PlanContext.derive``: an occurrence's own due date and period
                    starts = self.period_start(rule, occurrence)
                    if starts > today:
                        continue  # a later period's occurrence is not listed, counted or reported before it begins
                    row_due = row.occurrence_due
                    principals.append((row, row_due, *derive(row, rule, row_due, today, max(starts, plan_start or starts), lights)))
                else:
                    principals.append((row, due, *derive(row, rule, due, today, plan_start, lights)))
            yield item, rule, due, waiting, plan, mine, principals  # type: ignore[misc]


# (row, its due date, effective due, derived status, light, overdue days): a principal row as ``PlanContext.derived``
# gives it
DerivedRow = tuple[Any, "dt.date | None", "dt.date | None", str, str, int]


OPEN_STATES = ("not_started", "in_progress")
# ``role || ''``: the same test, which no index serves. Without statistics (nobody runs ANALYZE) SQLite reads open
# principal work of some items through the index on ``role`` (three values, most rows principal) rather than the one on
# ``item_id``, and a province's overdue principals then cost three times as much to read; PostgreSQL plans it alike.
PRINCIPAL = (Assignment.role + "") == "principal"  # type: ignore[operator]
OPEN_PRINCIPAL = (PRINCIPAL, Assignment.state.in_(OPEN_STATES))  # type: ignore[attr-defined]


def load_views(
    session: Session, today: dt.date, calendar: WorkCalendar, lights: LightRules, *, include_retired: bool = False,
    only: ItemFilter | None = None, plan_ids: Iterable[int] | None = None,
) -> list[ItemView]:
    """Every item with its assignments and derived state, in plan order.

    With ``only``, principal assignments that the filter cannot pass are not read: closed work when
    it wants open work, and, for overdue work, work due outside its date range (``_open_rows_due``), so that listing
    a province's overdue work reads what it lists; then only the items holding such
    work are returned (the others cannot pass the filter). Overdue work is red whatever else the item holds, so
    its items' lights are whole; work due soon is read with all other open work, which may make its item red.
    """
    worked_only = False
    with collector_paused():
        context = PlanContext.load(session, calendar, include_retired=include_retired, plan_ids=plan_ids)
        scoped = len(context.plans) != len(session.exec(select(Plan.id)).all())
        ids = sorted(i.id for i in context.items)  # type: ignore[type-var]
        if only is None or not only.open_only:
            rows = sorted(item_rows(session, ids), key=itemgetter(0)) if scoped else assignment_rows(session)
        elif (due_range := only.due_range(today)) is None or only.due_within is not None:
            # an item's light comes from all its open work, not only what falls due in the range (a filter selects
            # what is listed, it does not change how the item stands): --due-within reads every open row
            open_work = or_(Assignment.role != "principal", Assignment.state.in_(OPEN_STATES))  # type: ignore[attr-defined]
            rows = (sorted(item_rows(session, ids, open_work), key=itemgetter(0)) if scoped
                    else assignment_rows(session, open_work))
        else:
            # only work due in the range was read: the items without any cannot pass the filter that follows
            rows = sorted(_open_rows_due(session, context, *due_range), key=itemgetter(0))
            worked_only = True
        views = context.views(rows, today, lights, worked_only=worked_only)
        waiting = set(session.exec(select(UnitReport.assignment_id).where(UnitReport.review == "pending")).all())
        if waiting:
            for view in views:
                for a in view.principals:
                    if a.id in waiting:
                        a.review = "pending"
        return views


def _open_rows_due(session: Session, context: PlanContext, first: dt.date | None, last: dt.date) -> list[Any]:
    """Open principal rows whose effective deadline falls in [first, last], with the lead and guiding rows of their items.

    One pass over the assignments, as the SQL floor makes: the database reads a fixed deadline's date from the
    item's rule (for such an item it is the due date), and takes work extended into the range and occurrences due in
    it in the same pass. Only the items whose due date follows from an event or another item (few) are asked for by
    id. Asking per deadline by item id instead reads every row of those items through the index, and a province's
    overdue items hold most of the table."""

    def in_range(column: Any, low: Any, high: Any) -> Any:
        return column <= high if low is None else and_(column >= low, column <= high)

    low, high = (first.isoformat() if first else None), last.isoformat()  # the rule's JSON holds the date as text
    fixed_due = (select(Item.id).where(Item.plan_id.in_(list(context.plans)), Item.deadline["kind"].as_string() == "fixed",
                                       in_range(Item.deadline["due"].as_string(), low, high)))  # type: ignore[attr-defined]
    fixed = and_(Assignment.extended_due == None, Assignment.item_id.in_(fixed_due))  # type: ignore[attr-defined]  # noqa: E711
    extended = and_(Assignment.extended_due != None, in_range(Assignment.extended_due, first, last))  # noqa: E711
    occurrences = and_(Assignment.extended_due == None, Assignment.occurrence_due != None,  # noqa: E711
                       in_range(Assignment.occurrence_due, first, last))
    # the subquery is read once; the OR keeps the database from walking the assignments item by item through an index
    query = select(*_COLUMNS).where(Assignment.retired == False, *OPEN_PRINCIPAL, or_(fixed, extended, occurrences))  # noqa: E712
    known = context._item_plan
    rows = [row for row in _named(session.connection().execute(query)) if row.item_id in known]
    derived = [item.id for item in context.items if item.deadline.get("kind") != "fixed"  # what the subquery leaves
               and (due := context.dues[item.id][0]) is not None and (first is None or first <= due) and due <= last]
    if derived:
        rows += item_rows(session, derived, *OPEN_PRINCIPAL, Assignment.extended_due == None)  # noqa: E711
    return rows + _name_rows(session, sorted({row.item_id for row in rows}))


_NAMES = (select(Assignment.id, Assignment.item_id, Assignment.unit_id, Assignment.role)  # lead and guiding rows of some items
          .where(Assignment.retired == False, Assignment.role != "principal", Assignment.item_id.in_(ITEMS)))  # type: ignore[attr-defined]  # noqa: E712


def _name_rows(session: Session, item_ids: list[int]) -> list[Any]:
    """The lead and guiding rows of these items, with the columns that name them (a view lists their units' names
    only): a quarter of the row's columns, none of them dates to convert."""
    connection, rows = session.connection(), []
    for start in range(0, len(item_ids), _CHUNK):
        for id_, item_id, unit_id, role in connection.execute(_NAMES, {"items": item_ids[start:start + _CHUNK]}):
            rows.append(AssignmentRow(id_, item_id, unit_id, role, "", 0, None, "", "", None, "", None, None))
    return rows


@dataclass(frozen=True)
class ItemFilter:
    unit_ids: frozenset[int] | None = None
    overdue: bool = False
    due_within: int | None = None
    states: frozenset[str] = frozenset()
    lights: frozenset[str] = frozenset()
    occurrence: str | None = None  # recurring items: only this occurrence (2020-Q4) or the one of this period (2020-10)
    period: str | None = None

    @property
    def open_only(self) -> bool:
        """True when nothing done or not applicable can pass, so the database need not return it."""
        return self.overdue or self.due_within is not None or bool(
            self.states and self.states <= {"not_started", "in_progress", "overdue", "waiting"})

    def due_range(self, today: dt.date) -> tuple[dt.date | None, dt.date] | None:
        """The effective deadlines that can pass (first may be open), or None when any can."""
        last = [today - dt.timedelta(days=1)] if self.overdue else []
        first = None
        if self.due_within is not None:
            first, last = today, [*last, today + dt.timedelta(days=self.due_within)]
        return (first, min(last)) if last else None


def principal_counts(session: Session, views: list[ItemView], today: dt.date) -> dict[int, tuple[int, int]]:
    """(closed, total) principal assignments of each of these items, counted by the database: a listing that read
    only open work still shows how far each item is. A recurring item counts only the occurrences whose period has
    begun by ``today``, as its whole view does (domain.md: a later period is not listed, counted or reported)."""
    closed = func.sum(case((Assignment.state.in_(CLOSED_STATES), 1), else_=0))  # type: ignore[attr-defined]
    query = (select(Assignment.item_id, Assignment.occurrence, closed, func.count())
             .where(PRINCIPAL, Assignment.retired == False, Assignment.item_id.in_(ITEMS))  # type: ignore[attr-defined]  # noqa: E712
             .group_by(Assignment.item_id, Assignment.occurrence))
    rules = {v.item.id: v.rule for v in views}
    item_ids = list(rules)
    connection, counts = session.connection(), {}
    for start in range(0, len(item_ids), _CHUNK):
        for item_id, occurrence, done, total in connection.execute(query, {"items": item_ids[start:start + _CHUNK]}):
            if occurrence and period_start(rules[item_id].every or "", occurrence) > today:
                continue
            before = counts.get(item_id, (0, 0))
            counts[item_id] = (before[0] + int(done or 0), before[1] + int(total))
    return counts


def listed_views(
    session: Session, today: dt.date, calendar: WorkCalendar, lights: LightRules, flt: ItemFilter,
    plan_ids: Iterable[int] | None = None,
) -> list[ItemView]:
    """What ``items list`` shows: the views ``flt`` keeps, each item with its whole counts when only open work was
    read (counted for the items that can be listed, not for the whole database)."""
    with collector_paused():  # hundreds of thousands of new objects, no cycles among them: nothing for it to collect
        views = load_views(session, today, calendar, lights, only=flt, plan_ids=plan_ids)
        counts = principal_counts(session, [v for v in views if v.principals], today) if flt.open_only else None
        return filter_views(views, flt, today, counts)


def filter_views(
    views: list[ItemView], flt: ItemFilter, today: dt.date, counts: dict[int, tuple[int, int]] | None = None
) -> list[ItemView]:
    """Keep the principal assignments that pass every filter, and the items that still have one; each item keeps
    its own light and (from ``counts``, when the views hold only part of the work) its counts."""

    def keep(a: AssignmentView) -> bool:
        if flt.unit_ids is not None and a.unit_id not in flt.unit_ids:
            return False
        if flt.overdue and a.status != "overdue":
            return False
        if flt.due_within is not None and (
            a.status in ("done", "done_late", "na") or a.effective_due is None
            or not 0 <= (a.effective_due - today).days <= flt.due_within
        ):
            return False
        if flt.states and a.status not in flt.states and a.state not in flt.states:
            return False
        return not (flt.lights and a.light not in flt.lights)

    narrowing = flt != ItemFilter()
    result = []
    refused: list[StatusError] = []
    for view in views:
        kept = [a for a in view.principals if keep(a)]
        if (flt.occurrence or flt.period) and view.rule.kind == "recurring" and view.rule.every:
            try:
                wanted = (occurrence_of(view.rule, flt.occurrence, lambda day, _n: day).label if flt.occurrence
                          else occurrence_for_period(view.rule, flt.period or ""))
            except StatusError as exc:  # 2020-Q4 names no occurrence of a monthly item; it may name a quarterly one's
                refused.append(exc)
                wanted = None
            kept = [a for a in kept if a.occurrence == wanted]
        if narrowing and not kept:
            continue
        whole = counts.get(view.item.id, (0, 0)) if counts is not None else view.closed_and_total  # type: ignore[arg-type]
        result.append(ItemView(view.item, view.task_title, view.rule, view.due, view.waiting_for, view.lead, view.guiding,
                               kept, overall_light=view.light, counts=whole, plan=view.plan, plan_title=view.plan_title))
    if refused and len(refused) == sum(1 for v in views if v.rule.kind == "recurring" and v.rule.every):
        raise refused[0]  # no recurring item has such an occurrence: a typing error, not an empty list
    return result
