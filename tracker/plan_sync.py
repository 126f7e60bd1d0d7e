"""Bringing the database in line with a planned plan, and saying what changed.

Re-importing the same file changes nothing. A changed file updates items and adds or retires
assignments; an assignment that stays keeps its status and history, and one that comes back is
restored with its old status. The same machinery adds assignments when a unit joins a group.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import insert
from sqlmodel import Session, select

from tracker.calendar import WorkCalendar
from tracker.deadlines import DeadlineRule
from tracker.directory import Directory, DirectoryFile, store_directory
from tracker.errors import PlanImportError
from tracker.expansion import ItemSpec, expand_item
from tracker.importer import COLUMN_LABELS, PlannedItem, PlannedPlan, read_plan
from tracker.models import Assignment, Event, Item, JournalEntry, Plan, UnitGroup, WorkTask
from tracker.occurrences import Occurrence, occurrences, plan_end
from tracker.tablefile import DEFAULT_MAX_BYTES

AssignmentKey = tuple[str, str, str, str]  # item key, unit name, role, occurrence ("" unless the item recurs)
Desired = dict[AssignmentKey, tuple[int, dt.date | None]]  # unit id and the occurrence's due date


@dataclass
class PlanDiff:
    added_tasks: list[str] = field(default_factory=list)
    removed_tasks: list[str] = field(default_factory=list)
    added_items: list[str] = field(default_factory=list)
    removed_items: list[str] = field(default_factory=list)
    changed_items: list[tuple[str, list[str]]] = field(default_factory=list)
    added_assignments: list[AssignmentKey] = field(default_factory=list)
    removed_assignments: list[AssignmentKey] = field(default_factory=list)
    new_events: list[tuple[str, str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(
            (self.added_tasks, self.removed_tasks, self.added_items, self.removed_items, self.changed_items,
             self.added_assignments, self.removed_assignments, self.new_events)
        )

    def to_json(self) -> dict[str, object]:
        def rows(keys: list[AssignmentKey]) -> list[dict[str, str]]:
            return [{"item": i, "unit": u, "role": r, **({"occurrence": o} if o else {})} for i, u, r, o in keys]

        return {
            "unchanged": self.empty,
            "added_tasks": self.added_tasks,
            "removed_tasks": self.removed_tasks,
            "added_items": self.added_items,
            "removed_items": self.removed_items,
            "changed_items": [{"item": k, "fields": f} for k, f in self.changed_items],
            "added_assignments": rows(self.added_assignments),
            "removed_assignments": rows(self.removed_assignments),
            "new_events": [{"key": k, "name": n} for k, n in self.new_events],
        }


def _planned_values(item: PlannedItem) -> dict[str, object]:
    return {
        "title": item.title,
        "domain": item.domain,
        "parent_key": item.parent_key,
        "deadline_text": item.deadline_text,
        "deadline": item.rule.to_json(),
        "event_key": None,
        "depends_on": item.depends_on,
        "lead_text": item.texts.get("lead", ""),
        "principal_text": item.texts.get("principal", ""),
        "guiding_text": item.texts.get("guiding", ""),
        "cooperating_text": item.texts.get("cooperating", ""),
        "leader_text": item.people.get("leader", ""),
        "contact_text": item.people.get("contact", ""),
        "inherited": item.inherited,
        "source_line": item.line,
        "position": item.position,
    }


_REPORTED = {
    "title": "标题", "deadline_text": "完成时间", "lead_text": COLUMN_LABELS["lead"],
    "principal_text": COLUMN_LABELS["principal"], "guiding_text": COLUMN_LABELS["guiding"],
    "cooperating_text": COLUMN_LABELS["cooperating"], "leader_text": COLUMN_LABELS["leader"],
    "contact_text": COLUMN_LABELS["contact"], "task": "所属任务", "parent_key": "上级事项",
}


def item_spec(item: Item, parents: set[str]) -> ItemSpec:
    texts = {"lead": item.lead_text, "principal": item.principal_text, "guiding": item.guiding_text,
             "cooperating": item.cooperating_text}
    return ItemSpec(key=item.key, domain=item.domain, texts=texts, is_parent=item.key in parents)


def _desired(
    specs: list[ItemSpec], directory: Directory, plan_row: Plan, lead_does_work: bool,
    series: dict[str, list[Occurrence]],
) -> Desired:
    """Every (item, unit, role, occurrence) the plan calls for; a recurring item's principals once per occurrence."""
    desired: Desired = {}
    for spec in specs:
        for unit, role in expand_item(spec, directory, domain_rule=plan_row.domain_row_principals, lead_does_work=lead_does_work):
            if role == "principal" and spec.key in series:
                for occurrence in series[spec.key]:
                    desired[(spec.key, unit.name, role, occurrence.label)] = (unit.id, occurrence.due)  # type: ignore[assignment]
            else:
                desired[(spec.key, unit.name, role, "")] = (unit.id, None)  # type: ignore[assignment]
    return desired


