"""The weekly progress report (通报): where the plan stands, who is late, what changed.

Everything is computed as of one day from the same derived views the CLI shows, so the report
and `tracker items list` never disagree.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import operator
from array import array
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlmodel import Session, col, select

from tracker.calendar import WorkCalendar
from tracker.cycle import unsigned, waiting_for_review
from tracker.disclosures import DisclosureView, overdue_disclosures
from tracker.bulk import collector_paused
from tracker.models import Assignment, JournalEntry, OutboxMessage, Plan
from tracker.queries import ITEMS, PRINCIPAL, AssignmentRow, AssignmentView, ItemView, LightRules, PlanContext

DONE = frozenset({"done", "done_late"})


@dataclass
class Totals:
    assignments: int = 0
    done: int = 0
    done_on_time: int = 0
    done_late: int = 0
    in_progress: int = 0
    not_started: int = 0
    overdue: int = 0
    waiting: int = 0
    ongoing: int = 0
    not_applicable: int = 0

    @property
    def on_time_rate(self) -> float | None:
        """Share of completed assignments completed by their deadline."""
        return round(100 * self.done_on_time / self.done, 1) if self.done else None

    @property
    def done_rate(self) -> float | None:
        counted = self.assignments - self.not_applicable
        return round(100 * self.done / counted, 1) if counted else None


@dataclass(slots=True)  # a province's report holds tens of thousands of these
class ItemLine:
    key: str
    title: str
    light: str
    due: dt.date | None
    due_text: str
    done: int
    total: int
    late_units: list[str]
    plan: str = ""


@dataclass(slots=True)
class UnitLine:
    unit: str
    assigned: int = 0
    done: int = 0
    on_time: int = 0
    overdue: int = 0
    overdue_days: int = 0
    flagged: int = 0  # assignments with a yellow or red light: the unit needs attention even when nothing is overdue yet

    def to_json(self) -> dict[str, Any]:
        return {"unit": self.unit, "assigned": self.assigned, "done": self.done, "on_time": self.on_time,
                "overdue": self.overdue, "overdue_days": self.overdue_days}


@dataclass
class Change:
    kind: str
    on: dt.date
    item: str
    unit: str
    text: str
    occurrence: str = ""
    plan: str = ""


class Upcoming(NamedTuple):
    due: dt.date
    item: str
    title: str
    unit: str
    occurrence: str = ""
    plan: str = ""


@dataclass
class PlanSection:
    """One plan's part of the 通报: its title and its own totals (the whole report covers every active plan)."""

    code: str
    title: str
    totals: Totals = field(default_factory=Totals)
    items: int = 0
    red_items: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"plan": self.code, "title": self.title, "items": self.items, "red_items": self.red_items,
                "totals": _totals_json(self.totals)}


def _totals_json(t: Totals) -> dict[str, Any]:
    return {"assignments": t.assignments, "done": t.done, "done_on_time": t.done_on_time, "done_late": t.done_late,
            "overdue": t.overdue, "waiting": t.waiting, "in_progress": t.in_progress, "not_started": t.not_started,
            "ongoing": t.ongoing, "not_applicable": t.not_applicable, "on_time_rate": t.on_time_rate,
            "done_rate": t.done_rate}


@dataclass
class ReviewFigures:
    """The supervision cycle in the 通报: reports waiting for the office, reports returned this week, and the units
    that have not signed for their assignments within the allowed working days of the first reminder."""

    waiting: int = 0
    returned_this_week: int = 0
    unsigned: list[tuple[str, str, dt.date]] = field(default_factory=list)  # (unit, item, first reminder day)
    signing: bool = True  # False when online signing is not enabled (no web.public_url or acknowledge_within_days = 0)

    def to_json(self) -> dict[str, Any]:
        return {"waiting_for_review": self.waiting, "returned_this_week": self.returned_this_week, "signing": self.signing,
                "unsigned": [{"unit": u, "item": i, "first_reminder": d.isoformat()} for u, i, d in self.unsigned]}


class LedgerRow(NamedTuple):
    """One principal assignment as the workbook's 台账 lists it."""

    item: str
    occurrence: str
    task: str
    title: str
    plan: str
    unit: str
    status: str
    light: str
    due: dt.date | None
    effective_due: dt.date | None
    completed_on: dt.date | None
    overdue_days: int
    progress: int
    note: str
    evidence: str


