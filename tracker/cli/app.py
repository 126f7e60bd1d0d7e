"""The root of the `tracker` command: global options and turning errors into clean messages."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Annotated, Any, NoReturn

import typer
from sqlalchemy.exc import DBAPIError
from typer._click import exceptions as click_errors
from typer.core import TyperGroup
from typer.exceptions import Abort

from tracker.cli import chinese, failures, output
from tracker.cli.context import Context
from tracker.errors import TrackerError

chinese.install()


class _Root(TyperGroup):
    """Every refusal, the product's, the parser's, the disk's or the database's, becomes one Chinese line on stderr
    and exit code 1; nothing is half-written. After a command that computed dates in a year without holiday data,
    the warning is shown if the command did not show it itself."""

    def invoke(self, ctx: typer.Context) -> Any:
        output.forget_warnings()
        try:
            result = super().invoke(ctx)
        except TrackerError as exc:
            self._fail(str(exc), exc)
        except DBAPIError as exc:
            self._fail(failures.database_error(exc, failures.shown_database(ctx.obj)), exc)
        except OSError as exc:
            self._fail(failures.os_error(exc), exc)
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


def _calendar_warnings(context: Context | None) -> None:
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
    ctx.obj = Context(config_path=config, clock=ctx.obj) if callable(ctx.obj) else Context(config_path=config)


def main() -> None:
    app(prog_name="tracker")


# The calendar logs the holiday-data warning for the daemon's log; at the command line the root prints it once
# as a 警告 line instead of Python's bare last-resort output.
logging.getLogger("tracker.calendar").addHandler(logging.NullHandler())


from tracker.cli import (  # noqa: E402,F401
    admin_commands,
    catalog_commands,
    channel_commands,
    contact_commands,
    cycle_commands,
    ical_commands,
    ledger_commands,
    mail_commands,
    plan_commands,
    report_commands,
    sheet_commands,
    status_commands,
    unit_commands,
)