def _series(
    rules: dict[str, tuple[DeadlineRule, dt.date | None]], plan_row: Plan, calendar: WorkCalendar, today: dt.date,
) -> dict[str, list[Occurrence]]:
    """The occurrences of each recurring item: from the plan's start (or the item's first listing) to the plan's end."""
    found: dict[str, list[Occurrence]] = {}
    for key, (rule, listed_on) in rules.items():
        if rule.kind != "recurring" or not rule.every:
            continue
        first = max((d for d in (plan_row.starts_on, listed_on) if d is not None), default=today)
        last = plan_row.ends_on or plan_end(plan_row.plan_year, first, None)
        found[key] = occurrences(rule, first, last, calendar.add_working_days)
    return found


def plan_row_for(session: Session, code: str, directory: Directory, *, starts_on: dt.date | None = None) -> Plan:
    """The plan stored under ``code``, or a new one (not yet added) with the county and directory rules of the first
    plan: importing into a new code never touches another plan."""
    found = session.exec(select(Plan).where(Plan.code == code)).first()
    if found is not None:
        return found
    first = session.exec(select(Plan).order_by(Plan.id)).first()  # type: ignore[arg-type]
    return Plan(code=code, county=first.county if first else "", starts_on=starts_on,
                domain_row_principals=first.domain_row_principals if first else "guiding")


def apply_plan(
    session: Session, plan: PlannedPlan, directory: Directory, *, now: dt.datetime, actor: str, write: bool = True,
    calendar: WorkCalendar | None = None, recurring_until: dt.date | None = None, code: str | None = None,
    title: str | None = None, starts_on: dt.date | None = None,
) -> PlanDiff:
    """Compare ``plan`` with the plan stored under ``code`` and, when ``write``, make that plan match it; other
    plans are not read or touched. Without ``code`` the database must hold exactly one plan (the import of old).

    ``recurring_until`` (config) is the last day recurring duties get occurrences for; without it the plan keeps
    the day it has, or the end of the plan year after next. ``title`` replaces the document's own title.
    """
    diff = PlanDiff()
    calendar = calendar or WorkCalendar()
    plan_row = plan_row_for(session, code, directory, starts_on=starts_on) if code else session.exec(select(Plan)).one()
    if plan_row.id is None:
        session.add(plan_row)
        session.flush()
    tasks = {t.number: t for t in session.exec(select(WorkTask).where(WorkTask.plan_id == plan_row.id)).all()}
    items = {i.key: i for i in session.exec(select(Item).where(Item.plan_id == plan_row.id)).all()}
    events = {e.name: e for e in session.exec(select(Event).where(Event.plan_id == plan_row.id)).all()}
    task_by_id = {t.id: t.number for t in tasks.values()}

    for number in plan.tasks:
        if number not in tasks or tasks[number].retired:
            diff.added_tasks.append(number)
    diff.removed_tasks = [n for n, t in tasks.items() if not t.retired and n not in plan.tasks]

    next_event = len(events) + 1
    event_keys = {name: e.key for name, e in events.items()}
    for item in plan.items:
        if item.event_name and item.event_name not in event_keys:
            event_keys[item.event_name] = f"E{next_event}"
            diff.new_events.append((f"E{next_event}", item.event_name))
            next_event += 1

    planned_keys = {item.key for item in plan.items}
    for item in plan.items:
        values = _planned_values(item)
        values["event_key"] = event_keys.get(item.event_name) if item.event_name else None
        existing = items.get(item.key)
        if existing is None or existing.retired:
            diff.added_items.append(item.key)
            continue
        changed = [label for name, label in _REPORTED.items() if name != "task" and getattr(existing, name) != values[name]]
        if task_by_id.get(existing.task_id) != item.task:
            changed.append(_REPORTED["task"])
        if changed:
            diff.changed_items.append((item.key, changed))
    diff.removed_items = [k for k, i in items.items() if not i.retired and k not in planned_keys]

    parents = {i.key for i in plan.items if i.is_parent}
    specs = [ItemSpec(key=i.key, domain=i.domain, texts=i.texts, is_parent=i.key in parents) for i in plan.items]
    today = now.date()
    if plan_row.starts_on is None:
        plan_row.starts_on = today
    plan_row.plan_year = plan.plan_year if plan.plan_year is not None else plan_row.plan_year
    plan_row.ends_on = recurring_until or plan_row.ends_on or plan_end(plan_row.plan_year, plan_row.starts_on, None)
    first_import = plan_row.imported_at is None

    def listed_on(key: str) -> dt.date:
        existing = items.get(key)
        if existing is not None and not existing.retired:
            return existing.listed_on or plan_row.starts_on or today  # rows from before 0006 count from the start
        return plan_row.starts_on if first_import else today  # type: ignore[return-value]

    listed = {i.key: listed_on(i.key) for i in plan.items}
    series = _series({i.key: (i.rule, listed[i.key]) for i in plan.items}, plan_row, calendar, today)
    desired = _desired(specs, directory, plan_row, not plan.has_principal_column, series)
    _check_staffed(plan, specs, directory, desired, series)
    current = _current_assignments(session, directory, plan_row.id)  # type: ignore[arg-type]
    diff.added_assignments = [k for k in desired if k not in current or current[k].retired]
    diff.removed_assignments = [k for k, a in current.items() if not a.retired and k not in desired]
    if not write or (diff.empty and plan_row.checksum == plan.checksum and plan_row.source == plan.source
                     and (title is None or title == plan_row.title)):
        return diff

    for number, task_title in plan.tasks.items():
        task = tasks.get(number) or WorkTask(plan_id=plan_row.id, number=number, title=task_title)
        task.title, task.retired, task.position = task_title, False, list(plan.tasks).index(number)
        session.add(task)
        tasks[number] = task
    for number in diff.removed_tasks:
        tasks[number].retired = True
    for key, name in diff.new_events:
        session.add(Event(plan_id=plan_row.id, key=key, name=name))
    session.flush()
    for item in plan.items:
        values = _planned_values(item)
        values["event_key"] = event_keys.get(item.event_name) if item.event_name else None
        row = items.get(item.key) or Item(plan_id=plan_row.id, key=item.key, task_id=tasks[item.task].id, title="",
                                          deadline_text="")
        row.listed_on = listed[item.key]
        for name, value in values.items():
            setattr(row, name, value)
        row.task_id, row.retired = tasks[item.task].id, False  # type: ignore[assignment]
        session.add(row)
        items[item.key] = row
    for key in diff.removed_items:
        items[key].retired = True
    session.flush()
    plan_row.title, plan_row.source, plan_row.checksum = title or plan.title, plan.source, plan.checksum
    plan_row.plan_year, plan_row.imported_at = plan.plan_year, now
    plan_row.lead_does_work = not plan.has_principal_column
    session.add(plan_row)
    _write_assignments(session, diff, desired, current, items, now, actor, plan_row.id)  # type: ignore[arg-type]
    session.add(JournalEntry(
        at=now, actor=actor, action="import", note=f"导入计划表 {plan.source}", plan_id=plan_row.id,
        details={"checksum": plan.checksum, **diff.to_json()},
    ))
    return diff