_STATUSES = ("not_started", "in_progress", "done", "done_late", "na", "overdue", "waiting", "ongoing", "recurring")
_LIGHTS = ("green", "yellow", "red")
_WIDTH = 9
_PER_ARRAY = _WIDTH * 65_536


# what the ledger keeps of an assignment, read in one call (a province has 180k)
_LEDGER_FIELDS = operator.attrgetter("unit_id", "unit", "status", "light", "due", "effective_due", "completed_on", "overdue_days",
                                     "progress", "occurrence", "note", "evidence")
# (unit id, unit name, status, light, due, effective due, completed on, overdue days, progress, occurrence, note, evidence)
LedgerFields = tuple[int, str, str, str, "dt.date | None", "dt.date | None", "dt.date | None", int, int, str, str, str]


class LedgerBlock(NamedTuple):
    """Rows of the ledger as its writer takes them, a block at a time: what is new since the block before, so that a
    writer in another process is sent each name once (``Ledger.blocks``, or a ``Ledger`` given a ``sink``)."""

    items: list[tuple[str, str, str, str]]  # (key, task title, title, plan code) of the items first numbered here
    units: dict[int, str]  # names of the units first met here, by unit id
    words: list[str]  # every status and light word so far, by number
    numbers: array  # _WIDTH numbers per row: item, unit, status, light, due, effective, completed, days, progress
    texts: dict[int, tuple[str, str, str]]  # (occurrence, note, evidence) by row number in the whole ledger, where any


SINK_ROWS = 8192  # rows a ledger with a sink passes on at once: about 300 KB a block, a few dozen blocks at a province


