"""Commands that send: run (the daemon and --once), remind --dry-run, simulate, mail test, outbox."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import tempfile
import threading
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress

from notifications.delivery import DeliveryPolicy, DeliveryReport, deliver_pending, lease_for
from notifications.errors import DeliveryError
from notifications.render import build_message
from notifications.transports import (
    FolderTransport, MemoryTransport, SmtpSettings, Transport, eml_name, make_transport, read_password,
)
from schedules.daemon import DaemonPlan, Jobs, run_daemon
from schedules.jobs import CheckReport, CheckSettings, ReportSettings, daily_check, weekly_report_job
from tracker.cli import output
from tracker.cli.app import app
from tracker.cli.channel_commands import deliver_robots
from tracker.cli.context import Context, parse_date
from tracker.cli.options import Drill, Json, Today
from tracker.db import copy_database, make_engine, read_session, write_session
from tracker.errors import ClockError, ConfigError, TrackerError
from tracker.links import read_secret
from tracker.models import OutboxMessage
from tracker.outbox import STATES, list_messages, retry
from tracker.times import local_iso, local_text

log = logging.getLogger(__name__)
mail_app = typer.Typer(help="邮件设置检查。", no_args_is_help=True)
outbox_app = typer.Typer(help="发件箱：查看和重发。", no_args_is_help=True)
app.add_typer(mail_app, name="mail", rich_help_panel="设置")
app.add_typer(outbox_app, name="outbox", rich_help_panel="提醒")


def check_settings(context: Context) -> CheckSettings:
    s = context.config.settings
    return CheckSettings(policy=context.policy, lights=context.lights, sender=s.mail.sender, county=s.general.county,
                         subject_prefix=s.mail.subject_prefix, link_base=s.web.public_url,
                         link_secret=_link_secret(context) if s.web.public_url else "")


def _link_secret(context: Context) -> str:
    """The unit links' secret; without it reminders still go out, without links, and the operator is told."""
    web = context.config.settings.web
    try:
        return read_secret(web.secret_env, web.secret_file, context.config.base_dir)
    except ConfigError as exc:
        log.warning("提醒邮件不附单位链接：%s", exc)
        output.warn_once(f"提醒邮件不附单位链接：{exc}")
        return ""


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


def report_settings(context: Context) -> ReportSettings:
    s = context.config.settings
    return ReportSettings(title=f"{s.general.county}政务工作任务进度通报", recipients=tuple(s.report.recipients),
                          sender=s.mail.sender, weekday=WEEKDAYS.index(s.report.weekday), lights=context.lights,
                          tz=context.config.tz, folder=context.config.path(s.report.folder),
                          attachment_max_bytes=int(s.report.attachment_max_mb * 1024 * 1024),
                          mail_units_max=s.report.mail_units_max,
                          acknowledge_within=context.signing_days)


def delivery_policy(context: Context) -> DeliveryPolicy:
    m = context.config.settings.mail
    lease = lease_for(dt.timedelta(seconds=m.lease_seconds), m.smtp.timeout_seconds if m.transport == "smtp" else None)
    return DeliveryPolicy(sender=m.sender, lease=lease, max_attempts=m.max_attempts, retry_after_seconds=m.retry_after_seconds,
                          retry_max_seconds=m.retry_max_seconds)


def transport_for(context: Context) -> Transport:
    m = context.config.settings.mail
    smtp = SmtpSettings(host=m.smtp.host, port=m.smtp.port, starttls=m.smtp.starttls, tls=m.smtp.tls, user=m.smtp.user,
                        password=read_password(m.smtp.password_env, m.smtp.password_file) if m.transport == "smtp" else "",
                        timeout=m.smtp.timeout_seconds)
    return make_transport(m.transport, smtp=smtp, folder=context.config.path(m.folder))


def _clock(context: Context, today: str | None):  # type: ignore[no-untyped-def]
    """A clock for the pump: the real time, or with --today that day at the current time of day."""
    return lambda: context.now(today)


def _print_check(report: CheckReport) -> None:
    if not report.workday or report.skipped_reason:
        output.say(report.skipped_reason)
    else:
        output.say(f"{report.today} 检查完成：生成 {report.messages} 封邮件，涉及 {report.notices} 条任务提醒。")
    for name in report.unreachable:
        output.warn(f"单位“{name}”及其上级都没有邮箱，提醒无法送达。请用 tracker units set {name} --email 地址 补充。")
    for warning in report.warnings:
        output.warn(warning)


