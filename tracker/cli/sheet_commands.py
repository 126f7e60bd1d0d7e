"""Status sheets that units fill in: tracker sheet export / import."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tracker.cli import output
from tracker.cli.app import app
from tracker.cli.context import Context, actor
from tracker.cli.options import By, Json, PlanCode, Today
from tracker.db import read_session, write_session
from tracker.directory import Directory
from tracker.errors import TrackerError
from tracker.identity import database_identity
from tracker.models import STATES
from tracker.plans import plan_ids
from tracker.queries import ItemFilter, ItemView, filter_views, load_views
from tracker.statussheet import apply_sheet, build_sheet, sheet_file_name

sheet_app = typer.Typer(help="进度填报表：导出给单位填写，收回后导入。", no_args_is_help=True)
app.add_typer(sheet_app, name="sheet", rich_help_panel="状态")

OPEN = frozenset({"not_started", "in_progress"})


def _unit_views(views: list[ItemView], unit_id: int, day: object) -> list[ItemView]:
    flt = ItemFilter(unit_ids=frozenset({unit_id}), states=OPEN)
    return filter_views(views, flt, day)  # type: ignore[arg-type]


@sheet_app.command("export")
def sheet_export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="写入的 .xlsx 文件；与 --all 同用时为文件夹")],
    unit: Annotated[str | None, typer.Option("--unit", help="单位名称")] = None,
    all_units: Annotated[bool, typer.Option("--all", help="为每个有未完成任务的单位各导出一个文件")] = False,
    plan: PlanCode = None,
    today: Today = None,
    as_json: Json = False,
) -> None:
    """导出单位的进度填报表（Excel）：列出未完成的任务，单位填写状态、进度、完成日期、佐证和说明。

    例：tracker sheet export --unit 狮山镇人民政府 --out 狮山镇进度表.xlsx
        tracker sheet export --all --out 进度表
        tracker sheet export --all --plan zwgk2020 --out 政务公开进度表
    """
    context: Context = ctx.obj
    if all_units == (unit is not None):
        raise TrackerError("请指定 --unit 单位 或 --all（二者选一）。")
    if unit is not None and out.suffix.lower() != ".xlsx":
        raise TrackerError(f"--out 的文件名“{out}”应以 .xlsx 结尾。")
    day = context.today(today)
    now = context.now(today)
    with read_session(context.ready_engine()) as session:
        directory = Directory.load(session)
        targets = [directory.unit(unit)] if unit is not None else sorted(directory.units.values(), key=lambda u: u.id or 0)
        flt = ItemFilter(unit_ids=frozenset(u.id for u in targets if u.id), states=OPEN)
        views = load_views(session, day, context.calendar, context.lights, only=flt, plan_ids=plan_ids(session, plan))
        identity = database_identity(session)
    written = []
    for target in targets:
        mine = _unit_views(views, target.id, day)  # type: ignore[arg-type]
        count = sum(len(v.principals) for v in mine)
        if all_units and not count:
            continue
        path = out / sheet_file_name(target.name) if all_units else out
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            build_sheet(mine, target.name, identity, now).save(path)
        except OSError as exc:
            raise TrackerError(f"无法写入 {path}：{exc.strerror}。请检查路径和权限。") from exc
        written.append({"unit": target.name, "file": str(path), "rows": count})
    if as_json:
        output.print_json(written)
        return
    for entry in written:
        output.say(f"已导出 {entry['file']}：{entry['unit']} 的 {entry['rows']} 项未完成任务")
    if not written:
        output.say("没有单位有未完成的任务，未导出任何文件。")


@sheet_app.command("import")
def sheet_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="单位填好的进度填报表（.xlsx）")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="只检查并显示将要发生的变化，不写数据库")] = False,
    by: By = None,
    today: Today = None,
    as_json: Json = False,
) -> None:
    """导入单位填好的进度填报表：按与 tracker status 相同的规则更新状态并记入历史；任何一行有错则整表不导入。

    例：tracker sheet import 狮山镇进度表.xlsx --by 张三 --dry-run
    """
    context: Context = ctx.obj
    day = context.today(today)
    with write_session(context.ready_engine()) as session:
        directory = Directory.load(session)
        report = apply_sheet(session, directory, file, database_identity(session), by=actor(by), today=day,
                             now=context.now(today))
        if dry_run:
            session.rollback()
    changes = [(row, r) for row, r in report.records if r.changed]
    if as_json:
        output.print_json({"file": str(file), "unit": report.unit, "dry_run": dry_run,
                           "changes": [{"row": row, **r.to_json()} for row, r in changes]})
        return
    for row, r in changes:
        done = f"，完成日期 {r.completed_on}" if r.completed_on else ""
        output.say(f"第 {row} 行  事项 {r.item}：{STATES[r.from_state]} {r.from_progress}% → {STATES[r.to_state]} {r.to_progress}%{done}")
    if not changes:
        output.say(f"{report.unit}：表中没有任何改动（与导出时相同），数据库未改动。")
        return
    output.say(f"{report.unit}：{len(changes)} 项有变化" + ("（预览，数据库未改动）。" if dry_run else "，已记入历史。"))
