"""Commands that fill the unit directory from what an office already has: the plan table and the contact list."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlmodel import Session, select

from tracker.cli import output
from tracker.cli.context import Context, actor
from tracker.cli.directory_output import print_email_summary, print_plan_units
from tracker.cli.options import By, Json
from tracker.cli.unit_commands import units_app
from tracker.contact_list import ContactImport, contact_rows, import_contacts, read_contact_file, units_without_email, write_contact_file
from tracker.db import read_session, write_session
from tracker.directory import Directory
from tracker.models import ROLES, UNIT_KINDS, Plan
from tracker.plan_directory import PlanUnits, add_plan_units, plan_names, units_from_names
from tracker.plan_sync import PlanDiff, sync_assignments

T = TypeVar("T")
DryRun = Annotated[bool, typer.Option("--dry-run", help="只显示将要发生的变化，不写数据库")]


def _county(session: Session, given: str | None) -> str:
    if given:
        return given.strip()
    plan = session.exec(select(Plan)).first()
    return plan.county if plan else ""


def _change_directory(
    context: Context, change: Callable[[Session, Directory], T], *, by: str | None, dry_run: bool
) -> tuple[T, PlanDiff, dict[str, object]]:
    """Change the directory, give new and re-kinded units their group items, and roll it all back for --dry-run."""
    with write_session(context.ready_engine()) as session:
        result = change(session, Directory.load(session))
        diff = sync_assignments(session, Directory.load(session), now=context.now(None), actor=actor(by))
        without = units_without_email(Directory.load(session))
        if dry_run:
            session.rollback()
    return result, diff, without


def _print_json(result: dict[str, object], diff: PlanDiff, without: dict[str, object], dry_run: bool) -> None:
    output.print_json({"dry_run": dry_run, **result, "units_without_email": without,
                       "added_assignments": [{"item": i, "unit": u, "role": r} for i, u, r, *_ in diff.added_assignments]})


def _print_assignments(diff: PlanDiff) -> None:
    if diff.added_assignments:
        output.say(f"  新增任务分工 {len(diff.added_assignments)} 个：" + "、".join(
            f"{i} {u}（{ROLES[r]}）" for i, u, r, *_ in diff.added_assignments[:20])
            + ("……" if len(diff.added_assignments) > 20 else ""))


@units_app.command("from-plan", rich_help_panel="设置")
def units_from_plan(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="计划表文件")],
    county: Annotated[str | None, typer.Option("--county", help="本县名称（默认：数据库中记录的县名）")] = None,
    dry_run: DryRun = False,
    by: By = None,
    as_json: Json = False,
) -> None:
    """把计划表中出现、名录里还没有的单位加入名录：按名称判断类别（乡镇、部门、村、社区……）。

    例：tracker units from-plan 分解表.txt --dry-run
    """
    context: Context = ctx.obj
    def change(session: Session, directory: Directory) -> PlanUnits:
        name = _county(session, county)
        found = units_from_names(plan_names(file, name), name, directory)
        add_plan_units(session, directory, found)
        return found

    found, diff, without = _change_directory(context, change, by=by, dry_run=dry_run)
    if as_json:
        _print_json(found.to_json(), diff, without, dry_run)
        return
    print_plan_units(found, "预览" if dry_run else "已从计划表补充单位名录")
    for unit in found.units:
        output.say(f"  + {unit.name}（{UNIT_KINDS[unit.kind]}）" + (f"  别名：{'、'.join(unit.aliases)}" if unit.aliases else "")
                   + (f"  上级：{unit.township}" if unit.township else ""))
    for unit, alias in found.new_aliases:
        output.say(f"  {unit} 增加别名：{alias}")
    _print_assignments(diff)
    print_email_summary(without)
    if dry_run:
        output.say("这是预览（--dry-run），数据库没有任何改动。")
    else:
        output.say(f"下一步：tracker import {file} 导入计划表的事项。")


@units_app.command("import", rich_help_panel="设置")
def units_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="通讯录文件（.xlsx 或 .csv）")],
    dry_run: DryRun = False,
    by: By = None,
    as_json: Json = False,
) -> None:
    """载入通讯录：按表头（单位名称、简称/别名、上级单位、联系人、电话、邮箱）新增或更新单位。

    有任何一行不对时，列出每一处问题，什么也不改。空白单元格表示不改动原值。
    例：tracker units import 通讯录.xlsx --dry-run
    """
    context: Context = ctx.obj
    rows = read_contact_file(file)

    def change(session: Session, directory: Directory) -> ContactImport:
        return import_contacts(session, directory, rows, _county(session, None), str(file))

    result, diff, without = _change_directory(context, change, by=by, dry_run=dry_run)
    if as_json:
        _print_json(result.to_json(), diff, without, dry_run)
        return
    output.say(f"{'预览' if dry_run else '已载入'}通讯录 {file}：新增单位 {len(result.added)} 个，"
               f"更新 {len(result.updated)} 个，无变化 {result.unchanged} 个")
    for name in result.added:
        output.say(f"  + {name}")
    for name, fields in result.updated:
        output.say(f"  ~ {name}：{'、'.join(fields)}")
    for warning in result.warnings:
        output.warn(warning)
    _print_assignments(diff)
    print_email_summary(without)
    if dry_run:
        output.say("这是预览（--dry-run），数据库没有任何改动。")


@units_app.command("export", rich_help_panel="设置")
def units_export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="输出文件（.xlsx 或 .csv）")],
    as_json: Json = False,
) -> None:
    """导出通讯录（与 tracker units import 的格式相同），供各单位填写后载入。

    例：tracker units export --out 通讯录.xlsx
    """
    context: Context = ctx.obj
    with read_session(context.ready_engine()) as session:
        rows = contact_rows(Directory.load(session))
    write_contact_file(out, rows)
    if as_json:
        output.print_json({"file": str(out), "units": len(rows) - 1})
        return
    output.say(f"已导出 {len(rows) - 1} 个单位到 {out}。填好联系人、电话、邮箱后用 tracker units import {out} 载入。")