def _log_check(report: CheckReport) -> None:
    """The daemon's version of ``_print_check``: every line of a long-running process carries its time and level
    (the check's own summary is already logged by the job)."""
    if not report.workday or report.skipped_reason:
        log.info("%s", report.skipped_reason)
    for name in report.unreachable:
        log.warning("单位“%s”及其上级都没有邮箱，提醒无法送达。请用 tracker units set %s --email 地址 补充。", name, name)
    for warning in report.warnings:
        log.warning("%s", warning)


@app.command("run", rich_help_panel="提醒")
def run_command(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="只做一次检查和发送，然后退出")] = False,
    today: Today = None,
    drill: Drill = False,
    out: Annotated[Path | None, typer.Option("--out", help="演练（--drill）时把邮件写入此文件夹（.eml）；不写则不保留")] = None,
    as_json: Json = False,
) -> None:
    """运行提醒：默认作为常驻进程按计划检查和发送；--once 检查并发送一次后退出。

    --today 不能晚于今天（会提前占用将来日期的提醒）；演练将来的日期请加 --drill，它在数据库副本上运行，
    邮件不发出（可用 --out 写入文件夹）。常驻运行时发现系统时钟向前跳了一天以上，会暂停检查，直到
    用 tracker ledger confirm-date 确认日期。
    例：tracker run --once --today 2020-09-27
        tracker run --once --today 2021-06-01 --drill --out 演练邮件
    """
    context: Context = ctx.obj
    output.setup_logging(context.config.tz, logging.WARNING if once else logging.INFO)
    if out is not None and not drill:
        raise TrackerError("--out 只用于演练（--drill）。正式发送的方式由配置项 mail.transport 决定。")
    context.writing_day(today, drill=drill)
    engine = context.ready_engine()
    settings, policy = check_settings(context), delivery_policy(context)
    transport: Transport = (FolderTransport(out) if out else MemoryTransport()) if drill else transport_for(context)
    if once:
        day = context.today(today)
        reading = None if drill else context.reading()
        report = daily_check(engine, settings, context.calendar, day, context.now(today), reading=reading,
                             guard=today is None)
        weekly = weekly_report_job(engine, report_settings(context), context.calendar, day, context.now(today))
        delivered = deliver_pending(engine, transport, policy, now=_clock(context, today))
        # a drill works on a copy and sends nothing real: its robot posts stay in the copy's outbox
        posted = DeliveryReport() if drill else deliver_robots(context, policy, now=_clock(context, today))
        if as_json:
            output.print_json({"check": report.to_json(), "weekly_report": weekly.generated, "delivery": delivered.to_json(),
                               "robot_delivery": posted.to_json(), "drill": drill})
        else:
            _print_check(report)
            output.say(weekly.text)
            output.say(f"发送：成功 {delivered.sent} 封，稍后重试 {delivered.retrying} 封，失败 {delivered.failed} 封。")
            if posted.sent or posted.retrying or posted.failed:
                output.say(f"群机器人：成功 {posted.sent} 条，稍后重试 {posted.retrying} 条，失败 {posted.failed} 条。")
            for error in delivered.errors + posted.errors:
                output.warn(error)
            if drill:
                output.say("这是演练：以上在数据库副本上完成，真实数据库没有改动，也没有发出邮件或群消息"
                           + (f"（邮件已写入 {out}）。" if out else "。"))
        _exit_on_delivery_failure(delivered, posted)
        return
    if drill:
        raise TrackerError("--drill 只用于 --once：常驻进程不做演练。")
    stop = threading.Event()
    reminders = context.config.settings.reminders
    plan = DaemonPlan(timezone=context.config.tz, check_at=dt.time.fromisoformat(reminders.check_time),
                      report_at=dt.time.fromisoformat(context.config.settings.report.time),
                      pump_every_seconds=context.config.settings.mail.pump_every_seconds, clock=context.real_now)
    weekly = report_settings(context)
    blocked = threading.Event()  # the clock jumped: no check and no report until the operator confirms the date

    def check() -> None:
        try:
            _log_check(daily_check(engine, settings, context.calendar, context.today(today), context.now(today),
                                   reading=context.reading(), guard=today is None))
        except ClockError as exc:
            if not blocked.is_set():
                log.error("%s", exc)
            blocked.set()
            return
        except TrackerError as exc:
            log.error("%s", exc)
        blocked.clear()

    def report() -> None:
        if blocked.is_set():
            log.warning("系统时钟未经确认，本次不生成周报。")
            return
        try:
            log.info(weekly_report_job(engine, weekly, context.calendar, context.today(today), context.now(today)).text)
        except TrackerError as exc:
            log.error("%s", exc)

    def pump() -> None:
        if blocked.is_set():  # the operator may have confirmed the date since: try the day's check again
            check()
            if not blocked.is_set() and context.real_now().time() >= plan.report_at:
                report()
        deliver_pending(engine, transport, policy, now=_clock(context, today), stop=stop.is_set)

    def robots() -> None:
        deliver_robots(context, policy, now=_clock(context, today), stop=stop.is_set)

    run_daemon(plan, Jobs(check=check, report=report, pump=pump, robots=robots), stop)


