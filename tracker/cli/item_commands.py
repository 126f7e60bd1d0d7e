"""Commands that look at the plan without changing it: items list, show.

Kept apart from plan_commands (init, import), so that a clerk's most frequent commands load neither the plan
importer nor the office-file readers; `show` loads the directory code only to find the item it is asked about.
"""

from __future__ import annotations

from typing import Annotated

import typer

from tracker.cli import output
from tracker.cli.app import app
from tracker.cli.context import Context
from tracker.cli.options import FILTER_STATES, LIGHTS, Json, Occurrence, Period, PlanCode, Today, choose
from tracker.db import read_session
from tracker.plans import all_plans, plan_ids
from tracker.queries import DERIVED, ItemFilter, ItemView, filter_views, listed_views, load_views

items_app = typer.Typer(help="查看事项。", no_args_is_help=True)
app.add_typer(items_app, name="items", rich_help_panel="计划")


@items_app.command("list")
def items_list(
    ctx: typer.Context,
    unit: Annotated[list[str] | None, typer.Option("--unit", help="只看某单位或单位组（可重复）")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="只看已逾期的")] = False,
    due_within: Annotated[int | None, typer.Option("--due-within", help="只看 N 天内到期的", min=0)] = None,
    state: Annotated[list[str] | None, typer.Option("--state", help="按状态筛选：not-started、in-progress、done、n/a、overdue、waiting、done-late，或中文：未开始、进行中、已完成、不适用、已逾期、待触发、逾期完成")] = None,
    light: Annotated[list[str] | None, typer.Option("--light", help="按灯色筛选：green、yellow、red，或 绿、黄、红")] = None,
    occurrence: Occurrence = None,
    period: Period = None,
    plan: PlanCode = None,
    today: Today = None,
    as_json: Json = False,
) -> None:
    """列出事项及其完成情况。定期工作按期计数（每期每个单位一条，尚未开始的期不列）。

    例：tracker items list --unit 县教育体育局 --today 2020-10-09
        tracker items list --period 2020-10 --today 2020-10-30    （定期工作只看 2020 年 10 月所在的一期）
        tracker items list --plan zwgk2020 --overdue
    """
    context: Context = ctx.obj
    day = context.today(today)
    with read_session(context.ready_engine()) as session:
        unit_ids = None
        if unit:
            from tracker.directory import Directory

            directory = Directory.load(session)
            unit_ids = frozenset(u.id for u in directory.expand(directory.resolve_cell("、".join(unit))) if u.id)
        flt = ItemFilter(unit_ids=unit_ids, overdue=overdue, due_within=due_within,
                         states=frozenset(choose(v, "--state", FILTER_STATES) for v in state or []),
                         lights=frozenset(choose(v, "--light", LIGHTS) for v in light or []),
                         occurrence=occurrence, period=period)
        views = listed_views(session, day, context.calendar, context.lights, flt, plan_ids(session, plan))
        several = len(all_plans(session)) > 1
    if as_json:
        output.print_json([v.to_json() for v in views])
        return
    _print_items(views, day, several)
    for warning in context.calendar.warnings:
        output.warn(warning)


def _print_items(views: list[ItemView], day: object, several: bool = False) -> None:
    """Items written ``CODE:KEY`` when the database holds more than one plan, so that what is shown can be typed."""
    rows = []
    for view in views:
        principals = view.principals
        done, total = view.closed_and_total
        overdue = sum(1 for a in principals if a.status == "overdue")
        due = view.due.isoformat() if view.due else (view.waiting_for or _next_occurrence(view) or view.item.deadline_text)
        rows.append([view.ref if several else view.item.key, output.short(view.item.title, 24), output.light(view.light) if total else "",
                     due, f"{done}/{total}" if total else "—", str(overdue) if overdue else ""])
    output.table(f"事项一览（截至 {day}）", ["编号", "事项", "灯", "到期", "完成/单位数", "逾期"], rows)
    output.say(f"共 {len(views)} 个事项。用 tracker show 编号 查看详情。")


