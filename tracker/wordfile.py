"""Reading the tables of a Word document (.docx) as rows of cells, the way Word's "save as text" writes them.

One cell per ``w:tc`` element: a horizontally merged cell (``gridSpan``) is one cell, however many grid
columns it spans, so a row with a sub-column (item (1)'s domain rows) has one cell more than the
header, exactly as in the text dump. python-docx's ``row.cells`` repeats a merged cell's object for
every grid column it covers, so cells are read from the XML elements, never compared by text. A
vertically merged continuation (``vMerge`` without ``restart``) is an empty cell, which the importer
reads as "same as the cell above". A cell's paragraphs are joined with line breaks; list numbers
that Word generates (``numPr``) are written in front of the paragraph, as a person sees them. A
cell's line is its row number in the table.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from docx import Document
from docx.opc.exceptions import PackageNotFoundError
from docx.text.paragraph import Paragraph
from lxml import etree

from tracker.errors import PlanImportError
from tracker.tablechoice import FoundTable
from tracker.tablefile import Cell, Row

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
PREAMBLE_PARAGRAPHS = 3  # the annex heading and the table's title sit right above it, not the whole notice


def read_word_tables(data: bytes, path: str) -> list[FoundTable]:
    """Every top-level table of the document in reading order, with the paragraphs just above each."""
    try:
        document = Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, etree.XMLSyntaxError, OSError) as exc:
        raise PlanImportError(
            f"无法打开这个 Word 文件（{type(exc).__name__}）：文件可能已损坏或不完整。请在 Word/WPS 中打开并重新保存为 .docx 后再导入。",
            path=path,
        ) from exc
    except Exception as exc:  # zipfile.BadZipFile and friends: a damaged package
        raise PlanImportError(
            "无法打开这个 Word 文件：文件已损坏。请在 Word/WPS 中打开并重新保存为 .docx 后再导入。", path=path
        ) from exc
    numbering = _Numbering(document)
    found: list[FoundTable] = []
    above: list[str] = []
    for block in _blocks(document.element.body):
        if block.tag == W + "p":
            text = numbering.text(block).strip()
            if text:
                above.append(text)
        else:
            rows = [Row(cells) for number, tr in enumerate(block.iterchildren(W + "tr"), start=1)
                    if (cells := [Cell(text, number) for text in _row_texts(tr, numbering)])]
            found.append(FoundTable(f"第 {len(found) + 1} 个表格", rows, above[-PREAMBLE_PARAGRAPHS:],
                                    follows_table=bool(found) and not above))
            above = []
    return found


def _blocks(parent: Any) -> Iterator[Any]:
    """Paragraphs and tables in reading order, looking inside content controls (``w:sdt``)."""
    for child in parent.iterchildren():
        if child.tag in (W + "p", W + "tbl"):
            yield child
        elif child.tag == W + "sdt":
            content = child.find(W + "sdtContent")
            if content is not None:
                yield from _blocks(content)


def _row_texts(tr: Any, numbering: _Numbering) -> list[str]:
    texts = []
    for tc in _cells(tr):
        paragraphs = [numbering.text(p).strip() for p in tc.iter(W + "p")]  # always read: list numbers count on
        merge = tc.find(f"{W}tcPr/{W}vMerge")
        continued = merge is not None and merge.get(W + "val", "continue") != "restart"
        texts.append("" if continued else "\n".join(p for p in paragraphs if p))
    return texts


def _cells(tr: Any) -> Iterator[Any]:
    for child in tr.iterchildren():
        if child.tag == W + "tc":
            yield child
        elif child.tag == W + "sdt":
            content = child.find(W + "sdtContent")
            if content is not None:
                yield from content.iterchildren(W + "tc")


class _Numbering:
    """Word's automatic list numbers ("（1）", "1.", "一、"), counted in document order per list."""

    def __init__(self, document: Any) -> None:
        self.levels: dict[str, dict[int, tuple[int, str, str]]] = {}
        self.counters: dict[str, dict[int, int]] = {}
        self.style_numbering: dict[str, tuple[str, int]] = {}
        try:
            root = document.part.numbering_part.element
        except (NotImplementedError, KeyError):
            root = None
        if root is not None:
            abstract = {a.get(W + "abstractNumId"): a for a in root.iterchildren(W + "abstractNum")}
            for num in root.iterchildren(W + "num"):
                ref = num.find(W + "abstractNumId")
                levels = _levels(abstract.get(ref.get(W + "val")) if ref is not None else None)
                for override in num.iterchildren(W + "lvlOverride"):
                    start = override.find(W + "startOverride")
                    level = int(override.get(W + "ilvl", "0"))
                    if start is not None and level in levels:
                        levels[level] = (int(start.get(W + "val", "1")), *levels[level][1:])
                self.levels[num.get(W + "numId")] = levels
        for style in document.styles.element.iterchildren(W + "style"):
            num_id = style.find(f"{W}pPr/{W}numPr/{W}numId")
            if num_id is not None:
                level = style.find(f"{W}pPr/{W}numPr/{W}ilvl")
                self.style_numbering[style.get(W + "styleId")] = (
                    num_id.get(W + "val"), int(level.get(W + "val", "0")) if level is not None else 0)

    def text(self, p: Any) -> str:
        return self.label(p) + Paragraph(p, None).text

    def label(self, p: Any) -> str:
        num_pr = p.find(f"{W}pPr/{W}numPr")
        style = p.find(f"{W}pPr/{W}pStyle")
        if num_pr is not None and num_pr.find(W + "numId") is not None:
            num_id = num_pr.find(W + "numId").get(W + "val")
            level_el = num_pr.find(W + "ilvl")
            level = int(level_el.get(W + "val", "0")) if level_el is not None else 0
        elif style is not None and style.get(W + "val") in self.style_numbering:
            num_id, level = self.style_numbering[style.get(W + "val")]
        else:
            return ""
        levels = self.levels.get(num_id)
        if not levels or level not in levels:
            return ""
        counters = self.counters.setdefault(num_id, {})
        counters[level] = counters.get(level, levels[level][0] - 1) + 1
        for deeper in [k for k in counters if k > level]:
            del counters[deeper]
        _start, fmt, pattern = levels[level]
        if fmt in ("bullet", "none"):
            return ""
        label = pattern
        for k in range(level, -1, -1):
            if f"%{k + 1}" in label:
                value = counters.get(k, levels.get(k, (1, "", ""))[0])
                label = label.replace(f"%{k + 1}", _format(value, levels.get(k, (1, "decimal", ""))[1]))
        return label