def _exit_on_delivery_failure(delivered: DeliveryReport, posted: DeliveryReport | None = None) -> None:
    """A cron job must notice mail (or robot posts) that will never arrive, and a pass stopped by wrong settings:
    exit 1, after saying all of it."""
    failed = [f"{delivered.failed} 封邮件"] if delivered.failed else []
    failed += [f"{posted.failed} 条群机器人消息"] if posted is not None and posted.failed else []
    if failed:
        output.errors.print(f"错误：{'、'.join(failed)}发送失败且不再重试。请用 tracker outbox list --state failed 查看原因，"
                            "改正后用 tracker outbox retry 重发。", markup=False)
    if delivered.halted:
        output.errors.print("错误：发送已暂停，邮件留在发件箱中：" + delivered.halted, markup=False)
    if failed or delivered.halted:
        raise typer.Exit(1)


@app.command("simulate", rich_help_panel="提醒")
def simulate_command(
    ctx: typer.Context,
    start: Annotated[str, typer.Option("--from", help="开始日期 YYYY-MM-DD")],
    end: Annotated[str, typer.Option("--to", help="结束日期 YYYY-MM-DD")],
    out: Annotated[Path, typer.Option("--out", readable=False, help="把每封邮件写入此文件夹（.eml）")],
    as_json: Json = False,
) -> None:
    """在数据库的临时副本（SQLite）上逐日重放检查和发送，邮件写入文件夹；真实数据库不变。

    例：tracker simulate --from 2020-08-01 --to 2020-12-31 --out 模拟邮件
    """
    context: Context = ctx.obj
    first, last = parse_date(start, "--from"), parse_date(end, "--to")
    if last < first:
        raise TrackerError(f"--to（{last}）早于 --from（{first}）。")
    if out.exists() and not out.is_dir():
        raise TrackerError(f"--out 应是存放 .eml 文件的文件夹，但 {out} 是一个文件，未做任何改动。请换一个文件夹名，例如 模拟邮件。")
    engine = context.ready_engine()
    settings, policy, weekly_settings = check_settings(context), delivery_policy(context), report_settings(context)
    check_at = dt.time.fromisoformat(context.config.settings.reminders.check_time)
    tz = context.config.tz
    days = []
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch_engine = make_engine(f"sqlite:///{Path(scratch_dir) / 'simulation.db'}")
        copy_database(engine, scratch_engine)
        transport = FolderTransport(out)
        total = (last - first).days + 1
        with Progress(transient=True, disable=as_json) as progress:
            task = progress.add_task("模拟中", total=total)
            for offset in range(total):
                day = first + dt.timedelta(days=offset)
                moment = dt.datetime.combine(day, check_at, tzinfo=tz)
                report = daily_check(scratch_engine, settings, context.calendar, day, moment)
                weekly = weekly_report_job(scratch_engine, weekly_settings, context.calendar, day, moment)
                delivered = deliver_pending(scratch_engine, transport, policy, now=lambda m=moment: m)
                if report.messages or delivered.sent:
                    days.append({"date": day.isoformat(), "workday": report.workday, "messages": report.messages,
                                 "notices": report.notices, "weekly_report": weekly.generated,
                                 "sent": delivered.sent})
                progress.advance(task)
        scratch_engine.dispose()
    if as_json:
        output.print_json(days)
        return
    output.table(f"模拟 {first} 至 {last}（只列出有邮件的日期）", ["日期", "提醒邮件", "任务提醒", "周报"],
                 [[d["date"], str(d["messages"]), str(d["notices"]), "✓" if d["weekly_report"] else ""] for d in days])
    output.say(f"共发出 {sum(d['sent'] for d in days)} 封邮件（含周报），已写入 {out}。真实数据库没有改动。")
    for warning in context.calendar.warnings:
        output.warn(warning)


