"""Reading a standard catalogue of disclosure items (Annex 2) from .xlsx, .docx or the text dump.

The layout is fixed by the notice: two header rows and 14 columns. Each reader turns its format
into the same thing, a 14-wide grid of cell texts with, per cell, whether it continues a merged
cell; the header rows are then checked against the template before any data row is read, so a
file in another layout is refused rather than read column by column into the wrong fields.

Merged cells: .docx cells are merged when python-docx gives the same ``_tc`` element for two grid
positions; .xlsx cells when they lie in a merged range. A merged continuation carries the value of
its origin. The text dump cannot tell merged from empty, so (as for Annex 1) a blank 一级事项 means
"same as the row above", and the check shows it as inherited.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from tracker.errors import CatalogueError
from tracker.names import normalize
from tracker.tablefile import Cell, decode, parse_table

WIDTH = 14
HEADER_TOP = {0: "序号", 1: "公开事项", 3: "公开内容（要素）", 4: "公开依据", 5: "公开时限", 6: "公开主体",
              7: "公开渠道和载体", 8: "公开对象", 10: "公开方式", 12: "公开层级"}
HEADER_SUB = {1: "一级事项", 2: "二级事项", 8: "全社会", 9: "特定群体（请写明）", 10: "主动", 11: "依申请", 12: "县级", 13: "乡级"}
_HEADER_SPANS = (2, 9, 11, 13)  # second column of the grouped headers; blank in the top row
_ALTERNATIVES = {"公开内容（要素）": {"公开内容"}, "特定群体（请写明）": {"特定群体"}}

CHANNELS = ("政府网站", "政府公报", "两微一端", "发布会/听证会", "广播电视", "纸质媒体", "公开查阅点", "政务服务中心",
            "便民服务站", "入户/现场宣传", "社区/企事业单位/村公示栏（电子屏）", "精准推送", "其他")
OTHER = "其他"
TICKS = frozenset("√✓✔☑■")
CHECKED, UNCHECKED = "■☑", "□☐"
_BOX = re.compile(r"([■□☑☐])([^■□☑☐]*)")


@dataclass
class Grid:
    """What a reader found: the two header rows and the data rows, each 14 cells wide."""

    header: list[list[str]]
    rows: list[list[str]]
    places: list[str]
    merged: list[list[bool]]
    file_kind: str
    notes: dict[int, str] = field(default_factory=dict)


@dataclass
class CatalogueRow:
    """One data row, read but not yet judged: marks that are neither blank nor a tick are kept in ``bad_marks``."""

    place: str
    number: str
    level1: str
    level2: str
    content: str
    basis: str
    deadline_text: str
    publisher_text: str
    channel_text: str
    channels: list[str]
    other_channel: str | None
    unknown_channels: list[str]
    audience_public: bool
    audience_group_ticked: bool
    audience_group: str
    active: bool
    on_request: bool
    county_level: bool
    township_level: bool
    level1_inherited: bool = False
    level1_missing: bool = False
    bad_marks: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Catalogue:
    path: str
    file_kind: str
    rows: list[CatalogueRow]


MARK_COLUMNS = {8: "公开对象·全社会", 10: "公开方式·主动", 11: "公开方式·依申请", 12: "公开层级·县级", 13: "公开层级·乡级"}


def read_catalogue(path: Path) -> Catalogue:
    """Read a catalogue file of any of the three kinds, chosen by its extension."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise CatalogueError(f"找不到目录文件 {path}。请检查路径和文件名。") from exc
    except IsADirectoryError as exc:
        raise CatalogueError(f"{path} 是一个文件夹，不是目录文件。请指定 .xlsx、.docx 或 .txt 文件。") from exc
    return read_catalogue_bytes(data, path.name)


def read_catalogue_bytes(data: bytes, name: str) -> Catalogue:
    suffix = Path(name).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        grid = _xlsx_grid(data, name)
    elif suffix == ".docx":
        grid = _docx_grid(data, name)
    elif suffix in (".txt", ".text", ""):
        grid = _text_grid(data, name)
    elif suffix in (".xls", ".doc", ".wps", ".et"):
        raise CatalogueError(f"{name}：不支持旧版 Office 格式（{suffix}）。请在 Office/WPS 中“另存为” .xlsx 或 .docx 后再检查。")
    else:
        raise CatalogueError(f"{name}：无法识别的文件类型“{suffix}”。目录应为 .xlsx（推荐，用 tracker catalog template 生成）、.docx 或 .txt。")
    _check_header(grid, name)
    return Catalogue(name, grid.file_kind, _rows(grid))


