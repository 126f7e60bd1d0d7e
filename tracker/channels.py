"""Group-chat robots as delivery channels beside e-mail: which robots a unit has, checked and shown masked.

A unit, or a group of units, may have any number of robots on WeCom (企业微信), DingTalk (钉钉) and
Feishu (飞书). A unit's digest goes to its own robots and to those of every group it belongs to;
its mobiles are @-mentioned where the platform can. What identifies a robot (the WeCom key, the
DingTalk access token, the Feishu hook id) lets anyone post to the group, and the secret signs
requests: both are credentials, so every listing shows them masked, like the SMTP password.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, select

from tracker.errors import DirectoryError
from tracker.times import local_text
from tracker.models import RobotChannel, Unit, UnitGroup
from tracker.names import normalize

PLATFORMS = {"wecom": "企业微信", "dingtalk": "钉钉", "feishu": "飞书"}
_TARGET = re.compile(r"^[A-Za-z0-9_-]{8,128}$")
_URL_KEYS = {"wecom": "key", "dingtalk": "access_token"}
_MOBILE = re.compile(r"^1\d{10}$")


def mask(value: str) -> str:
    """Enough of a credential to tell two apart (its last four characters), never enough to use it."""
    if not value:
        return ""
    return "…" + value[-4:] if len(value) > 8 else "****"


def _target(platform: str, given: str, owner: str) -> str:
    """The robot's identifier; a pasted webhook address is taken apart, since operators copy the whole URL."""
    value = given.strip()
    if "://" in value:
        parts = urlsplit(value)
        if platform in _URL_KEYS:
            found = parse_qs(parts.query).get(_URL_KEYS[platform], [""])[0]
        else:
            found = parts.path.rstrip("/").rpartition("/")[2]
        value = found
    if not _TARGET.match(value):
        option = {"wecom": "--wecom KEY", "dingtalk": "--dingtalk TOKEN", "feishu": "--feishu HOOK_ID"}[platform]
        raise DirectoryError(
            f"单位“{owner}”的{PLATFORMS[platform]}机器人标识“{given}”无效：应为机器人 Webhook 地址中的 "
            f"{_URL_KEYS.get(platform, '/hook/ 之后的那一段')}（8–128 个字母、数字、- 或 _），例如 {option}。")
    return value


def _secret(platform: str, given: str, owner: str) -> str:
    value = given.strip()
    if platform == "dingtalk" and value and not (value.startswith("SEC") and _TARGET.match(value)):
        raise DirectoryError(f"单位“{owner}”的钉钉加签密钥“{mask(value)}”无效：钉钉的密钥以 SEC 开头，"
                             "请从机器人安全设置的“加签”一栏复制。")
    if platform == "feishu" and value and not _TARGET.match(value):
        raise DirectoryError(f"单位“{owner}”的飞书签名密钥“{mask(value)}”无效：请从机器人安全设置的“签名校验”一栏复制。")
    return value


def validate_mobile(value: str, owner: str) -> str:
    digits = re.sub(r"[\s-]", "", value)
    digits = digits[3:] if digits.startswith("+86") else digits
    if not _MOBILE.match(digits):
        raise DirectoryError(f"单位“{owner}”的手机号“{value}”无效：应为 11 位大陆手机号，例如 13800000000。")
    return digits


@dataclass(frozen=True)
class RobotSpec:
    """One robot as given by the operator (command line or directory file), already checked."""

    platform: str
    target: str
    secret: str = ""


def robot_specs(owner: str, *, wecom: Sequence[str] = (), dingtalk: Sequence[str] = (), dingtalk_secret: Sequence[str] = (),
                feishu: Sequence[str] = (), feishu_secret: Sequence[str] = ()) -> list[RobotSpec]:
    """Robots from repeated options; the n-th secret belongs to the n-th robot of its platform, so the counts must match."""
    specs = [RobotSpec("wecom", _target("wecom", key, owner)) for key in wecom]
    for platform, targets, secrets in (("dingtalk", dingtalk, dingtalk_secret), ("feishu", feishu, feishu_secret)):
        if secrets and len(secrets) != len(targets):
            raise DirectoryError(
                f"单位“{owner}”给了 {len(targets)} 个{PLATFORMS[platform]}机器人、{len(secrets)} 个密钥：第几个密钥属于第几个机器人，"
                f"数量必须相同（例如 --{platform} 标识 --{platform}-secret 密钥）。")
        specs += [RobotSpec(platform, _target(platform, target, owner),
                            _secret(platform, secrets[i] if secrets else "", owner)) for i, target in enumerate(targets)]
    return specs


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


