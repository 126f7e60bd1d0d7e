"""Status sheets: an Excel workbook a unit fills in, and applying it back.

The sheet lists one unit's open assignments. Key columns (item, task, deadline, current state) are
locked; the unit edits only state (a dropdown of the Chinese states), progress (0–100, checked by
Excel), completion date, evidence and note. A hidden column holds each assignment's id, and a
very hidden sheet holds the sheet's identity (database, unit, the rows and what they showed) with
a checksum over it, so that a sheet from another unit or another database, or one edited outside
its editable columns, is refused rather than misread. Applying compares each row with what was
exported, not with the database today, so a change the office made meanwhile is not undone by a
unit that left the cell alone. Changes go through ``tracker.status.update_status``: the same
refusals and journal as ``tracker status``, with the file name as the journal's source. One bad
row refuses the whole sheet, and every bad cell is listed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.datavalidation import DataValidation
from sqlmodel import Session

from tracker.directory import Directory
from tracker.errors import SheetError, StatusError
from tracker.models import STATES, Assignment, Item, Plan
from tracker.queries import DERIVED, AssignmentView, ItemView
from tracker.sheetfile import cell_text
from tracker.status import ChangeRecord, StatusChange, update_status

SHEET = "进度填报"
META_SHEET = "_tracker"
FORMAT = "county-tracker status sheet 1"
HEADER_ROW = 3
KEY_HEADERS = ("编号", "事项编号", "工作任务", "具体事项", "完成期限", "当前状态", "当前进度（%）")
EDIT_HEADERS = ("填报状态", "填报进度（%）", "完成日期", "佐证材料", "说明")
EDIT_COLUMNS = "HIJKL"
KEY_COLUMNS = "BCDEFG"
STATE_BY_LABEL = {label: code for code, label in STATES.items()}
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")


@dataclass
class SheetRow:
    """One assignment as the sheet shows it."""

    assignment_id: int
    keys: list[str]  # columns B–G as text
    state: str
    progress: int
    completed_on: str
    evidence: str
    note: str


def _key_texts(view: ItemView, a: AssignmentView) -> list[str]:
    due = a.effective_due.isoformat() if a.effective_due else (view.waiting_for or view.item.deadline_text)
    if a.extended and a.due:
        due += f"（已延期，原定 {a.due.isoformat()}）"
    return [view.item.key, view.task_title, view.item.title, due, DERIVED.get(a.status, a.status), str(a.progress)]


def _checksum(meta: dict[str, Any]) -> str:
    body = json.dumps({k: v for k, v in meta.items() if k != "checksum"}, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def build_sheet(views: list[ItemView], unit: str, identity: str, exported_at: dt.datetime) -> Workbook:
    """The workbook for one unit's open assignments in ``views``."""
    rows = [SheetRow(a.id, _key_texts(view, a), a.state, a.progress,
                     a.completed_on.isoformat() if a.completed_on else "", a.evidence, a.note)
            for view in views for a in view.principals]
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = SHEET
    sheet["A1"] = f"{unit} 工作任务进度填报表"
    sheet["A1"].font = Font(bold=True, size=14)
    sheet["A2"] = (f"导出时间 {exported_at.isoformat(timespec='seconds')}。只填写右侧白底的“填报”各列；状态从下拉列表选择，"
                   "设为“已完成”请填完成日期，设为“不适用”请在“说明”中写明原因。请勿增删行或修改灰底的列。")
    sheet["A2"].alignment = Alignment(wrap_text=True, vertical="top")
    sheet.merge_cells("A1:L1")
    sheet.merge_cells("A2:L2")
    sheet.row_dimensions[2].height = 36
    for column, title in zip("ABCDEFGHIJKL", (*KEY_HEADERS, *EDIT_HEADERS)):
        cell = sheet[f"{column}{HEADER_ROW}"]
        cell.value, cell.font = title, Font(bold=True)
    grey = PatternFill("solid", fgColor="EEEEEE")
    for number, row in enumerate(rows, start=HEADER_ROW + 1):
        sheet.cell(number, 1, row.assignment_id)
        for column, text in zip(KEY_COLUMNS, row.keys):
            cell = sheet[f"{column}{number}"]
            cell.value = int(text) if column == "G" else text
            cell.fill = grey
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        values = (STATES[row.state], row.progress, dt.date.fromisoformat(row.completed_on) if row.completed_on else None,
                  row.evidence, row.note)
        for column, value in zip(EDIT_COLUMNS, values):
            cell = sheet[f"{column}{number}"]
            cell.value = value
            cell.protection = Protection(locked=False)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        sheet[f"J{number}"].number_format = "yyyy-mm-dd"
    last = HEADER_ROW + max(len(rows), 1)
    _validations(sheet, last)
    for column, width in zip("ABCDEFGHIJKL", (8, 12, 22, 40, 16, 10, 10, 12, 12, 14, 24, 24)):
        sheet.column_dimensions[column].width = width
    sheet.column_dimensions["A"].hidden = True
    sheet.freeze_panes = f"B{HEADER_ROW + 1}"
    sheet.protection.sheet = True
    sheet.protection.formatColumns = False  # widening a column or a row is no edit
    sheet.protection.formatRows = False
    meta_sheet = workbook.create_sheet(META_SHEET)
    meta_sheet.sheet_state = "veryHidden"
    meta: dict[str, Any] = {
        "format": FORMAT, "database": identity, "unit": unit, "exported_at": exported_at.isoformat(),
        "rows": [[HEADER_ROW + i, r.assignment_id, r.keys, [r.state, r.progress, r.completed_on, r.evidence, r.note]]
                 for i, r in enumerate(rows, start=1)],
    }
    meta["checksum"] = _checksum(meta)
    text = json.dumps(meta, ensure_ascii=False)
    for index in range(0, max(len(text), 1), 30_000):  # a cell holds at most 32,767 characters
        meta_sheet.cell(index // 30_000 + 1, 1, text[index:index + 30_000])
    meta_sheet.protection.sheet = True
    return workbook


def _validations(sheet: Any, last: int) -> None:
    states = DataValidation(type="list", formula1='"' + ",".join(STATES.values()) + '"', allow_blank=False,
                            showErrorMessage=True, errorTitle="状态无效", error="请从下拉列表中选择：" + "、".join(STATES.values()))
    progress = DataValidation(type="whole", operator="between", formula1="0", formula2="100", allow_blank=True,
                              showErrorMessage=True, errorTitle="进度无效", error="进度请填 0 到 100 之间的整数。")
    done_on = DataValidation(type="date", operator="greaterThan", formula1="36526", allow_blank=True,
                             showErrorMessage=True, errorTitle="日期无效", error="请填写日期，例如 2020-09-20。")
    for validation, column in ((states, "H"), (progress, "I"), (done_on, "J")):
        validation.add(f"{column}{HEADER_ROW + 1}:{column}{last}")
        sheet.add_data_validation(validation)


@dataclass
class SheetReport:
    unit: str
    records: list[tuple[int, ChangeRecord]] = field(default_factory=list)  # (sheet row, change)
    unchanged_rows: int = 0


def _open(path: Path) -> Workbook:
    try:
        return load_workbook(path, data_only=True)
    except FileNotFoundError as exc:
        raise SheetError(f"{path}：找不到这个文件。请检查路径和文件名。") from exc
    except (InvalidFileException, KeyError, ValueError, OSError) as exc:
        raise SheetError(f"{path}：无法打开这个 Excel 文件，文件可能已损坏或不是 .xlsx。") from exc
    except Exception as exc:  # zipfile.BadZipFile and XML errors: a damaged file
        raise SheetError(f"{path}：无法打开这个 Excel 文件，文件已损坏。") from exc


def read_meta(workbook: Workbook, path: Path) -> dict[str, Any]:
    """The identity written at export, checked against its checksum."""
    if META_SHEET not in workbook.sheetnames or SHEET not in workbook.sheetnames:
        raise SheetError(f"{path}：这不是用 tracker sheet export 导出的进度填报表（缺少标识）。请用导出的表格填报。")
    meta_sheet = workbook[META_SHEET]
    text = "".join(str(row[0]) for row in meta_sheet.iter_rows(values_only=True) if row and row[0] is not None)
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SheetError(f"{path}：进度表的标识已损坏，无法确认它来自哪个单位。请重新导出后填报。") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("checksum") != _checksum(meta):
        raise SheetError(f"{path}：进度表的标识被改动过（校验和不符），无法确认它来自哪个单位。请重新导出后填报。")
    return meta


def _parse_progress(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int | float):
        number = float(value)
    else:
        number = float(str(value).strip().rstrip("%％"))
    if not number.is_integer() or not 0 <= number <= 100:
        raise ValueError
    return int(number)


def _parse_date(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    match = _DATE.match(str(value).strip())
    if not match:
        raise ValueError
    return dt.date(*map(int, match.groups()))


def apply_sheet(
    session: Session, directory: Directory, path: Path, identity: str, *, by: str, today: dt.date, now: dt.datetime,
) -> SheetReport:
    """Check every row of the sheet and apply the changed ones in ``session``; raise SheetError listing every bad cell,
    which must roll the session back (``write_session`` does): nothing of a refused sheet is kept."""
    workbook = _open(path)
    meta = read_meta(workbook, path)
    if meta["database"] != identity:
        raise SheetError(f"{path}：这张进度表是从另一个数据库导出的（{meta['unit']}，导出于 {meta['exported_at']}），"
                         "不能导入本系统。请用本系统 tracker sheet export 导出的表格填报。")
    sheet = workbook[SHEET]
    unit = meta["unit"]
    errors: list[str] = []
    exported = {row: (assignment_id, keys, before) for row, assignment_id, keys, before in meta["rows"]}
    last_row = max(exported, default=HEADER_ROW)
    for number in range(HEADER_ROW + 1, sheet.max_row + 1):
        if number > last_row and any(sheet.cell(number, c).value not in (None, "") for c in range(1, 13)):
            errors.append(f"第 {number} 行：不是导出的行（表格不能增加行）。请删除该行，新事项请联系县政府办。")
    report = SheetReport(unit=unit)
    planned: list[tuple[int, Assignment, StatusChange]] = []
    for number, (assignment_id, keys, before) in sorted(exported.items()):
        row_errors: list[str] = []
        if sheet.cell(number, 1).value != assignment_id:
            row_errors.append(f"A{number}：隐藏的编号列被改动（或行被移动、删除）。请重新导出后填报。")
        for column, text in zip(KEY_COLUMNS, keys):
            if cell_text(sheet[f"{column}{number}"].value) != text:
                title = KEY_HEADERS["ABCDEFG".index(column)]
                row_errors.append(f"{column}{number}：“{title}”列不可修改（原为“{text}”）。只能填写“填报”各列。")
        assignment = session.get(Assignment, assignment_id)
        item = session.get(Item, assignment.item_id) if assignment else None
        if assignment is None or item is None or assignment.retired or directory.units[assignment.unit_id].name != unit:
            row_errors.append(f"第 {number} 行：事项 {keys[0]} 已不在本单位的任务中（计划已重新导入）。请重新导出后填报。")
        if row_errors:
            errors += row_errors
            continue
        change, problems = _row_change(sheet, number, before, by=by, source=path.name)
        errors += problems
        if change is None:
            report.unchanged_rows += 1 if not problems else 0
            continue
        planned.append((number, assignment, change))
    for number, assignment, change in planned:  # also when some rows are bad, so that every refusal is listed
        item = session.get(Item, assignment.item_id)
        try:
            owner = session.get(Plan, item.plan_id)  # type: ignore[union-attr]
            ref = f"{owner.code}:{item.key}" if owner else item.key  # type: ignore[union-attr]
            records = update_status(session, directory, ref, [unit], change, today=today, now=now)
        except StatusError as exc:
            errors.append(f"第 {number} 行（事项 {item.key}）：{exc}")  # type: ignore[union-attr]
            continue
        report.records += [(number, r) for r in records]
    if errors:  # raised inside the caller's write transaction, which rolls back the rows applied above
        listing = "\n".join(f"  {e}" for e in errors)
        raise SheetError(f"{path}：有 {len(errors)} 处错误，整张表没有导入（数据库未做任何改动）：\n{listing}")
    return report


def _row_change(sheet: Any, number: int, before: list[Any], *, by: str, source: str) -> tuple[StatusChange | None, list[str]]:
    """The change a row asks for, relative to what was exported; None when the unit changed nothing."""
    old_state, old_progress, old_done, old_evidence, old_note = before
    problems: list[str] = []
    label = cell_text(sheet[f"H{number}"].value)
    state = STATE_BY_LABEL.get(label) if label else old_state
    if state is None:
        problems.append(f"H{number}：状态“{label}”不是可选值。请从下拉列表选择：{'、'.join(STATES.values())}。")
    try:
        progress = _parse_progress(sheet[f"I{number}"].value)
    except ValueError:
        problems.append(f"I{number}：进度“{cell_text(sheet[f'I{number}'].value)}”无效，应为 0 到 100 之间的整数。")
        progress = None
    try:
        done_on = _parse_date(sheet[f"J{number}"].value)
    except ValueError:
        problems.append(f"J{number}：完成日期“{cell_text(sheet[f'J{number}'].value)}”无效，请写成 2020-09-20。")
        done_on = None
    evidence = cell_text(sheet[f"K{number}"].value)
    note = cell_text(sheet[f"L{number}"].value)
    if problems:
        return None, problems
    new_done = done_on.isoformat() if done_on else ""
    if new_done != old_done and state != "done":
        problems.append(f"J{number}：只有状态为“已完成”时才填写完成日期。")
    if state == "na" and not note:
        problems.append(f"L{number}：设为“不适用”时必须在“说明”中写明原因。")
    if state in ("in_progress", "not_started") and progress == 100:
        problems.append(f"I{number}：进度 100% 请把“填报状态”设为“已完成”并填写完成日期。")
    if problems:
        return None, problems
    changed_state = state if state != old_state else None
    changed_progress = progress if progress is not None and progress != old_progress and state != "done" else None
    if changed_state is None and changed_progress is None and new_done == old_done and evidence == old_evidence and note == old_note:
        return None, []
    return StatusChange(
        state=changed_state, progress=changed_progress, note=note if note != old_note else "",
        on=done_on if state == "done" else None, by=by, evidence=evidence if evidence != old_evidence else "",
        force=False, source=source,
    ), []


def sheet_file_name(unit: str) -> str:
    """A file name for a unit's sheet; unit names are Chinese words without path separators."""
    return re.sub(r'[\\/:*?"<>|\s]+', "_", unit) + "进度表.xlsx"

