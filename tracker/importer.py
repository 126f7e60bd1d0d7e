"""Turning a work-plan table into items: columns by name, merged cells, keys, deadlines.

Blank cells are vertically merged cells of the Word table, so a blank cell takes the value above
it (the preview marks such cells as inherited, so that the operator can check them). The result
is a ``PlannedPlan``: what the database should hold, before it is compared with what it holds.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tracker.deadlines import DeadlineRule, chinese_number, parse_deadline
from tracker.directory import Directory
from tracker.errors import DeadlineParseError, PlanImportError, UnknownNameError
from tracker.models import UNIT_KINDS, UnitGroup
from tracker.names import longest_common_run, normalize
from tracker.officefile import FORMAT_NAMES, read_office_table
from tracker.table_shape import drop_title_rows, unrepeat_tasks
from tracker.tablefile import DEFAULT_MAX_BYTES, Row, Table, check_input_file, parse_table, read_file

COLUMNS: dict[str, tuple[str, ...]] = {
    "number": ("序号", "编号"),
    "task": ("工作任务", "重点任务", "主要任务", "任务名称", "任务"),
    "item": ("具体事项", "工作要求", "具体要求", "具体措施", "工作措施", "主要内容", "工作内容"),
    "lead": ("主管责任单位", "牵头单位", "主办单位", "牵头部门", "主管单位", "牵头责任单位"),
    "principal": ("主体责任单位", "责任单位", "责任科室", "承办单位", "责任部门"),
    "guiding": ("指导责任单位", "指导单位", "指导部门"),
    "cooperating": ("配合单位", "协办单位", "配合部门"),
    "deadline": ("完成时间", "时限要求", "完成时限", "时间节点", "完成期限", "时间要求"),
    "leader": ("牵头领导", "责任领导", "分管领导", "牵头县领导", "分管县领导", "包保领导", "责任县领导"),
    "contact": ("责任人", "具体责任人", "联系人", "经办人"),
}
# Columns an online suite's monthly-report template adds for progress: known, and deliberately not read as plan content.
REPORTING_COLUMNS = ("本月工作内容", "下月工作计划", "本月工作进展", "本月完成情况", "下月工作打算", "工作进展", "进展情况", "完成情况")
PEOPLE_COLUMNS = ("leader", "contact")
COLUMN_LABELS = {
    "number": "序号", "task": "工作任务", "item": "具体事项", "domain": "领域", "lead": "主管责任单位",
    "principal": "主体责任单位", "guiding": "指导责任单位", "cooperating": "配合单位", "deadline": "完成时间",
    "leader": "牵头领导", "contact": "责任人",
}
ROLE_COLUMNS = ("lead", "principal", "guiding", "cooperating")
_SYNONYMS = {normalize(name): column for column, names in COLUMNS.items() for name in names}
_REPORTING = {normalize(name) for name in REPORTING_COLUMNS}
_YEAR_OF_PLAN = re.compile(r"(\d{4})年度")
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
    people: dict[str, str] = field(default_factory=dict)  # leader / contact: person names, kept as text, never units


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
    ignored_columns: list[str] = field(default_factory=list)


def _column_of(text: str) -> str | None:
    """The column a header cell names: its exact words, or else the longest column word it contains
    ("完成时限（2020年）", "责任单位（牵头）"); None when it names none, or two equally well."""
    flat = normalize(text)
    if flat in _REPORTING:  # 本月工作内容 contains 工作内容, but is a monthly-report column, not the item text
        return None
    if flat in _SYNONYMS:
        return _SYNONYMS[flat]
    found = sorted(((len(word), column) for word, column in _SYNONYMS.items() if word in flat), reverse=True)
    if not found or (len(found) > 1 and found[1][0] == found[0][0] and found[1][1] != found[0][1]):
        return None
    return found[0][1]


def _columns(header: Row, path: str) -> list[str | None]:
    found: list[str | None] = []
    for cell in header.cells:
        column = _column_of(cell.text)
        found.append(column if column not in found else None)  # a second cell of the same name is not read
    named = {c for c in found if c}
    if "deadline" not in named or not named & {"lead", "principal"} or not named & {"task", "item"}:
        have = "、".join(c.text for c in header.cells) or "（空）"
        raise PlanImportError(
            f"表头“{have}”中找不到必需的列：需要完成时间列（完成时间/时限要求/完成时限），"
            "至少一个责任单位列（主体责任单位/责任单位/牵头单位），以及工作任务或具体事项列。",
            path=path, line=header.line,
        )
    return found


def looks_like_header(texts: Sequence[str]) -> bool:
    """Whether a row names the columns ``_columns`` requires: how the office readers find the task table."""
    named = {_column_of(text) for text in texts}
    return "deadline" in named and bool(named & {"lead", "principal"}) and bool(named & {"task", "item"})


def _cells_by_column(row: Row, columns: list[str | None]) -> dict[str, tuple[str, int]]:
    """The row's cells by column (``columns`` is the layout chosen for rows of this width); an unlabelled item
    number column is put in front of the item text, where the seed's tables write it: "（1）编制目录"."""
    cells = {col: (cell.text, cell.line) for col, cell in zip(columns, row.cells) if col}
    number = cells.pop("item_number", None)
    if number is not None and _flat(number[0]):
        text, line = cells.get("item", ("", number[1]))
        cells["item"] = (f"（{_bare_number(_flat(number[0]))}）{text}", line)
    return cells