class RobotFields(BaseModel):
    """The robot fields of a directory file entry, named like the options of `tracker units set`."""

    model_config = ConfigDict(extra="forbid")

    wecom: str | list[str] = Field(default_factory=list)
    dingtalk: str | list[str] = Field(default_factory=list)
    dingtalk_secret: str | list[str] = Field(default_factory=list)
    feishu: str | list[str] = Field(default_factory=list)
    feishu_secret: str | list[str] = Field(default_factory=list)

    def robots(self, owner: str) -> list[RobotSpec]:
        return robot_specs(owner, wecom=_listed(self.wecom), dingtalk=_listed(self.dingtalk),
                           dingtalk_secret=_listed(self.dingtalk_secret), feishu=_listed(self.feishu),
                           feishu_secret=_listed(self.feishu_secret))


def owned_channels(session: Session, owner: Unit | UnitGroup) -> list[RobotChannel]:
    column = RobotChannel.unit_id if isinstance(owner, Unit) else RobotChannel.group_id
    query = select(RobotChannel).where(column == owner.id, RobotChannel.retired == False)  # noqa: E712
    return list(session.exec(query.order_by(RobotChannel.id)).all())


def add_robots(session: Session, owner: Unit | UnitGroup, specs: Iterable[RobotSpec], *, now: dt.datetime) -> list[RobotChannel]:
    """Add robots to a unit or group; a robot it already has gets the new secret and counts as mended."""
    current = {(c.platform, c.target): c for c in owned_channels(session, owner)}
    changed = []
    for spec in specs:
        row = current.get((spec.platform, spec.target))
        if row is None:
            row = RobotChannel(platform=spec.platform, target=spec.target, created_at=now,
                               **({"unit_id": owner.id} if isinstance(owner, Unit) else {"group_id": owner.id}))
            current[(spec.platform, spec.target)] = row
        row.secret, row.broken_since, row.broken_reason = spec.secret, None, ""
        session.add(row)
        changed.append(row)
    session.flush()
    return changed


def retire_robots(session: Session, owner: Unit | UnitGroup, which: Sequence[str]) -> list[RobotChannel]:
    """Remove robots named by identifier, by its masked form (…abcd), or all of them with ``"all"``."""
    current = owned_channels(session, owner)
    removed = []
    for name in which:
        found = [c for c in current if name in ("all", c.target, mask(c.target))]
        if not found:
            shown = "、".join(f"{PLATFORMS[c.platform]}{mask(c.target)}" for c in current) or "（没有机器人）"
            raise DirectoryError(f"“{owner.name}”没有标识为“{name}”的机器人。现有：{shown}。可写完整标识、…后四位，或 all。")
        removed += [c for c in found if c not in removed]
    for row in removed:
        row.retired = True
        session.add(row)
    session.flush()
    return removed


def robot_json(channel: RobotChannel, tz: dt.tzinfo | None = None) -> dict[str, object]:
    """A robot as listings show it: credentials masked."""
    broken = channel.broken_since
    return {"id": channel.id, "platform": channel.platform, "platform_label": PLATFORMS[channel.platform],
            "target": mask(channel.target), "secret": mask(channel.secret), "signed": bool(channel.secret),
            "broken_since": broken.astimezone(tz).isoformat() if broken and tz else (broken.isoformat() if broken else None),
            "broken_reason": channel.broken_reason or None}


def robot_label(channel: RobotChannel) -> str:
    return f"{PLATFORMS[channel.platform]}机器人{mask(channel.target)}"


def channels_by_unit(session: Session) -> dict[int, list[RobotChannel]]:
    """Every unit's robots: its own, then those of the groups whose kinds include it; each robot once per unit."""
    rows = session.exec(select(RobotChannel).where(RobotChannel.retired == False).order_by(RobotChannel.id)).all()  # noqa: E712
    if not rows:
        return {}
    kinds = {g.id: set(g.kinds) for g in session.exec(select(UnitGroup)).all()}
    units = session.exec(select(Unit.id, Unit.kind)).all()
    found: dict[int, list[RobotChannel]] = defaultdict(list)
    for row in rows:
        if row.unit_id is not None:
            found[row.unit_id].append(row)
    for row in rows:
        if row.group_id is not None:
            for unit_id, kind in units:
                if kind in kinds.get(row.group_id, ()):
                    found[unit_id].append(row)
    return {unit_id: _distinct(channels) for unit_id, channels in found.items()}


