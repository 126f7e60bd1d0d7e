"""The office's side of the supervision cycle at the command line (review, extension), office accounts
(users), unit links (links) and the web application (serve). Every rule is in tracker.cycle."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tracker.accounts import add_user
from tracker.cli import output
from tracker.cli.app import app
from tracker.cli.context import Context, actor, parse_date
from tracker.cli.options import By, Drill, Json, Today
from tracker.cycle import DECISIONS, approve, extension_queue, grant_extension, refuse_extension, return_report, review_queue
from tracker.db import read_session, write_session
from tracker.directory import Directory
from tracker.links import read_secret, rotate, unit_link
from tracker.times import local_text

review_app = typer.Typer(help="审核单位报告的完成情况：办结或退回。", no_args_is_help=True)
extension_app = typer.Typer(help="单位的延期申请：同意或不同意。", no_args_is_help=True)
users_app = typer.Typer(help="县政府办公室网页登录账号。", no_args_is_help=True)
links_app = typer.Typer(help="单位的专属链接（提醒邮件中的在线签收、反馈入口）。", no_args_is_help=True)
app.add_typer(review_app, name="review", rich_help_panel="状态")
app.add_typer(extension_app, name="extension", rich_help_panel="状态")
app.add_typer(users_app, name="users", rich_help_panel="设置")
app.add_typer(links_app, name="links", rich_help_panel="设置")

Id = Annotated[int, typer.Argument(help="编号（见 list 的第一列）")]


def _drill_note(context: Context) -> None:
    if context.drilling:
        output.say("这是演练：以上在数据库副本上完成，真实数据库没有改动。")


@review_app.command("list")
def review_list(ctx: typer.Context, as_json: Json = False) -> None:
    """列出等待审核的完成报告（最早的在前）。

    例：tracker review list
    """
    context: Context = ctx.obj
    tz = context.config.tz
    with read_session(context.ready_engine()) as session:
        queue = review_queue(session)
    if as_json:
        output.print_json([q.to_json(tz) for q in queue])
        return
    output.table("待审核的完成报告", ["编号", "事项", "单位", "完成日期", "佐证", "附件", "报告时间"], [
        [q.id, q.item + (f"（{q.occurrence}期）" if q.occurrence else ""), q.unit, q.row.completed_on,  # type: ignore[union-attr]
         output.short(q.row.evidence, 24), "、".join(f["name"] for f in q.row.files), local_text(q.at, tz)]  # type: ignore[union-attr]
        for q in queue])
    if not queue:
        output.say("没有等待审核的报告。")


@review_app.command("approve")
def review_approve(ctx: typer.Context, report: Id, note: Annotated[str, typer.Option("--note", help="审核意见（可选）")] = "",
                   by: By = None, today: Today = None, drill: Drill = False, as_json: Json = False) -> None:
    """审核通过（办结）：任务按单位报告的完成日期计为完成。

    例：tracker review approve 3 --note 佐证齐全
    """
    context: Context = ctx.obj
    day = context.writing_day(today, drill=drill)
    with write_session(context.ready_engine()) as session:
        entry = approve(session, report, by=actor(by), today=day, now=context.now(today), note=note)
    if as_json:
        output.print_json({"id": entry.id, "review": entry.review, "completed_on": entry.completed_on.isoformat() if entry.completed_on else None})
        return
    output.say(f"反馈 #{entry.id} 已审核通过（办结），完成日期 {entry.completed_on}。")
    _drill_note(context)


@review_app.command("return")
def review_return(ctx: typer.Context, report: Id, reason: Annotated[str, typer.Option("--reason", help="退回原因（单位会看到）")],
                  by: By = None, today: Today = None, drill: Drill = False, as_json: Json = False) -> None:
    """退回单位的完成报告并写明原因；任务重新打开，单位在页面上看到原因。

    例：tracker review return 3 --reason "缺少盖章的公开目录文件"
    """
    context: Context = ctx.obj
    day = context.writing_day(today, drill=drill)
    with write_session(context.ready_engine()) as session:
        entry = return_report(session, report, reason=reason, by=actor(by), today=day, now=context.now(today))
    if as_json:
        output.print_json({"id": entry.id, "review": entry.review, "reason": entry.review_note})
        return
    output.say(f"反馈 #{entry.id} 已退回：{entry.review_note}")
    _drill_note(context)


@extension_app.command("list")
def extension_list(ctx: typer.Context, all_: Annotated[bool, typer.Option("--all", help="包括已处理的申请")] = False,
                   as_json: Json = False) -> None:
    """列出单位的延期申请（默认只列待审批的）。

    例：tracker extension list --all
    """
    context: Context = ctx.obj
    tz = context.config.tz
    with read_session(context.ready_engine()) as session:
        queue = extension_queue(session, all_decisions=all_)
    if as_json:
        output.print_json([q.to_json(tz) for q in queue])
        return
    output.table("延期申请", ["编号", "事项", "单位", "现期限", "申请延至", "理由", "状态", "申请时间"], [
        [q.id, q.item + (f"（{q.occurrence}期）" if q.occurrence else ""), q.unit, q.row.current_due, q.row.proposed_due,  # type: ignore[union-attr]
         output.short(q.row.reason, 24), DECISIONS[q.row.decision], local_text(q.at, tz)]  # type: ignore[union-attr]
        for q in queue])
    if not queue:
        output.say("没有延期申请。")


@extension_app.command("grant")
def extension_grant(ctx: typer.Context, request: Id,
                    to: Annotated[str | None, typer.Option("--to", help="批准延至的日期（默认按申请的日期）")] = None,
                    note: Annotated[str, typer.Option("--note", help="批准意见或文号（可选）")] = "",
                    by: By = None, today: Today = None, drill: Drill = False, as_json: Json = False) -> None:
    """同意延期：单位获得新的期限，原期限保留。

    例：tracker extension grant 2 --note "县政府办批复同意"
    """
    context: Context = ctx.obj
    context.writing_day(today, drill=drill)
    granted_to = parse_date(to, "--to") if to else None
    with write_session(context.ready_engine()) as session:
        entry = grant_extension(session, request, by=actor(by), now=context.now(today), calendar=context.calendar,
                                to=granted_to, note=note)
        result = {"id": entry.id, "decision": entry.decision, "proposed_due": entry.proposed_due.isoformat(),
                  "to_due": (granted_to or entry.proposed_due).isoformat()}
    if as_json:
        output.print_json(result)
        return
    output.say(f"延期申请 #{result['id']} 已同意：期限延至 {result['to_due']}。")
    _drill_note(context)


@extension_app.command("refuse")
def extension_refuse(ctx: typer.Context, request: Id, reason: Annotated[str, typer.Option("--reason", help="不同意的理由（单位会看到）")],
                     by: By = None, today: Today = None, drill: Drill = False, as_json: Json = False) -> None:
    """不同意延期并写明理由；期限不变。

    例：tracker extension refuse 2 --reason "该项为省定时限，不能延期"
    """
    context: Context = ctx.obj
    context.writing_day(today, drill=drill)
    with write_session(context.ready_engine()) as session:
        entry = refuse_extension(session, request, reason=reason, by=actor(by), now=context.now(today))
    if as_json:
        output.print_json({"id": entry.id, "decision": entry.decision, "reason": entry.decision_note})
        return
    output.say(f"延期申请 #{entry.id} 不同意：{entry.decision_note}")
    _drill_note(context)


@users_app.command("add")
def users_add(ctx: typer.Context, name: Annotated[str, typer.Argument(help="登录名")],
              password_stdin: Annotated[bool, typer.Option("--password-stdin", help="从标准输入读取密码（供脚本使用）")] = False,
              reset: Annotated[bool, typer.Option("--reset", help="用户已存在时重设其密码")] = False,
              by: By = None, as_json: Json = False) -> None:
    """添加县政府办公室的网页登录账号（密码以 scrypt 散列保存）。

    例：tracker users add zhangsan
    """
    context: Context = ctx.obj
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("密码", hide_input=True, confirmation_prompt="再输入一次")
    with write_session(context.ready_engine()) as session:
        user = add_user(session, name, password, by=actor(by), now=context.real_now(), replace=reset)
        result = {"name": user.name, "reset": reset}
    if as_json:
        output.print_json(result)
        return
    output.say(f"已{'重设' if reset else '添加'}登录账号“{result['name']}”。")


def _secret(context: Context) -> str:
    web = context.config.settings.web
    return read_secret(web.secret_env, web.secret_file, context.config.base_dir)


@links_app.command("show")
def links_show(ctx: typer.Context, unit: Annotated[str, typer.Option("--unit", help="单位名称")], today: Today = None,
               as_json: Json = False) -> None:
    """显示单位当前的专属链接（也随每封提醒邮件发出）；有效期（web.link_days）从今天（或 --today 那天）起算。

    例：tracker links show --unit 狮山镇人民政府
    """
    context: Context = ctx.obj
    web = context.config.settings.web
    secret = _secret(context)
    with read_session(context.ready_engine()) as session:
        found = Directory.load(session).unit(unit)
        link = unit_link(session, secret, web.public_url or "http://127.0.0.1:8080", found.id, context.now(today))  # type: ignore[arg-type]
    if as_json:
        output.print_json({"unit": found.name, "link": link, "days": web.link_days})
        return
    output.say(f"{found.name} 的专属链接（{web.link_days} 天内有效）：\n{link}")
    if not web.public_url:
        output.warn("没有设置 web.public_url：链接暂用本机地址，邮件中不会附链接。")


@links_app.command("rotate")
def links_rotate(ctx: typer.Context, unit: Annotated[str, typer.Option("--unit", help="单位名称")], by: By = None,
                 as_json: Json = False) -> None:
    """作废单位此前的全部链接（如邮件被转发或泄露）；下一封提醒带新链接。

    例：tracker links rotate --unit 狮山镇人民政府
    """
    context: Context = ctx.obj
    with write_session(context.ready_engine()) as session:
        found = Directory.load(session).unit(unit)
        generation = rotate(session, found, by=actor(by), now=context.real_now())
        name = found.name
    if as_json:
        output.print_json({"unit": name, "generation": generation})
        return
    output.say(f"已作废 {name} 此前的全部链接。可用 tracker links show --unit {name} 查看新链接。")


@app.command("serve", rich_help_panel="提醒")
def serve(ctx: typer.Context, host: Annotated[str, typer.Option("--host", help="监听地址")] = "127.0.0.1",
          port: Annotated[int, typer.Option("--port", help="端口")] = 8080) -> None:
    """运行网页：单位从邮件链接签收、反馈、申请延期；县政府办公室登录后审核、查看进度。

    与常驻提醒进程（tracker run）使用同一数据库；对外请放在 HTTPS 反向代理之后（见 README）。
    例：tracker serve --host 127.0.0.1 --port 8080
    """
    import uvicorn

    from tracker.web.app import create_app

    context: Context = ctx.obj
    context.ready_engine()
    _secret(context)
    output.say(f"网页已启动：http://{host}:{port}/（按 Ctrl+C 停止）")
    uvicorn.run(create_app(context), host=host, port=port, log_level="warning", proxy_headers=True)

