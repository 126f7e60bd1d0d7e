"""Building real Word and Excel files of a plan for the import tests, from the layout of the text dump.

The dump is what Word's "save as text" writes for the seed's Word table, so the table can be laid
out again: 8 grid columns (具体事项 has a sub-column for item (1)'s domains); a row with 7 cells has
its item cell spanning both; a blank cell is the continuation of a vertically merged cell.
"""

from __future__ import annotations

import csv
from pathlib import Path

import docx
import openpyxl
from docx.enum.text import WD_BREAK

from tests.conftest import SEED_ANNEX1, SHARED_SEED
from tracker.tablefile import parse_table

GRID = 8
ITEM_COLUMN = 2


def seed_rows() -> tuple[list[str], list[list[str]]]:
    """The seed's preamble and its rows (header first) as cell texts."""
    table = parse_table(SEED_ANNEX1.read_text(encoding="utf-8"), "seed")
    return table.preamble, [[c.text for c in row.cells] for row in [table.header, *table.rows]]


def annex2_rows() -> list[list[str]]:
    text = SHARED_SEED.read_text(encoding="utf-8")
    table = parse_table(text[text.index("附件2"):], "seed")
    return [[c.text for c in row.cells] for row in [table.header, *table.rows]]


def grid_layout(rows: list[list[str]]) -> list[list[tuple[int, int, str]]]:
    """Each row as (first grid column, last grid column, text): a 7-cell row's item cell spans two columns."""
    laid = []
    for cells in rows:
        if len(cells) == GRID:
            laid.append([(i, i, text) for i, text in enumerate(cells)])
        else:
            spans = []
            for i, text in enumerate(cells):
                start = i if i <= ITEM_COLUMN else i + 1
                spans.append((start, start + 1 if i == ITEM_COLUMN else start, text))
            laid.append(spans)
    return laid


def vertical_runs(laid: list[list[tuple[int, int, str]]]) -> list[tuple[int, int, int, int]]:
    """(first row, last row, first column, last column) of each vertical merge: a filled cell and the blank
    cells of the same span below it. The header row starts none: a blank cell right under it is just empty."""
    runs = []
    for r, row in enumerate(laid):
        for first, last, text in row:
            if not text or r == 0:
                continue
            end = r
            while end + 1 < len(laid) and (first, last, "") in laid[end + 1]:
                end += 1
            if end > r:
                runs.append((r, end, first, last))
    return runs


def _write_cell(cell, text: str) -> None:
    lines = text.split("\n")
    cell.paragraphs[0].text = lines[0]
    for line in lines[1:]:
        cell.add_paragraph(line)


def _add_table(document, laid: list[list[tuple[int, int, str]]]) -> None:
    table = document.add_table(rows=len(laid), cols=GRID)
    table.style = "Table Grid"
    for r, row in enumerate(laid):
        for first, _last, text in row:
            if text:
                _write_cell(table.cell(r, first), text)
    for r, row in enumerate(laid):  # horizontal spans first
        for first, last, _text in row:
            if last > first:
                table.cell(r, first).merge(table.cell(r, last))
    for top, bottom, first, last in vertical_runs(laid):
        table.cell(top, first).merge(table.cell(bottom, last))


def build_docx(
    path: Path, *, with_annex2: bool = True, extra_task_table: bool = False, split_before: int | None = None,
) -> Path:
    """The notice's annexes as a Word document: Annex 1 with real merged cells, then Annex 2 on a new page."""
    preamble, rows = seed_rows()
    document = docx.Document()
    document.add_paragraph("武定县人民政府办公室关于印发基层政务公开标准化规范化工作实施方案的通知")
    document.add_paragraph("各乡镇人民政府，县直各部门：现将有关事项通知如下。")
    for line in preamble:
        document.add_paragraph(line)
    laid = grid_layout(rows)
    if split_before is None:
        _add_table(document, laid)
    else:  # a table split at a page break, its header typed again on the next page
        _add_table(document, laid[:split_before])
        document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
        _add_table(document, [laid[0], *laid[split_before:]])
    document.add_paragraph("")  # Word always ends a document with a paragraph after its last table
    if extra_task_table:
        document.add_paragraph("附件3：").runs[0].add_break(WD_BREAK.PAGE)
        other = document.add_table(rows=2, cols=4)
        for c, text in enumerate(("序号", "工作任务", "责任单位", "完成时限")):
            other.cell(0, c).text = text
        for c, text in enumerate(("1", "开展培训", "县政府办公室", "2020年12月底")):
            other.cell(1, c).text = text
    if with_annex2:
        document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
        document.add_paragraph("附件2：")
        annex2 = annex2_rows()
        second = document.add_table(rows=len(annex2), cols=max(len(r) for r in annex2))
        for r, cells in enumerate(annex2):
            for c, text in enumerate(cells):
                _write_cell(second.cell(r, c), text)
    document.save(path)
    return path


def seed_grid() -> list[list[tuple[int, int, str]]]:
    return grid_layout(seed_rows()[1])


def build_xlsx(path: Path, *, title_rows: int = 2) -> Path:
    """Annex 1 as a worksheet: title rows above the header, merged ranges as Word has them."""
    preamble, _rows = seed_rows()
    laid = seed_grid()
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "任务分工"
    for r, line in enumerate(preamble[:title_rows], start=1):
        sheet.cell(r, 1, line)
        sheet.merge_cells(start_row=r, start_column=1, end_row=r, end_column=GRID)
    offset = title_rows + 1
    for r, row in enumerate(laid):
        for first, last, text in row:
            if text:
                sheet.cell(r + offset, first + 1, int(text) if text.isdigit() else text)
            if last > first:
                sheet.merge_cells(start_row=r + offset, start_column=first + 1, end_row=r + offset, end_column=last + 1)
    for top, bottom, first, last in vertical_runs(laid):
        sheet.merge_cells(start_row=top + offset, start_column=first + 1, end_row=bottom + offset, end_column=last + 1)
    sheet.column_dimensions["L"].width = 20  # formatting far right of the table must not add columns
    notes = workbook.create_sheet("填表说明")
    notes["A1"] = "请按时填报。"
    workbook.save(path)
    return path


def build_csv(path: Path, encoding: str = "utf-8-sig") -> Path:
    """Annex 1 as Excel saves a sheet with merged cells to CSV: each value once, covered cells empty."""
    laid = seed_grid()
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        for row in laid:
            line = [""] * GRID
            for first, _last, text in row:
                line[first] = text
            writer.writerow(line)
    return path