def _check_header(grid: Grid, name: str) -> None:
    for row in grid.header:
        if len(row) != WIDTH:
            raise CatalogueError(
                f"{name}：表头有 {len(row)} 列，附件2格式应为 {WIDTH} 列（序号、一级事项、二级事项……县级、乡级）。"
                "请使用附件2格式模板（tracker catalog template --out 目录模板.xlsx）填写。"
            )
    top, sub = (list(map(normalize, row)) for row in grid.header)
    problems = []
    for column, wanted in HEADER_TOP.items():
        if top[column] not in _accepted(wanted):
            problems.append(f"第 {column + 1} 列表头应为“{wanted}”，实际为“{grid.header[0][column] or '（空）'}”")
    for column, wanted in HEADER_SUB.items():
        if sub[column] not in _accepted(wanted):
            problems.append(f"第二行表头第 {column + 1} 列应为“{wanted}”，实际为“{grid.header[1][column] or '（空）'}”")
    for column in _HEADER_SPANS:
        if top[column]:
            problems.append(f"第 {column + 1} 列的第一行表头应与左边合并（为空），实际为“{grid.header[0][column]}”")
    if problems:
        raise CatalogueError(
            f"{name}：表头与附件2格式不符，未读取任何数据行：" + "；".join(problems)
            + "。请使用附件2格式模板（tracker catalog template --out 目录模板.xlsx）填写，不要增删或改名列。"
        )


def _accepted(wanted: str) -> set[str]:
    return {normalize(name) for name in (wanted, *_ALTERNATIVES.get(wanted, ()))}


def _mark(text: str) -> bool | None:
    """A √ column: blank is False, a tick is True, anything else is None (unreadable)."""
    body = normalize(text)
    if not body:
        return False
    if all(char in TICKS for char in body):
        return True
    return None


def parse_channels(text: str) -> tuple[list[str], str | None, list[str]]:
    """The ticked channels, the text of a ticked 其他 (None when 其他 is not ticked), and names that are not channels."""
    ticked: list[str] = []
    unknown: list[str] = []
    other: str | None = None
    known = {normalize(c): c for c in CHANNELS}
    for box, label in _BOX.findall(text):
        name = normalize(label)
        if name.startswith(OTHER):
            if box in CHECKED:
                other = name[len(OTHER):].lstrip(":：（(").rstrip("）)").strip("_＿")
                ticked.append(OTHER)
            continue
        channel = known.get(name)
        if channel is None:
            unknown.append(label.strip())
        elif box in CHECKED:
            ticked.append(channel)
    return ticked, other, unknown


def _rows(grid: Grid) -> list[CatalogueRow]:
    rows: list[CatalogueRow] = []
    level1 = ""
    for index, (cells, place, merged) in enumerate(zip(grid.rows, grid.places, grid.merged)):
        if not any(normalize(c) for i, c in enumerate(cells) if i not in (0, 7)) and not parse_channels(cells[7])[0]:
            continue  # an empty row (the template's rows carry the channel list and a number)
        bad: list[tuple[str, str]] = []
        marks: dict[int, bool] = {}
        for column, label in MARK_COLUMNS.items():
            value = _mark(cells[column])
            if value is None:
                bad.append((label, cells[column].strip()))
            marks[column] = bool(value)
        group_text = cells[9].strip()
        group_name = "".join(ch for ch in group_text if ch not in TICKS).strip(" ：:（）()")
        own_level1 = cells[1].strip()
        inherited = not own_level1 and not merged[1] and bool(level1)
        missing = not own_level1 and not level1
        if own_level1:
            level1 = own_level1
        channels, other, unknown = parse_channels(cells[7])
        rows.append(CatalogueRow(
            place=place, number=cells[0].strip(), level1=own_level1 or level1, level2=cells[2].strip(),
            content=cells[3].strip(), basis=cells[4].strip(), deadline_text=cells[5].strip(), publisher_text=cells[6].strip(),
            channel_text=cells[7].strip(), channels=channels, other_channel=other, unknown_channels=unknown,
            audience_public=marks[8], audience_group_ticked=bool(group_text), audience_group=group_name,
            active=marks[10], on_request=marks[11], county_level=marks[12], township_level=marks[13],
            level1_inherited=inherited, level1_missing=missing, bad_marks=bad,
            notes=[grid.notes[index]] if index in grid.notes else [],
        ))
    return rows


# --- the three formats -------------------------------------------------------------------------


def _is_header_start(cells: list[str]) -> bool:
    found = {normalize(c) for c in cells}
    return "序号" in found and "公开渠道和载体" in found


def _split(grid_rows: list[tuple[list[str], str, list[bool]]], name: str, kind: str) -> Grid:
    for index, (cells, _place, _merged) in enumerate(grid_rows):
        if _is_header_start(cells) and index + 1 < len(grid_rows):
            body = grid_rows[index + 2:]
            return Grid(header=[cells, grid_rows[index + 1][0]], rows=[r[0] for r in body], places=[r[1] for r in body],
                        merged=[r[2] for r in body], file_kind=kind)
    raise CatalogueError(
        f"{name}：没有找到附件2格式的表格（表头应有“序号”和“公开渠道和载体”）。请确认文件是政务公开事项标准目录。"
    )


def _require_width(cells: list[str], name: str, place: str) -> None:
    if len(cells) != WIDTH:
        raise CatalogueError(f"{name} {place}：这一行有 {len(cells)} 列，附件2格式应为 {WIDTH} 列。请检查是否增删了列或拆分了单元格。")


