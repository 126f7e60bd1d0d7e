"""Commands for the unit directory: list, show, add, set."""

from __future__ import annotations

from typing import Annotated

import typer

from tracker.cli import output
from tracker.plans import all_plans, shown_key
from tracker.cli.app import app
from tracker.cli.context import Context, actor
from tracker.cli.options import UNIT_KIND_CHOICES, By, Json, choose
from tracker.cli.robot_options import (
    Dingtalk, DingtalkSecret, Feishu, FeishuSecret, Mobile, RemoveRobot, RobotChanges, Wecom, set_group_robots,
)
from tracker.channels import robots_by_owner, robots_text
from tracker.db import read_session, write_session
from tracker.directory import Directory, check_new_name, validate_email
from tracker.errors import DirectoryError
from tracker.models import ROLES, UNIT_KINDS, Assignment, Item, Unit
from tracker.plan_sync import sync_assignments
from tracker.text import clean_line, clean_text
from sqlmodel import select

units_app = typer.Typer(help="单位名录。", no_args_is_help=True)
app.add_typer(units_app, name="units", rich_help_panel="设置")


def _unit_json(unit: Unit, directory: Directory, robots: list[dict[str, object]] | None = None) -> dict[str, object]:
    parent = directory.units.get(unit.parent_id) if unit.parent_id else None
    via = directory.units.get(unit.via_id) if unit.via_id else None
    return {"name": unit.name, "kind": unit.kind, "kind_label": UNIT_KINDS[unit.kind], "parent": parent.name if parent else None,
            "via": via.name if via else None, "emails": unit.emails, "aliases": unit.aliases,
            "contact": unit.contact, "phone": unit.phone, "mobiles": unit.mobiles, "robots": robots or []}


@units_app.command("list")
def units_list(
    ctx: typer.Context,
    kind: Annotated[str | None, typer.Option("--kind", help="只看某类：" + "、".join(f"{k}（{v}）" for k, v in UNIT_KINDS.items()))] = None,
    as_json: Json = False,
) -> None:
    """列出全部单位及其邮箱。

    例：tracker units list --kind township
    """
    context: Context = ctx.obj
    kind = choose(kind, "--kind", UNIT_KIND_CHOICES, "单位类别") if kind is not None else None
    with read_session(context.ready_engine()) as session:
        directory = Directory.load(session)
        units = [u for u in directory.expand(directory.units.values()) if kind is None or u.kind == kind]
        groups = list(directory.groups.values())
        robots, group_robots = robots_by_owner(session, context.config.tz)
    if as_json:
        output.print_json([_unit_json(u, directory, robots.get(u.id)) for u in units])  # type: ignore[arg-type]
        return
    rows = [[u.name, UNIT_KINDS[u.kind], "、".join(u.emails) or _reached_via(u, directory), robots_text(robots.get(u.id, [])),  # type: ignore[arg-type]
             "、".join(u.aliases)] for u in units]
    output.table("单位名录", ["单位", "类别", "邮箱", "群机器人", "别名"], rows)
    if kind is None:
        output.table("单位组", ["单位组", "包括", "成员数", "群机器人"],
                     [[g.name, "、".join(UNIT_KINDS[k] for k in g.kinds), str(len(directory.members(g))),
                       robots_text(group_robots.get(g.id, []))] for g in groups])  # type: ignore[arg-type]
    placeholders = [u.name for u in units if any(e.endswith(".example") for e in u.emails)]
    if placeholders:
        output.warn(f"{len(placeholders)} 个单位仍是占位邮箱（.example），提醒不会送达。请用 tracker units set 单位 --email 地址 修改。")


def _reached_via(unit: Unit, directory: Directory) -> str:
    target = unit.via_id or unit.parent_id
    return f"（无，由{directory.units[target].name}代收）" if target else "（无邮箱）"


