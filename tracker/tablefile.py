"""Reading the text dump of a Word table into rows of cells.

The dump writes each cell as a line that starts with a TAB; a line without one continues the cell
before it; an empty line ends a row, unless the row does not have all its cells yet (then it is an
empty paragraph inside a cell). The first row is the header and fixes how many cells a row has.
Text before the header is the title; text after the last row ends the table (e.g. 附件2).
"""

from __future__ import annotations

import codecs
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from tracker.errors import PlanImportError
from tracker.text import clean_text


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


DEFAULT_MAX_BYTES = 50 * 1024 * 1024  # config: general.max_file_mb

_UTF16_BOMS = ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_OFFICE_MAGIC = {b"\xd0\xcf\x11\xe0": "Word 或 Excel 97-2003（.doc/.xls）", b"PK\x03\x04": "Word 或 Excel（.docx/.xlsx）",
                 b"%PDF": "PDF", b"{\\rtf": "RTF"}
_SAVE_AS = "请在 Word 中把表格“另存为”纯文本（.txt，编码选 UTF-8）后再导入。"


def _utf16_without_bom(data: bytes) -> str | None:
    """The byte order of UTF-16 text without a BOM: a plan's TABs, line breaks and digits are ASCII, so every other
    byte is NUL; Chinese text in UTF-8 or GBK never has NUL bytes at all."""
    if len(data) < 4 or len(data) % 2:
        return None
    even, odd = data[0::2].count(0), data[1::2].count(0)
    if odd > len(data) // 20 and even <= odd // 10:  # a few NULs on the other side: characters like 一 (U+4E00)
        return "utf-16-le"
    if even > len(data) // 20 and odd <= even // 10:
        return "utf-16-be"
    return None


def _looks_like_big5(data: bytes) -> bool:
    """Big5 (Traditional Chinese) bytes decode as GB18030 too, into rare characters: refuse rather than misread.

    Nearly every character of a Simplified Chinese plan is in GB2312; Big5 text read as GBK is
    mostly outside it (its trail bytes 0x40–0x7E are not GB2312 trail bytes)."""
    try:
        as_big5 = data.decode("big5")
        as_gbk = data.decode("gb18030")
    except UnicodeDecodeError:
        return False
    wide = [ch for ch in as_gbk if ord(ch) > 0x7F]
    if not wide or not any(ord(ch) > 0x7F for ch in as_big5):
        return False
    outside = 0
    for ch in wide:
        try:
            ch.encode("gb2312")
        except UnicodeEncodeError:
            outside += 1
    return outside > len(wide) // 10


def decode(data: bytes, path: str) -> tuple[str, str]:
    """The text of a plan file and the encoding it was in: UTF-8 (with or without BOM), UTF-16 or GBK.

    Big5 and binary files are refused; a NUL byte in a text file is refused naming its line. The text
    comes back with control characters cleaned (Word's manual line break \\x0b becomes a line break).
    """
    for magic, kind in _OFFICE_MAGIC.items():
        if data.startswith(magic):
            raise PlanImportError(f"这是 {kind} 文件，不是纯文本。{_SAVE_AS}", path=path)
    text, encoding = _decode_text(data, path)
    if not text.strip():
        raise PlanImportError("文件是空的，没有可导入的表格。请检查是否选错了文件。", path=path)
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise PlanImportError(
            "这一行含有空字符（NUL，字节 0x00），文件可能已损坏或不是纯文本。请用记事本打开、删除该处乱码后另存为 UTF-8 再导入。",
            path=path, line=line,
        )
    return clean_text(text), encoding


