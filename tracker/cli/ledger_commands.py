"""Repairing the reminder ledger: undo checks made for dates that had not come, and confirm a clock that jumped."""

from __future__ import annotations

from typing import Annotated

import typer

from tracker.cli import output
from tracker.cli.app import app
from tracker.cli.context import Context, actor, parse_date
from tracker.cli.options import By, Json
from tracker.db import read_session, write_session
from tracker.ledger import last_check, record_check, rewind

ledger_app = typer.Typer(help="提醒台账：撤销误记的将来日期、确认系统日期。", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger", rich_help_panel="维护")


@ledger_app.command("rewind", rich_help_panel="维护")
def ledger_rewind(
    ctx: typer.Context,
    after: Annotated[str, typer.Option("--after", help="保留此日及以前的记录，撤销此日之后日期的（YYYY-MM-DD）")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="只显示将撤销什么，不改动数据库")] = False,
    by: By = None,
    as_json: Json = False,
) -> None:
    """撤销为某日之后的日期所做的检查：删除这些日期的提醒台账、未发出的邮件和周报记录，让真正到了那些日子时照常提醒。

    用于修复误用将来日期（如 run --once --today 2021-06-01）或系统时钟跳到将来后的检查。已发出的邮件无法收回，
    只计数。运行前请先停止 tracker run。
    例：tracker ledger rewind --after 2020-09-22 --dry-run
        tracker ledger rewind --after 2020-09-22
    """
    context: Context = ctx.obj
    day = parse_date(after, "--after")
    with write_session(context.ready_engine()) as session:
        report = rewind(session, day, now=context.real_now(), actor=actor(by), write=not dry_run)
    if as_json:
        output.print_json({**report.to_json(), "dry_run": dry_run})
        return
    verb = "将撤销" if dry_run else "已撤销"
    output.say(f"{verb} {day} 之后日期的记录：提醒台账 {report.notices} 条，未发出的邮件 {report.messages} 封，"
               f"周报记录 {report.reports} 条，检查记录 {report.checks} 条。")
    if report.dates:
        output.say("涉及的检查日期：" + "、".join(report.dates))
    if report.sent_kept:
        output.warn(f"这些日期已有 {report.sent_kept} 封邮件发出，无法收回；到了那些日子会按台账重新提醒。")
    if report.sending:
        output.warn(f"有 {report.sending} 封这些日期的邮件正在发送。请先停止 tracker run。")
    if dry_run:
        output.say("这是预览，数据库没有改动。去掉 --dry-run 即执行。")


@ledger_app.command("confirm-date", rich_help_panel="维护")
def ledger_confirm_date(
    ctx: typer.Context,
    day: Annotated[str, typer.Argument(help="确认为今天的日期（YYYY-MM-DD）")],
    by: By = None,
    as_json: Json = False,
) -> None:
    """确认系统时钟的日期无误：常驻进程发现时钟向前跳了一天以上（或重启后隔了多日）会暂停检查，确认后继续。

    例：tracker ledger confirm-date 2020-10-12
    """
    context: Context = ctx.obj
    confirmed = parse_date(day, "日期")
    reading = context.reading()
    with write_session(context.ready_engine()) as session:
        previous = last_check(session)
        record_check(session, confirmed, reading, kind="confirm", actor=actor(by))
    if as_json:
        output.print_json({"confirmed": confirmed.isoformat(), "previous_check": previous.day.isoformat() if previous else None,
                           "clock": reading.at.isoformat()})
        return
    output.say(f"已确认今天是 {confirmed}（系统时钟：{reading.at.isoformat()}）。常驻进程将在一分钟内恢复检查；"
               "也可运行 tracker run --once。")
    if reading.at.date() != confirmed:
        output.warn(f"系统时钟的日期是 {reading.at.date()}，与确认的 {confirmed} 不同。请核对系统时间。")


@ledger_app.command("status", rich_help_panel="维护")
def ledger_status(ctx: typer.Context, as_json: Json = False) -> None:
    """显示最近一次检查（或日期确认）的日期和当时的系统时钟。

    例：tracker ledger status
    """
    context: Context = ctx.obj
    with read_session(context.ready_engine()) as session:
        last = last_check(session)
    data = None if last is None else {"kind": last.kind, "day": last.day.isoformat(),
                                      "clock": last.at.astimezone(context.config.tz).isoformat(), "by": last.actor}
    if as_json:
        output.print_json({"last_check": data})
        return
    if data is None:
        output.say("还没有检查记录。")
        return
    what = "日期确认" if last.kind == "confirm" else "检查"  # type: ignore[union-attr]
    output.say(f"最近一次{what}：{data['day']}（系统时钟 {data['clock']}{'，确认人 ' + data['by'] if data['by'] else ''}）")
