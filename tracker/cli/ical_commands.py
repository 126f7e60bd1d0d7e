"""The calendar feed: tracker ical."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from tracker.cli import output
from tracker.cli.app import app
from tracker.cli.context import Context
from tracker.cli.options import Json, PlanCode, Today
from tracker.db import read_session
from tracker.directory import Directory
from tracker.errors import TrackerError
from tracker.icalfeed import build_feed
from tracker.identity import database_identity
from tracker.plans import all_plans, plan_ids
from tracker.queries import ItemFilter, filter_views, load_views


@app.command("ical", rich_help_panel="提醒")
def ical_command(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="写入的日历文件（.ics）")],
    unit: Annotated[list[str] | None, typer.Option("--unit", help="只含某单位或单位组的任务（可重复；默认全部单位）")] = None,
    alarm_days: Annotated[int | None, typer.Option(
        "--alarm-days", min=0, help="提前几天提醒（日历闹钟，0 为当天；默认 config.toml 的 reminders.calendar_alarm_days）")] = None,
    no_alarm: Annotated[bool, typer.Option("--no-alarm", help="不设日历闹钟")] = False,
    plan: PlanCode = None,
    today: Today = None,
    as_json: Json = False,
) -> None:
    """导出日历文件（iCalendar）：每个未完成任务的期限是一个全天事件，可导入 Outlook、手机日历等。

    再次导出后重新导入，日历中的事件会被更新而不会重复。

    例：tracker ical --unit 狮山镇人民政府 --out 狮山镇任务.ics --alarm-days 7
        tracker ical --plan zwgk2020 --out 政务公开任务.ics
    """
    context: Context = ctx.obj
    day = context.today(today)
    if alarm_days is None:
        alarm_days = context.config.settings.reminders.calendar_alarm_days
    if out.suffix.lower() != ".ics":
        raise TrackerError(f"--out 的文件名“{out}”应以 .ics 结尾（日历文件）。")
    with read_session(context.ready_engine()) as session:
        unit_ids, label = None, "全部单位"
        if unit:
            directory = Directory.load(session)
            units = directory.expand(directory.resolve_cell("、".join(unit)))
            unit_ids, label = frozenset(u.id for u in units if u.id), "、".join(unit)
        flt = ItemFilter(unit_ids=unit_ids, states=frozenset({"not_started", "in_progress", "overdue"}))
        scope = plan_ids(session, plan)
        views = filter_views(load_views(session, day, context.calendar, context.lights, only=flt, plan_ids=scope), flt, day)
        identity = database_identity(session)
        plans = all_plans(session)
    chosen = [p for p in plans if (scope is not None and p.id in scope) or (scope is None and p.state == "active")]
    stamps = [p.imported_at for p in chosen if p.imported_at]
    stamp = max(stamps) if stamps else dt.datetime(2000, 1, 1)
    stamp = stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)
    named = chosen[0].title if len(chosen) == 1 and chosen[0].title else "工作任务"
    title = f"{named}（{label}）"
    data, events = build_feed(views, identity=identity, title=title, alarm_days=None if no_alarm else alarm_days,
                              stamp=stamp.astimezone(dt.timezone.utc), with_unit_in_summary=not unit or len(unit_ids or ()) > 1,
                              first_plan=plans[0].code if plans else "", several_plans=len(plans) > 1)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    except OSError as exc:
        raise TrackerError(f"无法写入日历文件 {out}：{exc.strerror}。请检查路径和权限。") from exc
    if as_json:
        output.print_json({"file": str(out), "events": [
            {"uid": e.uid, "date": e.day.isoformat(), "item": e.item, "unit": e.unit, "summary": e.summary} for e in events]})
        return
    output.say(f"已写入 {out}：{len(events)} 个到期事件（{label}）" + ("" if no_alarm else f"，提前 {alarm_days} 天提醒。"))
