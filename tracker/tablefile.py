"""Reading the text dump of a Word table into rows of cells.

The dump writes each cell as a line that starts with a TAB; a line without one continues the cell
before it; an empty line ends a row, unless the row does not have all its cells yet (then it is an
empty paragraph inside a cell). The first row is the header and fixes how many cells a row has.
Text before the header is the title; text after the last row ends the table (e.g. 附件2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tracker.errors import PlanImportError


@dataclass
class Cell:
    text: str
    line: int


@dataclass
class Row:
    cells: list[Cell]

    @property
    def line(self) -> int:
        return self.cells[0].line


@dataclass
class Table:
    header: Row
    rows: list[Row]
    preamble: list[str] = field(default_factory=list)
    encoding: str = "utf-8"


def decode(data: bytes, path: str) -> tuple[str, str]:
    """The text of a plan file and the encoding it was in: UTF-8 (with or without BOM) or GBK."""
    if not data.strip():
        raise PlanImportError("文件是空的，没有可导入的表格。请检查是否选错了文件。", path=path)
    if b"\x00" in data:
        raise PlanImportError(
            "这不是纯文本文件（可能是 Word 或 Excel 文件）。请在 Word 中把表格“另存为”纯文本（.txt）后再导入。",
            path=path,
        )
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as utf8_error:
        try:
            return data.decode("gb18030"), "gbk"
        except UnicodeDecodeError:
            line = data[: utf8_error.start].count(b"\n") + 1
            raise PlanImportError(
                "文件既不是 UTF-8 编码也不是 GBK 编码，无法读取。请用记事本打开后“另存为”UTF-8 编码再导入。",
                path=path,
                line=line,
            ) from utf8_error


def read_file(path: Path) -> tuple[str, str]:
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise PlanImportError("找不到这个文件。请检查路径和文件名。", path=str(path)) from exc
    except IsADirectoryError as exc:
        raise PlanImportError("这是一个文件夹，不是文件。请指定计划表的 .txt 文件。", path=str(path)) from exc
    except PermissionError as exc:
        raise PlanImportError("没有读取这个文件的权限。", path=str(path)) from exc
    return decode(data, str(path))


def parse_table(text: str, path: str) -> Table:
    """Split the dump into the header row and the data rows of its first table."""
    preamble: list[str] = []
    rows: list[Row] = []
    current: list[Cell] = []
    width: int | None = None
    header: Row | None = None

    def finish() -> None:
        nonlocal current, width, header
        if not current:
            return
        if header is None and sum(1 for c in current if c.text) < 2:
            # an empty first row, or a title merged across the table: part of the title, not the header
            preamble.extend(c.text for c in current if c.text)
            current = []
            return
        if header is None:
            header, width = Row(current), len(current)
        else:
            rows.append(Row(current))
        current = []

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r")
        if line.startswith("\t"):
            current.extend(Cell(part.strip(), number) for part in line.split("\t")[1:])
        elif line.strip():
            if current:
                last = current[-1]
                last.text = f"{last.text}\n{line.strip()}" if last.text else line.strip()
            elif header is None:
                preamble.append(line.strip())
            else:
                break
        elif current and (width is None or len(current) >= width):
            finish()
    finish()
    if header is None:
        raise PlanImportError(
            "没有找到表格：表格的每个单元格应以 TAB 开头另起一行（Word 表格另存为纯文本的格式）。", path=path
        )
    return Table(header=header, rows=rows, preamble=preamble)
