"""Looking after the installation: db upgrade, db backup, export, config check."""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel, select

from notifications.errors import NotificationError
from notifications.render import sender_address
from notifications.transports import TRANSPORTS
from tracker import config as config_module
from tracker.cli import output
from tracker.cli.app import app
from tracker.cli.context import Context
from tracker.cli.options import Json
from tracker.db import backup_database, current_revision, is_initialised, make_engine, read_session, schema_problem, upgrade_database
from tracker.directory import bundled_directory_path, read_directory_file
from tracker.errors import TrackerError
from tracker.models import OutboxBody, OutboxMessage
from tracker.times import local_iso

db_app = typer.Typer(help="数据库维护：升级、备份。", no_args_is_help=True)
config_app = typer.Typer(help="配置检查。", no_args_is_help=True)
app.add_typer(db_app, name="db", rich_help_panel="维护")
app.add_typer(config_app, name="config", rich_help_panel="设置")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, as_json: Json = False) -> None:
    """把已有数据库升级到当前版本的表结构（数据保留）。

    例：tracker db upgrade
    """
    context: Context = ctx.obj
    engine = context.engine
    if not is_initialised(engine):
        raise TrackerError("数据库尚未初始化，没有可升级的内容。请先运行 tracker init。")
    before, after = upgrade_database(engine)
    if as_json:
        output.print_json({"from": before, "to": after, "changed": before != after})
        return
    output.say(f"数据库已是最新版本（{after}）。" if before == after else f"数据库已从版本 {before or '（无版本记录）'} 升级到 {after}。")


@db_app.command("backup")
def db_backup(ctx: typer.Context, file: Annotated[Path, typer.Argument(readable=False, help="备份文件（SQLite 格式）")]) -> None:
    """对正在使用的数据库做一致的备份（SQLite 在线备份；PostgreSQL 导出为 SQLite 文件）。

    例：tracker db backup 备份/tracker-2020-10-12.db
    """
    context: Context = ctx.obj
    backup_database(context.ready_engine(), file)
    output.say(f"已备份到 {file}（仅本用户可读）。")


def _value(value: Any, tz: dt.tzinfo) -> Any:
    if isinstance(value, dt.datetime):
        return local_iso(value, tz)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _rows(session: Any, model: type[SQLModel], tz: dt.tzinfo, exclude: set[str] | None = None) -> list[dict[str, Any]]:
    """Every row as a dict; moments in the configured zone with their offset, like everything else shown."""
    return [{k: _value(v, tz) for k, v in row.model_dump(exclude=exclude).items()} for row in session.exec(select(model)).all()]


def _outbox(session: Any, tz: dt.tzinfo) -> list[dict[str, Any]]:
    """Messages with the entries they were built from (their MIME text is left out: it is in the backup)."""
    entries = dict(session.exec(select(OutboxBody.id, OutboxBody.entries)).all())
    return [{**row, "entries": entries.get(row["id"], [])} for row in _rows(session, OutboxMessage, tz)]


@app.command("export", rich_help_panel="维护")
def export_command(
    ctx: typer.Context,
    _json: Annotated[bool, typer.Option("--json", hidden=True, help="保留给旧脚本：导出本来就是 JSON")] = True,
) -> None:
    """导出单位、事项、任务分工、变更历史和发件箱，供存档。格式为 JSON（时间带时区）。

    例：tracker export > 存档.json
    """
    context: Context = ctx.obj
    from tracker import models

    tz = context.config.tz
    with read_session(context.ready_engine()) as session:
        data = {
            "units": _rows(session, models.Unit, tz), "groups": _rows(session, models.UnitGroup, tz),
            "plan": _rows(session, models.Plan, tz), "tasks": _rows(session, models.WorkTask, tz),
            "items": _rows(session, models.Item, tz), "assignments": _rows(session, models.Assignment, tz),
            "events": _rows(session, models.Event, tz), "journal": _rows(session, models.JournalEntry, tz),
            "notices": _rows(session, models.Notice, tz), "outbox": _outbox(session, tz),
            "reports": _rows(session, models.ReportRun, tz),
            # accepted catalogue files are left out like message texts: they are in the backup (tracker catalog file)
            "catalogues": _rows(session, models.Catalogue, tz, {"content"}),
            "catalogue_entries": _rows(session, models.CatalogueEntry, tz),
            "disclosures": _rows(session, models.Disclosure, tz),
            "disclosure_notices": _rows(session, models.DisclosureNotice, tz),
            # the units' reports and extension requests (evidence files stay in the upload folder, named by their hash)
            "unit_reports": _rows(session, models.UnitReport, tz),
            "extension_requests": _rows(session, models.ExtensionRequest, tz),
        }
    output.print_json(data)


