"""Checking a catalogue row by row: what is missing or wrong, in words a unit clerk can act on.

The office used to open every unit's spreadsheet by hand; this is that reading, written down.
Every defect the office looks for is one entry in a row's ``problems``; ``notes`` say how something
was read when it needed a rule (an inherited 一级事项, a 实时 deadline, a 公开主体 that names the
unit's own offices), so the clerk sees it rather than the product deciding silently.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from tracker.catalogue_read import OTHER, Catalogue, CatalogueRow
from tracker.deadlines import DeadlineRule, parse_deadline
from tracker.directory import Directory
from tracker.errors import DeadlineParseError, UnknownNameError
from tracker.models import Unit, UnitGroup
from tracker.names import normalize

_SHORT = {"实时": "realtime", "即时": "realtime", "及时": "promptly"}
_SHORT_TAIL = re.compile(r"(?:公开|发布|更新|予以公开)?$")
_OWN_OFFICES = re.compile(r"科室|股室|内设机构|内设科室|责任部门|业务部门|本单位|本部门|本机关")


@dataclass(frozen=True)
class ShortDeadlines:
    """How many working days "实时"/"即时" and "及时" mean; config.toml [catalog] sets them."""

    realtime_working_days: int = 1
    promptly_working_days: int = 5


def read_disclosure_deadline(text: str, short: ShortDeadlines) -> tuple[DeadlineRule, str]:
    """The rule of a 公开时限 and, for 实时/及时, the sentence that says which default was used."""
    body = _SHORT_TAIL.sub("", normalize(text))
    kind = _SHORT.get(body)
    if kind is not None:
        days = short.realtime_working_days if kind == "realtime" else short.promptly_working_days
        key = "realtime_working_days" if kind == "realtime" else "promptly_working_days"
        rule = DeadlineRule(kind="after_event", text=text.strip(), event="信息形成或变更", working_days=days)
        return rule, f"公开时限“{text.strip()}”没有具体天数，按默认的 {days} 个工作日计（config.toml [catalog] {key}）"
    return parse_deadline(text), ""


@dataclass
class Problem:
    field: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass
class RowResult:
    row: CatalogueRow
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    deadline: DeadlineRule | None = None
    publisher: Unit | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def label(self) -> str:
        r = self.row
        number = f"序号 {r.number}，" if r.number else ""
        return f"{r.place}（{number}{r.level1 or '（无一级事项）'} / {r.level2 or '（无二级事项）'}）"

    def to_json(self) -> dict[str, Any]:
        r = self.row
        return {
            "place": r.place, "number": r.number, "level1": r.level1, "level2": r.level2, "ok": self.ok,
            "problems": [p.to_json() for p in self.problems], "notes": self.notes,
            "content": r.content, "basis": r.basis, "deadline_text": r.deadline_text,
            "deadline": self.deadline.to_json() if self.deadline else None,
            "publisher_text": r.publisher_text, "publisher": self.publisher.name if self.publisher else None,
            "channels": r.channels, "other_channel": r.other_channel,
            "audience": {"public": r.audience_public, "group": r.audience_group if r.audience_group_ticked else None},
            "mode": {"active": r.active, "on_request": r.on_request},
            "level": {"county": r.county_level, "township": r.township_level},
        }


@dataclass
class CheckResult:
    path: str
    file_kind: str
    unit: str | None
    rows: list[RowResult]

    @property
    def failed(self) -> list[RowResult]:
        return [r for r in self.rows if not r.ok]

    @property
    def ok(self) -> bool:
        return bool(self.rows) and not self.failed

    @property
    def summary(self) -> str:
        if not self.rows:
            return f"{self.path}：没有找到任何数据行（只有表头）。请在表头下逐行填写公开事项。"
        failed = self.failed
        text = f"{self.path}：共 {len(self.rows)} 行，{len(self.rows) - len(failed)} 行通过，{len(failed)} 行有问题"
        if failed:
            text += f"（共 {sum(len(r.problems) for r in failed)} 处）。请修改后重新检查。"
        else:
            text += "，可以验收。"
        return text

    def to_json(self) -> dict[str, Any]:
        failed = self.failed
        return {
            "file": self.path, "format": self.file_kind, "unit": self.unit, "ok": self.ok,
            "summary": {"rows": len(self.rows), "passed": len(self.rows) - len(failed), "failed": len(failed),
                        "problems": sum(len(r.problems) for r in failed), "text": self.summary},
            "rows": [r.to_json() for r in self.rows],
        }


def check_catalogue(catalogue: Catalogue, directory: Directory, unit: Unit | None, short: ShortDeadlines) -> CheckResult:
    """Judge every row; ``unit`` is the unit handing the catalogue in, when known."""
    results = [_check_row(row, directory, unit, short) for row in catalogue.rows]
    _repeated_level2(results)
    return CheckResult(catalogue.path, catalogue.file_kind, unit.name if unit else None, results)


def _check_row(row: CatalogueRow, directory: Directory, unit: Unit | None, short: ShortDeadlines) -> RowResult:
    result = RowResult(row, notes=list(row.notes))
    add = result.problems.append
    if row.level1_missing:
        add(Problem("一级事项", "一级事项为空。请填写一级事项（同一一级事项下的各行可合并单元格或留空表示同上）。"))
    elif row.level1_inherited:
        result.notes.append(f"一级事项留空，按上一行的“{row.level1}”读取")
    if not row.level2:
        add(Problem("二级事项", "二级事项为空。请填写具体的公开事项名称。"))
    if not row.content:
        add(Problem("公开内容", "没有填写公开内容（要素）。请列出需要公开的要素。"))
    if not row.basis:
        add(Problem("公开依据", "没有填写公开依据。请写明法律、法规或文件名称。"))
    _deadline(result, short)
    _publisher(result, directory, unit)
    _channels(result)
    for column, text in row.bad_marks:
        add(Problem(column, f"“{column}”一栏的“{text}”不是勾选标记。勾选请填 √，不选请留空。"))
    if row.audience_group_ticked and not row.audience_group:
        add(Problem("公开对象", "勾选了“特定群体”但没有写明是哪个群体。请在该栏写明，例如“√ 申请人”。"))
    if not row.audience_public and not row.audience_group_ticked:
        add(Problem("公开对象", "公开对象没有勾选。请在“全社会”或“特定群体”栏打 √。"))
    if row.active and row.on_request:
        add(Problem("公开方式", "“主动”和“依申请”同时打了 √。公开方式只能选一种。"))
    elif not row.active and not row.on_request:
        add(Problem("公开方式", "公开方式没有勾选。请在“主动”或“依申请”其中一栏打 √。"))
    if not row.county_level and not row.township_level:
        add(Problem("公开层级", "公开层级没有勾选。请在“县级”和/或“乡级”栏打 √。"))
    return result


def _deadline(result: RowResult, short: ShortDeadlines) -> None:
    text = result.row.deadline_text
    if not text:
        result.problems.append(Problem("公开时限", "没有填写公开时限。常见写法：“信息形成或变更之日起20个工作日内”。"))
        return
    try:
        result.deadline, note = read_disclosure_deadline(text, short)
    except DeadlineParseError as exc:
        result.problems.append(Problem("公开时限", f"{exc}".replace("完成时间", "公开时限")))
        return
    if note:
        result.notes.append(note)


def _publisher(result: RowResult, directory: Directory, unit: Unit | None) -> None:
    text = result.row.publisher_text
    add = result.problems.append
    if not text:
        add(Problem("公开主体", "没有填写公开主体。请写负责公开的单位（本单位科室可写“本单位相关科室”）。"))
        return
    try:
        refs = directory.resolve_cell(text)
    except UnknownNameError as exc:
        _unlisted_publisher(result, text, directory, unit, exc)
        return
    units = [r for r in refs if isinstance(r, Unit)]
    if len(refs) != 1 or not units:
        kind = "单位组" if any(isinstance(r, UnitGroup) for r in refs) else "多个单位"
        add(Problem("公开主体", f"公开主体“{text}”指的是{kind}（{'、'.join(r.name for r in refs)}）。"
                                "每个事项请写一个具体负责公开的单位。"))
        return
    result.publisher = units[0]


def _unlisted_publisher(result: RowResult, text: str, directory: Directory, unit: Unit | None, unknown: UnknownNameError) -> None:
    """A 公开主体 not in the directory: the sending unit's own offices when it says so and --unit names the unit."""
    add = result.problems.append
    if _OWN_OFFICES.search(normalize(text)):
        named = _other_unit_named(text, directory, unit)
        if named is not None and unit is not None:
            add(Problem("公开主体", f"公开主体“{text}”写的是“{named.name}”的科室，不是报送单位“{unit.name}”。请核对公开主体。"))
        elif named is not None:
            result.publisher = named
            result.notes.append(f"公开主体“{text}”是“{named.name}”的内设科室，按“{named.name}”计（提醒发给该单位）")
        elif unit is None:
            add(Problem("公开主体", f"公开主体“{text}”不在单位名录中。如指报送单位自己的内设科室，请用 --unit 指明报送单位后再检查。"))
        else:
            result.publisher = unit
            result.notes.append(f"公开主体“{text}”是报送单位的内设科室，按“{unit.name}”计（提醒发给该单位）")
        return
    guess = "您是否想写：" + "、".join(f"“{n}”" for n in unknown.suggestions) + "？" if unknown.suggestions else ""
    add(Problem("公开主体", f"公开主体“{text}”不在单位名录中。{guess}请写名录中的单位名称"
                            "（tracker units list 可查看），本单位的科室可写“本单位相关科室”。"))