def _decode_text(data: bytes, path: str) -> tuple[str, str]:
    for bom, encoding in _UTF16_BOMS:
        if data.startswith(bom):
            return _utf16(data[len(bom):], encoding, path)
    guessed = _utf16_without_bom(data)
    if guessed:
        return _utf16(data, guessed, path)
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as utf8_error:
        line = data[: utf8_error.start].count(b"\n") + 1
        if _looks_like_big5(data):
            raise PlanImportError(
                "文件是繁体中文 Big5 编码，本系统只读 UTF-8、UTF-16 和 GBK（简体）。请用记事本打开后“另存为”UTF-8 编码，"
                "并核对单位名称为简体后再导入。", path=path,
            ) from utf8_error
        try:
            return data.decode("gb18030"), "gbk"
        except UnicodeDecodeError:
            raise PlanImportError(
                "文件既不是 UTF-8、UTF-16 编码也不是 GBK 编码，无法读取。请用记事本打开后“另存为”UTF-8 编码再导入。",
                path=path, line=line,
            ) from utf8_error


def _utf16(data: bytes, encoding: str, path: str) -> tuple[str, str]:
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError as exc:
        raise PlanImportError(
            f"文件看起来是 {encoding.upper()} 编码，但第 {exc.start} 字节处无法按此编码读取，文件可能已损坏。"
            "请用记事本打开后“另存为”UTF-8 编码再导入。", path=path,
        ) from exc


def check_input_file(path: Path, max_bytes: int | None = DEFAULT_MAX_BYTES) -> os.stat_result:
    """Refuse what must not be read before reading it: a FIFO or a device (reading blocks or never ends),
    a folder, a file over the size limit."""
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        raise PlanImportError("找不到这个文件。请检查路径和文件名。", path=str(path)) from exc
    except PermissionError as exc:
        raise PlanImportError("没有权限访问这个文件（或它所在的文件夹）。请检查文件权限。", path=str(path)) from exc
    except OSError as exc:
        raise PlanImportError(f"无法读取这个文件：{exc.strerror}。", path=str(path)) from exc
    _check_kind(info, path, max_bytes)
    return info


def _check_kind(info: os.stat_result, path: Path, max_bytes: int | None) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise PlanImportError("这是一个文件夹，不是文件。请指定计划表的 .txt 文件。", path=str(path))
    if stat.S_ISFIFO(info.st_mode) or stat.S_ISSOCK(info.st_mode):
        raise PlanImportError("这是一个管道或套接字，不是普通文件，未读取。请指定保存在磁盘上的 .txt 文件。", path=str(path))
    if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
        raise PlanImportError("这是一个设备文件，不是普通文件，未读取。请指定保存在磁盘上的 .txt 文件。", path=str(path))
    if not stat.S_ISREG(info.st_mode):
        raise PlanImportError("这不是普通文件，未读取。请指定保存在磁盘上的 .txt 文件。", path=str(path))
    if max_bytes is not None and info.st_size > max_bytes:
        raise PlanImportError(
            f"文件有 {info.st_size / 1024 / 1024:.1f} MB，超过了上限 {max_bytes / 1024 / 1024:.0f} MB，未读取。"
            "计划表的纯文本通常只有几十 KB，请确认没有选错文件；确需导入更大的文件，请调大 config.toml 中的 general.max_file_mb。",
            path=str(path),
        )


def read_file(path: Path, max_bytes: int | None = DEFAULT_MAX_BYTES) -> tuple[str, str]:
    """Read and decode a plan file, refusing anything that is not a regular file within the size limit."""
    check_input_file(path, max_bytes)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO swapped in after the check does not block
    except PermissionError as exc:
        raise PlanImportError("没有读取这个文件的权限。请检查文件权限（ls -l），或换一个有权限的用户运行。", path=str(path)) from exc
    except OSError as exc:
        raise PlanImportError(f"无法读取这个文件：{exc.strerror}。", path=str(path)) from exc
    with os.fdopen(fd, "rb") as handle:
        _check_kind(os.fstat(handle.fileno()), path, max_bytes)
        try:
            data = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
        except OSError as exc:
            raise PlanImportError(f"读取这个文件时出错：{exc.strerror}。", path=str(path)) from exc
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
