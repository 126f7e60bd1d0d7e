"""The root of the `tracker` command: global options and turning errors into clean messages."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer._click import exceptions as click_errors
from typer.exceptions import Abort
from typer.core import TyperGroup

from tracker.cli import chinese, output
from tracker.cli.context import Context
from tracker.errors import TrackerError

chinese.install()


class _Root(TyperGroup):
    """Every refusal, the product's or the parser's, becomes one Chinese line on stderr and exit code 1;
    nothing is half-written."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TrackerError as exc:
            output.errors.print("错误：" + str(exc), markup=False)
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


from tracker.cli import (  # noqa: E402,F401
    admin_commands,
    catalog_commands,
    contact_commands,
    ical_commands,
    ledger_commands,
    mail_commands,
    plan_commands,
    report_commands,
    sheet_commands,
    status_commands,
    unit_commands,
)