def _next_occurrence(view: ItemView) -> str:
    """For a recurring item: its deadline text and the earliest open occurrence's due date."""
    open_dues = sorted((a.effective_due, a.occurrence) for a in view.principals
                       if a.occurrence and a.effective_due and a.status not in ("done", "done_late", "na"))
    if not open_dues:
        return ""
    due, label = open_dues[0]
    return f"{view.item.deadline_text}（{label}期 {due.isoformat()}）"


@app.command("show", rich_help_panel="计划")
def show_command(
    ctx: typer.Context,
    item: Annotated[str, typer.Argument(help="事项编号，如 12 或 1.义务教育；有多个计划时写 计划代码:编号，如 zwgk2020:1.义务教育")],
    occurrence: Occurrence = None,
    period: Period = None,
    plan: PlanCode = None,
    today: Today = None,
    as_json: Json = False,
) -> None:
    """查看一个事项：期限、各单位状态、灯色。定期工作每期每个单位一行（尚未开始的期不列）。

    例：tracker show 1.义务教育 --today 2020-09-25
        tracker show zwgk2020:17 --occurrence 2020-Q4 --today 2020-12-01
    """
    from tracker.status import find_item, resolve_occurrence

    context: Context = ctx.obj
    day = context.today(today)
    with read_session(context.ready_engine()) as session:
        found = find_item(session, item, plan)
        resolve_occurrence(found, occurrence, period) if occurrence or period else None
        views = load_views(session, day, context.calendar, context.lights, plan_ids=[found.plan_id])  # type: ignore[list-item]
        several = len(all_plans(session)) > 1
    view = next(v for v in views if v.item.id == found.id)
    if occurrence or period:
        [view] = filter_views([view], ItemFilter(occurrence=occurrence, period=period), day) or [view]
    children = [v for v in views if v.item.parent_key == found.key]
    if as_json:
        output.print_json({**view.to_json(), "domains": [c.item.key for c in children],
                           "leader": found.leader_text, "contact": found.contact_text})
        return
    it = view.item
    output.say(f"事项 {view.ref if several else it.key}：{it.title}")
    if several:
        output.say(f"  所属计划：{view.plan_title or view.plan}（{view.plan}）")
    output.say(f"  工作任务：{view.task_title}")
    output.say(f"  完成时间：{it.deadline_text}" + (f"（{view.due}）" if view.due else f"（{view.waiting_for or DERIVED.get(view.rule.kind, '')}）"))
    output.say(f"  主管责任单位：{'、'.join(view.lead) or '—'}    指导责任单位：{'、'.join(view.guiding) or '—'}")
    if found.leader_text or found.contact_text:
        from tracker.importer import COLUMN_LABELS

        output.say(f"  {COLUMN_LABELS['leader']}：{found.leader_text or '—'}    {COLUMN_LABELS['contact']}：{found.contact_text or '—'}")
    if children:
        output.say(f"  分 {len(children)} 个领域：" + "、".join(c.item.key for c in children))
    recurring = any(a.occurrence for a in view.principals)
    rows = [[*([a.occurrence] if recurring else []), a.unit, output.light(a.light),
             DERIVED.get(a.status, a.status) + ("（待审核）" if a.review == "pending" else ""),
             f"{a.progress}%", (a.effective_due.isoformat() if a.effective_due else "—") + ("（已延期）" if a.extended else ""),
             a.completed_on.isoformat() if a.completed_on else "", str(a.overdue_days or ""), output.short(a.note, 20)]
            for a in sorted(view.principals, key=lambda a: (a.occurrence, a.id))]
    if rows:
        output.table(f"主体责任单位（截至 {day}）", [*(["期次"] if recurring else []), "单位", "灯", "状态", "进度", "期限",
                                                   "完成日期", "逾期天数", "备注"], rows)
