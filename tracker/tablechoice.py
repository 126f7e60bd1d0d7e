"""Finding the task table among the tables of a Word document or the sheets of a workbook.

A notice carries several tables (the task division, a catalogue template, a contact list), and a
workbook several sheets. A table is a candidate when one of its first rows names the columns the
importer needs (the same rule the importer applies to the header of a text dump). One candidate is
taken; none is an error that lists what was found; several are refused until the operator picks
one with ``--table N``, because guessing wrong would import the wrong plan silently.

A Word table split in two at a page break, with its header typed again on the next page and no text
between the parts, is one table: the second part is joined to the first, its rows numbered on
from the first part's (so "第 1 个表格 第 N 行" counts rows across both parts).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tracker.errors import PlanImportError
from tracker.tablefile import Cell, Row, Table

HEADER_SEARCH_ROWS = 10  # titles and notes above the header: a few rows in practice


@dataclass
class FoundTable:
    """One table of a document (or one sheet of a workbook), every row as read, before the header is known."""

    name: str  # how the operator finds it: "第 2 个表格" or "第 1 个工作表“任务清单”"
    rows: list[Row]
    preamble: list[str] = field(default_factory=list)
    spans_unmarked: bool = False  # CSV: a horizontally merged cell leaves an empty cell beside it
    follows_table: bool = False  # Word: no text between this table and the one before it
    number: int = 0  # its place in the file, 1-based, as --table counts; set by choose_table when 0


def _texts(row: Row) -> list[str]:
    return [c.text for c in row.cells]


def _header_index(table: FoundTable, looks_like_header: Callable[[Sequence[str]], bool]) -> int | None:
    for index, row in enumerate(table.rows[:HEADER_SEARCH_ROWS]):
        if looks_like_header(_texts(row)):
            return index
    return None


def _describe(table: FoundTable) -> str:
    first = next((row for row in table.rows if any(c.text for c in row.cells)), None)
    head = "、".join(t.replace("\n", "") for t in _texts(first) if t)[:60] if first else "（空表格）"
    return f"{table.name}（{len(table.rows)} 行，首行：{head}）"


def choose_table(
    found: Sequence[FoundTable], looks_like_header: Callable[[Sequence[str]], bool], wanted: int | None, path: str,
) -> tuple[Table, FoundTable]:
    """The task table: the one candidate, or the ``wanted``-th table (1-based, as listed to the operator)."""
    if not found:
        raise PlanImportError("文件中没有任何表格。任务分工表应是 Word 表格或 Excel 工作表。", path=path)
    count = len(found)
    found = _join_continued(found, looks_like_header)
    if wanted is not None:
        chosen = next((t for t in found if t.number == wanted), None)
        if chosen is None:
            raise PlanImportError(f"--table {wanted} 超出范围或是上一个表格的续表：文件中共有 {count} 个表格。", path=path)
        index = _header_index(chosen, looks_like_header)
        if index is None:
            raise PlanImportError(
                f"{_describe(chosen)}的前 {HEADER_SEARCH_ROWS} 行中找不到表头：需要完成时间列（完成时间/时限要求/完成时限）、"
                "责任单位列（主体责任单位/责任单位/牵头单位）和工作任务或具体事项列。", path=path,
            )
        return _as_table(chosen, index), chosen
    candidates = [(t, i) for t in found if (i := _header_index(t, looks_like_header)) is not None]
    if not candidates:
        listing = "；".join(_describe(t) for t in found)
        raise PlanImportError(
            f"文件中没有像任务分工表的表格。找到 {len(found)} 个表格：{listing}。任务分工表的表头应含完成时间列"
            "（完成时间/时限要求/完成时限）、责任单位列（主体责任单位/责任单位/牵头单位）和工作任务或具体事项列，"
            f"并位于表格的前 {HEADER_SEARCH_ROWS} 行内。", path=path,
        )
    if len(candidates) > 1:
        listing = "；".join(f"{t.number}. {_describe(t)}" for t, _i in candidates)
        raise PlanImportError(
            f"文件中有 {len(candidates)} 个表格像任务分工表：{listing}。"
            f"请用 --table 编号 指定要导入哪一个，例如 --table {candidates[0][0].number}。", path=path,
        )
    table, index = candidates[0]
    return _as_table(table, index), table


def _join_continued(found: Sequence[FoundTable], looks_like_header: Callable[[Sequence[str]], bool]) -> list[FoundTable]:
    joined: list[FoundTable] = []
    for number, table in enumerate(found, start=1):
        table.number = table.number or number
        previous = joined[-1] if joined else None
        if previous is not None and table.follows_table:
            here, there = _header_index(table, looks_like_header), _header_index(previous, looks_like_header)
            if here is not None and there is not None and _texts(table.rows[here]) == _texts(previous.rows[there]):
                offset = previous.rows[-1].line
                rows = [Row([Cell(c.text, c.line + offset) for c in row.cells]) for row in table.rows]
                previous = FoundTable(f"{previous.name}（含续表）", [*previous.rows, *rows], previous.preamble,
                                      previous.spans_unmarked, previous.follows_table, previous.number)
                joined[-1] = previous
                continue
        joined.append(table)
    return joined


def _as_table(found: FoundTable, index: int) -> Table:
    """Rows above the header are the title; blank rows and repeats of the header (a table continued on the next
    page with its header repeated) are not data."""
    header = found.rows[index]
    header_texts = _texts(header)
    rows = [row for row in found.rows[index + 1:] if any(row_texts := _texts(row)) and row_texts != header_texts]
    if found.spans_unmarked:
        header, rows = _collapse_spans(header, rows)
    title = ["".join(t for t in _texts(row) if t) for row in found.rows[:index]]
    return Table(header=header, rows=rows, preamble=[*found.preamble, *(t for t in title if t)])


def _collapse_spans(header: Row, rows: list[Row]) -> tuple[Row, list[Row]]:
    """An empty header cell right of a named one is the rest of a merged header cell (CSV keeps no merges): it is
    dropped from the header, and from each row where it is empty (the row's cell spans it too); where a row has
    text there, the row has one cell more than the header, as a sub-column under a merged header does in Word."""
    spare = [i for i, c in enumerate(header.cells) if i and not c.text and header.cells[i - 1].text]
    if not spare:
        return header, rows
    keep = Row([c for i, c in enumerate(header.cells) if i not in spare])
    return keep, [Row([c for i, c in enumerate(row.cells) if i not in spare or c.text]) for row in rows]
