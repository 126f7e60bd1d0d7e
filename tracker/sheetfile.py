"""Reading the sheets of an Excel workbook (.xlsx) or a CSV file as rows of cells.

Merged ranges are read as Word's merged cells are: one cell per range (its top-left value), and a
row below the top of a range gets an empty cell there, which the importer reads as "same as the
cell above". Columns that are empty on the whole sheet (formatting often reaches far to the right)
are dropped. A date typed as an Excel date becomes "2020年9月30日", which the deadline parser reads
as a fixed deadline. A cell's line is its Excel row number.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from tracker.errors import PlanImportError
from tracker.tablechoice import FoundTable
from tracker.tablefile import Cell, Row, decode


def cell_text(value: Any) -> str:
    """A cell value as the text a person sees, dates in the form the deadline parser reads."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime | dt.date):
        return f"{value.year}年{value.month}月{value.day}日"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_workbook_tables(data: bytes, path: str) -> list[FoundTable]:
    """One table per visible worksheet, in workbook order."""
    try:
        workbook = load_workbook(io.BytesIO(data), data_only=True)
    except (InvalidFileException, KeyError, ValueError, OSError) as exc:
        raise PlanImportError(
            f"无法打开这个 Excel 文件（{type(exc).__name__}）：文件可能已损坏或不完整。请在 Excel/WPS 中打开并重新保存为 .xlsx 后再导入。",
            path=path,
        ) from exc
    except Exception as exc:  # zipfile.BadZipFile, XML errors: a damaged package
        raise PlanImportError(
            "无法打开这个 Excel 文件：文件已损坏。请在 Excel/WPS 中打开并重新保存为 .xlsx 后再导入。", path=path
        ) from exc
    found = []
    for number, sheet in enumerate((s for s in workbook.worksheets if s.sheet_state == "visible"), start=1):
        found.append(FoundTable(f"第 {number} 个工作表“{sheet.title}”", _sheet_rows(sheet)))
    return found


def _sheet_rows(sheet: Any) -> list[Row]:
    anchors: dict[tuple[int, int], tuple[int, int]] = {}  # (row, column) inside a range -> its top-left
    for merged in sheet.merged_cells.ranges:
        for row in range(merged.min_row, merged.max_row + 1):
            for column in range(merged.min_col, merged.max_col + 1):
                anchors[(row, column)] = (merged.min_row, merged.min_col)
    grid = [[cell_text(value) for value in values] for values in sheet.iter_rows(values_only=True)]
    used = sorted({c for r, line in enumerate(grid, 1) for c, text in enumerate(line, 1) if text}
                  | {c for (_r, c) in anchors})
    rows = []
    for number, line in enumerate(grid, start=1):
        cells = []
        for column in used:
            top, left = anchors.get((number, column), (number, column))
            if column != left:
                continue  # spanned by the cell to its left
            text = line[column - 1] if column <= len(line) and top == number else ""
            cells.append(Cell(text, number))
        if cells:
            rows.append(Row(cells))
    return rows


def read_csv_tables(data: bytes, path: str) -> list[FoundTable]:
    """A CSV file is one table; Excel writes a merged cell's value once and leaves the cells it covered empty."""
    text, _encoding = decode(data, path)
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    rows = []
    for number, values in enumerate(csv.reader(io.StringIO(text), dialect), start=1):
        if values:
            rows.append(Row([Cell(v.strip(), number) for v in values]))
    width = max((max((i for i, c in enumerate(r.cells, 1) if c.text), default=0) for r in rows), default=0)
    rows = [Row(r.cells[:width]) for r in rows if r.cells[:width]]
    return [FoundTable("第 1 个表格", rows, spans_unmarked=True)]