_PREFIX = re.compile(r"^(?:县|州|市)")
_SUFFIX = re.compile(r"(?:人民政府|办公室|委员会|分局|局|办|委)$")


def _other_unit_named(text: str, directory: Directory, unit: Unit | None) -> Unit | None:
    """A directory unit, other than the one handing in, whose name or its core ("市场监督管理" of 县市场监督管理局) is in ``text``."""
    body = normalize(text)
    for other in directory.units.values():
        if unit is not None and other.id == unit.id:
            continue
        for name in (other.name, *other.aliases):
            key = normalize(name)
            core = _SUFFIX.sub("", _PREFIX.sub("", key))
            if any(len(variant) >= 3 and variant in body for variant in (key, core)):
                return other
    return None


def _channels(result: RowResult) -> None:
    row, add = result.row, result.problems.append
    for label in row.unknown_channels:
        add(Problem("公开渠道和载体", f"“{label}”不是附件2列出的公开渠道。其他渠道请勾选“■其他”并在后面写明。"))
    if not row.channels:
        how = "" if "■" in row.channel_text or "□" in row.channel_text else "（渠道要用 ■ 表示选中、□ 表示未选）"
        add(Problem("公开渠道和载体", f"没有勾选任何公开渠道{how}。请把所用渠道前的 □ 改为 ■。"))
    if OTHER in row.channels and not row.other_channel:
        add(Problem("公开渠道和载体", "勾选了“其他”但没有写明是什么渠道。请写成“■其他：XXX”。"))


def _repeated_level2(results: list[RowResult]) -> None:
    """Rows of the same 一级事项 whose 二级事项 repeat: every one of them is told which rows it repeats."""
    seen: dict[tuple[str, str], list[RowResult]] = defaultdict(list)
    for result in results:
        if result.row.level2:
            seen[(normalize(result.row.level1), normalize(result.row.level2))].append(result)
    for group in seen.values():
        if len(group) < 2:
            continue
        for result in group:
            others = "、".join(o.row.place + (f"（序号 {o.row.number}）" if o.row.number else "") for o in group if o is not result)
            result.problems.append(Problem(
                "二级事项", f"一级事项“{result.row.level1}”下的二级事项“{result.row.level2}”与{others}重复。请合并或改名。"))