column_of = _column_of  # public: a plan's directory is read with the same column rules


def reporting_columns(header: Row) -> list[str]:
    """The monthly-reporting columns (本月工作内容 …) of a header, which the import leaves alone."""
    return [c.text for c in header.cells if normalize(c.text) in _REPORTING]


def shaped_table(text: str, path: str) -> tuple[Table, list[str | None]]:
    """The table of a plan dump with its title rows set aside, and the column of each header cell."""
    return shape(parse_table(text, path), path)


def shape(table: Table, path: str) -> tuple[Table, list[str | None]]:
    """A table from any reader with its title rows set aside and repeated task cells unrepeated (online suites'
    exports), and the column of each header cell."""
    table = drop_title_rows(table, column_of)
    columns = _columns(table.header, path)
    table.rows = unrepeat_tasks(table.rows, columns, path)
    return table, columns


def unit_cells(table: Table, columns: list[str | None], path: str) -> list[tuple[str, str, int]]:
    """Every non-blank unit cell of the table as (role, text, line), for building a directory from a plan: rows are
    aligned with the header by the same rules as an import, with no units known yet."""
    layouts = align_rows(table, columns, Directory({}, {}), _plan_year(table, None), path)
    found: list[tuple[str, str, int]] = []
    for row in table.rows:
        for col, (text, line) in _cells_by_column(row, layouts[len(row.cells)]).items():
            if col in ROLE_COLUMNS and text.strip():
                found.append((col, text, line))
    return found


def _people(text: str) -> str:
    """Person names, one per line or separated by 、，; as one "、"-separated list (a name never wraps)."""
    return "、".join(filter(None, (n.strip() for n in re.split(r"[\n、，,；;]+", text))))


def _plan_year(table: Table, explicit: int | None) -> int | None:
    if explicit is not None:
        return explicit
    titled = [int(y) for line in table.preamble for y in _YEAR_OF_PLAN.findall(normalize(line))]
    if titled:  # "2026年度…分解表": the title says which year "6月底前" is in
        return titled[0]
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
    path: Path, directory: Directory, plan_year: int | None = None, *, table: int | None = None,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
) -> PlannedPlan:
    """Read, check and resolve a plan file (a text dump, or a Word/Excel/CSV file read by ``tracker.officefile``,
    the ``table``-th table when it holds several); raise PlanImportError naming the line on any problem. Whatever
    the format, a FIFO, a device or a file over ``max_bytes`` is refused before it is read."""
    check_input_file(path, max_bytes)
    office = read_office_table(path, looks_like_header, table)
    if office is not None:
        plan = plan_from_table(office.table, office.where, directory, plan_year=plan_year,
                               encoding=FORMAT_NAMES[office.kind], checksum=office.checksum)
        plan.source = str(path)
        return plan
    if table is not None:
        raise PlanImportError("--table 只用于 Word、Excel 文件；纯文本计划表只含一个表格。", path=str(path))
    text, encoding = read_file(path, max_bytes)
    return parse_plan(text, str(path), directory, plan_year=plan_year, encoding=encoding)


