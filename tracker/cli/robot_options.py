"""The robot options of `tracker units set`, written once: for a unit, and for a group of units."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

import typer
from sqlmodel import Session

from tracker.channels import add_robots, retire_robots, robot_specs, robots_by_owner, robots_text, validate_mobile
from tracker.cli import output
from tracker.cli.context import Context
from tracker.db import write_session
from tracker.directory import Directory
from tracker.errors import DirectoryError
from tracker.models import Unit, UnitGroup

Wecom = Annotated[list[str] | None, typer.Option("--wecom", help="增加企业微信群机器人：Webhook 地址中的 key（可重复，也可粘贴整个地址）")]
Dingtalk = Annotated[list[str] | None, typer.Option("--dingtalk", help="增加钉钉群机器人：Webhook 地址中的 access_token（可重复）")]
DingtalkSecret = Annotated[list[str] | None, typer.Option("--dingtalk-secret", help="钉钉机器人“加签”密钥（SEC 开头；第 n 个属于第 n 个 --dingtalk）")]
Feishu = Annotated[list[str] | None, typer.Option("--feishu", help="增加飞书群机器人：Webhook 地址 /hook/ 之后的一段（可重复）")]
FeishuSecret = Annotated[list[str] | None, typer.Option("--feishu-secret", help="飞书机器人“签名校验”密钥（第 n 个属于第 n 个 --feishu）")]
Mobile = Annotated[list[str] | None, typer.Option("--mobile", help="群消息里 @ 的手机号（可重复；替换原有手机号）")]
RemoveRobot = Annotated[list[str] | None, typer.Option("--remove-robot", help="删除机器人：完整标识、列表中显示的 …后四位，或 all")]


@dataclass(frozen=True)
class RobotChanges:
    wecom: list[str] | None
    dingtalk: list[str] | None
    dingtalk_secret: list[str] | None
    feishu: list[str] | None
    feishu_secret: list[str] | None
    mobile: list[str] | None
    remove: list[str] | None

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.wecom, self.dingtalk, self.dingtalk_secret, self.feishu, self.feishu_secret,
                                           self.mobile, self.remove))

    def apply(self, session: Session, owner: Unit | UnitGroup, *, now: dt.datetime) -> None:
        """Remove, then add (a robot given again gets its new secret), then set the mobiles; errors before any change."""
        if (self.dingtalk_secret and not self.dingtalk) or (self.feishu_secret and not self.feishu):
            raise DirectoryError("密钥要和机器人一起给出，例如 --dingtalk TOKEN --dingtalk-secret SEC…；"
                                 "只改密钥时把机器人的标识再写一遍。")
        specs = robot_specs(owner.name, wecom=self.wecom or [], dingtalk=self.dingtalk or [],
                            dingtalk_secret=self.dingtalk_secret or [], feishu=self.feishu or [],
                            feishu_secret=self.feishu_secret or [])
        mobiles = [validate_mobile(m, owner.name) for m in self.mobile] if self.mobile is not None else None
        if mobiles is not None and isinstance(owner, UnitGroup):
            raise DirectoryError(f"“{owner.name}”是单位组：@ 的手机号设在各单位上（tracker units set 单位 --mobile 手机号），"
                                 "组的机器人发某单位的提醒时 @ 该单位的手机号。")
        if self.remove:
            retire_robots(session, owner, self.remove)
        add_robots(session, owner, specs, now=now)
        if mobiles is not None and isinstance(owner, Unit):
            owner.mobiles = mobiles

    def say(self, result: dict[str, object]) -> None:
        if self.any:
            robots = result.get("robots") or []
            output.say(f"  群机器人：{robots_text(robots) or '（无）'}")  # type: ignore[arg-type]
            if "mobiles" in result:
                output.say(f"  @提醒手机：{'、'.join(result['mobiles']) or '（无）'}")  # type: ignore[arg-type]


def set_group_robots(context: Context, name: str, robots: RobotChanges, *, others: Sequence[object], as_json: bool) -> bool:
    """Set a group's robots when ``name`` is a group; False when it is not one (the caller goes on with the unit)."""
    with write_session(context.ready_engine()) as session:
        directory = Directory.load(session)
        group = directory.lookup(name)
        if not isinstance(group, UnitGroup):
            return False
        if any(v is not None for v in others) or not robots.any:
            raise DirectoryError(f"“{group.name}”是单位组：只能设置群机器人（--wecom、--dingtalk、--feishu、--remove-robot），"
                                 "邮箱等请对具体单位设置。")
        robots.apply(session, group, now=context.now(None))
        session.flush()
        result = {"name": group.name, "group": True,
                  "robots": robots_by_owner(session, context.config.tz)[1].get(group.id, [])}  # type: ignore[arg-type]
    if as_json:
        output.print_json(result)
    else:
        output.say(f"已更新单位组：{group.name}（组内 {len(directory.members(group))} 个单位的提醒都会发到这些群）")
        robots.say(result)
    return True
