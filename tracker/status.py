"""Changing the state of assignments, granting extensions and recording outside events.

Every function checks everything first and raises StatusError before it writes anything, then
journals each change it makes: who, when, from and to. The journal is only ever appended to.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from tracker.calendar import WorkCalendar
from tracker.deadlines import DeadlineRule
from tracker.errors import StatusError, UnknownNameError
from tracker.models import STATES, Assignment, Event, Item, JournalEntry, Plan, Unit, UnitGroup
from tracker.names import normalize, suggest
from tracker.occurrences import EXAMPLES, occurrence_for_period, occurrence_of
from tracker.plans import find_plan, plan_code, resolve_item
from tracker.queries import item_dues
from tracker.text import clean_line, clean_text

if TYPE_CHECKING:  # the callers hand it in; `tracker show` finds an item without loading the directory's file models
    from tracker.directory import Directory


@dataclass(frozen=True)
class StatusChange:
    state: str | None = None
    progress: int | None = None
    note: str = ""
    on: dt.date | None = None
    by: str = ""
    evidence: str = ""
    force: bool = False
    source: str = ""  # where the change came from when not typed in (a status sheet's file name), kept in the journal


@dataclass
class ChangeRecord:
    item: str
    unit: str
    from_state: str
    to_state: str
    from_progress: int
    to_progress: int
    completed_on: dt.date | None
    changed: bool
    occurrence: str = ""
    plan: str = ""  # the code of the item's plan

    def to_json(self) -> dict[str, object]:
        return {
            "plan": self.plan, "item": self.item, "occurrence": self.occurrence or None, "unit": self.unit, "from": self.from_state,
            "to": self.to_state,
            "from_progress": self.from_progress, "to_progress": self.to_progress,
            "completed_on": self.completed_on.isoformat() if self.completed_on else None, "changed": self.changed,
        }


def find_item(session: Session, key: str, plan: str | None = None) -> Item:
    """The item an operator means: ``CODE:KEY`` or a key unambiguous among the active plans (see ``resolve_item``)."""
    return resolve_item(session, key, plan=plan)


def resolve_occurrence(item: Item, occurrence: str | None, period: str | None) -> str:
    """The occurrence label a command means: "" for a one-off deadline; for a recurring item, the one named by
    ``--occurrence`` or the one whose period contains ``--period``, which must be given."""
    rule = DeadlineRule.from_json(item.deadline)
    if rule.kind != "recurring" or not rule.every:
        if occurrence or period:
            raise StatusError(f"事项 {item.key} 不是定期工作（完成时间“{item.deadline_text}”），不用 --occurrence 或 --period。")
        return ""
    if occurrence and period:
        raise StatusError("--occurrence 和 --period 只能用一个。")
    if occurrence:
        return occurrence_of(rule, occurrence, lambda day, _n: day).label
    if period:
        return occurrence_for_period(rule, period)
    raise StatusError(
        f"事项 {item.key} 是定期工作（{item.deadline_text}），每期单独登记。请用 --occurrence 指定期次"
        f"（如 {EXAMPLES[rule.every]}），或用 --period 写出该期中的月份或日期（如 2020-10）。"
        f"可用 tracker show {item.key} 查看各期。"
    )


def principal_rows(
    session: Session, item: Item, directory: Directory, unit_names: Sequence[str], occurrence: str = ""
) -> list[tuple[Unit, Assignment]]:
    """The principal assignments of ``item`` (of one occurrence) for the units or groups named; every name must have one."""
    rows = {a.unit_id: a for a in session.exec(
        select(Assignment).where(Assignment.item_id == item.id, Assignment.role == "principal", Assignment.retired == False,  # noqa: E712
                                 Assignment.occurrence == occurrence)
    ).all()}
    if not rows and occurrence:
        raise StatusError(f"事项 {item.key} 没有 {occurrence} 这一期（计划期内各期见 tracker show {item.key}）。")
    if not rows:
        children = session.exec(select(Item.key).where(Item.plan_id == item.plan_id, Item.parent_key == item.key,
                                                       Item.retired == False)).all()  # noqa: E712
        hint = f"请指定具体领域，例如 {children[0]}。" if children else ""
        raise StatusError(f"事项 {item.key} 没有主体责任单位的任务，无法更新状态。{hint}")
    found: dict[int, tuple[Unit, Assignment]] = {}
    for name in unit_names:
        ref = directory.lookup(name)
        if ref is None:
            raise UnknownNameError("单位", name, directory.suggestions(name))
        members = directory.members(ref) if isinstance(ref, UnitGroup) else [ref]
        matched = [u for u in members if u.id in rows]
        if not matched:
            names = "、".join(directory.units[i].name for i in list(rows)[:5])
            raise StatusError(
                f"“{ref.name}”在事项 {item.key} 中没有主体责任任务。该事项的主体责任单位有：{names} 等 {len(rows)} 个。"
            )
        for unit in matched:
            found[unit.id] = (unit, rows[unit.id])  # type: ignore[index]
    return list(found.values())


def update_status(
    session: Session, directory: Directory, item_key: str, unit_names: Sequence[str], change: StatusChange,
    *, today: dt.date, now: dt.datetime, occurrence: str | None = None, period: str | None = None,
    plan: str | None = None,
) -> list[ChangeRecord]:
    """Apply one change to the named assignments; all are checked before any is written.

    Notes and evidence arrive pasted from Word: their control characters are cleaned here, before
    they reach the journal, the reports and the workbook."""
    change = replace(change, note=clean_text(change.note), evidence=clean_text(change.evidence), by=clean_line(change.by))
    if change.state is not None and change.state not in STATES:
        raise StatusError(f"未知的状态“{change.state}”。可用：not-started、in-progress、done、n/a。")
    if change.progress is not None and not 0 <= change.progress <= 100:
        raise StatusError(f"进度 {change.progress} 超出范围：应在 0 到 100 之间。")
    if change.state == "na" and not change.note.strip():
        raise StatusError("设为“不适用”时必须用 --note 写明原因。")
    if change.on and change.on > today:
        raise StatusError(f"完成日期 {change.on} 晚于今天（{today}），不能登记未来的完成日期。")
    if change.state is None and change.progress is None and not change.note and not change.evidence:
        raise StatusError("没有要修改的内容。请至少指定 --set、--progress、--note 或 --evidence 之一。")
    item = find_item(session, item_key, plan)
    label = resolve_occurrence(item, occurrence, period)
    targets = principal_rows(session, item, directory, unit_names, label)
    plans = [(unit, row, _next(row, change, today, unit.name, item.key)) for unit, row in targets]
    records = []
    code = plan_code(session, item)
    for unit, row, (state, progress, completed_on) in plans:
        record = ChangeRecord(item.key, unit.name, row.state, state, row.progress, progress, completed_on, False, label,
                              code)
        record.changed = (state, progress, completed_on) != (row.state, row.progress, row.completed_on) or bool(
            change.note and change.note != row.note) or bool(change.evidence and change.evidence != row.evidence)
        records.append(record)
        if not record.changed:
            continue
        session.add(JournalEntry(
            at=now, actor=change.by, action="status", item_key=item.key, plan_id=item.plan_id, unit_name=unit.name,
            assignment_id=row.id,
            from_state=row.state, to_state=state, from_progress=row.progress, to_progress=progress,
            note=change.note, evidence=change.evidence,
            details={"completed_on": completed_on.isoformat() if completed_on else None,
                     "previous_completed_on": row.completed_on.isoformat() if row.completed_on else None,
                     **({"occurrence": label} if label else {}),
                     **({"source": change.source} if change.source else {})},
        ))
        row.state, row.progress, row.completed_on = state, progress, completed_on
        if change.note:
            row.note = change.note
        if change.evidence:
            row.evidence = change.evidence
        row.na_reason = change.note if state == "na" else ""
        row.updated_at = now
        session.add(row)
    session.flush()
    return records


def _next(row: Assignment, change: StatusChange, today: dt.date, unit: str, item: str) -> tuple[str, int, dt.date | None]:
    state = change.state or ("in_progress" if change.progress is not None and row.state == "not_started" else row.state)
    progress = change.progress if change.progress is not None else row.progress
    if state == "done":
        on = change.on or (row.completed_on if row.state == "done" else today)
        if row.state == "done" and row.completed_on and on != row.completed_on and not change.force:
            raise StatusError(
                f"{unit} 的事项 {item} 已于 {row.completed_on} 完成。如要改为 {on}，请加 --force。"
            )
        return "done", 100, on
    if change.progress is not None and change.progress == 100 and change.state is None:
        raise StatusError("进度 100% 请用 --set done 登记完成（并用 --on 写明完成日期）。")
    if state == "not_started":
        return state, 0 if change.progress is None else progress, None
    if change.on and change.state != "done":
        raise StatusError("--on 只用于登记完成日期，请与 --set done 一起使用。")
    return state, progress if row.state != "done" or change.progress is not None else 0, None


def extend(
    session: Session, directory: Directory, item_key: str, unit_names: Sequence[str], to: dt.date, reason: str,
    *, by: str, calendar: WorkCalendar, now: dt.datetime, occurrence: str | None = None, period: str | None = None,
    plan: str | None = None,
) -> list[dict[str, object]]:
    """Record an approved extension (延期): a new effective deadline, the original kept beside it."""
    reason, by = clean_text(reason), clean_line(by)
    if not reason.strip():
        raise StatusError("延期必须用 --reason 写明原因（如批准文号）。")
    item = find_item(session, item_key, plan)
    label = resolve_occurrence(item, occurrence, period)
    due, waiting = item_dues(session, [item, *item_dependencies(session, item)], calendar)[item.id]  # type: ignore[index]
    targets = principal_rows(session, item, directory, unit_names, label)
    if label:
        due = targets[0][1].occurrence_due
    if due is None:
        raise StatusError(f"事项 {item.key} 目前没有确定的完成期限（{waiting or item.deadline_text}），无法延期。")
    for unit, row in targets:
        current = row.extended_due or due
        if row.state == "done":
            raise StatusError(f"{unit.name} 的事项 {item.key} 已于 {row.completed_on} 完成，不能再延期。")
        if to <= current:
            raise StatusError(
                f"延期后的日期 {to} 不晚于 {unit.name} 当前的期限 {current}。延期只能推后期限。"
            )
    results = []
    for unit, row in targets:
        previous = row.extended_due or due
        session.add(JournalEntry(
            at=now, actor=by, action="extend", item_key=item.key, plan_id=item.plan_id, unit_name=unit.name,
            assignment_id=row.id,
            from_state=row.state, to_state=row.state, note=reason,
            details={"original_due": due.isoformat(), "from_due": previous.isoformat(), "to_due": to.isoformat(),
                     **({"occurrence": label} if label else {})},
        ))
        row.extended_due, row.updated_at = to, now
        session.add(row)
        results.append({"plan": plan_code(session, item), "item": item.key, "occurrence": label or None, "unit": unit.name, "original_due": due.isoformat(),
                        "from_due": previous.isoformat(), "to_due": to.isoformat()})
    session.flush()
    return results


def item_dependencies(session: Session, item: Item) -> list[Item]:
    if not item.depends_on:
        return []
    return list(session.exec(select(Item).where(
        Item.plan_id == item.plan_id, (Item.key == item.depends_on) | (Item.parent_key == item.depends_on))).all())


def find_event(session: Session, name: str, plan: str | None = None) -> Event:
    """The event ``name`` means (its key, E1, or its name), of the ``--plan`` given or else of the one active plan
    that has it: an event key means that plan's event, so two plans with the name refuse and list them."""
    plans = {p.id: p for p in session.exec(select(Plan)).all()}
    query = select(Event)
    if plan:
        query = query.where(Event.plan_id == find_plan(session, plan).id)
    else:
        query = query.where(Event.plan_id.in_([i for i, p in plans.items() if p.state == "active"]))  # type: ignore[union-attr]
    events = session.exec(query.order_by(Event.id)).all()
    wanted = normalize(name)
    found = [e for e in events if wanted in (normalize(e.key), normalize(e.name))]
    if not found:
        found = [e for e in events if wanted and wanted in normalize(e.name)]
    if len(found) == 1:
        return found[0]
    if len(found) > 1 and len({e.plan_id for e in found}) == len(found):
        listed = "；".join(f"计划 {plans[e.plan_id].code} 的 {e.key}（{e.name}）" for e in found)  # type: ignore[index]
        raise StatusError(f"“{name}”在 {len(found)} 个计划中都有：{listed}。请用 --plan 指定计划，"
                          f"如 tracker event record {found[0].key} --plan {plans[found[0].plan_id].code} --on 日期。")  # type: ignore[index]
    raise UnknownNameError(
        "事件", name, suggest(name, [e.name for e in events] + [e.key for e in events]),
        "可用 tracker events list 查看导入时登记的事件及其编号（如 E1）。",
    )