def _levels(abstract: Any) -> dict[int, tuple[int, str, str]]:
    levels: dict[int, tuple[int, str, str]] = {}
    if abstract is None:
        return levels
    for lvl in abstract.iterchildren(W + "lvl"):
        start, fmt, text = lvl.find(W + "start"), lvl.find(W + "numFmt"), lvl.find(W + "lvlText")
        levels[int(lvl.get(W + "ilvl", "0"))] = (
            int(start.get(W + "val", "1")) if start is not None else 1,
            fmt.get(W + "val", "decimal") if fmt is not None else "decimal",
            text.get(W + "val", "") if text is not None else "",
        )
    return levels


_DIGITS = "零一二三四五六七八九"


def _chinese(value: int) -> str:
    if value < 10:
        return _DIGITS[value]
    if value < 100:
        tens, ones = divmod(value, 10)
        return ("" if tens == 1 else _DIGITS[tens]) + "十" + (_DIGITS[ones] if ones else "")
    return str(value)


def _roman(value: int) -> str:
    out = ""
    for number, letters in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
                            (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        count, value = divmod(value, number)
        out += letters * count
    return out


def _format(value: int, fmt: str) -> str:
    if fmt in ("chineseCounting", "chineseCountingThousand", "ideographTraditional", "taiwaneseCounting",
               "japaneseCounting", "chineseLegalSimplified"):
        return _chinese(value)
    if fmt == "decimalFullWidth":
        return str(value).translate({0x30 + d: 0xFF10 + d for d in range(10)})
    if fmt == "decimalEnclosedCircle" and 1 <= value <= 20:
        return chr(0x2460 + value - 1)
    if fmt in ("lowerLetter", "upperLetter"):
        letter = chr(ord("a") + (value - 1) % 26) * ((value - 1) // 26 + 1)
        return letter if fmt == "lowerLetter" else letter.upper()
    if fmt in ("lowerRoman", "upperRoman"):
        return _roman(value).lower() if fmt == "lowerRoman" else _roman(value)
    if fmt == "decimalZero":
        return f"{value:02d}"
    return str(value)
