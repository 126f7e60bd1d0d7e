"""A small, fast .xlsx writer for the weekly ledger: inline strings, a handful of styles, frozen header, filter.

openpyxl styles and serialises cell by cell, which takes most of a second for one county's ledger
and minutes for a province's; this writes the same workbook's XML in one pass. openpyxl still reads
what it writes (the tests open every workbook with it).

Rows are streamed into the zip a block at a time (``write_workbook``): a province's ledger is hundreds of
megabytes of XML, and building it as one string made the weekly job's peak memory grow with the data.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Iterable, Sequence
from typing import BinaryIO
from dataclasses import dataclass
from xml.sax.saxutils import escape

from tracker.text import clean_text

EPOCH = dt.date(1899, 12, 30)

# style ids in cellXfs below
PLAIN, DATE, HEADER, BOLD = 0, 1, 2, 3
FILL_STYLE = {"2E7D32": 4, "B8860B": 5, "C62828": 6}
PERCENT = 7  # a number shown as 91.7%: the cell holds 0.917, so Excel can compute with it

_STYLES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/><numFmt numFmtId="165" formatCode="0.0%"/></numFmts>
<fonts count="3"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font>
<font><b/><sz val="11"/><color rgb="FFFFFFFF"/><name val="Calibri"/></font></fonts>
<fills count="6"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill>
<fill><patternFill patternType="solid"><fgColor rgb="FFDDDDDD"/></patternFill></fill>
<fill><patternFill patternType="solid"><fgColor rgb="FF2E7D32"/></patternFill></fill>
<fill><patternFill patternType="solid"><fgColor rgb="FFB8860B"/></patternFill></fill>
<fill><patternFill patternType="solid"><fgColor rgb="FFC62828"/></patternFill></fill></fills>
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
<cellXfs count="8">
<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>
<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1" applyAlignment="1"><alignment horizontal="center"/></xf>
<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>
<xf numFmtId="0" fontId="2" fillId="3" borderId="0" xfId="0" applyFont="1" applyFill="1"/>
<xf numFmtId="0" fontId="2" fillId="4" borderId="0" xfId="0" applyFont="1" applyFill="1"/>
<xf numFmtId="0" fontId="2" fillId="5" borderId="0" xfId="0" applyFont="1" applyFill="1"/>
<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
</cellXfs>
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>
</styleSheet>"""


@dataclass(frozen=True)
class Styled:
    """A value with one of the style ids above."""

    value: object
    style: int


@dataclass
class Sheet:
    name: str
    rows: Iterable[Sequence[object]]
    widths: Sequence[float] = ()
    freeze_header: bool = False
    filter_columns: int = 0


def column_letter(index: int) -> str:
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


CELL_LIMIT = 32_767  # characters (UTF-16 code units) Excel keeps in one cell; it refuses a file with more


def cell_text(text: str) -> str:
    """Text fit for a cell: no character XML forbids, and cut to Excel's limit with a marker saying how long it was."""
    if len(text) <= CELL_LIMIT // 2 and text.isprintable():  # nearly every cell: one C-level scan, no regex
        return text
    text = clean_text(text)
    if len(text) <= CELL_LIMIT // 2 or len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF) <= CELL_LIMIT:
        return text
    marker = f"……（内容过长，已截断；全文共 {len(text)} 字）"
    room, units = CELL_LIMIT - len(marker), 0
    for end, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > room:
            return text[:end] + marker
    return text + marker


def _text_cell(ref: str, value: str, style: int) -> str:
    if len(value) <= CELL_LIMIT // 2 and value.isprintable():  # nearly every cell: no cutting, no line breaks
        text = escape(value) if ("&" in value or "<" in value or ">" in value) else value
    else:
        text = escape(cell_text(value)).replace("\n", "&#10;")
    return f'<c r="{ref}" s="{style}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


