"""Disclosure deadlines from accepted catalogues: record that information came into being, remind its publisher.

An entry's 公开时限 ("信息形成或变更之日起20个工作日内") is a relative deadline; `catalog event`
gives it its start and the due date follows on the working-day calendar. Reminders go through the
daily check like any assignment's: ``add_disclosure_entries`` adds them to the day's digests with
the same policy (stages, working days, one digest per recipient, latest stage only) and its own
ledger (``DisclosureNotice``), which the check stores with its messages. The weekly report lists
the overdue ones in their own section (``overdue_disclosures``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import func
from sqlmodel import Session, select

from tracker.calendar import WorkCalendar
from tracker.catalogue_check import ShortDeadlines, read_disclosure_deadline
from tracker.catalogues import EntryRef, find_entry
from tracker.deadlines import due_after
from tracker.directory import Directory, UnitRow, delivery_unit, unit_rows
from tracker.errors import CatalogueError, DeadlineParseError
from tracker.models import Assignment, Catalogue, CatalogueEntry, Disclosure, DisclosureNotice, Item, JournalEntry
from tracker.queries import LightRules
from tracker.reminders import CheckPlan, Digest, DigestEntry, Policy, latest_stage


@dataclass
class DisclosureView:
    id: int
    ref: str
    publisher: str
    level1: str
    level2: str
    deadline_text: str
    formed_on: dt.date
    due_on: dt.date
    disclosed_on: dt.date | None
    rule_note: str
    note: str

    def status(self, today: dt.date) -> str:
        if self.disclosed_on is not None:
            return "disclosed_late" if self.disclosed_on > self.due_on else "disclosed"
        return "overdue" if today > self.due_on else "open"

    def to_json(self, today: dt.date) -> dict[str, Any]:
        return {"id": self.id, "entry": self.ref, "publisher": self.publisher, "level1": self.level1, "level2": self.level2,
                "deadline_text": self.deadline_text, "formed_on": self.formed_on.isoformat(), "due_on": self.due_on.isoformat(),
                "disclosed_on": self.disclosed_on.isoformat() if self.disclosed_on else None, "status": self.status(today),
                "days_overdue": max(0, (today - self.due_on).days) if self.disclosed_on is None else 0,
                "rule_note": self.rule_note, "note": self.note}


STATUS_LABELS = {"open": "待公开", "overdue": "已逾期", "disclosed": "已公开", "disclosed_late": "逾期公开"}


def _view(d: Disclosure, ref: EntryRef, publisher: str) -> DisclosureView:
    return DisclosureView(d.id, ref.ref, publisher, ref.entry.level1, ref.entry.level2, ref.entry.deadline_text,  # type: ignore[arg-type]
                          d.formed_on, d.due_on, d.disclosed_on, d.rule_note, d.note)


def disclosure_due(ref: EntryRef, formed: dt.date, calendar: WorkCalendar, short: ShortDeadlines) -> tuple[dt.date, str]:
    """The day the information must be public by, and a sentence when a default or a fixed date decided it."""
    try:
        rule, note = read_disclosure_deadline(ref.entry.deadline_text, short)
    except DeadlineParseError as exc:  # the catalogue was accepted under an older parser or config
        raise CatalogueError(f"条目 {ref.ref} 的公开时限无法读取：{exc}") from exc
    if rule.kind == "fixed" and rule.due is not None:
        return rule.due, f"公开时限“{rule.text}”是固定日期，与信息形成日期无关"
    if rule.kind in ("after_event", "after_item") and (rule.months or rule.days or rule.working_days is not None):
        return due_after(rule, formed, calendar.add_working_days), note
    raise CatalogueError(
        f"条目 {ref.ref} 的公开时限“{rule.text}”是{'常态化/持续' if rule.kind == 'ongoing' else '定期'}公开，"
        "没有从信息形成之日起算的期限，无需登记。"
    )


def record_disclosure_event(
    session: Session, directory: Directory, entry_text: str, formed: dt.date, *, calendar: WorkCalendar,
    short: ShortDeadlines, note: str, by: str, today: dt.date, now: dt.datetime,
) -> tuple[DisclosureView, bool]:
    """Record that an entry's information came into being or changed on ``formed``; returns it and whether it is new."""
    if formed > today:
        raise CatalogueError(f"信息形成日期 {formed} 晚于今天（{today}）。只能登记已经形成或变更的信息。")
    ref = find_entry(session, directory, entry_text)
    due, rule_note = disclosure_due(ref, formed, calendar, short)
    publisher = directory.units[ref.entry.publisher_id]
    existing = session.exec(select(Disclosure).where(Disclosure.entry_id == ref.entry.id, Disclosure.formed_on == formed)).first()
    if existing is not None:
        return _view(existing, ref, publisher.name), False
    disclosure = Disclosure(entry_id=ref.entry.id, publisher_id=publisher.id, formed_on=formed, due_on=due,  # type: ignore[arg-type]
                            rule_note=rule_note, note=note, recorded_at=now, recorded_by=by)
    session.add(disclosure)
    session.flush()
    session.add(JournalEntry(
        at=now, actor=by, action="disclosure", item_key=ref.catalogue.item_key, plan_id=_plan_of(session, ref.catalogue),
        unit_name=publisher.name, note=note,
        details={"disclosure": disclosure.id, "entry": ref.ref, "formed_on": formed.isoformat(), "due_on": due.isoformat(),
                 "rule_note": rule_note},
    ))
    session.flush()
    return _view(disclosure, ref, publisher.name), True


