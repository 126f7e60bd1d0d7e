"""The weekly workbook's sheets: the 汇总 (figures and units, made from the report) and the 台账 (one row per
principal assignment, made from the ledger's blocks).

This module imports nothing but the workbook writer, so that the weekly job's workbook can be written in a process of
its own (``notifications.workbook_process``) that starts in about a tenth of a second: the 台账's rows only need
the ledger's blocks, the words' labels and the lights' cells, all of which that process is sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from notifications import xlsx

LEDGER_HEADERS = ["事项编号", "工作任务", "事项", "责任单位", "状态", "灯", "原定期限", "现期限", "完成日期", "逾期天数", "进度(%)", "备注", "佐证",
                  "计划"]
LEDGER_WIDTHS = (14, 24, 36, 22, 10, 6, 12, 12, 12, 10, 9, 30, 24, 14)
WRITE_ORDER = (1, 0)  # the 台账 is written first: its rows come while the report is built, the 汇总 needs it built

# (items, units, words, numbers, texts): a tracker.report.LedgerBlock, or the plain tuple another process is sent
Block = Sequence[Any]


def sheets(summary: Iterable[Sequence[object]], blocks: Iterable[Block], lights: Mapping[str, xlsx.Styled],
           labels: Mapping[str, str]) -> list[xlsx.Sheet]:
    """The workbook's two sheets, written in ``WRITE_ORDER``; ``summary`` may be an iterator that only has its rows
    once ``blocks`` has run out."""
    return [
        xlsx.Sheet("汇总", summary, widths=(28,)),
        xlsx.Sheet("台账", widths=LEDGER_WIDTHS, freeze_header=True, filter_columns=len(LEDGER_HEADERS),
                   xml_rows=lambda cells: ledger_rows(blocks, lights, labels, cells)),
    ]


def ledger_rows(blocks: Iterable[Block], lights: Mapping[str, xlsx.Styled], labels: Mapping[str, str],
                cells: xlsx.Cells) -> Iterator[str]:
    """The 台账's rows as XML: per assignment its item (with the occurrence), task, title, unit, status, light, dates,
    overdue days, progress, note, evidence and plan, each distinct value's cell made once and then looked up by the
    ledger's own numbers (item, unit, status, light, date ordinal), so that a province's 180k rows cost a few look-ups
    and one join each. Cells are asked for in column order, so that text is numbered in the shared strings as a
    row-by-row writer numbers it."""
    yield cells.row(xlsx.Styled(h, xlsx.HEADER) for h in LEDGER_HEADERS)
    items: list[tuple[str, str, str, str]] = []
    units: dict[int, str] = {}
    cell: Callable[[int, object], str] = cells.cell
    heads: dict[int, str] = {}  # item -> its cells A to C (no occurrence)
    plans: dict[str, str] = {}  # plan code -> its cell N
    by_unit: dict[int, str] = {}
    states: dict[int, str] = {}  # status and light -> cells E and F
    due_cells: dict[int, str] = {}  # by ordinal: cells G, H and I
    effective_cells: dict[int, str] = {}
    completed_cells: dict[int, str] = {}
    figures: dict[tuple[int, int], str] = {}  # overdue days, progress -> cells J and K
    day = dt.date.fromordinal
    row = -1
    for new_items, new_units, words, numbers, texts in blocks:
        items += new_items
        units.update(new_units)
        for item, unit, status, light, due, effective, completed, days, progress in zip(*[iter(numbers)] * 9):
            row += 1
            key, task, title, plan = items[item]
            occurrence, note, evidence = texts.get(row, ("", "", "")) if texts else ("", "", "")
            if occurrence:
                head = cell(0, key + f"（{occurrence}期）") + cell(1, task) + cell(2, title)
            elif (head := heads.get(item)) is None:  # type: ignore[assignment]
                head = heads[item] = cell(0, key) + cell(1, task) + cell(2, title)
            if (d := by_unit.get(unit)) is None:
                d = by_unit[unit] = cell(3, units[unit])
            if (ef := states.get(state := status << 16 | light)) is None:
                ef = states[state] = cell(4, labels.get(words[status], words[status])) + cell(5, lights[words[light]])
            if (g := due_cells.get(due)) is None:
                g = due_cells[due] = cell(6, day(due) if due else None)
            if (h := effective_cells.get(effective)) is None:
                h = effective_cells[effective] = cell(7, day(effective) if effective else None)
            if (i := completed_cells.get(completed)) is None:
                i = completed_cells[completed] = cell(8, day(completed) if completed else None)
            if (jk := figures.get(pair := (days, progress))) is None:
                jk = figures[pair] = cell(9, days) + cell(10, progress)
            notes = cell(11, note) + cell(12, evidence) if note or evidence else ""
            if (n := plans.get(plan)) is None:
                n = plans[plan] = cell(13, plan)
            yield f"{head}{d}{ef}{g}{h}{i}{jk}{notes}{n}"
