"""Annex 2 catalogues: check, accept, template, list, and disclosure events (`tracker catalog …`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tracker.catalogue_check import CheckResult, ShortDeadlines, check_catalogue
from tracker.catalogue_read import read_catalogue
from tracker.catalogue_template import template_workbook
from tracker.catalogues import accept_catalogue, current_entries, stored_file
from tracker.cli import output
from tracker.cli.app import app
from tracker.cli.context import Context, actor, parse_date
from tracker.cli.options import By, Json, Today
from tracker.db import read_session, write_session
from tracker.directory import Directory
from tracker.disclosures import STATUS_LABELS, list_disclosures, record_disclosed, record_disclosure_event
from tracker.errors import CatalogueError

catalog_app = typer.Typer(help="政务公开事项标准目录（附件2）：检查、验收、模板、公开时限提醒。", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog", rich_help_panel="计划")

FileArg = Annotated[Path, typer.Argument(help="目录文件：.xlsx（推荐）、.docx 或 .txt（Word 表格另存的纯文本）")]


def _short(context: Context) -> ShortDeadlines:
    s = context.config.settings.catalog
    return ShortDeadlines(realtime_working_days=s.realtime_working_days, promptly_working_days=s.promptly_working_days)


@catalog_app.command("check", rich_help_panel="计划")
def check_command(
    ctx: typer.Context,
    file: FileArg,
    unit: Annotated[str | None, typer.Option("--unit", help="报送单位（公开主体写“本单位科室”时据此认定）")] = None,
    as_json: Json = False,
) -> None:
    """逐行检查一份目录，列出缺漏和错误；有任何一行不合格时退出码为 1。

    例：tracker catalog check 县市场监管局目录.xlsx --unit 县市场监管局
    """
    context: Context = ctx.obj
    catalogue = read_catalogue(file)
    with read_session(context.ready_engine()) as session:
        directory = Directory.load(session)
        unit_row = directory.unit(unit) if unit else None
        result = check_catalogue(catalogue, directory, unit_row, _short(context))
    if as_json:
        output.print_json(result.to_json())
    else:
        _print_check(result)
    if not result.ok:
        raise typer.Exit(1)


def _print_check(result: CheckResult) -> None:
    for row in result.rows:
        mark = "✓" if row.ok else "✗"
        output.say(f"{mark} {row.label}")
        for problem in row.problems:
            output.say(f"    问题［{problem.field}］{problem.message}")
        for note in row.notes:
            output.say(f"    说明：{note}")
    output.say(result.summary)


@catalog_app.command("accept", rich_help_panel="计划")
def accept_command(
    ctx: typer.Context,
    file: FileArg,
    unit: Annotated[str, typer.Option("--unit", help="报送单位")],
    item: Annotated[str, typer.Option("--item", help="第（1）项下的领域事项，如 1.市场监管")],
    on: Annotated[str | None, typer.Option("--on", help="完成日期 YYYY-MM-DD（默认今天）")] = None,
    by: By = None,
    today: Today = None,
    as_json: Json = False,
) -> None:
    """验收目录：再检查一遍，通过后保存各行和文件本身（作为佐证），并把该单位在该事项上的任务登记为已完成。

    检查不通过时拒绝，不做任何改动。例：tracker catalog accept 目录.xlsx --unit 县市场监管局 --item 1.市场监管
    """
    context: Context = ctx.obj
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise CatalogueError(f"无法读取目录文件 {file}：{exc.strerror or exc}。请检查路径。") from exc
    day = context.today(today)
    with write_session(context.ready_engine()) as session:
        accepted = accept_catalogue(
            session, Directory.load(session), data, file.name, unit_name=unit, item_key=item, short=_short(context),
            by=actor(by), on=parse_date(on, "--on") if on else None, today=day, now=context.now(today),
        )
        result = accepted.to_json()
    if as_json:
        output.print_json(result)
        return
    output.say(f"已验收 {result['unit']} 的目录（{result['item']}，{result['rows']} 项），保存为目录 #{result['catalogue']}。")
    if result["superseded"]:
        output.say("此前验收的目录 " + "、".join(f"#{i}" for i in result["superseded"]) + " 已被替代（仍保留）。")
    for record in accepted.status:
        if record.changed:
            output.say(f"事项 {record.item}  {record.unit}：已完成，完成日期 {record.completed_on}；佐证：{result['evidence']}")
        else:
            output.say(f"事项 {record.item}  {record.unit}：状态无变化。")


@catalog_app.command("template", rich_help_panel="计划")
def template_command(
    out: Annotated[Path, typer.Option("--out", help="写入的 .xlsx 文件")],
    title: Annotated[str, typer.Option("--title", help="表格标题")] = "基层政务公开事项标准目录",
    rows: Annotated[int, typer.Option("--rows", min=1, max=2000, help="预留的空行数")] = 50,
) -> None:
    """生成附件2格式的空白目录（.xlsx），发给各单位填写。

    例：tracker catalog template --out 目录模板.xlsx
    """
    if out.suffix.lower() != ".xlsx":
        raise CatalogueError(f"--out 的文件名“{out.name}”应以 .xlsx 结尾。")
    _write(out, template_workbook(title, rows))
    output.say(f"已写入附件2格式模板 {out}（{rows} 个空行）。")


def _write(out: Path, data: bytes) -> None:
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise CatalogueError(f"无法写入 {out}：{exc.strerror or exc}。请检查文件夹是否存在、文件是否正被 Excel 或 Word 打开。") from exc


@catalog_app.command("file", rich_help_panel="计划")
def file_command(
    ctx: typer.Context,
    catalogue: Annotated[int, typer.Argument(help="目录编号（验收时显示，也写在任务的佐证中，如 附件2目录 #3）")],
    out: Annotated[Path, typer.Option("--out", help="写入的文件")],
) -> None:
    """取出验收时保存的目录原文件（佐证），逐字节与报送时相同。

    例：tracker catalog file 3 --out 县市场监管局目录.xlsx
    """
    context: Context = ctx.obj
    with read_session(context.ready_engine()) as session:
        found = stored_file(session, catalogue)
        data, name, digest = bytes(found.content), found.filename, found.sha256
    _write(out, data)
    output.say(f"已写入目录 #{catalogue} 的原文件 {name} → {out}（{len(data)} 字节，sha256 {digest[:12]}）。")


@catalog_app.command("list", rich_help_panel="计划")
def list_command(
    ctx: typer.Context,
    unit: Annotated[str | None, typer.Option("--unit", help="只看某单位")] = None,
    as_json: Json = False,
) -> None:
    """列出已验收目录（现行版本）中的条目及其编号，供 catalog event 使用。

    例：tracker catalog list --unit 县市场监管局
    """
    context: Context = ctx.obj
    with read_session(context.ready_engine()) as session:
        directory = Directory.load(session)
        refs = current_entries(session, directory, directory.unit(unit) if unit else None)
        rows = [{"entry": r.ref, "id": r.entry.id, "catalogue": r.catalogue.id, "unit": r.unit.name, "item": r.catalogue.item_key,
                 "number": r.entry.number, "level1": r.entry.level1, "level2": r.entry.level2,
                 "deadline_text": r.entry.deadline_text, "publisher": directory.units[r.entry.publisher_id].name,
                 "channels": r.entry.channels} for r in refs]
    if as_json:
        output.print_json(rows)
        return
    output.table("已验收目录的条目", ["条目", "编号", "一级事项", "二级事项", "公开时限", "公开主体"],
                 [[r["entry"], f"#{r['id']}", r["level1"], r["level2"], r["deadline_text"], r["publisher"]] for r in rows])
    if not rows:
        output.say("还没有已验收的目录。")


@catalog_app.command("event", rich_help_panel="提醒")
def event_command(
    ctx: typer.Context,
    entry: Annotated[str, typer.Argument(help="目录条目：领域事项/单位/序号（如 1.市场监管/县市场监管局/2）或 #编号")],
    formed: Annotated[str, typer.Option("--formed", help="信息形成或变更的日期 YYYY-MM-DD")],
    note: Annotated[str, typer.Option("--note", help="是什么信息（如 许可证编号）")] = "",
    by: By = None,
    today: Today = None,
    as_json: Json = False,
) -> None:
    """登记一条信息的形成或变更，按该条目的公开时限在工作日历上算出公开期限；公开主体会按提醒策略收到提醒。

    例：tracker catalog event 1.市场监管/县市场监管局/2 --formed 2020-09-28 --note "某某超市许可"
    """
    context: Context = ctx.obj
    day = context.today(today)
    with write_session(context.ready_engine()) as session:
        view, created = record_disclosure_event(
            session, Directory.load(session), entry, parse_date(formed, "--formed"), calendar=context.calendar,
            short=_short(context), note=note, by=actor(by), today=day, now=context.now(today),
        )
    if as_json:
        output.print_json({**view.to_json(day), "created": created, "warnings": context.calendar.warnings})
        return
    what = "已登记" if created else "此前已登记过（未重复登记）"
    output.say(f"{what}：公开记录 {view.id}，{view.publisher} 的“{view.level1}·{view.level2}”，信息形成于 {view.formed_on}，"
               f"公开时限“{view.deadline_text}”，应于 {view.due_on} 前公开。")
    if view.rule_note:
        output.say(f"说明：{view.rule_note}。")
    for warning in context.calendar.warnings:
        output.warn(warning)


@catalog_app.command("disclosed", rich_help_panel="状态")
def disclosed_command(
    ctx: typer.Context,
    disclosure: Annotated[int, typer.Argument(help="公开记录编号（catalog event 或 catalog disclosures 显示）")],
    on: Annotated[str, typer.Option("--on", help="实际公开日期 YYYY-MM-DD")],
    by: By = None,
    today: Today = None,
    as_json: Json = False,
) -> None:
    """登记信息已公开，该条提醒随即停止。

    例：tracker catalog disclosed 3 --on 2020-10-20
    """
    context: Context = ctx.obj
    day = context.today(today)
    with write_session(context.ready_engine()) as session:
        view = record_disclosed(session, Directory.load(session), disclosure, parse_date(on, "--on"), by=actor(by),
                                today=day, now=context.now(today))
    if as_json:
        output.print_json(view.to_json(day))
        return
    output.say(f"公开记录 {view.id}（{view.publisher}：{view.level2}）已于 {view.disclosed_on} 公开，"
               f"{STATUS_LABELS[view.status(day)]}（期限 {view.due_on}）。")


@catalog_app.command("disclosures", rich_help_panel="状态")
def disclosures_command(
    ctx: typer.Context,
    open_only: Annotated[bool, typer.Option("--open", help="只看尚未公开的")] = False,
    today: Today = None,
    as_json: Json = False,
) -> None:
    """列出登记过的信息公开期限及状态（待公开、已逾期、已公开、逾期公开）。

    例：tracker catalog disclosures --open --today 2020-11-02
    """
    context: Context = ctx.obj
    day = context.today(today)
    with read_session(context.ready_engine()) as session:
        views = list_disclosures(session, Directory.load(session), open_only=open_only)
    if as_json:
        output.print_json([v.to_json(day) for v in views])
        return
    output.table("信息公开期限", ["编号", "公开主体", "事项", "信息形成", "公开期限", "状态", "实际公开"],
                 [[v.id, v.publisher, f"{v.level1}·{v.level2}", v.formed_on, v.due_on, STATUS_LABELS[v.status(day)],
                   v.disclosed_on or ""] for v in views])
    if not views:
        output.say("还没有登记过信息公开期限。")
