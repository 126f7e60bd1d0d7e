"""The root of the `tracker` command: global options, turning errors into clean messages, and the table of commands.

A clerk's command answers at once only if the interpreter loads what that command uses and nothing else:
every command module pulls in SQLAlchemy, the configuration models and often mail, the scheduler or Excel.
So the command modules are not imported here; ``COMMANDS`` names, for every top-level command and
sub-app, the modules that define it, its help panel and the one line `tracker --help` shows, and a
module is imported when its command is run (or its own help is asked for). A new command module adds
one line to ``COMMANDS``; ``tests/test_startup.py`` checks that each line matches what its module defines.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Annotated, Any, NoReturn

import importlib
from typing import NamedTuple

import typer
import typer.main
from typer._click import exceptions as click_errors
from typer.core import TyperGroup
from typer.exceptions import Abort

from tracker.cli import chinese, output
from tracker.errors import TrackerError

chinese.install()


class Entry(NamedTuple):
    """A top-level command or sub-app: the modules that define it (imported when it is used), where `tracker --help`
    lists it and the line it shows there (the first line of the command's own help)."""

    modules: tuple[str, ...]
    panel: str
    summary: str


def _entry(modules: str, panel: str, summary: str) -> Entry:
    return Entry(tuple(f"tracker.cli.{m}" for m in modules.split()), panel, summary)


# In the order the commands were registered before they were loaded on demand (a mistyped command's error lists them
# so); `tracker --help` orders them by panel (tracker/cli/chinese.py). One line per command or sub-app.
COMMANDS: dict[str, Entry] = {
    "export": _entry("admin_commands", "维护", "导出单位、事项、任务分工、变更历史和发件箱，供存档。格式为 JSON（时间带时区）。"),
    "ical": _entry("ical_commands", "提醒", "导出日历文件（iCalendar）：每个未完成任务的期限是一个全天事件，可导入 Outlook、手机日历等。"),
    "run": _entry("mail_commands", "提醒", "运行提醒：默认作为常驻进程按计划检查和发送；--once 检查并发送一次后退出。"),
    "remind": _entry("remind_commands", "提醒", "预览某天会给谁发送什么提醒。"),
    "simulate": _entry("mail_commands", "提醒", "在数据库的临时副本（SQLite）上逐日重放检查和发送，邮件写入文件夹；真实数据库不变。"),
    "init": _entry("plan_commands", "设置", "创建数据库，载入单位名录和计划表。"),
    "import": _entry("plan_commands", "计划", "导入或重新导入计划表：更新事项，增减任务分工，保留已有进度和历史。"),
    "show": _entry("item_commands", "计划", "查看一个事项：期限、各单位状态、灯色。定期工作每期每个单位一行（尚未开始的期不列）。"),
    "status": _entry("status_commands", "状态", "更新单位在某事项上的状态，并记入历史。定期工作（如每月25日前）每期单独登记。"),
    "history": _entry("status_commands", "状态", "查看事项的全部变更记录（谁、何时、从什么改成什么）。"),
    "extend": _entry("status_commands", "状态", "登记经批准的延期：单位获得新的期限，原期限保留。"),
    "db": _entry("admin_commands", "维护", "数据库维护：升级、备份。"),
    "config": _entry("admin_commands", "设置", "配置检查。"),
    "catalog": _entry("catalog_commands", "计划", "政务公开事项标准目录（附件2）：检查、验收、模板、公开时限提醒。"),
    "channel": _entry("channel_commands", "设置", "群机器人（企业微信、钉钉、飞书）：测试。"),
    "units": _entry("unit_commands contact_commands", "设置", "单位名录。"),
    "ledger": _entry("ledger_commands", "维护", "提醒台账：撤销误记的将来日期、确认系统日期。"),
    "mail": _entry("mail_commands", "设置", "邮件设置检查。"),
    "outbox": _entry("mail_commands", "提醒", "发件箱：查看和重发。"),
    "items": _entry("item_commands", "计划", "查看事项。"),
    "deadline": _entry("plan_commands", "计划", "完成时间（期限）工具。"),
    "report": _entry("report_commands", "报告", "进度通报。"),
    "sheet": _entry("sheet_commands", "状态", "进度填报表：导出给单位填写，收回后导入。"),
    "event": _entry("status_commands", "计划", "外部事件：登记发生日期。"),
    "events": _entry("status_commands", "计划", "外部事件：查看。"),
    "plans": _entry("plans_commands", "计划", "计划：一个数据库同时跟踪多个计划（文件），每个计划有自己的代码。"),
    "review": _entry("cycle_commands", "状态", "审核单位报告的完成情况：办结或退回。"),
    "extension": _entry("cycle_commands", "状态", "单位的延期申请：同意或不同意。"),
    "users": _entry("cycle_commands", "设置", "县政府办公室网页登录账号。"),
    "links": _entry("cycle_commands", "设置", "单位的专属链接（提醒邮件中的在线签收、反馈入口）。"),
    "serve": _entry("cycle_commands", "提醒", "运行网页：单位从邮件链接签收、反馈、申请延期；县政府办公室登录后审核、查看进度。"),
}


def load_command(name: str) -> typer.core.TyperCommand | TyperGroup | None:
    """The command or sub-app ``name`` as Click runs it, its modules imported now (once)."""
    entry = COMMANDS.get(name)
    if entry is None:
        return None
    for module in entry.modules:
        importlib.import_module(module)
    return typer.main.get_group(app).commands.get(name)


def _is_database_error(exc: BaseException) -> bool:
    """A driver's refusal, recognised without importing SQLAlchemy for commands that never touched it."""
    errors = sys.modules.get("sqlalchemy.exc")
    return errors is not None and isinstance(exc, errors.DBAPIError)


class _Root(TyperGroup):
    """Every refusal, the product's, the parser's, the disk's or the database's, becomes one Chinese line on stderr
    and exit code 1; nothing is half-written. After a command that computed dates in a year without holiday data,
    the warning is shown if the command did not show it itself."""

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return [*COMMANDS, *(name for name in super().list_commands(ctx) if name not in COMMANDS)]

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            command = load_command(cmd_name)
            if command is not None:
                self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def listing(self, ctx: typer.Context) -> list[tuple[str, str | None, str, bool]]:
        """(name, panel, summary, hidden) of every command, for the help page and the parser's errors, without
        importing the command modules."""
        rows = [(name, entry.panel, entry.summary, False) for name, entry in COMMANDS.items()]
        for name in super().list_commands(ctx):
            if name not in COMMANDS:
                sub = self.commands[name]
                summary = (sub.short_help or (sub.help or "").strip().split("\n")[0]).strip()
                rows.append((name, getattr(sub, "rich_help_panel", None), summary, bool(sub.hidden)))
        return rows

    def invoke(self, ctx: typer.Context) -> Any:
        output.forget_warnings()
        try:
            result = super().invoke(ctx)
        except TrackerError as exc:
            self._fail(str(exc), exc)
        except OSError as exc:
            from tracker.cli import failures
            self._fail(failures.os_error(exc), exc)
        except Exception as exc:
            if not _is_database_error(exc):
                raise
            from tracker.cli import failures
            self._fail(failures.database_error(exc, failures.shown_database(ctx.obj)), exc)  # type: ignore[arg-type]
        _calendar_warnings(ctx.obj)
        return result

    @staticmethod
    def _fail(message: str, exc: BaseException) -> NoReturn:
        output.errors.print("错误：" + message, markup=False)
        raise SystemExit(1) from exc

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        argv = chinese.hoist_global_options(sys.argv[1:] if args is None else list(args))
        try:
            result = super().main(args=argv, prog_name="tracker", complete_var=complete_var,
                                  standalone_mode=False, **extra)
        except click_errors.NoArgsIsHelpError as exc:
            sys.stdout.write(exc.ctx.get_help() + "\n" if exc.ctx else "")
            result = 0
        except click_errors.UsageError as exc:
            output.errors.print("错误：" + chinese.usage_error(exc, argv), markup=False)
            result = 1
        except Abort:
            output.errors.print("已取消。", markup=False)
            result = 1
        except click_errors.ClickException as exc:
            output.errors.print("错误：" + exc.format_message(), markup=False)
            result = 1
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)


def _calendar_warnings(context: Any) -> None:
    calendar = context.__dict__.get("calendar") if context is not None else None  # only if the command computed dates
    for warning in calendar.warnings if calendar is not None else []:
        output.warn_once(warning)


app = typer.Typer(
    cls=_Root, no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
    help="县级政务工作任务进度跟踪与到期提醒。",
)


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[str | None, typer.Option("--config", help="配置文件路径（默认：$TRACKER_CONFIG 或 ./config.toml）；可写在子命令之后")] = None,
) -> None:
    # a caller that embeds the CLI (the tests) may hand in the real clock as ``obj``; the system clock otherwise
    from tracker.cli.context import Context

    ctx.obj = Context(config_path=config, clock=ctx.obj) if callable(ctx.obj) else Context(config_path=config)


def main() -> None:
    app(prog_name="tracker")


# The calendar logs the holiday-data warning for the daemon's log; at the command line the root prints it once
# as a 警告 line instead of Python's bare last-resort output.
logging.getLogger("tracker.calendar").addHandler(logging.NullHandler())

