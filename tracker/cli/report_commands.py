"""The weekly progress report (通报): `tracker report weekly`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from notifications.delivery import deliver_pending
from notifications.weekly import render_html, render_text, render_xlsx
from schedules.jobs import store_weekly_messages
from tracker.cli import output
from tracker.cli.app import app
from tracker.cli.context import Context
from tracker.cli.mail_commands import delivery_policy, report_settings, transport_for
from tracker.cli.options import Json, PlanCode
from tracker.plans import plan_ids
from tracker.errors import TrackerError
from tracker.db import read_session, write_session
from tracker.errors import OutputFileError
from tracker.outfiles import check_output_path, write_output
from tracker.report import build_weekly_report

report_app = typer.Typer(help="进度通报。", no_args_is_help=True)
app.add_typer(report_app, name="report", rich_help_panel="报告")


@report_app.command("weekly")
def weekly_command(
    ctx: typer.Context,
    as_of: Annotated[str | None, typer.Option("--as-of", help="统计截至哪一天（YYYY-MM-DD，默认今天）")] = None,
    today: Annotated[str | None, typer.Option("--today", help="同 --as-of")] = None,
    out: Annotated[Path | None, typer.Option("--out", readable=False, help="把通报写成 HTML 文件")] = None,
    xlsx: Annotated[Path | None, typer.Option("--xlsx", readable=False, help="把台账写成 Excel 文件")] = None,
    send: Annotated[bool, typer.Option("--send", help="立即通过邮件发给配置的收件单位（附 Excel 台账）")] = False,
    force: Annotated[bool, typer.Option("--force", help="--out / --xlsx 的文件已存在时替换它")] = False,
    plan: PlanCode = None,
    as_json: Json = False,
) -> None:
    """生成每周进度通报：总体数字、红灯事项、各单位排名、近 7 日变化、未来 14 日到期。

    覆盖全部进行中的计划（有多个计划时分计划列出）；--plan 只通报一个计划。
    例：tracker report weekly --as-of 2020-10-12 --out 通报.html --xlsx 台账.xlsx
        tracker report weekly --plan zwgk2020 --as-of 2020-10-12

    文件先写入临时文件再改名，权限与数据库文件相同；已有的文件只有加 --force 才会替换。
    """
    context: Context = ctx.obj
    if as_of and today:
        raise TrackerError("--as-of 和 --today 只能写一个（两者含义相同）。")
    option, given = ("--as-of", as_of) if as_of else ("--today", today)
    day = context.writing_day(given, option=option) if send else context.today(given, option)
    if out and xlsx and out.resolve() == xlsx.resolve():
        raise OutputFileError(f"--out 和 --xlsx 指向同一个文件 {out}。请给 HTML 通报和 Excel 台账各用一个文件名。")
    protected = context.protected_paths()
    for path, what in ((out, "HTML 通报"), (xlsx, "Excel 台账")):
        if path:
            check_output_path(path, protected=protected, force=force, what=what)
    engine = context.ready_engine()
    with read_session(engine) as session:
        settings = report_settings(context)
        report = build_weekly_report(session, day, context.calendar, settings.lights, title=settings.title, tz=settings.tz,
                                     plan_ids=plan_ids(session, plan), acknowledge_within=settings.acknowledge_within)
    if out:
        write_output(out, render_html(report).encode("utf-8"), mode=context.output_mode, what="HTML 通报")
    if xlsx:
        write_output(xlsx, render_xlsx(report), mode=context.output_mode, what="Excel 台账")
    delivered = None
    if send:
        now = context.now(given, option)
        with write_session(engine) as session:
            store_weekly_messages(session, report, settings, now)
        delivered = deliver_pending(engine, transport_for(context), delivery_policy(context), now=lambda: now)
    if as_json:
        output.print_json({**report.to_json(), **({"delivery": delivered.to_json()} if delivered else {})})
        return
    output.say(render_text(report))
    for path, what in ((out, "HTML 通报"), (xlsx, "Excel 台账")):
        if path:
            output.say(f"{what}已写入 {path}")
    if delivered:
        output.say(f"通报邮件：成功 {delivered.sent} 封，稍后重试 {delivered.retrying} 封，失败 {delivered.failed} 封。")
    for warning in report.warnings:
        output.warn(warning)
