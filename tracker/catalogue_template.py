"""The empty Annex 2 form as an .xlsx workbook: what the office sends to units, and what `catalog check` reads back.

The two header rows are merged as in the notice; every data row's channel cell holds the 13
channel choices as a list of □ boxes, one per line, so a unit ticks one by changing □ to ■ (or
typing "■其他：…"); the √ columns accept only √ (a drop-down, with an error on anything else), so
a unit cannot type a mark the check would have to refuse.
"""

from __future__ import annotations

import io

from tracker.catalogue_read import CHANNELS, HEADER_SUB, HEADER_TOP, MARK_COLUMNS, WIDTH

TITLE = "基层政务公开事项标准目录"
DATA_ROWS = 50
_FIRST = 4  # title, two header rows, then data
_WIDTHS = (6, 12, 18, 30, 30, 16, 16, 30, 8, 14, 8, 8, 8, 8)


def channel_choices() -> str:
    return "\n".join(f"□{name}" for name in CHANNELS)


def template_workbook(title: str = TITLE, rows: int = DATA_ROWS) -> bytes:
    """The form with ``rows`` empty data rows, as the bytes of an .xlsx file."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, Side
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    book = Workbook()
    sheet = book.active
    sheet.title = "公开事项标准目录"
    thin = Side(style="thin")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    centre = Alignment(horizontal="center", vertical="center", wrap_text=True)
    wrap = Alignment(vertical="top", wrap_text=True)
    last = get_column_letter(WIDTH)
    sheet["A1"] = f"{title}（格式模板）"
    sheet["A1"].font = Font(bold=True, size=14)
    sheet["A1"].alignment = centre
    sheet.merge_cells(f"A1:{last}1")
    for column, name in HEADER_TOP.items():
        sheet.cell(2, column + 1, name)
    for column, name in HEADER_SUB.items():
        sheet.cell(3, column + 1, name)
    for column in range(WIDTH):
        letter = get_column_letter(column + 1)
        if column not in HEADER_SUB:
            sheet.merge_cells(f"{letter}2:{letter}3")
        sheet.column_dimensions[letter].width = _WIDTHS[column]
    for start in (1, 8, 10, 12):  # 公开事项, 公开对象, 公开方式, 公开层级 span two columns
        sheet.merge_cells(start_row=2, start_column=start + 1, end_row=2, end_column=start + 2)
    for row in (2, 3):
        for column in range(1, WIDTH + 1):
            cell = sheet.cell(row, column)
            cell.font, cell.alignment, cell.border = Font(bold=True), centre, border
    ticks = DataValidation(type="list", formula1='"√"', allow_blank=True, showErrorMessage=True,
                           errorTitle="只能填 √", error="勾选请选 √，不选请留空。",
                           promptTitle="勾选", prompt="从下拉列表选 √，不选留空。", showInputMessage=True)
    group = DataValidation(type="custom", formula1="TRUE", allow_blank=True, showInputMessage=True,
                           promptTitle="特定群体", prompt="勾选特定群体时请写明群体，例如：√ 申请人")
    channels = DataValidation(type="custom", formula1="TRUE", allow_blank=True, showInputMessage=True,
                              promptTitle="公开渠道和载体", prompt="把所用渠道前的 □ 改为 ■；选“其他”时写明，例如：■其他：村广播")
    for validation in (ticks, group, channels):
        sheet.add_data_validation(validation)
    end = _FIRST + rows - 1
    for column in MARK_COLUMNS:
        letter = get_column_letter(column + 1)
        ticks.add(f"{letter}{_FIRST}:{letter}{end}")
    group.add(f"J{_FIRST}:J{end}")
    channels.add(f"H{_FIRST}:H{end}")
    for row in range(_FIRST, end + 1):
        sheet.cell(row, 8, channel_choices())
        for column in range(1, WIDTH + 1):
            cell = sheet.cell(row, column)
            cell.border = border
            cell.alignment = centre if column - 1 in MARK_COLUMNS or column == 1 else wrap
        sheet.row_dimensions[row].height = 15 * len(CHANNELS)
    sheet.freeze_panes = f"B{_FIRST}"
    notes = book.create_sheet("填写说明")
    lines = [
        "1. 每行一个公开事项；同一一级事项下的各行，一级事项可合并单元格或留空（表示同上）。",
        "2. 公开时限写法如“信息形成或变更之日起20个工作日内”；写“实时”“及时”的按系统默认工作日数计算。",
        "3. 公开主体写单位名录中的单位名称；本单位科室可写“本单位相关科室”。",
        "4. 公开渠道和载体：把所用渠道前的 □ 改为 ■（可多选）；选“其他”时写明，如“■其他：村广播”。",
        "5. 公开对象、公开方式、公开层级：在对应栏选 √；主动与依申请只能选一种；特定群体须写明群体。",
        "6. 填好后先运行 tracker catalog check 文件 --unit 单位 检查，全部通过后报县政府办公室验收。",
        "",
        "公开渠道和载体（共 {} 种）：".format(len(CHANNELS)),
        *CHANNELS,
    ]
    for index, line in enumerate(lines, start=1):
        notes.cell(index, 1, line)
    notes.column_dimensions["A"].width = 100
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
