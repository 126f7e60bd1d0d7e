"""Plans straight from office files: which reader a file needs, and converting old binary formats.

The kind of file is told by its first bytes, not only its name: a .docx renamed .doc, a .wps or .et
that newer WPS saves as OOXML, an encrypted Office file (an OLE container holding an
``EncryptedPackage``) all exist in county offices. Old binary formats (.doc, .wps, .xls, .et) are
converted by LibreOffice (``soffice --headless --convert-to``) into a temporary folder, then read like
any .docx or .xlsx; without LibreOffice the operator is told which Debian package to install.
A text dump (anything else) is left to ``tracker.tablefile``.
"""

from __future__ import annotations

import hashlib
import shutil
import stat
import subprocess
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tracker.errors import PlanImportError
from tracker.tablechoice import FoundTable, choose_table
from tracker.tablefile import Table

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
WORD_SUFFIXES = {".docx", ".docm", ".doc", ".wps", ".wpt", ".dot", ".dotx"}
SHEET_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".et", ".ett"}
LIBREOFFICE_PACKAGES = {"docx": "libreoffice-writer-nogui", "xlsx": "libreoffice-calc-nogui"}
CONVERT_TIMEOUT_SECONDS = 300
FORMAT_NAMES = {"docx": "Word 文档", "xlsx": "Excel 工作簿", "csv": "CSV 表格"}


@dataclass
class OfficeTable:
    table: Table
    where: str  # the file and the table, for error messages: "通知.docx 第 2 个表格"
    kind: str  # "docx", "xlsx" or "csv": the format that was read (after any conversion)
    converted_from: str | None
    checksum: str  # of the file as given


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-le")


