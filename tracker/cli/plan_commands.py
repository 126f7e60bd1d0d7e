"""Commands that load the plan and look at it: init, import, items, show, deadline."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url
from sqlmodel import Session

from tracker.cli import output
from tracker.cli.app import app
from tracker.cli.context import Context, actor
from tracker.cli.directory_output import print_email_summary, print_plan_units
from tracker.cli.options import (
    FILTER_STATES, LIGHTS, By, Json, Occurrence, Period, PlanCode, PlanYear, TableNumber, Today, choose,
)
from tracker.db import create_scratch_schema, initialise_database, is_half_made, is_initialised, make_engine, read_session, write_session
from tracker.deadlines import parse_deadline
from tracker.directory import Directory, bundled_directory_path, read_directory_file
from tracker.errors import TrackerError
from tracker.importer import COLUMN_LABELS, PlannedPlan, read_plan
from tracker.models import ROLES
from tracker.contact_list import units_without_email
from tracker.plan_directory import PlanUnits, plan_names, units_from_names
from tracker.plan_directory import directory_file as plan_directory_file
from tracker.occurrences import PERIOD_NAMES
from tracker.officefile import needs_conversion
from tracker.plan_sync import PlanDiff, apply_plan, initialise
from tracker.plans import all_plans, check_code, derive_code, import_target, plan_ids
from tracker.queries import DERIVED, ItemFilter, ItemView, filter_views, listed_views, load_views
from tracker.status import find_item, resolve_occurrence

items_app = typer.Typer(help="查看事项。", no_args_is_help=True)
deadline_app = typer.Typer(help="完成时间（期限）工具。", no_args_is_help=True)
app.add_typer(items_app, name="items", rich_help_panel="计划")
app.add_typer(deadline_app, name="deadline", rich_help_panel="计划")

BUNDLED_PLAN = Path(__file__).resolve().parent.parent / "data" / "wuding_plan.txt"


def _print_plan_summary(plan: PlannedPlan, diff: PlanDiff, verb: str) -> None:
    roles = Counter(role for _i, _u, role, _o in diff.added_assignments)
    output.say(f"{verb}《{plan.title or plan.source}》（{plan.source}，编码 {plan.encoding}，计划年度 {plan.plan_year or '未知'}）")
    output.say(f"  工作任务 {len(plan.tasks)} 项，事项 {len(plan.items)} 个（含领域行 {sum(1 for i in plan.items if i.domain)} 个）")
    if roles:
        output.say("  新增任务分工：" + "，".join(f"{ROLES[r]} {n} 个" for r, n in sorted(roles.items())))
    events = {i.event_name for i in plan.items if i.event_name}
    if diff.new_events:
        output.say(f"  本次导入{'将' if verb == '预览' else '已'}登记 {len(diff.new_events)} 个外部事件，请确认它们确实是计划之外要等待的事件"
                   "（如有日期或周期被当成了事件，请修改完成时间后重新导入）：")
    for key, name in diff.new_events:
        output.say(f"  外部事件 {key}：{name}（发生后用 tracker event record {key} --on 日期 登记）")
    if not diff.new_events and events:
        output.say(f"  等待外部事件：{'、'.join(sorted(events))}")
    if plan.ignored_columns:
        output.say(f"  月报填写列（不导入）：{'、'.join(plan.ignored_columns)}")
    for warning in plan.warnings:
        output.warn(warning)


def _print_diff(diff: PlanDiff) -> None:
    if diff.empty:
        output.say("与数据库中的计划相同，没有任何变化。")
        return
    for label, keys in (("新增工作任务", diff.added_tasks), ("移除工作任务", diff.removed_tasks),
                        ("新增事项", diff.added_items), ("移除事项", diff.removed_items)):
        if keys:
            output.say(f"{label}（{len(keys)}）：{'、'.join(keys)}")
    for key, fields in diff.changed_items:
        output.say(f"修改事项 {key}：{'、'.join(fields)}")
    for label, rows in (("新增任务分工", diff.added_assignments), ("移除任务分工", diff.removed_assignments)):
        if rows:
            output.say(f"{label}（{len(rows)}）：")
            for item, unit, role, occurrence in rows[:40]:
                output.say(f"  事项 {item}  {unit}（{ROLES[role]}{'，' + occurrence + ' 期' if occurrence else ''}）")
            if len(rows) > 40:
                output.say(f"  …… 另有 {len(rows) - 40} 条，用 --json 查看全部")


def _print_preview(plan: PlannedPlan) -> None:
    from rich.text import Text

    def cell(item_texts: dict[str, str], inherited: list[str], column: str) -> Text:
        value = item_texts.get(column, "")
        return Text("↑ " + value, style="dim") if column in inherited and value else Text(value)

    rows = []
    for item in plan.items:
        if item.is_parent:
            continue
        deadline = Text(("↑ " if "deadline" in item.inherited else "") + item.deadline_text,
                        style="dim" if "deadline" in item.inherited else "")
        rows.append([str(item.line), item.key, output.short(item.title, 18),
                     cell(item.texts, item.inherited, "lead"), cell(item.texts, item.inherited, "principal"),
                     cell(item.texts, item.inherited, "guiding"), deadline])
    output.table("导入预览（标 ↑ 的单元格在原表中为空白，按合并单元格沿用上一行的值，请核对）",
                 ["行", "编号", "事项", COLUMN_LABELS["lead"], COLUMN_LABELS["principal"], COLUMN_LABELS["guiding"],
                  COLUMN_LABELS["deadline"]], rows)


def _say_if_converting(path: Path) -> None:
    if needs_conversion(path):
        output.progress(f"正在用 LibreOffice 转换 {path.name}（旧格式文件，可能需要几十秒）……")


@app.command("init", rich_help_panel="设置")
def init_command(
    ctx: typer.Context,
    plan: Annotated[Path | None, typer.Option("--plan", readable=False, help="计划表文件：Word（.docx/.doc/.wps）、Excel（.xlsx/.xls/.et/.csv）或纯文本（默认：内置的武定县附件1）")] = None,
    units: Annotated[Path | None, typer.Option("--units", readable=False, help="单位名录 TOML（默认：config.toml 中的设置或内置名录）")] = None,
    force: Annotated[bool, typer.Option("--force", help="数据库已存在时清空重建（进度和历史将丢失）")] = False,
    if_missing: Annotated[bool, typer.Option("--if-missing", help="数据库已存在时什么也不做（供脚本反复运行）")] = False,
    start: Annotated[str | None, typer.Option("--start", help="计划开始日期，用于推算计划进度（默认今天）")] = None,
    county: Annotated[str | None, typer.Option("--county", help="本县名称，如 某某县（与 --units-from-plan 一起用）")] = None,
    units_from_plan: Annotated[bool, typer.Option("--units-from-plan", help="按计划表中出现的单位名称生成单位名录（不用名录文件）")] = False,
    plan_year: PlanYear = None,
    table: TableNumber = None,
    plan_code: Annotated[str | None, typer.Option("--plan-code", help="这个计划的代码，如 zwgk2020（默认由文件名生成；内置计划为 zwgk2020）")] = None,
    title: Annotated[str | None, typer.Option("--title", help="计划标题（默认取文件中的标题）")] = None,
    by: By = None,
    as_json: Json = False,
) -> None:
    """创建数据库，载入单位名录和计划表。

    例：tracker init            （内置武定县计划）
        tracker init --plan 附件1.txt --force
        tracker init --county 某某县 --plan 分解表.txt --units-from-plan   （其他县：单位名录从计划表生成）
    """
    context: Context = ctx.obj
    half_made = is_half_made(context.engine)
    if if_missing and not force and is_initialised(context.engine) and not half_made:
        output.say("数据库已存在，未做改动（--if-missing）。")
        return
    settings = context.config.settings
    plan_path = plan or BUNDLED_PLAN
    from_plan: PlanUnits | None = None
    if units_from_plan:
        if plan is None or units is not None:
            raise TrackerError("--units-from-plan 需要用 --plan 指定本县的计划表，且不能同时用 --units 指定名录文件。"
                               "例：tracker init --county 某某县 --plan 分解表.txt --units-from-plan")
        from_plan = units_from_names(plan_names(plan, county or ""), county or "")
        from_plan.check_groups()
        directory_file, directory_path = plan_directory_file(from_plan), plan
    else:
        directory_path = units or (context.config.path(settings.general.unit_directory)
                                   if settings.general.unit_directory else bundled_directory_path())
        directory_file = read_directory_file(directory_path)
        if county:
            directory_file.directory.county = county.strip()
    _say_if_converting(plan_path)
    starts_on, now, who = context.today(start, "--start"), context.now(start, "--start"), actor(by)
    code = check_code(plan_code) if plan_code else derive_code(plan_path)
    scratch = make_engine("sqlite://")
    create_scratch_schema(scratch)
    with write_session(scratch) as session:  # everything is checked before the real database is touched
        initialise(session, directory_file, plan_path, plan_year=plan_year, starts_on=starts_on, now=now, actor=who,
                   calendar=context.calendar, recurring_until=settings.general.recurring_until, table=table,
                   max_bytes=settings.general.max_file_bytes, code=code, title=title)

    def fill(session: Session) -> tuple[PlannedPlan, PlanDiff, int, dict[str, object]]:
        planned, diff = initialise(session, directory_file, plan_path, plan_year=plan_year, starts_on=starts_on, now=now,
                                   actor=who, calendar=context.calendar, recurring_until=settings.general.recurring_until,
                                   table=table, max_bytes=settings.general.max_file_bytes, code=code, title=title)
        directory = Directory.load(session)
        return planned, diff, len(directory.units), units_without_email(directory)

    # the schema, the directory and the plan in one transaction: an init killed halfway leaves nothing behind
    planned, diff, unit_count, without = initialise_database(context.engine, fill, force=force)
    if as_json:
        output.print_json({"database": make_url(context.config.database_url).render_as_string(hide_password=True),
                           "plan": code, "units": unit_count, "tasks": len(planned.tasks), "items": len(planned.items),
                           "warnings": planned.warnings, "units_without_email": without,
                           **({"units_from_plan": from_plan.to_json()} if from_plan else {}), **diff.to_json()})
        return
    if half_made:
        output.say("上次初始化没有完成（只建了表、没有数据），已重新初始化。")
    output.say(f"已创建数据库：{make_url(context.config.database_url).render_as_string(hide_password=True)}")
    if from_plan:
        print_plan_units(from_plan, "已按计划表生成单位名录")
    else:
        output.say(f"  单位名录：{directory_path}（{unit_count} 个单位）")
    _print_plan_summary(planned, diff, "已载入")
    output.say(f"  计划代码：{code}（导入其他计划时用 tracker import 文件 --plan 新代码）")
    print_email_summary(without)
    output.say("下一步：tracker items list 查看事项；tracker units list 核对单位邮箱。")


@app.command("import", rich_help_panel="计划")
def import_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(readable=False, help="计划表文件：Word（.docx/.doc/.wps）、Excel（.xlsx/.xls/.et/.csv）或 Word 表格另存的纯文本")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="只显示预览和将要发生的变化，不写数据库")] = False,
    plan_code: Annotated[str | None, typer.Option("--plan", help="计划代码，如 zwgk2020（默认由文件名生成）。已有的代码：重新导入该计划；新代码：新增一个计划，不影响其他计划")] = None,
    title: Annotated[str | None, typer.Option("--title", help="计划标题（默认取文件中的标题）")] = None,
    start: Annotated[str | None, typer.Option("--start", help="新计划的开始日期，用于推算计划进度（默认今天）")] = None,
    plan_year: PlanYear = None,
    table: TableNumber = None,
    by: By = None,
    today: Today = None,
    as_json: Json = False,
) -> None:
    """导入或重新导入计划表：更新事项，增减任务分工，保留已有进度和历史。

    一个数据库可以同时跟踪多个计划，每个计划有自己的代码。导入到已有代码是重新导入（只改这个计划，
    保留进度和历史）；导入到新代码是新增计划，其他计划不受影响。

    例：tracker import 通知.docx --dry-run
        tracker import 政府工作报告任务分解.xlsx --plan gzbg2021 --title "2021年政府工作报告重点任务"
        tracker import 任务清单.xlsx --table 2 --plan yshj
    """
    context: Context = ctx.obj
    engine = context.ready_engine()
    _say_if_converting(file)
    with write_session(engine) as session:
        directory = Directory.load(session)
        existing = {p.code for p in all_plans(session)}
        plan = read_plan(file, directory, plan_year, table=table, max_bytes=context.config.settings.general.max_file_bytes)
        code, why = import_target(session, file, [(i.key, i.title) for i in plan.items], plan_code)
        diff = apply_plan(session, plan, directory, now=context.now(today), actor=actor(by), write=not dry_run,
                          calendar=context.calendar, recurring_until=context.config.settings.general.recurring_until,
                          code=code, title=title, starts_on=context.today(start, "--start") if start else None)
        if dry_run:
            session.rollback()
    new = code not in existing
    if as_json:
        output.print_json({"dry_run": dry_run, "plan": code, "new_plan": new, "items": len(plan.items),
                           "warnings": plan.warnings, **diff.to_json()})
        return
    if dry_run:
        _print_preview(plan)
    if new:
        others = f"；如要重新导入已有计划，请用 --plan 写明它的代码：{'、'.join(sorted(existing))}" if existing else ""
        output.say(f"计划代码：{code}（新计划，由{'--plan 指定' if why == 'given' else '文件名生成'}，不影响其他计划{others}）")
    elif why == "same_items":
        output.say(f"计划代码：{code}（文件中半数以上事项与数据库中唯一的计划 {code} 相同，按重新导入该计划处理；"
                   "如要作为新计划导入，请用 --plan 新代码）")
    else:
        output.say(f"计划代码：{code}（重新导入这个计划）")
    _print_plan_summary(plan, diff, "预览" if dry_run else "已导入")
    _print_diff(diff)
    if dry_run:
        output.say("这是预览（--dry-run），数据库没有任何改动。")


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
        output.say(f"  {COLUMN_LABELS['leader']}：{found.leader_text or '—'}    {COLUMN_LABELS['contact']}：{found.contact_text or '—'}")
    if children:
        output.say(f"  分 {len(children)} 个领域：" + "、".join(c.item.key for c in children))
    recurring = any(a.occurrence for a in view.principals)
    rows = [[*([a.occurrence] if recurring else []), a.unit, output.light(a.light), DERIVED.get(a.status, a.status),
             f"{a.progress}%", (a.effective_due.isoformat() if a.effective_due else "—") + ("（已延期）" if a.extended else ""),
             a.completed_on.isoformat() if a.completed_on else "", str(a.overdue_days or ""), output.short(a.note, 20)]
            for a in sorted(view.principals, key=lambda a: (a.occurrence, a.id))]
    if rows:
        output.table(f"主体责任单位（截至 {day}）", [*(["期次"] if recurring else []), "单位", "灯", "状态", "进度", "期限",
                                                   "完成日期", "逾期天数", "备注"], rows)


@deadline_app.command("parse")
def deadline_parse(
    text: Annotated[str, typer.Argument(help="完成时间原文，如 2020年9月底")],
    plan_year: PlanYear = None,
    as_json: Json = False,
) -> None:
    """解析一个完成时间，看系统如何理解它。

    例：tracker deadline parse "国务院部门其他领域标准指引出台2个月内" --json
    """
    rule = parse_deadline(text, plan_year=plan_year)
    if as_json:
        output.print_json(rule.to_json())
        return
    kinds = {"fixed": "固定日期", "after_event": "外部事件后", "after_item": "其他事项完成后", "ongoing": "持续推进", "recurring": "定期"}
    output.say(f"“{rule.text}” → {kinds[rule.kind]}")
    for name, label in (("due", "到期日"), ("event", "起算事件"), ("item", "依赖事项"), ("months", "月数"),
                        ("days", "天数"), ("working_days", "工作日数"), ("every", "周期"), ("month", "每年的月份"),
                        ("day", "日"), ("weekday", "星期")):
        value = getattr(rule, name)
        if value is not None:
            shown = PERIOD_NAMES[value] if name == "every" else "一二三四五六日"[value] if name == "weekday" else value
            output.say(f"  {label}：{shown}")