@units_app.command("show")
def units_show(ctx: typer.Context, name: Annotated[str, typer.Argument(help="单位名称或别名")], as_json: Json = False) -> None:
    """查看一个单位：联系方式、下属单位、承担的事项。"""
    context: Context = ctx.obj
    with read_session(context.ready_engine()) as session:
        directory = Directory.load(session)
        unit = directory.unit(name)
        rows = session.exec(select(Assignment, Item).join(Item).where(
            Assignment.unit_id == unit.id, Assignment.retired == False)).all()  # noqa: E712
        children = directory.children(unit)
        robots = robots_by_owner(session, context.config.tz)[0].get(unit.id, [])  # type: ignore[arg-type]
        plans = {p.id: p for p in all_plans(session)}
    live = [(a, item) for a, item in rows if plans[item.plan_id].state == "active"]  # type: ignore[index]
    duties = [{"plan": plans[item.plan_id].code, "item": item.key, "role": a.role}  # type: ignore[index]
              for a, item in sorted(live, key=lambda r: (r[1].plan_id or 0, r[1].position))]
    if as_json:
        output.print_json({**_unit_json(unit, directory, robots), "children": [c.name for c in children], "assignments": duties})
        return
    data = _unit_json(unit, directory, robots)
    output.say(f"{unit.name}（{UNIT_KINDS[unit.kind]}）")
    for label, key in (("上级单位", "parent"), ("邮件代收", "via"), ("联系人", "contact"), ("电话", "phone")):
        if data[key]:
            output.say(f"  {label}：{data[key]}")
    output.say(f"  邮箱：{'、'.join(unit.emails) or _reached_via(unit, directory)}")
    if unit.aliases:
        output.say(f"  别名：{'、'.join(unit.aliases)}")
    if robots or unit.mobiles:
        output.say(f"  群机器人：{robots_text(robots) or '（无）'}；@提醒手机：{'、'.join(unit.mobiles) or '（无）'}")
    if children:
        output.say(f"  下属单位（{len(children)}）：{'、'.join(c.name for c in children)}")
    for role in ROLES:
        keys = [shown_key(str(d["plan"]), str(d["item"]), len(plans) > 1) for d in duties if d["role"] == role]
        if keys:
            output.say(f"  {ROLES[role]}责任事项（{len(keys)}）：{'、'.join(keys)}")


@units_app.command("add")
def units_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="单位全称")],
    kind: Annotated[str, typer.Option("--kind", help="类别：" + "、".join(f"{k}（{v}）" for k, v in UNIT_KINDS.items()))] = "village",
    parent: Annotated[str | None, typer.Option("--parent", help="上级单位（村委会填所属乡镇）")] = None,
    email: Annotated[list[str] | None, typer.Option("--email", help="邮箱（可重复）")] = None,
    alias: Annotated[list[str] | None, typer.Option("--alias", help="别名（可重复）")] = None,
    contact: Annotated[str, typer.Option("--contact", help="联系人")] = "",
    phone: Annotated[str, typer.Option("--phone", help="电话")] = "",
    by: By = None,
    as_json: Json = False,
) -> None:
    """添加单位；它所属单位组的事项会自动分配给它。

    例：tracker units add 狮山镇某某村民委员会 --kind village --parent 狮山镇人民政府
    """
    context: Context = ctx.obj
    kind = choose(kind, "--kind", UNIT_KIND_CHOICES, "单位类别")
    clean = clean_text(name).strip()  # a pasted line break is refused below; other control characters are dropped
    alias = [clean_line(a) for a in alias or []]
    contact, phone = clean_line(contact), clean_line(phone)
    if not clean or any(ch in clean for ch in "\r\n\t<>\"@"):
        raise DirectoryError(f"单位名称“{clean!r}”无效：不能为空，也不能含换行、制表符或 < > \" @。")
    if kind == "village" and not parent:
        raise DirectoryError(f"村（居）委会“{clean}”需要用 --parent 指定所属乡镇，例如 --parent 狮山镇人民政府。")
    context_now = context.now(None)
    with write_session(context.ready_engine()) as session:
        directory = Directory.load(session)
        check_new_name(directory, [clean, *(alias or [])])
        parent_unit = directory.unit(parent) if parent else None
        emails = [validate_email(e.strip(), clean) for e in email or []]
        unit = Unit(name=clean, kind=kind, parent_id=parent_unit.id if parent_unit else None, emails=emails,
                    aliases=list(alias or []), contact=contact, phone=phone)
        session.add(unit)
        session.flush()
        diff = sync_assignments(session, Directory.load(session), now=context_now, actor=actor(by), calendar=context.calendar)
    added = [{"item": i, "role": r, **({"occurrence": o} if o else {})} for i, _u, r, o in diff.added_assignments]
    if as_json:
        output.print_json({"unit": clean, "kind": kind, "parent": parent_unit.name if parent_unit else None, "added_assignments": added})
        return
    output.say(f"已添加单位：{clean}（{UNIT_KINDS[kind]}）" + (f"，上级：{parent_unit.name}" if parent_unit else ""))
    if added:
        output.say(f"  自动分配事项：{'、'.join(a['item'] + '（' + ROLES[a['role']] + '）' for a in added)}")


