"""Printing what building or loading the directory did; shared by `init` and the `units` commands."""

from __future__ import annotations

from collections import Counter

from tracker.cli import output
from tracker.models import UNIT_KINDS
from tracker.plan_directory import PlanUnits


def print_plan_units(found: PlanUnits, verb: str) -> None:
    kinds = Counter(u.kind for u in found.units)
    counts = "，".join(f"{UNIT_KINDS[k]} {n} 个" for k, n in kinds.items())
    output.say(f"{verb}（{found.county}）：新增单位 {len(found.units)} 个" + (f"（{counts}）" if counts else ""))
    if found.known:
        output.say(f"  名录中已有的名称 {found.known} 个，未改动")
    if found.groups:
        output.say(f"  单位组：{'、'.join(g.name for g in found.groups)}")
    homeless = [u.name for u in found.units if u.kind == "village" and not u.township]
    if homeless:
        output.warn(f"{len(homeless)} 个村（社区）从名称看不出所属乡镇：{'、'.join(homeless)}。"
                    "请用 tracker units set 名称 --parent 乡镇 指定。")
    for name in found.empty_groups:
        output.warn(f"计划表用到了单位组“{name}”，但没有点名属于它的任何单位，它现在没有成员。"
                    "请在通讯录中列出这些单位后用 tracker units import 通讯录.xlsx 载入，或用 tracker units add 名称 --kind 类别 逐个添加。")
    for name, line in found.unknown_groups:
        output.warn(f"第 {line} 行“{name}”像是单位组，但不是常用的单位组，无法展开。")
    if found.unclassified:
        output.warn(f"{len(found.unclassified)} 个名称无法从名称判断类别，暂记为“未分类”"
                    "（只承担点名给它的事项，不属于任何单位组）：")
        for name, line in found.unclassified:
            output.say(f"  第 {line} 行：{name}")
        kinds = "、".join(f"{k}（{label}）" for k, label in UNIT_KINDS.items() if k != "unclassified")
        output.say(f"  请逐个设定类别，例如：tracker units set 名称 --kind department（可用：{kinds}）")


def print_email_summary(without: dict[str, object]) -> None:
    count = int(without["count"])  # type: ignore[call-overload]
    if not count:
        output.say("所有单位都有邮箱。")
        return
    via = int(without["reached_through_other_unit"])  # type: ignore[call-overload]
    output.say(f"还有 {count} 个单位没有邮箱" + (f"（其中 {via} 个由上级或代收单位转收）" if via else "") + "。补充方法：")
    output.say("  tracker units export --out 通讯录.xlsx   导出通讯录，填好联系人、电话、邮箱后")
    output.say("  tracker units import 通讯录.xlsx          载入（可先加 --dry-run 预览）；或逐个：tracker units set 单位 --email 地址")