class Ledger:
    """Every principal assignment of the report, held compactly: a province has hundreds of thousands and 1M
    assignments as views would not fit the weekly job's memory. Item and unit names are held once; each row is a few
    machine integers (dates as ordinals, 0 for none); notes and occurrences only where there are any.

    Given a ``sink``, the ledger holds only the rows not yet passed on: every ``SINK_ROWS`` rows (and at ``finish``)
    it passes them to ``sink`` as a ``LedgerBlock``, for a workbook written in another process while the report is
    still being built."""

    def __init__(self, sink: Callable[[LedgerBlock], None] | None = None) -> None:
        self._items: list[tuple[str, str, str, str]] = []  # (key, task title, title, plan code)
        self._unit_names: dict[int, str] = {}  # by unit id, which each row holds
        # per row, _WIDTH numbers: item, unit, status, light, due, effective, completed, days, progress; in arrays of at
        # most _PER_ARRAY numbers, so that growing one never copies the whole ledger
        self._arrays = [array("i")]
        self._count = 0
        self._texts: dict[int, tuple[str, str, str]] = {}  # row -> (occurrence, note, evidence), when any is not empty
        self._words: dict[str, int] = {name: n for n, name in enumerate((*_STATUSES, *_LIGHTS))}  # statuses and lights
        self._released = False
        self._sink = sink
        self._sent = (0, 0)  # items and units already passed to the sink

    def __len__(self) -> int:
        return self._count

    def release(self) -> None:
        """Let the rows go once the workbook, their only reader, is written: at 1M assignments they are tens of
        megabytes the rest of the job does not need."""
        self._arrays, self._texts, self._count = [array("i")], {}, 0
        self._released = True

    def add_item(self, view: ItemView) -> int:
        return self.item(view.item.key, view.task_title, view.item.title, view.plan)

    def item(self, key: str, task: str, title: str, plan: str) -> int:
        """Number an item for ``add_rows``."""
        self._items.append((key, task, title, plan))
        return len(self._items) - 1

    def add(self, item: int, a: AssignmentView) -> None:
        self.add_rows(item, map(_LEDGER_FIELDS, (a,)))

    def add_view(self, view: ItemView) -> None:
        """The item and all its principal assignments (``add_item`` and ``add`` for each, in one call): for a caller
        holding views (the tests build ledgers so); the weekly report gives its rows to ``add_rows`` directly."""
        self.add_rows(self.add_item(view), map(_LEDGER_FIELDS, view.principals))

    def add_rows(self, item: int, rows: Iterable[LedgerFields]) -> None:
        """Rows of the item numbered ``item``, each as ``_LEDGER_FIELDS`` reads an assignment view: the weekly report
        gives them so, without a view per row."""
        names, words, texts = self._unit_names, self._words, self._texts
        row = self._count
        added: list[int] = []
        for unit, name, status_word, light_word, due, effective, completed, days, progress, occurrence, note, evidence in rows:
            if unit not in names:
                names[unit] = name
            status, light = words.get(status_word), words.get(light_word)
            if status is None or light is None:  # a status or light this ledger does not know yet: kept, not lost
                status, light = (words.setdefault(w, len(words)) for w in (status_word, light_word))
            if occurrence or note or evidence:
                texts[row] = (occurrence, note, evidence)
            row += 1
            added += (item, unit, status, light, due.toordinal() if due else 0, effective.toordinal() if effective else 0,
                      completed.toordinal() if completed else 0, days, progress)
        self._count = row
        numbers = self._arrays[-1]
        if len(numbers) >= _PER_ARRAY:  # an array may pass the size by one item's rows
            numbers = array("i")
            self._arrays.append(numbers)
        numbers.extend(added)
        if self._sink is not None and len(numbers) >= _WIDTH * SINK_ROWS:
            self._pass_on()

    def finish(self) -> None:
        """Pass the rows not passed on yet to the sink (nothing without one): the report calls it after its last item."""
        if self._sink is not None and (len(self._arrays[-1]) or self._sent[0] < len(self._items)):
            self._pass_on()

    def _pass_on(self) -> None:
        # one array only: with a sink every add_rows that reaches SINK_ROWS passes them on, so an array never reaches
        # _PER_ARRAY before it (a single item of any size goes into the one array)
        items, units = self._sent
        block = LedgerBlock(self._items[items:], dict(itertools.islice(self._unit_names.items(), units, None)),
                            list(self._words), self._arrays[-1], self._texts)
        self._sent = (len(self._items), len(self._unit_names))
        self._arrays, self._texts = [array("i")], {}
        self._released = True  # what was passed on is the sink's: this ledger can no longer list it
        self._sink(block)  # type: ignore[misc]

    def blocks(self) -> Iterator[LedgerBlock]:
        """The rows held, as the blocks a sink would have been given (the first names every item and unit; the texts,
        numbered by row over the whole ledger, go with each block)."""
        self._check_held()
        first = True
        for numbers in self._arrays:
            yield LedgerBlock(self._items if first else [], self._unit_names if first else {}, self.words, numbers, self._texts)
            first = False

    def compact(self) -> Iterator[tuple[int, int, int, int, int, int, int, int, int, tuple[str, str, str]]]:
        """The rows as they are held: (item, unit, status, light, due, effective due, completed on, overdue days,
        progress, (occurrence, note, evidence)); item, unit, status and light are numbers that ``items``,
        ``unit_names`` and ``words`` name, dates are ordinals (0 for none). For a writer of hundreds of thousands of
        rows that makes each distinct value's output once."""
        texts, empty = self._texts, ("", "", "")
        for row, numbered in enumerate(self.numbers()):
            yield (*numbered, texts.get(row, empty))  # type: ignore[misc]

    def numbers(self) -> Iterator[tuple[int, ...]]:
        """``compact`` without the texts (``texts`` has them by row number): made in C, for the workbook's writer."""
        self._check_held()
        numbers = itertools.chain.from_iterable(self._arrays)
        return zip(*[numbers] * _WIDTH)

    def _check_held(self) -> None:
        if self._released:  # a workbook written now would have an empty 台账 sheet and say nothing
            raise RuntimeError("the weekly ledger was released after its workbook was written (or passed on to a sink); "
                               "build the report again")

    @property
    def texts(self) -> dict[int, tuple[str, str, str]]:
        """(occurrence, note, evidence) by row number, of the rows where any is not empty, in row order."""
        return self._texts

    @property
    def items(self) -> list[tuple[str, str, str, str]]:
        """(key, task title, title, plan code) of each item number ``compact`` gives."""
        return self._items

    @property
    def unit_names(self) -> dict[int, str]:
        return self._unit_names

    @property
    def words(self) -> list[str]:
        """The status or light of each number ``compact`` gives."""
        return list(self._words)

    def __iter__(self) -> Iterator[LedgerRow]:
        words = self.words
        items, units = self._items, self._unit_names
        day = dt.date.fromordinal
        for item, unit, status, light, due, effective, completed, days, progress, (occurrence, note, evidence) in self.compact():
            key, task, title, plan = items[item]
            yield LedgerRow(key, occurrence, task, title, plan, units[unit], words[status], words[light],
                            day(due) if due else None, day(effective) if effective else None,
                            day(completed) if completed else None, days, progress, note, evidence)


