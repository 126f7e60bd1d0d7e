"""Bringing tables exported from online office suites into the shape of a Word table, before reading them.

Whatever the file format (text dump, .docx, .xlsx, .csv), a reader gives a ``Table``; these
functions only look at its rows, so they apply to all formats alike:

- rows above the header: an empty first row, or a title merged across fewer columns than the
  table ("2026年度重点工作任务分解表"), belong to the title, not to the table;
- the task cells (序号, 工作任务) repeated on every measure row instead of merged: a row that
  repeats the 序号 and task text of the row above is another item of the same task, so the
  repetition is blanked and the row reads exactly like a merged cell.
"""

from __future__ import annotations

from collections.abc import Callable

from tracker.errors import PlanImportError
from tracker.names import normalize
from tracker.tablefile import Cell, Row, Table

HEADER_SEARCH_ROWS = 6


def _filled(row: Row) -> list[str]:
    return [c.text.strip() for c in row.cells if c.text.strip()]


def drop_title_rows(table: Table, column_of: Callable[[str], str | None]) -> Table:
    """The table with its header found among the first rows: the first row naming two known columns.

    Rows above it go to the preamble (their text is the title); empty rows are dropped anywhere.
    When no row looks like a header, the table is returned as it was, so that the error names
    the header the file really has.
    """
    rows = [row for row in [table.header, *table.rows] if _filled(row)]
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        if sum(1 for c in row.cells if column_of(c.text)) >= 2:
            titles = [text for above in rows[:index] for text in _filled(above)]
            return Table(header=row, rows=rows[index + 1:], preamble=[*table.preamble, *titles], encoding=table.encoding)
    return table


def unrepeat_tasks(rows: list[Row], columns: list[str | None], path: str) -> list[Row]:
    """Blank the 序号 and 工作任务 cells a row repeats from the row above, so that they read as merged.

    Two rows with the same 序号 but different task texts are refused: which task the second row
    belongs to cannot be told, and reading it either way would misfile items.
    """
    number_at = columns.index("number") if "number" in columns else None
    task_at = columns.index("task") if "task" in columns else None
    if number_at is None and task_at is None:
        return rows
    keys = [i for i in (number_at, task_at) if i is not None]
    previous: dict[int, str] = {}
    result: list[Row] = []
    for row in rows:
        current = {i: normalize(row.cells[i].text) for i in keys if i < len(row.cells)}
        if len(current) == len(keys) and all(current.values()) and current == previous:
            cells = [Cell("", c.line) if i in keys else c for i, c in enumerate(row.cells)]
            result.append(Row(cells))
            continue
        if (number_at is not None and task_at is not None and current.get(number_at)
                and current.get(number_at) == previous.get(number_at) and current.get(task_at)
                and current.get(task_at) != previous.get(task_at)):
            raise PlanImportError(
                f"序号“{row.cells[number_at].text}”与上一行相同，但工作任务不同（“{row.cells[task_at].text[:20]}”）。"
                "同一项任务的各行应写相同的任务内容；不同的任务请用不同的序号。",
                path=path, line=row.line,
            )
        if all(current.values()):
            previous = current
        result.append(row)
    return result
