"""What a review of the weekly job's streaming found: latent faults that no report made today shows, each pinned so
that a later change cannot bring it back silently."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from notifications import xlsx
from tests.test_weekly_whole_job import _view
from tracker import report as report_module
from tracker.text import clean_text


def _read(rows: list[list[object]]) -> list[tuple[object, ...]]:
    target = io.BytesIO()
    xlsx.write_workbook([xlsx.Sheet("台账", rows)], target)
    return list(load_workbook(io.BytesIO(target.getvalue()))["台账"].iter_rows(values_only=True))


def test_a_styled_one_and_a_styled_true_in_one_column_stay_a_number_and_a_truth_value():
    style = xlsx.PERCENT
    values = [xlsx.Styled(1, style), xlsx.Styled(True, style), xlsx.Styled(0, style), xlsx.Styled(False, style)]
    read = [row[0] for row in _read([[v] for v in values])]
    assert read == [1, True, 0, False]
    assert [type(v) for v in read] == [int, bool, int, bool]


def test_a_released_ledger_refuses_to_be_written_instead_of_giving_an_empty_sheet():
    ledger = report_module.Ledger()
    item = ledger.add_item(_view())
    ledger.add(item, report_module.AssignmentView(1, "（1）", "甲单位", 1, "principal", "in_progress", 40, None, None, None,
                                                  False, "in_progress", "green", 0, "", "", "", "p1"))
    assert len(list(ledger)) == 1
    ledger.release()
    with pytest.raises(RuntimeError, match="released"):
        list(ledger)


def test_the_two_noncharacters_xml_forbids_are_cleaned_and_the_workbook_opens():
    note = "进度\ufffe说明\uffff完毕"
    assert clean_text(note) == "进度说明完毕"
    assert _read([[clean_text(note), 1]]) == [("进度说明完毕", 1)]