@dataclass
class WeeklyReport:
    as_of: dt.date
    since: dt.date
    title: str
    totals: Totals
    items: list[ItemLine]
    units: list[UnitLine]
    changes: list[Change]
    upcoming: list[Upcoming]
    undelivered: list[tuple[str, str, str]]
    warnings: list[str]
    ledger: Ledger = field(default_factory=Ledger)  # every principal assignment, for the workbook
    disclosures: list[DisclosureView] = field(default_factory=list)  # overdue disclosures from the catalogues
    plans: list[PlanSection] = field(default_factory=list)  # one section per plan reported on, in plan order

    @property
    def several(self) -> bool:
        """Whether the report covers more than one plan, so that items are written ``CODE:KEY`` and plans get sections."""
        return len(self.plans) > 1

    def ref(self, plan: str, key: str) -> str:
        return f"{plan}:{key}" if self.several and plan else key

    @property
    def items_by_plan(self) -> list[tuple[PlanSection, list[ItemLine]]]:
        """The item lines under their plan's section, in plan order: the report's section per plan."""
        return [(p, [i for i in self.items if i.plan == p.code]) for p in self.plans]
    review: ReviewFigures = field(default_factory=lambda: ReviewFigures())

    @property
    def red_items(self) -> list[ItemLine]:
        return [i for i in self.items if i.light == "red"]

    def to_json(self) -> dict[str, Any]:
        t = self.totals
        return {
            "as_of": self.as_of.isoformat(), "since": self.since.isoformat(), "title": self.title,
            "totals": _totals_json(t),
            "plans": [p.to_json() for p in self.plans],
            "items": [{"plan": i.plan, "key": i.key, "title": i.title, "light": i.light, "due": i.due.isoformat() if i.due else None,
                       "due_text": i.due_text, "done": i.done, "total": i.total, "late_units": i.late_units} for i in self.items],
            "units": [u.to_json() for u in self.units],
            "changes": [{"kind": c.kind, "on": c.on.isoformat(), "plan": c.plan, "item": c.item, **_occurrence(c.occurrence), "unit": c.unit,
                         "text": c.text} for c in self.changes],
            "upcoming": [{"due": u.due.isoformat(), "plan": u.plan, "item": u.item, **_occurrence(u.occurrence), "title": u.title,
                          "unit": u.unit} for u in self.upcoming],
            "undelivered": [{"recipient": r, "subject": s, "error": e} for r, s, e in self.undelivered],
            "warnings": self.warnings,
            "overdue_disclosures": [d.to_json(self.as_of) for d in self.disclosures],
            "review": self.review.to_json(),
        }


def _occurrence(label: str) -> dict[str, str]:
    """The ``occurrence`` field of a JSON entry: only for an occurrence of a recurring item."""
    return {"occurrence": label} if label else {}


def _totals(counts: dict[str, int]) -> Totals:
    """The figures of principal assignments counted by derived status."""
    done, late = counts.get("done", 0), counts.get("done_late", 0)
    known = {"done", "done_late", "na", "overdue", "waiting", "ongoing", "recurring", "in_progress"}
    return Totals(assignments=sum(counts.values()), done=done + late, done_on_time=done, done_late=late,
                  not_applicable=counts.get("na", 0), overdue=counts.get("overdue", 0), waiting=counts.get("waiting", 0),
                  ongoing=counts.get("ongoing", 0) + counts.get("recurring", 0), in_progress=counts.get("in_progress", 0),
                  not_started=sum(n for status, n in counts.items() if status not in known))