@units_app.command("set")
def units_set(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="单位名称或别名（只设群机器人时也可以是单位组）")],
    email: Annotated[list[str] | None, typer.Option("--email", help="新的邮箱（可重复；替换原有邮箱）")] = None,
    alias: Annotated[list[str] | None, typer.Option("--alias", help="增加别名（可重复）")] = None,
    contact: Annotated[str | None, typer.Option("--contact", help="联系人")] = None,
    phone: Annotated[str | None, typer.Option("--phone", help="电话")] = None,
    parent: Annotated[str | None, typer.Option("--parent", help="上级单位")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="类别：" + "、".join(UNIT_KINDS))] = None,
    by: By = None,
    wecom: Wecom = None, dingtalk: Dingtalk = None, dingtalk_secret: DingtalkSecret = None, feishu: Feishu = None,
    feishu_secret: FeishuSecret = None, mobile: Mobile = None, remove_robot: RemoveRobot = None,
    as_json: Json = False,
) -> None:
    """修改单位的邮箱、别名、联系人、电话、上级单位、类别和群机器人（企业微信、钉钉、飞书）。

    改类别后，单位组（各部门、各乡镇……）的事项随之增减。机器人的标识和密钥在列表和 --json 中只显示后四位。
    给单位组设机器人，组内每个单位的提醒都发到那个群。
    例：tracker units set 县教育体育局 --email jtj@wuding.gov.cn --contact 张三
        tracker units set 某某县供销合作社 --kind department
        tracker units set 狮山镇 --dingtalk TOKEN --dingtalk-secret SEC… --mobile 13800000000
        tracker units set 各乡镇 --wecom KEY
    """
    context: Context = ctx.obj
    kind = choose(kind, "--kind", UNIT_KIND_CHOICES, "单位类别") if kind is not None else None
    robots = RobotChanges(wecom, dingtalk, dingtalk_secret, feishu, feishu_secret, mobile, remove_robot)
    if set_group_robots(context, name, robots, others=[email, alias, contact, phone, parent, kind], as_json=as_json):
        return
    with write_session(context.ready_engine()) as session:
        directory = Directory.load(session)
        unit = directory.unit(name)
        if email is not None:
            unit.emails = [validate_email(e.strip(), unit.name) for e in email]
        if alias:
            alias = [clean_line(a) for a in alias]
            check_new_name(directory, alias)
            unit.aliases = [*unit.aliases, *alias]
        if contact is not None:
            unit.contact = clean_line(contact)
        if phone is not None:
            unit.phone = clean_line(phone)
        if parent is not None:
            new_parent = directory.unit(parent)
            if new_parent.id == unit.id:
                raise DirectoryError(f"单位“{unit.name}”不能是自己的上级单位。")
            unit.parent_id = new_parent.id
        if kind is not None:
            unit.kind = kind
        robots.apply(session, unit, now=context.now(None))
        session.add(unit)
        session.flush()
        result = _unit_json(unit, directory, robots_by_owner(session, context.config.tz)[0].get(unit.id))  # type: ignore[arg-type]
        diff = sync_assignments(session, Directory.load(session), now=context.now(None), actor=actor(by)) \
            if kind is not None or parent is not None else None
    if diff is not None:
        result["added_assignments"] = [{"item": i, "role": r} for i, _u, r, *_ in diff.added_assignments]
        result["removed_assignments"] = [{"item": i, "role": r} for i, _u, r, *_ in diff.removed_assignments]
    if as_json:
        output.print_json(result)
        return
    output.say(f"已更新单位：{result['name']}（{result['kind_label']}）")
    output.say(f"  邮箱：{'、'.join(result['emails']) or '（无）'}")  # type: ignore[arg-type]
    if result["kind"] == "village" and not result["parent"]:
        output.warn(f"村（居）委会“{result['name']}”还没有所属乡镇，没有邮箱时提醒无人代收。请用 --parent 乡镇 指定。")
    for label, key in (("新增任务分工", "added_assignments"), ("移除任务分工", "removed_assignments")):
        if result.get(key):
            output.say(f"  {label}：{'、'.join(a['item'] + '（' + ROLES[a['role']] + '）' for a in result[key])}")  # type: ignore[index,union-attr]
    robots.say(result)