def _check_staffed(
    plan: PlannedPlan, specs: list[ItemSpec], directory: Directory, desired: Desired, series: dict[str, list[Occurrence]],
) -> None:
    """An item row whose unit cell named units must have a principal after expansion: a row that lost its units
    (a misread table, a domain rule that narrows them all away) is an error, never a silent drop. The exception is
    a group with no members yet (village committees), which fills up as units are added."""
    staffed = {key for key, _unit, role, _occurrence in desired if role == "principal"}
    by_key = {i.key: i for i in plan.items}
    waiting = []
    for spec in specs:
        if spec.is_parent or spec.key in staffed:
            continue
        item = by_key[spec.key]
        if spec.key in series and not series[spec.key]:
            plan.warnings.append(
                f"事项 {spec.key}（第 {item.line} 行）是定期工作“{item.deadline_text}”，但在计划期内没有任何一期到期。"
            )
            continue
        column = "principal" if plan.has_principal_column else "lead"
        text = spec.texts.get(column, "")
        refs = directory.resolve_cell(text)
        if not refs or any(isinstance(r, UnitGroup) and not directory.expand([r]) for r in refs):
            waiting.append(spec.key)
            continue
        why = f"（该行是领域行“{spec.domain}”，按规则只保留乡镇和本行指导单位中的部门）" if spec.domain else ""
        raise PlanImportError(
            f"事项 {spec.key} 的{COLUMN_LABELS[column]}“{text}”写了单位，但展开后没有任何承担工作的单位{why}。"
            "请检查表头与各列是否对齐、本行的指导责任单位和单位名录是否正确，修改后重新导入。",
            path=plan.source, line=item.line,
        )
    if waiting:
        plan.warnings.append(
            f"事项 {'、'.join(waiting)} 目前没有主体责任单位（所列单位组还没有成员，如村（居）委会）。"
            "用 tracker units add 添加单位后会自动补上任务分工。"
        )


def _current_assignments(session: Session, directory: Directory, plan_id: int) -> dict[AssignmentKey, Assignment]:
    item_keys = {i.id: i.key for i in session.exec(select(Item).where(Item.plan_id == plan_id)).all()}
    rows = session.exec(select(Assignment).where(Assignment.item_id.in_(list(item_keys)))).all()  # type: ignore[attr-defined]
    return {(item_keys[a.item_id], directory.units[a.unit_id].name, a.role, a.occurrence): a for a in rows}


