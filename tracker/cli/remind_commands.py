"""`tracker remind --dry-run`: who would get which reminder on a day. It only reads, so it loads no delivery,
scheduler or template code (see the import-boundary test in tests/test_startup.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from tracker.cli import output
from tracker.cli.app import app
from tracker.cli.context import Context
from tracker.cli.options import Json, Today
from tracker.db import read_session
from tracker.errors import TrackerError
from tracker.reminders import plan_check, stage_label


@app.command("remind", rich_help_panel="提醒")
def remind_command(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="只显示将要发送的提醒，不写数据库、不发送")] = False,
    today: Today = None,
    as_json: Json = False,
) -> None:
    """预览某天会给谁发送什么提醒。

    例：tracker remind --dry-run --today 2020-10-09 --json
    """
    context: Context = ctx.obj
    if not dry_run:
        raise TrackerError("请加 --dry-run 预览；实际发送请用 tracker run --once。")
    day = context.today(today)
    with read_session(context.ready_engine()) as session:  # what the check of ``day`` would send; writes nothing
        plan = plan_check(session, day, context.calendar, context.policy, context.lights)
    workday = context.calendar.is_workday(day)
    digests = plan.digests if workday else []
    if as_json:
        from notifications.render import render_subject  # the subject is a template: Jinja2 only for --json

        prefix = context.config.settings.mail.subject_prefix
        output.print_json([{
            "recipient": d.recipient, "to": d.to, "subject": render_subject(d, prefix),
            "entries": [{"plan": e.plan, "item": e.item, "occurrence": e.occurrence or None, "unit": e.unit,
                         "role": e.role, "stage": e.stage, "due": e.due.isoformat()} for e in d.entries],
        } for d in digests])
        return
    if not workday:
        output.say(f"{day} 不是工作日，不发送提醒。")
        return
    rows = [[d.recipient, "、".join(d.to), str(len(d.own)), str(len({e.unit for e in d.escalations})),
             "、".join(sorted({stage_label(e.stage) for e in d.own}))] for d in digests]
    output.table(f"{day} 将发送的提醒（预览，未发送）", ["收件单位", "邮箱", "本单位事项", "督办逾期单位", "提醒类型"], rows)
    output.say(f"共 {len(digests)} 封邮件。")
    for name in plan.unreachable:
        output.warn(f"单位“{name}”及其上级都没有邮箱，提醒无法送达。")
    for warning in context.calendar.warnings:
        output.warn(warning)