def build_weekly_report(
    session: Session, as_of: dt.date, calendar: WorkCalendar, lights: LightRules, *, title: str, tz: dt.tzinfo,
    plan_ids: list[int] | None = None, acknowledge_within: int | None = None, ledger: Ledger | None = None,
) -> WeeklyReport:
    """The report as of the end of ``as_of``: figures, lights, ranking, the last 7 days and the next 14, over every
    active plan (or the plans ``plan_ids`` names), with totals per plan; a unit is ranked on all its work. ``ledger``:
    one given a sink, for the weekly job's workbook written in another process as the rows are found."""
    plans = [p for p in session.exec(select(Plan).order_by(Plan.id)).all()  # type: ignore[arg-type]
             if (p.id in plan_ids if plan_ids is not None else p.state == "active")]
    context = PlanContext.load(session, calendar, plan_ids=[p.id for p in plans])  # type: ignore[misc]
    sections = {p.code: PlanSection(p.code, p.title) for p in plans}
    statuses: dict[str, dict[str, int]] = {code: {} for code in sections}  # per plan, principal assignments by status
    since = as_of - dt.timedelta(days=7)
    items: list[ItemLine] = []
    upcoming: list[Upcoming] = []
    changes: list[Change] = []
    ledger = ledger if ledger is not None else Ledger()
    soon = as_of + dt.timedelta(days=14)
    # each unit's figures in arrays by unit id (assigned, done, on time, overdue, overdue days, yellow or red), its line
    # made at the end: a unit object per unit made among each block's short-lived views kept their memory from the system
    size = max(context.unit_names, default=0) + 1
    tally = [array("q", bytes(8 * size)) for _ in range(6)]
    assigned, done, on_time, overdue, overdue_days, flagged = tally
    names, tasks = context.unit_names, context.tasks
    for item, _rule, due, waiting, plan, _rows, principals in _derived(session, context, as_of, lights):
        if not principals:
            continue
        code, key = plan.code if plan else "", item.key
        counts = statuses[code]
        closed, late, red, yellow = 0, [], False, False
        rows: list[LedgerFields] = []
        for row, row_due, effective, status, light, days in principals:
            unit = row.unit_id
            name = names[unit]
            rows.append((unit, name, status, light, row_due, effective, row.completed_on, days, row.progress, row.occurrence,
                         row.note, row.evidence))
            counts[status] = counts.get(status, 0) + 1
            assigned[unit] += 1
            if light != "green":
                flagged[unit] += 1
                red = red or light == "red"
                yellow = yellow or light == "yellow"
            if status in DONE:
                done[unit] += 1
                on_time[unit] += status == "done"
                closed += 1
            elif status == "na":
                closed += 1
            elif status == "overdue":
                late.append(name)
                overdue[unit] += 1
                overdue_days[unit] += days
                if effective and since <= effective < as_of:
                    changes.append(Change("overdue", effective + dt.timedelta(days=1), key, name, "新逾期", row.occurrence, code))
            elif status in ("not_started", "in_progress") and effective and as_of < effective <= soon:
                upcoming.append(Upcoming(effective, key, item.title, name, row.occurrence, code))
        ledger.add_rows(ledger.item(key, tasks.get(item.task_id, ""), item.title, code), rows)
        light = "red" if red else "yellow" if yellow else "green"  # as ``ItemView.light``
        section = sections[code]
        section.items += 1
        section.red_items += light == "red"
        items.append(ItemLine(
            key=key, title=item.title, light=light, due=due,
            due_text=due.isoformat() if due else (waiting or item.deadline_text),
            done=closed, total=len(principals), late_units=late, plan=code,
        ))
    ledger.finish()
    units: dict[str, UnitLine] = {}
    for unit, name in context.unit_names.items():
        if assigned[unit]:
            line = units.get(name)
            if line is None:
                line = units[name] = UnitLine(name)
            line.assigned += assigned[unit]
            line.done += done[unit]
            line.on_time += on_time[unit]
            line.overdue += overdue[unit]
            line.overdue_days += overdue_days[unit]
            line.flagged += flagged[unit]
    del tally, assigned, done, on_time, overdue, overdue_days, flagged
    everything: dict[str, int] = {}
    for code, counts in statuses.items():
        sections[code].totals = _totals(counts)
        for status, n in counts.items():
            everything[status] = everything.get(status, 0) + n
    totals = _totals(everything)
    changes += _journal_changes(session, since, as_of, tz, {p.id: p.code for p in plans})  # type: ignore[misc]
    changes.sort(key=lambda c: (c.on, c.plan, c.item, c.occurrence, c.unit))
    ranked = sorted(units.values(), key=lambda u: (-u.overdue, -u.overdue_days, u.done / u.assigned if u.assigned else 1, u.unit))
    # failed messages, and sent ones whose server refused some recipients (the note a transport returns is kept as last_error)
    undelivered = [(m.recipient, m.subject, m.last_error) for m in session.exec(
        select(OutboxMessage).where((OutboxMessage.state == "failed") | ((OutboxMessage.state == "sent") & (OutboxMessage.last_error != "")))
        .order_by(OutboxMessage.id)).all()]
    upcoming.sort()
    return WeeklyReport(as_of=as_of, since=since, title=title, totals=totals, items=items, units=ranked, changes=changes,
                        upcoming=upcoming, undelivered=undelivered, warnings=calendar.warnings, ledger=ledger,
                        disclosures=overdue_disclosures(session, as_of), plans=list(sections.values()),
                        review=_review_figures(session, since, as_of, calendar, tz, acknowledge_within, [p.id for p in plans]))