def _plan_of(session: Session, catalogue: Catalogue) -> int | None:
    """The plan of the item-(1) domain row a catalogue was accepted for: the plan whose row of that key the unit has
    a principal assignment in (the first such plan, should two plans have the row), so that the item's history
    shows the disclosures."""
    return session.exec(
        select(Item.plan_id).join(Assignment, Assignment.item_id == Item.id)
        .where(Item.key == catalogue.item_key, Assignment.unit_id == catalogue.unit_id, Assignment.role == "principal")
        .order_by(Item.plan_id)
    ).first()


def record_disclosed(
    session: Session, directory: Directory, disclosure_id: int, on: dt.date, *, by: str, today: dt.date, now: dt.datetime,
) -> DisclosureView:
    """Record that the information was published on ``on``: reminders for it stop."""
    if on > today:
        raise CatalogueError(f"公开日期 {on} 晚于今天（{today}），不能登记未来的日期。")
    disclosure = session.get(Disclosure, disclosure_id)
    if disclosure is None:
        raise CatalogueError(f"没有编号为 {disclosure_id} 的公开记录。可用 tracker catalog disclosures 查看。")
    if on < disclosure.formed_on:
        raise CatalogueError(f"公开日期 {on} 早于信息形成日期 {disclosure.formed_on}。请检查日期。")
    ref = _ref_of(session, directory, disclosure)
    if disclosure.disclosed_on != on:
        session.add(JournalEntry(
            at=now, actor=by, action="disclosed", item_key=ref.catalogue.item_key, plan_id=_plan_of(session, ref.catalogue),
            unit_name=directory.units[disclosure.publisher_id].name,
            details={"disclosure": disclosure.id, "entry": ref.ref, "from": disclosure.disclosed_on.isoformat()
                     if disclosure.disclosed_on else None, "to": on.isoformat()},
        ))
        disclosure.disclosed_on = on
        session.add(disclosure)
        session.flush()
    return _view(disclosure, ref, directory.units[disclosure.publisher_id].name)


def _ref_of(session: Session, directory: Directory, disclosure: Disclosure) -> EntryRef:
    entry = session.get(CatalogueEntry, disclosure.entry_id)
    catalogue = session.get(Catalogue, entry.catalogue_id)  # type: ignore[union-attr]
    return EntryRef(entry, catalogue, directory.units[catalogue.unit_id])  # type: ignore[arg-type,union-attr]


def list_disclosures(session: Session, directory: Directory, *, open_only: bool = False) -> list[DisclosureView]:
    query = select(Disclosure, CatalogueEntry, Catalogue).join(
        CatalogueEntry, CatalogueEntry.id == Disclosure.entry_id).join(Catalogue, Catalogue.id == CatalogueEntry.catalogue_id)
    if open_only:
        query = query.where(Disclosure.disclosed_on == None)  # noqa: E711
    views = []
    for disclosure, entry, catalogue in session.exec(query.order_by(Disclosure.due_on, Disclosure.id)).all():
        ref = EntryRef(entry, catalogue, directory.units[catalogue.unit_id])
        views.append(_view(disclosure, ref, directory.units[disclosure.publisher_id].name))
    return views


def overdue_disclosures(session: Session, as_of: dt.date) -> list[DisclosureView]:
    """Disclosures still not published after their due date, most overdue first: the weekly report's own section."""
    late = select(func.count()).select_from(Disclosure).where(Disclosure.disclosed_on == None, Disclosure.due_on < as_of)  # noqa: E711
    if not session.exec(late).one():  # the directory is read only when there is something to name: a province's is large
        return []
    directory = Directory.load(session)
    late = [v for v in list_disclosures(session, directory, open_only=True) if v.due_on < as_of]
    return sorted(late, key=lambda v: (v.due_on, v.publisher, v.id))


