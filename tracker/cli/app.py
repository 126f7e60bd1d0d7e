"""The root of the `tracker` command: global options and turning errors into clean messages."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from tracker.cli import output
from tracker.cli.context import Context
from tracker.errors import TrackerError


class _Root(TyperGroup):
    """Every TrackerError becomes one Chinese line on stderr and exit code 1; nothing is half-written."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TrackerError as exc:
            output.errors.print("错误：" + str(exc), markup=False)
            raise SystemExit(1) from exc


app = typer.Typer(
    cls=_Root, no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
    help="县级政务工作任务进度跟踪与到期提醒。",
)


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[str | None, typer.Option("--config", help="配置文件路径（默认：$TRACKER_CONFIG 或 ./config.toml）")] = None,
) -> None:
    ctx.obj = Context(config_path=config)


def main() -> None:
    app(prog_name="tracker")


from tracker.cli import (  # noqa: E402,F401
    admin_commands,
    channel_commands,
    mail_commands,
    plan_commands,
    report_commands,
    status_commands,
    unit_commands,
)