def _xlsx_grid(data: bytes, name: str) -> Grid:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged or mislabelled file
        raise CatalogueError(f"{name}：无法作为 .xlsx 打开（{type(exc).__name__}）。请确认文件没有损坏，并用 Excel/WPS 另存为 .xlsx。") from exc
    for sheet in book.worksheets:
        origin: dict[tuple[int, int], tuple[int, int]] = {}
        for span in sheet.merged_cells.ranges:
            for row in range(span.min_row, span.max_row + 1):
                for col in range(span.min_col, span.max_col + 1):
                    if (row, col) != (span.min_row, span.min_col):
                        origin[(row, col)] = (span.min_row, span.min_col)
        found: list[tuple[list[str], str, list[bool]]] = []
        for row in sheet.iter_rows(min_row=1, max_row=sheet.max_row, max_col=WIDTH):
            cells, merged = [], []
            for cell in row:
                source = origin.get((cell.row, cell.column))
                same_row = source is not None and source[0] == cell.row
                value = sheet.cell(*source).value if source and not same_row else cell.value
                cells.append(_cell_text(value))
                merged.append(source is not None)
            while len(cells) < WIDTH:
                cells.append("")
                merged.append(False)
            found.append((cells, f"工作表“{sheet.title}”第 {row[0].row} 行", merged))
        if any(_is_header_start(cells) for cells, _, _ in found):
            return _split(found, name, "xlsx")
    return _split([], name, "xlsx")


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _docx_grid(data: bytes, name: str) -> Grid:
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises several kinds for a damaged or mislabelled file
        raise CatalogueError(f"{name}：无法作为 .docx 打开（{type(exc).__name__}）。请确认文件没有损坏，并用 Word/WPS 另存为 .docx。") from exc
    for table in document.tables:
        grid = [list(row.cells) for row in table.rows]  # keep the proxies alive: ``_tc`` identity is compared below
        found: list[tuple[list[str], str, list[bool]]] = []
        for r, row in enumerate(grid):
            cells, merged = [], []
            for c, cell in enumerate(row):
                left = c > 0 and cell._tc is row[c - 1]._tc
                above = r > 0 and c < len(grid[r - 1]) and cell._tc is grid[r - 1][c]._tc
                cells.append("" if left else cell.text)
                merged.append(left or above)
            found.append((cells, f"表格第 {r + 1} 行", merged))
        if any(_is_header_start(cells) for cells, _, _ in found):
            table_grid = _split(found, name, "docx")
            for cells, place in zip(table_grid.rows, table_grid.places):
                _require_width(cells, name, place)
            return table_grid
    return _split([], name, "docx")


def _text_grid(data: bytes, name: str) -> Grid:
    """The text dump: find the table whose header names 公开渠道和载体, then regroup its cells 14 to a row."""
    text, _encoding = decode(data, name)
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("\t") and normalize(line).startswith("公开渠道")), None)
    if start is None:
        return _split([], name, "txt")
    while start > 0 and normalize(lines[start]) != "序号":
        start -= 1
    table = parse_table("\n".join(lines[start:]), name)
    offset = start
    top = [c.text for c in table.header.cells]
    if len(top) == len(HEADER_TOP):  # the grouped headers span two columns: put a blank after each
        expanded: list[str] = []
        for index, cell in enumerate(top):
            expanded.append(cell)
            if index in (1, 7, 8, 9):
                expanded.append("")
        top = expanded
    rows: list[tuple[list[str], str, list[bool]]] = [(top, f"第 {table.header.line + offset} 行", [False] * len(top))]
    pending: list[Cell] = []
    for row in table.rows:
        pending.extend(row.cells)
        if len(pending) < WIDTH:
            continue  # an empty paragraph inside a cell ended the row early
        if len(pending) > WIDTH:
            place = f"第 {pending[0].line + offset} 行"
            raise CatalogueError(f"{name} {place}：这一行有 {len(pending)} 个单元格，附件2格式应为 {WIDTH} 个。请检查表格是否完整。")
        rows.append(([c.text for c in pending], f"第 {pending[0].line + offset} 行", [False] * WIDTH))
        pending = []
    padded = 0
    if pending and len(pending) >= WIDTH - len(MARK_COLUMNS) - 1:
        # the dump ends inside the last row's √ columns: a trailing empty cell leaves no TAB at the end of a file
        padded = WIDTH - len(pending)
        rows.append(([c.text for c in pending] + [""] * padded, f"第 {pending[0].line + offset} 行", [False] * WIDTH))
    elif pending:
        raise CatalogueError(f"{name} 第 {pending[0].line + offset} 行：最后一行只有 {len(pending)} 个单元格，附件2格式应为 {WIDTH} 个。")
    grid = _split(rows, name, "txt")
    if padded:  # said on the row, so the clerk sees the rule that was applied
        grid.notes[len(grid.rows) - 1] = f"文件在本行结束，末尾 {padded} 个单元格缺失，按空白读取"
    return grid
