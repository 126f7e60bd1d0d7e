"""Turning a work-plan table into items: columns by name, merged cells, keys, deadlines.

Blank cells are vertically merged cells of the Word table, so a blank cell takes the value above
it (the preview marks such cells as inherited, so that the operator can check them). The result
is a ``PlannedPlan``: what the database should hold, before it is compared with what it holds.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tracker.deadlines import DeadlineRule, parse_deadline
from tracker.directory import Directory
from tracker.errors import DeadlineParseError, PlanImportError, UnknownNameError
from tracker.models import UNIT_KINDS, UnitGroup
from tracker.names import longest_common_run, normalize
from tracker.tablefile import DEFAULT_MAX_BYTES, Row, Table, parse_table, read_file

COLUMNS: dict[str, tuple[str, ...]] = {
    "number": ("序号", "编号"),
    "task": ("工作任务", "重点任务", "主要任务", "任务名称", "任务"),
    "item": ("具体事项", "工作要求", "具体要求", "具体措施", "工作措施", "主要内容", "工作内容"),
    "lead": ("主管责任单位", "牵头单位", "主办单位", "牵头部门", "主管单位", "牵头责任单位"),
    "principal": ("主体责任单位", "责任单位", "责任科室", "承办单位", "责任部门"),
    "guiding": ("指导责任单位", "指导单位", "指导部门"),
    "cooperating": ("配合单位", "协办单位", "配合部门"),
    "deadline": ("完成时间", "时限要求", "完成时限", "时间节点", "完成期限", "时间要求"),
}
COLUMN_LABELS = {
    "number": "序号", "task": "工作任务", "item": "具体事项", "domain": "领域", "lead": "主管责任单位",
    "principal": "主体责任单位", "guiding": "指导责任单位", "cooperating": "配合单位", "deadline": "完成时间",
}
ROLE_COLUMNS = ("lead", "principal", "guiding", "cooperating")
_SYNONYMS = {normalize(name): column for column, names in COLUMNS.items() for name in names}
_ITEM_NUMBER = re.compile(r"^\((\d+)\)|^(\d+)[.、．]")
_YEAR = re.compile(r"(\d{4})年")


@dataclass
class PlannedItem:
    key: str
    task: str
    title: str
    deadline_text: str
    rule: DeadlineRule
    line: int
    position: int
    parent_key: str | None = None
    domain: str | None = None
    texts: dict[str, str] = field(default_factory=dict)
    inherited: list[str] = field(default_factory=list)
    event_name: str | None = None
    depends_on: str | None = None
    is_parent: bool = False


@dataclass
class PlannedPlan:
    source: str
    title: str
    checksum: str
    encoding: str
    plan_year: int | None
    tasks: dict[str, str]
    items: list[PlannedItem]
    has_principal_column: bool
    warnings: list[str] = field(default_factory=list)


def _columns(header: Row, path: str) -> list[str | None]:
    found: list[str | None] = []
    for cell in header.cells:
        found.append(_SYNONYMS.get(normalize(cell.text)))
    named = {c for c in found if c}
    if "deadline" not in named or not named & {"lead", "principal"} or not named & {"task", "item"}:
        have = "、".join(c.text for c in header.cells) or "（空）"
        raise PlanImportError(
            f"表头“{have}”中找不到必需的列：需要完成时间列（完成时间/时限要求/完成时限），"
            "至少一个责任单位列（主体责任单位/责任单位/牵头单位），以及工作任务或具体事项列。",
            path=path, line=header.line,
        )
    return found


def _cells_by_column(row: Row, columns: list[str | None], path: str) -> dict[str, tuple[str, int]]:
    cells = row.cells
    width = len(columns)
    if len(cells) == width + 1 and "item" in columns:
        at = columns.index("item") + 1
        columns = [*columns[:at], "domain", *columns[at:]]
    elif len(cells) != width:
        preview = " | ".join(c.text.replace("\n", "") for c in cells[:4])
        raise PlanImportError(
            f"这一行有 {len(cells)} 个单元格，表头有 {width} 列（“{preview} …”）。"
            "请检查是否缺少或多出了以 TAB 开头的单元格行。",
            path=path, line=row.line,
        )
    return {col: (cell.text, cell.line) for col, cell in zip(columns, cells) if col}


def _plan_year(table: Table, explicit: int | None) -> int | None:
    if explicit is not None:
        return explicit
    texts = [*table.preamble, *(c.text for row in table.rows for c in row.cells)]
    years = [int(y) for text in texts for y in _YEAR.findall(normalize(text))]
    return min(years) if years else None


def _split_item(text: str) -> tuple[str | None, str]:
    flat = normalize(text)
    match = _ITEM_NUMBER.match(flat)
    if not match:
        return None, text.strip()
    number = match.group(1) or match.group(2)
    raw = re.sub(r"\s+", "", text.strip())
    title = re.sub(r"^[（(]\s*\d+\s*[）)]|^\d+[.、．]", "", unicode_fold(raw)).strip()
    return number, title


def unicode_fold(text: str) -> str:
    """Full-width digits to half-width, leaving the rest of the Chinese text as written."""
    return text.translate({0xFF10 + d: 0x30 + d for d in range(10)})


def _flat(text: str) -> str:
    """A cell as one line: line breaks inside a Chinese cell are layout, not content."""
    return re.sub(r"\s*\n\s*", "", text).strip()


def read_plan(
    path: Path, directory: Directory, plan_year: int | None = None, *, max_bytes: int | None = DEFAULT_MAX_BYTES
) -> PlannedPlan:
    """Read, check and resolve a plan file; raise PlanImportError naming the line on any problem."""
    text, encoding = read_file(path, max_bytes)
    return parse_plan(text, str(path), directory, plan_year=plan_year, encoding=encoding)


def parse_plan(
    text: str, path: str, directory: Directory, *, plan_year: int | None = None, encoding: str = "utf-8"
) -> PlannedPlan:
    table = parse_table(text, path)
    columns = _columns(table.header, path)
    if not table.rows:
        raise PlanImportError("表格只有表头，没有任何事项。", path=path, line=table.header.line)
    year = _plan_year(table, plan_year)
    warnings: list[str] = []
    above: dict[str, str] = {}
    tasks: dict[str, str] = {}
    items: list[PlannedItem] = []
    keys: dict[str, int] = {}
    task_key = ""
    counter = 0
    for row in table.rows:
        cells = _cells_by_column(row, columns, path)
        values = {col: _flat(text) for col, (text, _line) in cells.items()}
        inherited: list[str] = []
        new_task = bool(values.get("number") or values.get("task"))
        for col in ("number", "task", "item", *ROLE_COLUMNS, "deadline"):
            if col not in values:
                continue
            if values[col]:
                above[col] = values[col]
            elif col == "item" and new_task:
                continue
            elif col in above:
                values[col] = above[col]
                inherited.append(col)
        if new_task:
            task_key = values.get("number") or str(len(tasks) + 1)
            tasks[task_key] = values.get("task") or tasks.get(task_key, "")
        elif not task_key:
            raise PlanImportError("第一行事项没有序号或工作任务，无法确定它属于哪项任务。", path=path, line=row.line)
        item_text = values.get("item") or values.get("task", "")
        number, title = _split_item(item_text)
        counter += 1
        if number is None:
            number = task_key if "item" not in columns and task_key not in keys else f"{task_key}-{counter}"
        domain = values.get("domain") or None
        key = f"{number}.{normalize(domain)}" if domain else number
        if key in keys:
            raise PlanImportError(f"事项编号“{key}”与第 {keys[key]} 行重复。请检查事项编号。", path=path, line=row.line)
        keys[key] = row.line
        deadline_text = values.get("deadline", "")
        deadline_line = cells.get("deadline", ("", row.line))[1]
        if not deadline_text:
            raise PlanImportError("完成时间为空，上方也没有可沿用的完成时间。", path=path, line=deadline_line)
        try:
            rule = parse_deadline(deadline_text, plan_year=year)
        except DeadlineParseError as exc:
            raise PlanImportError(str(exc), path=path, line=deadline_line) from exc
        texts = {col: values.get(col, "") for col in ROLE_COLUMNS}
        for col in ROLE_COLUMNS:
            _check_units(directory, texts[col], path, cells.get(col, ("", row.line))[1], warnings)
        if domain and number not in keys:
            keys[number] = row.line
            items.append(PlannedItem(
                key=number, task=task_key, title=title, deadline_text=deadline_text, rule=rule, line=row.line,
                position=len(items), texts=dict(texts), inherited=inherited, is_parent=True,
            ))
        items.append(PlannedItem(
            key=key, task=task_key, title=title if not domain else domain, deadline_text=deadline_text, rule=rule,
            line=row.line, position=len(items), parent_key=number if domain else None, domain=domain, texts=texts,
            inherited=inherited,
        ))
    _link_relative_deadlines(items, path)
    has_principal = "principal" in columns
    if not has_principal:
        warnings.append("表格没有“主体责任单位/责任单位”列：牵头单位将作为承担工作的单位。")
    checksum = hashlib.sha256(text.encode("utf-8")).hexdigest()
    title = next((line for line in reversed(table.preamble) if not line.rstrip("：:").startswith("附件")), "")
    return PlannedPlan(
        source=path, title=title, checksum=checksum, encoding=encoding, plan_year=year, tasks=tasks, items=items,
        has_principal_column=has_principal, warnings=warnings,
    )


def _check_units(directory: Directory, text: str, path: str, line: int, warnings: list[str]) -> None:
    try:
        refs = directory.resolve_cell(text)
    except UnknownNameError as exc:
        raise PlanImportError(f"{exc}如是新单位，请先用 tracker units add 添加。", path=path, line=line) from exc
    for ref in refs:
        if isinstance(ref, UnitGroup) and ref.vague:
            kinds = "、".join(UNIT_KINDS.get(k, k) for k in ref.kinds)
            message = (
                f"第 {line} 行的“{ref.name}”含义不明确，已按全部“{kinds}”展开。"
                "如需指定具体单位，请修改计划表或单位名录后重新导入。"
            )
            if message not in warnings:
                warnings.append(message)


def _link_relative_deadlines(items: list[PlannedItem], path: str) -> None:
    """Give each relative deadline its event name or the key of the item it waits for."""
    by_key = {item.key: item for item in items}
    candidates = [item for item in items if item.domain is None]
    for item in items:
        rule = item.rule
        if rule.kind == "after_event":
            item.event_name = rule.event
        elif rule.kind == "after_item":
            item.depends_on = rule.item if rule.item else _match_item(item, rule.event or "", candidates, path)
            if item.depends_on not in by_key:
                raise PlanImportError(
                    f"完成时间“{rule.text}”引用的事项（{item.depends_on}）不存在。", path=path, line=item.line
                )
            if item.depends_on == item.key or (item.parent_key and item.depends_on == item.parent_key):
                raise PlanImportError(f"完成时间“{rule.text}”引用了事项自身。", path=path, line=item.line)


def _match_item(item: PlannedItem, reference: str, candidates: Iterable[PlannedItem], path: str) -> str:
    """The item whose title best matches a "…完成" reference (longest common run, at least 4 characters)."""
    wanted = normalize(reference.removesuffix("完成"))
    scored = sorted(
        ((longest_common_run(wanted, normalize(c.title)), c.key) for c in candidates if c.key != item.key),
        reverse=True,
    )
    if not scored or scored[0][0] < 4 or (len(scored) > 1 and scored[1][0] == scored[0][0]):
        raise PlanImportError(
            f"无法确定完成时间“{item.rule.text}”指的是哪个事项完成。"
            "请在计划表中写明事项编号，例如“第（3）项完成后1个月内”。",
            path=path, line=item.line,
        )
    return scored[0][1]