def _password_source(base: Path, user: str, password_file: str, password_env: str) -> tuple[bool, str]:
    """Whether the SMTP password can be found, and a line saying where (never the password)."""
    if password_file:
        readable = os.access(base / Path(password_file).expanduser(), os.R_OK)
        return readable, (f"SMTP 密码文件 {password_file}" + ("可读" if readable else " 不存在或不可读，请检查 mail.smtp.password_file。"))
    if os.environ.get(password_env):
        return True, f"SMTP 密码：从环境变量 {password_env} 读取（已设置）"
    return False, f"SMTP 用户 {user} 需要密码：请设置环境变量 {password_env}，或在 mail.smtp.password_file 指定密码文件。"


def check_config(context: Context) -> tuple[list[str], list[str], list[str]]:
    """(what is fine, what is wrong, what is risky): every problem named, nothing secret printed."""
    good: list[str] = []
    bad: list[str] = []
    warnings: list[str] = []
    path, how = config_module.locate(context.config_path)
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text("utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            return good, [f"配置文件 {path} 无法读取：{exc}"], warnings
        bad += config_module.problems(raw)
        good.append(f"配置文件：{path}（{how}）")
    else:
        good.append("配置文件：内置默认配置")
    if bad:
        smtp_raw = raw.get("mail", {}).get("smtp", {}) if isinstance(raw.get("mail"), dict) else {}
        if isinstance(smtp_raw, dict) and smtp_raw.get("user") and raw["mail"].get("transport") == "smtp":
            defaults = config_module.SmtpSettings.model_fields
            ok, line = _password_source(Path(path).resolve().parent, str(smtp_raw["user"]), str(smtp_raw.get("password_file", "")),
                                        str(smtp_raw.get("password_env", defaults["password_env"].default)))
            (good if ok else bad).append(line)
        return good, bad, warnings
    settings = context.config.settings
    mail = settings.mail
    if mail.transport not in TRANSPORTS:
        bad.append(f"配置项 mail.transport 的值“{mail.transport}”无效。可用：{'、'.join(TRANSPORTS)}。")
    else:
        good.append(f"发送方式：{mail.transport}")
    try:
        sender_address(mail.sender)
        good.append(f"发件人：{mail.sender}")
    except NotificationError as exc:
        bad.append(str(exc))
    if mail.transport == "smtp":
        smtp = mail.smtp
        if smtp.user:
            ok, line = _password_source(context.config.base_dir, smtp.user, smtp.password_file, smtp.password_env)
            (good if ok else bad).append(line)
            if not (smtp.tls or smtp.starttls):
                warnings.append(f"SMTP 用户 {smtp.user} 的密码将在不加密的连接上发送（mail.smtp.tls 和 starttls 都是 false），"
                                "网络上的人可以截获它。请设 starttls = true（端口 587 或 25）或 tls = true（端口 465）。")
        good.append(f"SMTP 服务器：{smtp.host}:{smtp.port}（{'直接 TLS' if smtp.tls else 'STARTTLS' if smtp.starttls else '不加密'}）")
    directory = settings.general.unit_directory
    try:
        read_directory_file(context.config.path(directory) if directory else bundled_directory_path())
        good.append(f"单位名录：{directory or '内置武定县名录'}")
    except TrackerError as exc:
        bad.append(str(exc))
    url = context.config.database_url
    shown = make_engine(url).url.render_as_string(hide_password=True) if url else url
    try:
        engine = context.engine
        problem = schema_problem(engine)  # connects only to a database that exists: checking creates nothing
        if problem is not None:
            bad.append(str(problem))
        else:
            with engine.connect() as connection:
                good.append(f"数据库：{shown}（版本 {current_revision(connection)}）")
    except SQLAlchemyError as exc:
        bad.append(f"无法连接数据库 {shown}：{type(exc).__name__}。请检查 database.url 或 TRACKER_DATABASE_URL。")
    return good, bad, warnings


@config_app.command("check")
def config_check(ctx: typer.Context, as_json: Json = False) -> None:
    """检查配置：列出每一处问题（不显示密码）。有问题时退出码为 1。

    例：tracker config check
    """
    context: Context = ctx.obj
    good, bad, warnings = check_config(context)
    if as_json:
        output.print_json({"ok": not bad, "checked": good, "problems": bad, "warnings": warnings})
    else:
        for line in good:
            output.say("✓ " + line)
        for line in warnings:
            output.say("⚠ " + line)
        for line in bad:
            output.say("✗ " + line)
        output.say("配置没有问题。" if not bad else f"发现 {len(bad)} 处问题，请按提示修改。")
    if bad:
        raise typer.Exit(1)
