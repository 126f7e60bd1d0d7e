"""Commands over the plans a database tracks: list, show, archive."""

from __future__ import annotations

from typing import Annotated

import typer

from tracker.cli import output
from tracker.cli.app import app
from tracker.cli.context import Context, actor
from tracker.cli.options import By, Json, Today
from tracker.db import read_session, write_session
from tracker.models import PLAN_STATES
from tracker.plans import archive_plan, find_plan, plan_summaries
from tracker.times import local_iso

plans_app = typer.Typer(help="计划：一个数据库同时跟踪多个计划（文件），每个计划有自己的代码。", no_args_is_help=True)
app.add_typer(plans_app, name="plans", rich_help_panel="计划")


def _row(s: dict[str, object]) -> list[object]:
    lights = s["lights"]
    return [s["plan"], output.short(str(s["title"]), 28), PLAN_STATES.get(str(s["state"]), s["state"]),
            str(s["plan_year"] or "—"), str(s["items"]), f"{s['closed']}/{s['assignments']}", str(s["overdue"] or ""),
            f"{lights['red']}/{lights['yellow']}/{lights['green']}"]  # type: ignore[index]


@plans_app.command("list", rich_help_panel="计划")
def plans_list(ctx: typer.Context, today: Today = None, as_json: Json = False) -> None:
    """列出数据库中的全部计划：代码、标题、状态、事项数、完成情况、逾期数。

    例：tracker plans list
        tracker plans list --json
    """
    context: Context = ctx.obj
    day = context.today(today)
    with read_session(context.ready_engine()) as session:
        summaries = plan_summaries(session, day, context.calendar, context.lights)
    if as_json:
        output.print_json(summaries)
        return
    output.table(f"计划一览（截至 {day}）", ["代码", "标题", "状态", "年度", "事项", "完成/任务", "逾期", "红/黄/绿灯事项"],
                 [_row(s) for s in summaries])
    output.say(f"共 {len(summaries)} 个计划。事项写作 计划代码:编号（如 {summaries[0]['plan'] if summaries else 'zwgk2020'}:1）；"
               "用 tracker plans show 代码 查看一个计划。")


@plans_app.command("show", rich_help_panel="计划")
def plans_show(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="计划代码，如 zwgk2020")],
    today: Today = None,
    as_json: Json = False,
) -> None:
    """查看一个计划：标题、来源文件、年度、开始日期、状态和完成情况。

    例：tracker plans show zwgk2020
    """
    context: Context = ctx.obj
    day = context.today(today)
    with read_session(context.ready_engine()) as session:
        plan = find_plan(session, code)
        [summary] = plan_summaries(session, day, context.calendar, context.lights, [plan.code])
        imported = local_iso(plan.imported_at, context.config.tz) if plan.imported_at else None
    summary = {**summary, "imported_at": imported}
    if as_json:
        output.print_json(summary)
        return
    lights = summary["lights"]
    output.say(f"计划 {summary['plan']}：{summary['title'] or '（无标题）'}")
    output.say(f"  状态：{PLAN_STATES.get(str(summary['state']), summary['state'])}    计划年度：{summary['plan_year'] or '未知'}"
               f"    开始日期：{summary['starts_on'] or '—'}")
    output.say(f"  来源文件：{summary['source'] or '—'}    最近导入：{imported or '—'}")
    output.say(f"  事项 {summary['items']} 个；主体责任任务 {summary['assignments']} 个，已完成（含不适用）{summary['closed']} 个，"
               f"逾期 {summary['overdue']} 个")
    output.say(f"  事项灯色：红 {lights['red']}，黄 {lights['yellow']}，绿 {lights['green']}（截至 {day}）")  # type: ignore[index]
    if summary["state"] == "archived":
        output.say("  已归档：保留全部记录，不再发送提醒，也不进入通报。")


@plans_app.command("archive", rich_help_panel="计划")
def plans_archive(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="计划代码，如 zwgk2020")],
    by: By = None,
    today: Today = None,
    as_json: Json = False,
) -> None:
    """归档一个已结束的计划：保留其事项、状态和全部历史，不再发送提醒，不再进入事项列表和通报。

    归档后仍可用 tracker show 代码:编号、tracker history 代码:编号 查看。
    例：tracker plans archive zwgk2020
    """
    context: Context = ctx.obj
    with write_session(context.ready_engine()) as session:
        plan, changed = archive_plan(session, code, now=context.now(today), actor=actor(by))
        result = {"plan": plan.code, "title": plan.title, "state": plan.state, "changed": changed}
    if as_json:
        output.print_json(result)
        return
    if not changed:
        output.say(f"计划 {result['plan']} 已经是归档状态，无变化。")
        return
    output.say(f"已归档计划 {result['plan']}《{result['title']}》：记录全部保留，不再发送提醒，不再进入事项列表和通报。")