@mail_app.command("test")
def mail_test(
    ctx: typer.Context,
    to: Annotated[str, typer.Option("--to", help="收件地址")],
) -> None:
    """按当前配置发一封测试邮件，检查邮件设置是否可用。

    例：tracker mail test --to someone@wuding.gov.cn
    """
    context: Context = ctx.obj
    s = context.config.settings
    now = context.now(None)
    message = build_message(recipient="测试收件人", to=[to], subject=f"【{s.mail.subject_prefix}】测试邮件",
                            text=f"这是一封测试邮件，发送于 {now.isoformat(timespec='seconds')}。收到即说明邮件设置可用。", html=None,
                            sender=s.mail.sender, now=now, entries=[])
    transport = transport_for(context)

    async def send() -> str:
        try:
            return await transport.send(parseaddr(s.mail.sender)[1], [to], message.raw, message.message_id)
        finally:
            await transport.close()

    try:
        note = asyncio.run(send())
    except DeliveryError as exc:
        raise TrackerError(f"测试邮件发送失败（发送方式 {s.mail.transport}）：{exc}") from exc
    output.say(f"测试邮件已通过 {s.mail.transport} 发出，收件人 {to}。{note}")


@outbox_app.command("list")
def outbox_list(
    ctx: typer.Context,
    state: Annotated[list[str] | None, typer.Option("--state", help="按状态筛选：" + "、".join(STATES))] = None,
    as_json: Json = False,
) -> None:
    """列出发件箱中的邮件及其发送状态。

    例：tracker outbox list --state failed
    """
    context: Context = ctx.obj
    bad = [s for s in state or [] if s not in STATES]
    if bad:
        raise TrackerError(f"--state 的值“{bad[0]}”无效。可用：{'、'.join(STATES)}。")
    with read_session(context.ready_engine()) as session:
        rows = list_messages(session, state or [])
    tz = context.config.tz
    mail = context.config.settings.mail
    folder = context.config.path(mail.folder) if mail.transport == "folder" else None

    def file(m: OutboxMessage) -> str | None:
        """Where the folder transport put (or will put) the message."""
        return str(folder / eml_name(m.run_date, m.recipient, m.id)) if folder is not None else None

    def refused(m: OutboxMessage) -> str:
        return m.last_error if m.state == "sent" else ""

    if as_json:
        output.print_json([{
            "id": m.id, "kind": m.kind, "run_date": m.run_date.isoformat(), "recipient": m.recipient, "to": m.to_addrs,
            "subject": m.subject, "message_id": m.message_id, "state": m.state, "attempts": m.attempts,
            "last_error": m.last_error, "refused": refused(m) or None, "created_at": local_iso(m.created_at, tz),
            "sent_at": local_iso(m.sent_at, tz), "next_attempt_at": local_iso(m.next_attempt_at, tz) if m.state == "pending" else None,
            "file": file(m) if m.state == "sent" else None,
        } for m in rows])
        return

    def shown(m: OutboxMessage) -> str:
        if m.state == "sent":
            return local_text(m.sent_at, tz) + (f"\n{Path(file(m) or '').name}" if folder is not None else "")
        if m.state == "pending" and m.next_attempt_at:
            return f"下次尝试 {local_text(m.next_attempt_at, tz)}"
        return ""

    output.table("发件箱", ["编号", "日期", "收件单位", "主题", "状态", "尝试", "发送时间 / 文件", "错误或拒收"],
                 [[str(m.id), m.run_date.isoformat(), m.recipient, output.short(m.subject, 36),
                   STATES[m.state] + ("（部分拒收）" if refused(m) else ""), str(m.attempts), shown(m),
                   output.short(m.last_error, 60)] for m in rows])


@outbox_app.command("retry")
def outbox_retry(
    ctx: typer.Context,
    ids: Annotated[list[int] | None, typer.Argument(help="要重发的邮件编号（不写则重发全部失败邮件）")] = None,
) -> None:
    """把发送失败的邮件放回队列，下次发送时重试。

    例：tracker outbox retry 12 15
    """
    context: Context = ctx.obj
    with write_session(context.ready_engine()) as session:
        rows = retry(session, ids or [])
    output.say(f"已将 {len(rows)} 封邮件放回发送队列。")
