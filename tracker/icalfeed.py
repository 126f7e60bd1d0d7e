"""Calendar feeds: open assignment deadlines as all-day iCalendar events.

Staff subscribe to or import the file into the calendars they already use. Each event's UID is
derived from the database, the item and the unit, so importing a newer feed updates the events
instead of duplicating them; nothing in the file depends on when it was written (DTSTAMP is the
plan's import time), so an unchanged plan gives a byte-identical file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from icalendar import Alarm, Calendar, Event

from tracker.queries import DERIVED, ItemView

OPEN_STATUSES = frozenset({"not_started", "in_progress", "overdue"})


@dataclass(frozen=True)
class FeedEvent:
    uid: str
    day: dt.date
    item: str
    unit: str
    summary: str


def event_uid(identity: str, item_key: str, unit: str) -> str:
    digest = hashlib.sha256(f"{identity}|{item_key}|{unit}".encode()).hexdigest()[:24]
    return f"{digest}@{identity}.county-tracker"


def build_feed(
    views: list[ItemView], *, identity: str, title: str, alarm_days: int | None, stamp: dt.datetime,
    with_unit_in_summary: bool, first_plan: str = "", several_plans: bool = False,
) -> tuple[bytes, list[FeedEvent]]:
    """The iCalendar file of the open principal assignments in ``views`` that have a deadline.

    An event's UID names its item by key for the items of ``first_plan`` (the database's first plan, whose UIDs
    calendars already hold from before there were several plans) and by ``CODE:KEY`` for the others, so that
    re-importing a feed updates events and never merges two plans' items of the same key. With ``several_plans``
    the titles say ``CODE:KEY`` too."""
    calendar = Calendar()
    calendar.add("prodid", "-//county-tracker//工作任务到期提醒//ZH")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", title)
    events: list[FeedEvent] = []
    for view in views:
        item = view.item
        shown = view.ref if several_plans else item.key
        uid_key = item.key if view.plan == first_plan or not view.plan else view.ref
        for assignment in view.principals:
            due = assignment.effective_due
            if due is None or assignment.status not in OPEN_STATUSES:
                continue
            title_text = f"【{shown}】{view.task_title}：{item.title}"
            summary = f"{assignment.unit}｜{title_text}" if with_unit_in_summary else title_text
            event = Event()
            uid = event_uid(identity, uid_key, assignment.unit)
            event.add("uid", uid)
            event.add("dtstamp", stamp)
            event.add("summary", summary)
            event.add("dtstart", due)
            event.add("dtend", due + dt.timedelta(days=1))
            event.add("transp", "TRANSPARENT")
            lines = [
                f"事项：{shown} {item.title}",
                f"工作任务：{view.task_title}",
                f"主体责任单位：{assignment.unit}",
                f"主管责任单位：{'、'.join(view.lead) or '—'}",
                f"指导责任单位：{'、'.join(view.guiding) or '—'}",
                f"完成时间：{item.deadline_text}" + (f"（已延期，原定 {assignment.due}）" if assignment.extended else ""),
                f"当前状态：{DERIVED.get(assignment.status, assignment.status)}，进度 {assignment.progress}%",
            ]
            event.add("description", "\n".join(lines))
            event.add("categories", ["工作任务"])
            if alarm_days is not None:
                alarm = Alarm()
                alarm.add("action", "DISPLAY")
                alarm.add("description", f"{due} 到期：{title_text}")
                alarm.add("trigger", dt.timedelta(days=-alarm_days))
                event.add_component(alarm)
            calendar.add_component(event)
            events.append(FeedEvent(uid, due, shown, assignment.unit, summary))
    return calendar.to_ical(), events