_ITEMS_AT_ONCE = 500  # items whose views are held at one time: a province's 180k assignments never are, all at once


# What the report's views read: principal rows only (the report names no lead or guiding unit) and not the signing
# time; built once. ``PRINCIPAL`` (``role || ''``): the index on item_id serves it, not the one on role.
_BlockRow = namedtuple("_BlockRow", [c for c in AssignmentRow._fields if c != "acknowledged_at"])  # type: ignore[misc]
_BLOCK_QUERY = (select(*(getattr(Assignment, c) for c in _BlockRow._fields))
                .where(Assignment.retired == False, PRINCIPAL, Assignment.item_id.in_(ITEMS))  # type: ignore[attr-defined]  # noqa: E712
                .order_by(Assignment.id))


def _derived(session: Session, context: PlanContext, as_of: dt.date, lights: LightRules) -> Iterator[tuple[Any, ...]]:
    """``PlanContext.derived`` over the items of ``context``, in its order, read a block of items at a time (the rows
    the CLI's views hold, derived by the same code): only one block's rows are alive at once, whatever the size of the
    plans."""
    with collector_paused():
        for start in range(0, len(context.items), _ITEMS_AT_ONCE):
            block = context.items[start:start + _ITEMS_AT_ONCE]
            result = session.connection().execute(_BLOCK_QUERY, {"items": [i.id for i in block]})
            rows = list(map(_BlockRow._make, result.all()))  # one fetch, not a fetch per row; in id order
            yield from dataclasses.replace(context, items=block).derived(rows, as_of, lights)


def _review_figures(session: Session, since: dt.date, as_of: dt.date, calendar: WorkCalendar, tz: dt.tzinfo,
                    acknowledge_within: int | None, plan_ids: list[int]) -> ReviewFigures:
    """The figures of the plans reported on as they stood at the end of ``as_of`` (a report made later for that day
    shows the same numbers)."""
    returned = session.exec(select(JournalEntry.at).where(JournalEntry.action == "review_return",
                                                          col(JournalEntry.plan_id).in_(plan_ids))).all()
    return ReviewFigures(
        waiting=waiting_for_review(session, as_of, tz, plan_ids),
        returned_this_week=sum(1 for at in returned if since < at.astimezone(tz).date() <= as_of),
        unsigned=unsigned(session, as_of, calendar, acknowledge_within, tz=tz, plan_ids=plan_ids) if acknowledge_within else [],
        signing=bool(acknowledge_within),
    )


def _journal_changes(
    session: Session, since: dt.date, as_of: dt.date, tz: dt.tzinfo, codes: dict[int, str],
) -> list[Change]:
    """Completions, extensions and notes journalled in the 7 days up to ``as_of`` (days in the plan's time zone), of
    the plans in ``codes``."""
    rows = session.exec(select(JournalEntry).where(JournalEntry.action.in_(("status", "extend")),  # type: ignore[attr-defined]
                                                   JournalEntry.plan_id.in_(list(codes)))).all()  # type: ignore[union-attr]
    seen: dict[tuple[str, str, str, str, str], Change] = {}
    for row in rows:
        day = row.at.astimezone(tz).date()
        if not since < day <= as_of:
            continue
        if row.action == "extend":
            change = Change("extension", day, row.item_key or "", row.unit_name or "",
                            f"延期 {row.details.get('from_due')} → {row.details.get('to_due')}：{row.note}")
        elif row.to_state == "done" and row.from_state != "done":
            change = Change("completed", day, row.item_key or "", row.unit_name or "",
                            f"完成于 {row.details.get('completed_on')}" + (f"（{row.note}）" if row.note else ""))
        elif row.note:
            change = Change("note", day, row.item_key or "", row.unit_name or "", row.note)
        else:
            continue
        change.occurrence = row.details.get("occurrence", "")
        change.plan = codes.get(row.plan_id, "")  # type: ignore[arg-type]
        seen[(change.kind, change.plan, change.item, change.unit, change.occurrence)] = change
    return list(seen.values())