def parse_plan(
    text: str, path: str, directory: Directory, *, plan_year: int | None = None, encoding: str = "utf-8"
) -> PlannedPlan:
    checksum = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return plan_from_table(parse_table(text, path), path, directory, plan_year=plan_year, encoding=encoding, checksum=checksum)


def plan_from_table(
    table: Table, path: str, directory: Directory, *, plan_year: int | None, encoding: str, checksum: str,
) -> PlannedPlan:
    """The plan in a table, whichever reader produced it: one set of column rules for every file format."""
    table, columns = shape(table, path)
    if not table.rows:
        raise PlanImportError("表格只有表头，没有任何事项。", path=path, line=table.header.line)
    year = _plan_year(table, plan_year)
    layouts = align_rows(table, columns, directory, year, path)
    numbers_items = _numbers_items(table, layouts)
    warnings: list[str] = []
    above: dict[str, str] = {}
    tasks: dict[str, str] = {}
    items: list[PlannedItem] = []
    keys: dict[str, int] = {}
    task_key = ""
    counter = 0
    for row in table.rows:
        cells = _cells_by_column(row, layouts[len(row.cells)])
        values = {col: _people(text) if col in PEOPLE_COLUMNS else _flat(text) for col, (text, _line) in cells.items()}
        row_number = values.get("number", "") if numbers_items else ""
        inherited: list[str] = []
        if numbers_items:  # 序号 numbers the items; a task is a (merged) 工作任务 cell
            new_task = bool(values.get("task")) and values.get("task") != tasks.get(task_key)
        else:
            new_task = bool(values.get("number") or values.get("task"))
        for col in ("number", "task", "item", *ROLE_COLUMNS, "deadline", *PEOPLE_COLUMNS):
            if col not in values or (col == "number" and numbers_items):
                continue
            if values[col]:
                above[col] = values[col]
            elif col == "item" and new_task:
                continue
            elif col in above:
                values[col] = above[col]
                inherited.append(col)
        if new_task:
            task_key = str(len(tasks) + 1) if numbers_items else (values.get("number") or str(len(tasks) + 1))
            tasks[task_key] = values.get("task") or tasks.get(task_key, "")
        elif not task_key:
            raise PlanImportError("第一行事项没有序号或工作任务，无法确定它属于哪项任务。", path=path, line=row.line)
        item_text = values.get("item") or values.get("task", "")
        number, title = _split_item(item_text)
        if row_number and (bare := _bare_number(row_number)):
            number = bare
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
        people = {col: values[col] for col in PEOPLE_COLUMNS if values.get(col)}
        for col in ROLE_COLUMNS:
            _check_units(directory, texts[col], path, cells.get(col, ("", row.line))[1], warnings)
        if domain and number not in keys:
            keys[number] = row.line
            items.append(PlannedItem(
                key=number, task=task_key, title=title, deadline_text=deadline_text, rule=rule, line=row.line,
                position=len(items), texts=dict(texts), inherited=inherited, is_parent=True, people=dict(people),
            ))
        items.append(PlannedItem(
            key=key, task=task_key, title=title if not domain else domain, deadline_text=deadline_text, rule=rule,
            line=row.line, position=len(items), parent_key=number if domain else None, domain=domain, texts=texts,
            inherited=inherited, people=people,
        ))
    _link_relative_deadlines(items, path)
    has_principal = "principal" in columns
    if not has_principal:
        warnings.append("表格没有“主体责任单位/责任单位”列：牵头单位将作为承担工作的单位。")
    title = next((line for line in reversed(table.preamble) if not line.rstrip("：:").startswith("附件")), "")
    return PlannedPlan(
        source=path, title=title, checksum=checksum, encoding=encoding, plan_year=year, tasks=tasks, items=items,
        has_principal_column=has_principal, warnings=warnings, ignored_columns=reporting_columns(table.header),
    )


_BARE_NUMBER = re.compile(r"^[(（]?\s*(\d+|[一二三四五六七八九十]+)\s*[)）]?[.、．]?$")


def _bare_number(text: str) -> str | None:
    """The number a cell holds when it holds nothing else ("（3）", "3.", "三、"), as Arabic digits; else None."""
    match = _BARE_NUMBER.match(normalize(text))
    if not match:
        return None
    value = match.group(1)
    return value if value.isdigit() else str(chinese_number(value))