def _write_assignments(
    session: Session,
    diff: PlanDiff,
    desired: Desired,
    current: dict[AssignmentKey, Assignment],
    items: dict[str, Item],
    now: dt.datetime,
    actor: str,
    plan_id: int,
) -> None:
    fresh = []
    for key in diff.added_assignments:
        if key in current:
            current[key].retired = False
            session.add(current[key])
            _journal_membership(session, key, current[key], "restore", now, actor, plan_id)
        else:
            unit_id, due = desired[key]
            fresh.append({"item_id": items[key[0]].id, "unit_id": unit_id, "role": key[2], "state": "not_started",
                          "progress": 0, "note": "", "evidence": "", "na_reason": "", "retired": False,
                          "occurrence": key[3], "occurrence_due": due})
    for key, (_unit_id, due) in desired.items():  # a changed rule moves the due dates of the occurrences that stay
        row = current.get(key)
        if row is not None and key[3] and row.occurrence_due != due:
            row.occurrence_due = due
            session.add(row)
    if fresh:
        session.execute(insert(Assignment), fresh)
    for key in diff.removed_assignments:
        current[key].retired = True
        session.add(current[key])
        _journal_membership(session, key, current[key], "retire", now, actor, plan_id)
    session.flush()


def _journal_membership(
    session: Session, key: AssignmentKey, row: Assignment, action: str, now: dt.datetime, actor: str, plan_id: int,
) -> None:
    session.add(JournalEntry(
        at=now, actor=actor, action=action, item_key=key[0], plan_id=plan_id, unit_name=key[1], assignment_id=row.id,
        from_state=row.state, to_state=row.state, details={"role": key[2], **({"occurrence": key[3]} if key[3] else {})},
    ))


def sync_assignments(
    session: Session, directory: Directory, *, now: dt.datetime, actor: str, calendar: WorkCalendar | None = None,
) -> PlanDiff:
    """Re-expand the stored items of every plan against the directory (after a unit was added or moved); with more
    than one plan, the item keys of the diff are written ``CODE:KEY``."""
    total = PlanDiff()
    plans = session.exec(select(Plan).order_by(Plan.id)).all()  # type: ignore[arg-type]
    for plan_row in plans:
        items = {i.key: i for i in session.exec(
            select(Item).where(Item.plan_id == plan_row.id, Item.retired == False)).all()}  # noqa: E712
        parents = {i.parent_key for i in items.values() if i.parent_key}
        specs = [item_spec(i, parents) for i in items.values()]
        series = _series({k: (DeadlineRule.from_json(i.deadline), i.listed_on) for k, i in items.items()}, plan_row,
                         calendar or WorkCalendar(), now.date())
        desired = _desired(specs, directory, plan_row, plan_row.lead_does_work, series)
        current = {k: a for k, a in _current_assignments(session, directory, plan_row.id).items() if k[0] in items}  # type: ignore[arg-type]
        diff = PlanDiff(
            added_assignments=[k for k in desired if k not in current or current[k].retired],
            removed_assignments=[k for k, a in current.items() if not a.retired and k not in desired],
        )
        _write_assignments(session, diff, desired, current, items, now, actor, plan_row.id)  # type: ignore[arg-type]
        shown = (lambda k: (f"{plan_row.code}:{k[0]}", *k[1:])) if len(plans) > 1 else (lambda k: k)
        total.added_assignments += [shown(k) for k in diff.added_assignments]  # type: ignore[misc]
        total.removed_assignments += [shown(k) for k in diff.removed_assignments]  # type: ignore[misc]
    return total


def initialise(
    session: Session, directory_file: DirectoryFile, plan_path: Path, *, plan_year: int | None,
    starts_on: dt.date, now: dt.datetime, actor: str, calendar: WorkCalendar | None = None,
    recurring_until: dt.date | None = None, table: int | None = None,
    max_bytes: int | None = DEFAULT_MAX_BYTES, code: str | None = None, title: str | None = None,
) -> tuple[PlannedPlan, PlanDiff]:
    """Fill an empty schema: the directory, then the first plan (its code derived from the file name unless given)."""
    from tracker.plans import derive_code  # plans imports models only; here to keep the import graph flat

    code = code or derive_code(plan_path)
    session.add(Plan(
        code=code, county=directory_file.directory.county, starts_on=starts_on,
        domain_row_principals=directory_file.directory.domain_row_principals,
    ))
    store_directory(session, directory_file, now=now)
    directory = Directory.load(session)
    plan = read_plan(plan_path, directory, plan_year, table=table, max_bytes=max_bytes)
    return plan, apply_plan(session, plan, directory, now=now, actor=actor, calendar=calendar,
                            recurring_until=recurring_until, code=code, title=title)
