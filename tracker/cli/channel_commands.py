"""Commands for group-chat robots: `channel test` posts a test message through each of a unit's robots."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from typing import Annotated

import typer

from notifications.chat_delivery import deliver_chat_pending
from notifications.chat_render import render_chat_test
from notifications.delivery import DeliveryPolicy, DeliveryReport
from notifications.robots import LIMITS, Pacer, Robot, RobotDeliveryError, RobotSettings, RobotTransport
from tracker.channels import channels_by_unit, mark_broken, mark_working, robot_json, robot_label
from tracker.chat_outbox import recent_sends
from tracker.cli import output
from tracker.cli.app import app
from tracker.cli.context import Context
from tracker.cli.options import Json
from tracker.db import read_session, write_session
from tracker.directory import Directory
from tracker.errors import TrackerError

channel_app = typer.Typer(help="群机器人（企业微信、钉钉、飞书）：测试。", no_args_is_help=True)
app.add_typer(channel_app, name="channel", rich_help_panel="设置")


def robot_settings(context: Context) -> RobotSettings:
    c = context.config.settings.channels
    return RobotSettings(base_urls={"wecom": c.wecom_url, "dingtalk": c.dingtalk_url, "feishu": c.feishu_url},
                         timeout_seconds=c.timeout_seconds, parallel=c.parallel)


def deliver_robots(context: Context, policy: DeliveryPolicy, now: Callable[[], dt.datetime],
                   stop: Callable[[], bool] = lambda: False) -> DeliveryReport:
    """The robot pump with the configured platforms; `run` calls it beside the mail pump."""
    return deliver_chat_pending(context.ready_engine(), RobotTransport(robot_settings(context)), policy, now=now, stop=stop)


@channel_app.command("test")
def channel_test(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="单位名称或别名")],
    as_json: Json = False,
) -> None:
    """向单位的每个群机器人（含其所属单位组的）发一条测试消息，逐个报告结果。

    发送前按各平台的限速等待，不会因测试把机器人发到被限流。
    例：tracker channel test 狮山镇人民政府
    """
    context: Context = ctx.obj
    engine = context.ready_engine()
    now = context.now(None)
    with read_session(engine) as session:
        directory = Directory.load(session)
        unit = directory.unit(name)
        channels = channels_by_unit(session).get(unit.id, [])  # type: ignore[arg-type]
        prefix = context.config.settings.mail.subject_prefix
        targets = [(c.id, Robot(c.platform, c.target, c.secret), robot_label(c),
                    {**robot_json(c, context.config.tz), "via_group": directory.groups[c.group_id].name if c.group_id else None},
                    [at.timestamp() for at in recent_sends(session, c.platform, c.target, since=now - dt.timedelta(seconds=70))])
                   for c in channels]
    if not targets:
        raise TrackerError(f"单位“{unit.name}”没有群机器人。请先用 tracker units set {unit.name} --wecom KEY "
                           "（或 --dingtalk TOKEN --dingtalk-secret SEC…、--feishu HOOK_ID --feishu-secret …）设置。")
    transport = RobotTransport(robot_settings(context))

    async def send_all() -> list[tuple[int, str, dict[str, object], str]]:
        results = []
        try:
            for channel_id, robot, label, shown, earlier in targets:
                pacer = Pacer(LIMITS[robot.platform], clock=time.time, earlier=earlier)
                await pacer.wait()
                post = render_chat_test(robot.platform, prefix=prefix, label=label, now=now)
                try:
                    await transport.send(robot, post.raw)
                    results.append((channel_id, label, shown, ""))
                except RobotDeliveryError as exc:
                    results.append((channel_id, label, shown, str(exc) + ("" if exc.permanent else "（临时问题，可稍后再试）")))
                    if exc.broken:
                        with write_session(engine) as session:
                            mark_broken(session, channel_id, str(exc), now=now)
        finally:
            await transport.close()
        return results

    results = asyncio.run(send_all())
    with write_session(engine) as session:
        for channel_id, _label, _shown, error in results:
            if not error:
                mark_working(session, channel_id)
    failed = [r for r in results if r[3]]
    if as_json:
        output.print_json({"unit": unit.name, "results": [{**shown, "ok": not error, "error": error or None}
                                                          for _id, _label, shown, error in results]})
    else:
        output.table(f"{unit.name} 的群机器人测试", ["机器人", "经由", "结果"],
                     [[label, shown.get("via_group") or "本单位", f"失败：{error}" if error else "成功"]
                      for _id, label, shown, error in results])
    if failed:
        raise TrackerError(f"{len(failed)} 个机器人测试失败（见上表）。请核对标识和密钥后用 tracker units set {unit.name} 重新设置。")