class PlannedDisclosureNotice(NamedTuple):
    disclosure_id: int
    due_on: dt.date
    stage: str
    rank: int
    recipient: str


def disclosure_key(disclosure_id: int) -> str:
    return f"公开{disclosure_id}"


def add_disclosure_entries(
    session: Session, plan: CheckPlan, calendar: WorkCalendar, policy: Policy, lights: LightRules,
) -> None:
    """Add the day's disclosure reminders to ``plan``: entries in the publishers' digests, and their ledger rows.

    The same stages and only-the-latest rule as assignments; overdue ones are escalated to the county
    office when the policy escalates to it (a disclosure has no lead or guiding unit of its own).
    """
    today = plan.today
    rows = session.exec(select(Disclosure, CatalogueEntry).join(CatalogueEntry, CatalogueEntry.id == Disclosure.entry_id)
                        .where(Disclosure.disclosed_on == None)).all()  # noqa: E711
    if not rows:
        return
    ledger = dict(session.exec(select(DisclosureNotice.disclosure_id, func.max(DisclosureNotice.rank))  # type: ignore[call-overload]
                               .join(Disclosure, Disclosure.id == DisclosureNotice.disclosure_id)
                               .where(DisclosureNotice.due_on == Disclosure.due_on)
                               .group_by(DisclosureNotice.disclosure_id)).all())
    units = unit_rows(session)
    offices = [u for u in units.values() if u.kind == "office"]
    digests = {d.recipient: d for d in plan.digests}
    for disclosure, entry in sorted(rows, key=lambda pair: (pair[0].due_on, pair[0].id)):
        stage = latest_stage(disclosure.due_on, today, calendar, policy)
        if stage is None or ledger.get(disclosure.id, -10**6) >= stage.rank:
            continue
        days_left = (disclosure.due_on - today).days
        light = "red" if days_left < 0 else "yellow" if days_left <= lights.yellow_within_days else "green"
        publisher = units[disclosure.publisher_id]
        own = _digest_entry(disclosure, entry, publisher.name, stage.name, days_left, light, escalation=False)
        recipient = _file(digests, units, publisher, own, today)
        plan.disclosure_notices.append(PlannedDisclosureNotice(disclosure.id, disclosure.due_on, stage.name, stage.rank,  # type: ignore[arg-type]
                                                               recipient or ""))
        if recipient is None:
            plan.unreachable = sorted({*plan.unreachable, publisher.name})
        if stage.rank > 0 and "county_office" in policy.escalate_to:
            for office in offices:
                if office.id != publisher.id:
                    late = _digest_entry(disclosure, entry, publisher.name, stage.name, days_left, light, escalation=True)
                    _file(digests, units, office, late, today)
    plan.digests = sorted(digests.values(), key=lambda d: d.recipient)


def _digest_entry(
    disclosure: Disclosure, entry: CatalogueEntry, publisher: str, stage: str, days_left: int, light: str, *, escalation: bool,
) -> DigestEntry:
    """A disclosure as a digest line: the templates show it like an item, keyed 公开<编号>."""
    title = f"公开“{entry.level1}·{entry.level2}”（信息形成于 {disclosure.formed_on}，时限：{entry.deadline_text}）"
    return DigestEntry(disclosure_key(disclosure.id), title, publisher, "county_office" if escalation else "principal",  # type: ignore[arg-type]
                       stage, disclosure.due_on, days_left, light, escalation, False, disclosure.note)


def _file(digests: dict[str, Digest], units: dict[int, UnitRow], unit: UnitRow, entry: DigestEntry, today: dt.date) -> str | None:
    target = delivery_unit(unit, units)
    if target is None:
        return None
    digest = digests.get(target.name)
    if digest is None:
        digest = digests[target.name] = Digest(target.name, list(target.emails), today)
    entry.on_behalf = target.id != unit.id
    digest.entries.append(entry)
    digest.entries.sort(key=lambda e: (e.escalation, e.days_left, e.item, e.unit))
    return target.name


def store_disclosure_notices(session: Session, plan: CheckPlan, message_ids: dict[str, int | None], now: dt.datetime) -> None:
    """The ledger rows of the day's disclosure reminders, written with the messages (see ``tracker.outbox.store_check``)."""
    for notice in plan.disclosure_notices:
        session.add(DisclosureNotice(disclosure_id=notice.disclosure_id, due_on=notice.due_on, stage=notice.stage,
                                     rank=notice.rank, sent_on=plan.today, message_id=message_ids.get(notice.recipient),
                                     created_at=now))

