"""A small, fast .xlsx writer for the weekly ledger: inline strings, a handful of styles, frozen header, filter.

openpyxl styles and serialises cell by cell, which takes most of a second for one county's ledger
and minutes for a province's; this writes the same workbook's XML in one pass. openpyxl still reads
what it writes (the tests open every workbook with it).

Rows are streamed into the zip a block at a time (``write_workbook``): a province's ledger is hundreds of
megabytes of XML, and building it as one string made the weekly job's peak memory grow with the data. Text that
repeats (item titles, unit names, statuses) is written once, in the shared-strings part, and referenced by number:
a province's sheet is then a third of the XML to make and to compress. The compressor runs in a second thread
(zlib-ng, like zlib, releases the interpreter's lock) while the next block of rows is made, with the interpreter
switching threads often enough for the two to overlap (``SWITCH_INTERVAL``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import sys
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO
from xml.sax.saxutils import escape

from zlib_ng import zlib_ng

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
    """A sheet's rows as values (``rows``), or as their cells' XML (``xml_rows``, given the sheet's ``Cells``), for a
    sheet of hundreds of thousands of rows whose writer knows which of its values repeat."""

    name: str
    rows: Iterable[Sequence[object]] = ()
    widths: Sequence[float] = ()
    freeze_header: bool = False
    filter_columns: int = 0
    xml_rows: Callable[[Cells], Iterable[str]] | None = None


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
    return f'<c r="{ref}" s="{style}" t="inlineStr"><is><t xml:space="preserve">{_xml_text(value)}</t></is></c>'


def _xml_text(value: str) -> str:
    if len(value) <= CELL_LIMIT // 2 and value.isprintable():  # nearly every cell: no cutting, no line breaks
        return escape(value) if ("&" in value or "<" in value or ">" in value) else value
    return escape(cell_text(value)).replace("\n", "&#10;")


SHARED_MAX_CHARS = 8_000_000  # text held for the shared-strings part; past it, new text is written in its cell


class SharedStrings:
    """The workbook's shared strings: each distinct text once, numbered in the order first met. Only up to
    ``SHARED_MAX_CHARS`` of text is held (the part is written after the sheets); text met after that is written in
    its cell instead, so that a sheet of notes that never repeat does not grow memory."""

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}
        self._texts: list[str] = []
        self._room = SHARED_MAX_CHARS

    def add(self, value: str) -> int | None:
        """The number of a text not held yet, or None when there is no more room."""
        if len(value) > self._room:
            return None
        self._room -= len(value)
        number = self.numbers[value] = len(self._texts)
        self._texts.append(_xml_text(value))
        return number

    def xml(self) -> bytes:
        items = "".join(f'<si><t xml:space="preserve">{text}</t></si>' for text in self._texts)
        return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                f'uniqueCount="{len(self._texts)}">{items}</sst>').encode("utf-8")


def _cell(ref: str, value: object, shared: SharedStrings) -> str:
    kind = type(value)
    style = PLAIN
    if kind is Styled:
        value, style = value.value, value.style  # type: ignore[attr-defined]
        kind = type(value)
    if kind is str:
        if not value:
            return f'<c r="{ref}" s="{style}"/>' if style else ""
        number = shared.numbers.get(value)  # type: ignore[call-overload]
        if number is None:
            number = shared.add(value)  # type: ignore[arg-type]
            if number is None:
                return _text_cell(ref, value, style)  # type: ignore[arg-type]
        return f'<c r="{ref}" s="{style}" t="s"><v>{number}</v></c>' if style else f'<c r="{ref}" t="s"><v>{number}</v></c>'
    if value is None:
        return f'<c r="{ref}" s="{style}"/>' if style else ""
    if isinstance(value, bool):
        return f'<c r="{ref}" s="{style}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, (int, float)):
        return f'<c r="{ref}" s="{style}"><v>{value}</v></c>' if style else f'<c r="{ref}"><v>{value}</v></c>'
    if isinstance(value, dt.date):
        return f'<c r="{ref}" s="{style or DATE}"><v>{(value - EPOCH).days}</v></c>'
    return _cell(ref, Styled(str(value), style), shared)


def _deflate_faster(part: object) -> None:
    """Deflate the part with zlib-ng instead of the standard library's zlib: the same format and, at the same level,
    the same size (a province's 台账: 8.2 MB either way), in a third of the time (0.25 s instead of 0.87 s for its
    72 MB of XML). ``zipfile`` has no way to choose the compressor, so the part's own one is replaced before anything
    is written; a Python whose ``zipfile`` keeps it elsewhere just compresses with zlib, more slowly."""
    if isinstance(getattr(part, "_compressor", None), _ZLIB_COMPRESSOR):
        part._compressor = zlib_ng.compressobj(COMPRESS_LEVEL, zlib_ng.DEFLATED, -15)  # type: ignore[attr-defined]


_ZLIB_COMPRESSOR = type(zlib.compressobj())


# level 3: a province's ledger in 0.7 s of compressing with zlib instead of 2.5 s at the default 6, 14 % larger (9.0 MB
# against 7.9 MB; level 1 was 10.0 MB, at the edge of the 10 MB attachment limit, for 0.1 s less); with zlib-ng
# (``_deflate_faster``) the same size in a third of zlib's time
COMPRESS_LEVEL = 3
FRAGMENTS_MAX = 200_000  # cells' XML kept for values met again, over all columns of a sheet
ROWS_PER_WRITE = 2000  # rows joined into one string before they go to the compressor: few calls, little memory


class Cells:
    """One sheet's cells as XML, the row number left out (a NUL, which no cell holds: XML forbids it), for the row to
    fill in. A value met again in its column (an item's title on each of its units' rows, a status, a date) is one
    look-up, not one cell's XML; text goes to the shared strings in the order the cells are asked for, which is the
    order they are written in."""

    def __init__(self, shared: SharedStrings) -> None:
        self._shared = shared
        self._letters = [column_letter(i) for i in range(1, 64)]
        self._known: list[dict[object, str]] = [{} for _ in self._letters]
        self._columns = range(len(self._letters))  # a row's values past the last letter are not written
        self._room = FRAGMENTS_MAX  # cells kept, over all columns

    def cell(self, column: int, value: object) -> str:
        """The XML of ``value`` in ``column`` (0 for A)."""
        # 1 and True are equal keys but not equal cells, also inside a Styled value
        key = (value if type(value) is str else (Styled, type(value.value), value.value, value.style)  # type: ignore[attr-defined]
               if type(value) is Styled else (type(value), value))
        known = self._known[column]
        try:
            fragment = known.get(key)
        except TypeError:  # a value that cannot be a key (a list): written as text, never kept
            fragment, key = None, None
        if fragment is None:
            fragment = _cell(f"{self._letters[column]}\0", value, self._shared)
            if self._room and key is not None and not fragment.endswith("</t></is></c>"):  # text in its cell does not repeat
                known[key] = fragment
                self._room -= 1
        return fragment

    def row(self, values: Iterable[object]) -> str:
        """The XML of a row's cells, from its values."""
        return "".join(map(self.cell, self._columns, values))


def _write_sheet(sheet: Sheet, out: BinaryIO, shared: SharedStrings) -> None:
    """The sheet's XML, written as its rows come: memory stays at one block of rows, whatever the sheet's size."""
    view = ('<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" '
            'state="frozen"/></sheetView></sheetViews>') if sheet.freeze_header else ""
    cols = "".join(f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>' for i, w in enumerate(sheet.widths, start=1))
    cols = f"<cols>{cols}</cols>" if cols else ""
    out.write(('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
               '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
               f'{view}{cols}<sheetData>').encode("utf-8"))
    block: list[str] = []
    count = 0
    cells = Cells(shared)
    rows = sheet.xml_rows(cells) if sheet.xml_rows is not None else map(cells.row, sheet.rows)
    for count, xml in enumerate(rows, start=1):
        block.append(f'<row r="\0">{xml}</row>'.replace("\0", str(count)))
        if len(block) >= ROWS_PER_WRITE:
            out.write("".join(block).encode("utf-8"))
            block.clear()
    auto = f'<autoFilter ref="A1:{column_letter(sheet.filter_columns)}{max(count, 1)}"/>' if sheet.filter_columns else ""
    out.write(("".join(block) + f"</sheetData>{auto}</worksheet>").encode("utf-8"))


# How often the interpreter lets another thread take its lock while the rows are made (Python's default: 5 ms). zlib
# lets the lock go while it deflates, but takes it back each time its output buffer grows, several times per block:
# at the default, each time it waited for the thread making rows to hand the lock over, and the two threads ran one
# after the other (a province's workbook took as long as its rows plus its compressing). At 0.5 ms they overlap.
SWITCH_INTERVAL = 0.0005


_switching = threading.Lock()
_writers = 0  # sheets being written now, in any thread: the interval goes back when the last one ends
_interval_before = 0.0


@contextlib.contextmanager
def _quick_switches() -> Iterator[None]:
    """The interpreter's switch interval at ``SWITCH_INTERVAL`` while the block runs, then as it was (it is
    process-wide: other threads only switch more often meanwhile; two workbooks written at once give it back once)."""
    global _writers, _interval_before
    with _switching:
        if not _writers:
            _interval_before = sys.getswitchinterval()
            sys.setswitchinterval(min(_interval_before, SWITCH_INTERVAL))
        _writers += 1
    try:
        yield
    finally:
        with _switching:
            _writers -= 1
            if not _writers:
                sys.setswitchinterval(_interval_before)


class _Behind:
    """Writes into ``out`` in a worker thread, at most one block behind the caller: the caller makes the next block
    of rows while the last one is compressed. Memory stays at two blocks; an error in the worker is raised here."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xlsx-deflate")
        self._pending: Future[int] | None = None

    def write(self, data: bytes) -> int:
        self.wait()
        self._pending = self._worker.submit(self._out.write, data)
        return len(data)

    def wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._worker.shutdown()


def workbook(sheets: Sequence[Sheet]) -> bytes:
    """The bytes of an .xlsx file holding ``sheets``."""
    buffer = io.BytesIO()
    write_workbook(sheets, buffer)
    return buffer.getvalue()


def write_workbook(sheets: Sequence[Sheet], target: BinaryIO, order: Sequence[int] | None = None) -> None:
    """An .xlsx file holding ``sheets``, written into ``target`` (a file opened for binary writing) as the rows come;
    ``order``: the sheets' indexes in the order their parts are written (a sheet whose rows are only known once
    another's are written goes after it; its place in the workbook does not change)."""
    shared = SharedStrings()
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
                     '<Override PartName="/xl/sharedStrings.xml" '
                     'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
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
             'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
             f'<Relationship Id="rId{len(sheets) + 2}" '
             'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>')
    book_rels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                 f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>')
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as archive:
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("_rels/.rels", root_rels)
        archive.writestr("xl/workbook.xml", book)
        archive.writestr("xl/_rels/workbook.xml.rels", book_rels)
        archive.writestr("xl/styles.xml", _STYLES)
        for index in (range(len(sheets)) if order is None else order):
            sheet = sheets[index]
            with archive.open(f"xl/worksheets/sheet{index + 1}.xml", "w", force_zip64=True) as part, _quick_switches():
                _deflate_faster(part)
                behind = _Behind(part)  # type: ignore[arg-type]
                try:
                    _write_sheet(sheet, behind, shared)  # type: ignore[arg-type]
                finally:
                    behind.close()
        archive.writestr("xl/sharedStrings.xml", shared.xml())  # after the sheets, which found its strings