def file_kind(path: Path, data: bytes) -> tuple[str, str | None] | None:
    """(format to read, old format to convert from) for an office file; None for a text dump."""
    suffix = path.suffix.lower()
    if data.startswith(ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as package:
                names = set(package.namelist())
        except zipfile.BadZipFile as exc:
            raise PlanImportError("文件已损坏（压缩包不完整），无法打开。请在 Word/Excel/WPS 中打开并重新保存后再导入。", path=str(path)) from exc
        if "word/document.xml" in names:
            return "docx", None
        if "xl/workbook.xml" in names:
            return "xlsx", None
        raise PlanImportError("这个压缩文件既不是 Word 文档（.docx）也不是 Excel 工作簿（.xlsx），无法导入。", path=str(path))
    if data.startswith(OLE_MAGIC):
        if _utf16("EncryptedPackage") in data or _utf16("EncryptionInfo") in data:
            raise PlanImportError(
                "文件设有打开密码（已加密），无法读取。请在 Word/Excel/WPS 中打开，取消密码（文件→信息→保护文档）后另存再导入。",
                path=str(path),
            )
        if _utf16("WordDocument") in data or suffix in WORD_SUFFIXES:
            return "docx", "doc"
        if _utf16("Workbook") in data or _utf16("Book") in data or suffix in SHEET_SUFFIXES:
            return "xlsx", "xls"
        raise PlanImportError("无法识别这个旧格式 Office 文件的类型（不是 Word 文档也不是 Excel 表格）。", path=str(path))
    if suffix == ".csv":
        return "csv", None
    if suffix in WORD_SUFFIXES | SHEET_SUFFIXES:
        raise PlanImportError(
            f"这个文件的扩展名是 {suffix}，但内容不是 Word/Excel 文件（可能已损坏，或只是改了扩展名）。"
            "请在 Word/Excel/WPS 中打开并重新保存后再导入。", path=str(path),
        )
    return None


def find_soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def convert_with_libreoffice(path: Path, data: bytes, target: str) -> bytes:
    """The file converted to ``target`` (docx or xlsx) by LibreOffice, in a private temporary folder and profile."""
    package = LIBREOFFICE_PACKAGES[target]
    soffice = find_soffice()
    if soffice is None:
        raise PlanImportError(
            f"导入 {path.suffix or '旧格式'} 文件需要先用 LibreOffice 转换为 .{target}，但本机没有安装 LibreOffice。"
            f"请安装 Debian 软件包 {package}（命令：sudo apt-get install {package}），"
            f"或在 Word/WPS 中把文件另存为 .{target} 后再导入。", path=str(path),
        )
    source_suffix = ".doc" if target == "docx" else ".xls"  # LibreOffice picks its filter by content; .wps/.et alike
    with tempfile.TemporaryDirectory(prefix="tracker-convert-") as folder:
        work = Path(folder)
        source = work / f"plan{source_suffix}"
        source.write_bytes(data)
        command = [soffice, "--headless", "--norestore", "--nolockcheck", "--nodefault",
                   f"-env:UserInstallation={(work / 'profile').as_uri()}",
                   "--convert-to", target, "--outdir", str(work / "out"), str(source)]
        try:
            finished = subprocess.run(command, capture_output=True, timeout=CONVERT_TIMEOUT_SECONDS, check=False)
        except subprocess.TimeoutExpired as exc:
            raise PlanImportError(
                f"LibreOffice 转换超过 {CONVERT_TIMEOUT_SECONDS} 秒仍未完成。请在 Word/WPS 中把文件另存为 .{target} 后再导入。",
                path=str(path),
            ) from exc
        result = work / "out" / f"plan.{target}"
        if finished.returncode != 0 or not result.exists():
            detail = (finished.stderr or finished.stdout).decode("utf-8", "replace").strip()[-200:]
            raise PlanImportError(
                f"LibreOffice 无法把文件转换为 .{target}（文件可能已损坏或设有密码）。{detail}"
                f" 请在 Word/WPS 中打开并另存为 .{target} 后再导入。", path=str(path),
            )
        return result.read_bytes()


def needs_conversion(path: Path) -> bool:
    """Whether reading the file will run LibreOffice (tens of seconds), so that the CLI can say so first; not when
    it is encrypted or LibreOffice is missing, which are refused at once. Only a regular file is opened: a FIFO or
    a device would block here, before the reader refuses it."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return False
        with path.open("rb") as handle:
            if handle.read(len(OLE_MAGIC)) != OLE_MAGIC:
                return False
        kind = file_kind(path, path.read_bytes())
    except (OSError, PlanImportError):  # reported when the file is read
        return False
    return kind is not None and kind[1] is not None and find_soffice() is not None


def _read_word(data: bytes, path: str) -> list[FoundTable]:
    from tracker.wordfile import read_word_tables  # python-docx and lxml: only when a Word file is read

    return read_word_tables(data, path)


def _read_workbook(data: bytes, path: str) -> list[FoundTable]:
    from tracker.sheetfile import read_workbook_tables  # openpyxl: only when a workbook is read

    return read_workbook_tables(data, path)


def _read_csv(data: bytes, path: str) -> list[FoundTable]:
    from tracker.sheetfile import read_csv_tables

    return read_csv_tables(data, path)


# The readers import their libraries when a file of their kind is read: commands that only look at the
# database (`tracker items list`) do not load python-docx, lxml and openpyxl.
READERS: dict[str, Callable[[bytes, str], list[FoundTable]]] = {
    "docx": _read_word, "xlsx": _read_workbook, "csv": _read_csv,
}


def read_office_table(
    path: Path, looks_like_header: Callable[[Sequence[str]], bool], wanted: int | None,
) -> OfficeTable | None:
    """The task table of an office file, or None when the file is a text dump for ``tracker.tablefile`` (which
    also reports a missing or unreadable file)."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return None  # a FIFO, a device or a folder: tracker.tablefile refuses it without reading
        with path.open("rb") as handle:
            head = handle.read(len(OLE_MAGIC))
        office = head.startswith((ZIP_MAGIC, OLE_MAGIC)) or path.suffix.lower() in WORD_SUFFIXES | SHEET_SUFFIXES | {".csv"}
        data = path.read_bytes() if office else b""
    except OSError:
        return None
    if not office:
        return None
    kind = file_kind(path, data)
    if kind is None:
        return None
    target, old = kind
    content = convert_with_libreoffice(path, data, target) if old else data
    found = READERS[target](content, str(path))
    table, chosen = choose_table(found, looks_like_header, wanted, str(path))
    return OfficeTable(table=table, where=f"{path} {chosen.name}", kind=target, converted_from=old,
                       checksum=hashlib.sha256(data).hexdigest())