def _cell(ref: str, value: object) -> str:
    kind = type(value)
    if kind is str:  # the common case first: a province's ledger is millions of cells, most of them text
        return _text_cell(ref, value, PLAIN) if value else ""  # type: ignore[arg-type]
    style = PLAIN
    if kind is Styled:
        value, style = value.value, value.style  # type: ignore[attr-defined]
    if value is None or value == "":
        return f'<c r="{ref}" s="{style}"/>' if style else ""
    if isinstance(value, bool):
        return f'<c r="{ref}" s="{style}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, (int, float)):
        return f'<c r="{ref}" s="{style}"><v>{value}</v></c>'
    if isinstance(value, dt.date):
        return f'<c r="{ref}" s="{style or DATE}"><v>{(value - EPOCH).days}</v></c>'
    return _text_cell(ref, str(value), style)


ROWS_PER_WRITE = 2000  # rows joined into one string before they go to the compressor: few calls, little memory


def _write_sheet(sheet: Sheet, out: BinaryIO) -> None:
    """The sheet's XML, written as its rows come: memory stays at one block of rows, whatever the sheet's size."""
    letters = [column_letter(i) for i in range(1, 64)]
    view = ('<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" '
            'state="frozen"/></sheetView></sheetViews>') if sheet.freeze_header else ""
    cols = "".join(f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>' for i, w in enumerate(sheet.widths, start=1))
    cols = f"<cols>{cols}</cols>" if cols else ""
    out.write(('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
               '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
               f'{view}{cols}<sheetData>').encode("utf-8"))
    block: list[str] = []
    count = 0
    for count, row in enumerate(sheet.rows, start=1):
        cells = "".join(_cell(f"{letters[i]}{count}", value) for i, value in enumerate(row))
        block.append(f'<row r="{count}">{cells}</row>')
        if len(block) >= ROWS_PER_WRITE:
            out.write("".join(block).encode("utf-8"))
            block.clear()
    auto = f'<autoFilter ref="A1:{letters[sheet.filter_columns - 1]}{max(count, 1)}"/>' if sheet.filter_columns else ""
    out.write(("".join(block) + f"</sheetData>{auto}</worksheet>").encode("utf-8"))


def workbook(sheets: Sequence[Sheet]) -> bytes:
    """The bytes of an .xlsx file holding ``sheets``."""
    buffer = io.BytesIO()
    write_workbook(sheets, buffer)
    return buffer.getvalue()


def write_workbook(sheets: Sequence[Sheet], target: BinaryIO) -> None:
    """An .xlsx file holding ``sheets``, written into ``target`` (a file opened for binary writing) as the rows come."""
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, len(sheets) + 1))
    content_types = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                     '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                     '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                     '<Default Extension="xml" ContentType="application/xml"/>'
                     '<Override PartName="/xl/workbook.xml" '
                     'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                     '<Override PartName="/xl/styles.xml" '
                     'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
                     f'{overrides}</Types>')
    root_rels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                 '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                 '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
                 'Target="xl/workbook.xml"/></Relationships>')
    names = "".join(f'<sheet name="{escape(clean_text(s.name))}" sheetId="{i}" r:id="rId{i}"/>' for i, s in enumerate(sheets, start=1))
    filters = "".join(
        f'<definedName name="_xlnm._FilterDatabase" localSheetId="{i}" hidden="1">\'{escape(s.name)}\'!$A$1:${column_letter(s.filter_columns)}$1</definedName>'
        for i, s in enumerate(sheets) if s.filter_columns)
    book = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            f'<sheets>{names}</sheets>' + (f"<definedNames>{filters}</definedNames>" if filters else "") + '</workbook>')
    rels = "".join(
        f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        f'Target="worksheets/sheet{i}.xml"/>' for i in range(1, len(sheets) + 1))
    rels += (f'<Relationship Id="rId{len(sheets) + 1}" '
             'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>')
    book_rels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                 f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>')
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("_rels/.rels", root_rels)
        archive.writestr("xl/workbook.xml", book)
        archive.writestr("xl/_rels/workbook.xml.rels", book_rels)
        archive.writestr("xl/styles.xml", _STYLES)
        for i, sheet in enumerate(sheets, start=1):
            with archive.open(f"xl/worksheets/sheet{i}.xml", "w", force_zip64=True) as part:
                _write_sheet(sheet, part)  # type: ignore[arg-type]