def record_event(
    session: Session, name: str, on: dt.date, *, by: str, today: dt.date, now: dt.datetime, plan: str | None = None,
) -> dict[str, object]:
    """Record (or move) the date an outside event happened; items of its plan waiting on it get their due date."""
    by = clean_line(by)
    if on > today:
        raise StatusError(f"事件日期 {on} 晚于今天（{today}）。只能登记已经发生的事件。")
    event = find_event(session, name, plan)
    owner = session.get(Plan, event.plan_id)
    code = owner.code if owner else ""
    previous = event.occurred_on
    if previous == on:
        return {"plan": code, "key": event.key, "name": event.name, "from": on.isoformat(), "to": on.isoformat(),
                "changed": False}
    session.add(JournalEntry(
        at=now, actor=by, action="event", note=event.name, plan_id=event.plan_id,
        details={"event": event.key, "from": previous.isoformat() if previous else None, "to": on.isoformat()},
    ))
    event.occurred_on, event.recorded_at = on, now
    session.add(event)
    session.flush()
    return {"plan": code, "key": event.key, "name": event.name, "from": previous.isoformat() if previous else None,
            "to": on.isoformat(), "changed": True}


def history(session: Session, item: Item, unit: Unit | None) -> list[tuple[JournalEntry, str | None]]:
    """The journal of an item (and its domain rows), optionally for one unit, oldest first, with what moved
    its deadline from outside: the recording of the event it waits for (``"event"``) and completions or
    reopenings of the item it depends on (``"dependency"``). Each entry comes with that cause, or None."""
    own = select(JournalEntry).where(
        JournalEntry.plan_id == item.plan_id,
        (JournalEntry.item_key == item.key) | (JournalEntry.item_key.startswith(item.key + "."))  # type: ignore[union-attr]
    )
    if unit is not None:
        own = own.where(JournalEntry.unit_name == unit.name)
    found: list[tuple[JournalEntry, str | None]] = [(e, None) for e in session.exec(own).all()]
    if item.event_key:
        events = session.exec(select(JournalEntry).where(JournalEntry.action == "event",
                                                          JournalEntry.plan_id == item.plan_id)).all()
        found += [(e, "event") for e in events if e.details.get("event") == item.event_key]
    if item.depends_on:
        dependency = select(JournalEntry).where(
            JournalEntry.action == "status", JournalEntry.plan_id == item.plan_id,
            (JournalEntry.item_key == item.depends_on) | (JournalEntry.item_key.startswith(item.depends_on + ".")),  # type: ignore[union-attr]
        )
        found += [(e, "dependency") for e in session.exec(dependency).all() if "done" in (e.from_state, e.to_state)]
    return sorted(found, key=lambda pair: (pair[0].at, pair[0].id or 0))