def robots_by_owner(session: Session, tz: dt.tzinfo | None = None) -> tuple[dict[int, list[dict[str, object]]], dict[int, list[dict[str, object]]]]:
    """For listings: each unit's robots (its own, then its groups' with ``via_group``) and each group's, masked."""
    rows = session.exec(select(RobotChannel).where(RobotChannel.retired == False).order_by(RobotChannel.id)).all()  # noqa: E712
    groups = {g.id: g for g in session.exec(select(UnitGroup)).all()}
    by_group: dict[int, list[dict[str, object]]] = defaultdict(list)
    by_unit: dict[int, list[dict[str, object]]] = defaultdict(list)
    for row in rows:
        if row.unit_id is not None:
            by_unit[row.unit_id].append({**robot_json(row, tz), "via_group": None})
        elif row.group_id is not None:
            by_group[row.group_id].append({**robot_json(row, tz), "via_group": groups[row.group_id].name})
    if by_group:
        for unit_id, kind in session.exec(select(Unit.id, Unit.kind)).all():
            for group_id, robots in by_group.items():
                if kind in groups[group_id].kinds:
                    by_unit[unit_id] += robots  # type: ignore[index]
    return dict(by_unit), dict(by_group)


def robots_text(robots: Sequence[dict[str, object]]) -> str:
    """Robots in one table cell: 钉钉…a1b2（经 各乡镇）、企业微信…9f3c（失效）."""
    return "、".join(f"{r['platform_label']}{r['target']}" + (f"（经{r['via_group']}）" if r.get("via_group") else "")
                    + ("（失效）" if r.get("broken_since") else "") for r in robots)


def _distinct(channels: list[RobotChannel]) -> list[RobotChannel]:
    seen: dict[tuple[str, str], RobotChannel] = {}
    for channel in channels:
        seen.setdefault((channel.platform, channel.target), channel)
    return list(seen.values())


def mark_broken(session: Session, channel_id: int, reason: str, *, now: dt.datetime) -> None:
    row = session.get(RobotChannel, channel_id)
    if row is not None and row.broken_since is None:
        row.broken_since, row.broken_reason = now, reason
        session.add(row)


def mark_working(session: Session, channel_id: int) -> None:
    row = session.get(RobotChannel, channel_id)
    if row is not None and row.broken_since is not None:
        row.broken_since, row.broken_reason = None, ""
        session.add(row)


def broken_channel_warnings(session: Session, tz: dt.tzinfo) -> list[str]:
    """One sentence per broken robot, for the county office's next digest: whose it is, since when, why, and the fix."""
    query = select(RobotChannel).where(RobotChannel.retired == False, RobotChannel.broken_since != None)  # noqa: E711,E712
    warnings = []
    for row in session.exec(query.order_by(RobotChannel.id)).all():
        owner = session.get(Unit, row.unit_id) if row.unit_id else session.get(UnitGroup, row.group_id)
        name = owner.name if owner else "?"
        since = local_text(row.broken_since, tz)
        secret = "" if row.platform == "wecom" else "和加签密钥"
        warnings.append(f"{name}的{robot_label(row)}自 {since} 起无法发送（{row.broken_reason}），该群收不到提醒。"
                        f"请向该单位核对群机器人的 Webhook 地址{secret}，在系统中重新设置后发一条测试消息检查。")
    return warnings


def store_directory_robots(session: Session, parsed: Any, units: dict[str, Unit], *, now: dt.datetime) -> None:
    """The robots of a directory file's units and groups (entries already checked by reading the file)."""
    groups = {normalize(g.name): g for g in session.exec(select(UnitGroup)).all()}
    for entry in parsed.units:
        add_robots(session, units[normalize(entry.name)], entry.robots(entry.name), now=now)
    for entry in parsed.groups:
        add_robots(session, groups[normalize(entry.name)], entry.robots(entry.name), now=now)