def _numbers_items(table: Table, layouts: dict[int, list[str | None]]) -> bool:
    """True when 序号 numbers the items, not the tasks: some row has a number beside a blank (merged) 工作任务 cell,
    as in tables whose 工作任务 column stands left of 序号 and is merged down over its items."""
    for row in table.rows:
        cells = _cells_by_column(row, layouts[len(row.cells)])
        if "task" not in cells or "number" not in cells:
            return False
        if _flat(cells["number"][0]) and not _flat(cells["task"][0]):
            return True
    return False


def align_rows(
    table: Table, columns: list[str | None], directory: Directory, year: int | None, path: str
) -> dict[int, list[str | None]]:
    """The columns of the rows of each width. Rows as wide as the header take its columns. A row one cell wider has
    a column the header does not label: the seed's domain column after the item, or an unlabelled number column
    under a heading that spans two (a "具体要求" heading over the item numbers and the item texts). The layout is
    taken only when exactly one of these reads every such row without doubt (unit cells name known units, deadline
    cells are deadlines, number cells are numbers); otherwise the table is refused, naming the header and the row."""
    layouts: dict[int, list[str | None]] = {len(columns): columns}
    for row in table.rows:
        width = len(row.cells)
        if width in layouts:
            continue
        rows = [r for r in table.rows if len(r.cells) == width]
        candidates = _candidates(columns, width)
        fitting: list[list[str | None]] = []
        # an unknown unit or a bad deadline is reported as such, on its own line, not as a layout problem: when no
        # layout reads every cell, one that reads all but the units (or all but the deadlines) is taken if unique
        for checks in ({"units", "deadline"}, {"deadline"}, {"units"}):
            fitting = [c for c in candidates if all(_reads(r, c, directory, year, checks) for r in rows)]
            if fitting:
                break
        if len(fitting) != 1:
            raise _misaligned(table, columns, row, len(fitting), path)
        layouts[width] = fitting[0]
    return layouts


def _candidates(columns: list[str | None], width: int) -> list[list[str | None]]:
    if width != len(columns) + 1:
        return []
    found: list[list[str | None]] = []
    if "item" in columns:
        at = columns.index("item") + 1
        found.append([*columns[:at], "domain", *columns[at:]])
        found.append([*columns[:at - 1], "item_number", *columns[at - 1:]])
    if "number" not in columns:
        found.append(["number", *columns])
    return found


_NUMBERED = {"number", "item_number"}


def _reads(row: Row, layout: list[str | None], directory: Directory, year: int | None, checks: set[str]) -> bool:
    """Whether every cell of ``row`` is what its column in ``layout`` holds (blank cells fit anything)."""
    for column, cell in zip(layout, row.cells):
        text = _flat(cell.text)
        if not text or column is None:
            continue
        if column in _NUMBERED and _bare_number(text) is None:
            return False
        if column == "domain" and _bare_number(text) is not None:
            return False
        if column == "item" and "domain" in layout and _bare_number(text) is not None:
            return False  # an item whose whole text is a number has no title: the number is its own column
        if column in ROLE_COLUMNS and "units" in checks:
            try:
                directory.resolve_cell(text)
            except UnknownNameError:
                return False
        if column == "deadline" and "deadline" in checks:
            try:
                parse_deadline(text, plan_year=year)
            except DeadlineParseError:
                return False
    return True


def _misaligned(table: Table, columns: list[str | None], row: Row, readings: int, path: str) -> PlanImportError:
    header = " | ".join(_flat(c.text) or "（空）" for c in table.header.cells)
    cells = " | ".join(output_short(_flat(c.text)) or "（空）" for c in row.cells)
    why = (f"有 {readings} 种对法都说得通，无法确定" if readings > 1 else "任何一种对法都对不上")
    return PlanImportError(
        f"表头与数据行的列对不齐：表头（第 {table.header.line} 行）“{header}”有 {len(columns)} 列，"
        f"第一个对不齐的数据行（第 {row.line} 行）“{cells}”有 {len(row.cells)} 个单元格，{why}各单元格属于哪一列。"
        "请把表格改成表头与每一行一一对应：每个表头单元格只管一列（不要跨列合并），"
        "例如“序号 | 工作任务 | 具体事项 | 责任单位 | 完成时限”，事项编号如（1）写在具体事项单元格的开头，再重新导入。",
        path=path, line=row.line,
    )


def output_short(text: str, limit: int = 12) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
