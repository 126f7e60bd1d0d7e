"""Evidence files a unit hands in with a report: checked, then stored under their content hash.

A file name comes from the unit's computer and is only ever a label: the bytes are stored as
``<sha256>`` in the upload folder, so no name (``../../x``, ``<script>.pdf``) can choose where they
go. The type is checked twice, by the name's extension against the configured list and by the
first bytes against that extension, so a web page renamed ``.pdf`` is refused; files are served
back only as downloads (see tracker.web), never with a type a browser would run.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracker.errors import CycleError

_ZIP = (b"PK\x03\x04",)
_OLE = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)
MAGIC: dict[str, tuple[bytes, ...]] = {
    "pdf": (b"%PDF-",), "png": (b"\x89PNG\r\n\x1a\n",), "jpg": (b"\xff\xd8\xff",), "jpeg": (b"\xff\xd8\xff",),
    "docx": _ZIP, "xlsx": _ZIP, "ofd": _ZIP, "doc": _OLE, "xls": _OLE,
}
_UNSAFE = re.compile(r"[\x00-\x1f\x7f<>:\"|?*]")


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes


def clean_name(name: str) -> str:
    """The last part of a path a browser sent (``C:\\a\\b.pdf`` or ``../../b.pdf`` → ``b.pdf``), without control or
    markup characters; the label shown beside the file."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip().lstrip(".")
    return name[:120]


def check(upload: Upload, *, allowed: list[str], max_bytes: int) -> tuple[str, str]:
    """(cleaned name, extension) of an acceptable file; CycleError saying what is wrong and what is accepted."""
    name = clean_name(upload.name)
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    accepted = "、".join(allowed)
    if not name or not ext:
        raise CycleError(f"文件“{upload.name}”没有扩展名，无法判断类型。可上传：{accepted}。")
    if ext not in allowed:
        raise CycleError(f"文件“{name}”的类型 .{ext} 不能上传。可上传：{accepted}。")
    if len(upload.data) > max_bytes:
        raise CycleError(f"文件“{name}”有 {len(upload.data) / 1048576:.1f} MB，超过上限 {max_bytes / 1048576:.0f} MB。"
                         "请压缩或拆分后再上传。")
    if not upload.data:
        raise CycleError(f"文件“{name}”是空的，请重新选择。")
    magic = MAGIC.get(ext)
    if magic is not None and not upload.data.startswith(magic):
        raise CycleError(f"文件“{name}”的内容不是 .{ext} 文件（可能改过扩展名）。请上传原始文件。")
    return name, ext


def describe(upload: Upload, *, allowed: list[str], max_bytes: int) -> dict[str, Any]:
    """Check the file and return the record a report keeps of it, without storing anything yet."""
    name, ext = check(upload, allowed=allowed, max_bytes=max_bytes)
    return {"name": name, "sha256": hashlib.sha256(upload.data).hexdigest(), "size": len(upload.data), "ext": ext}


def write(upload: Upload, folder: Path, record: dict[str, Any]) -> Path | None:
    """Keep the bytes of a described file as ``folder/<sha256>``; the path when this call created it (None when the
    same content was already there, perhaps for another report, so a caller undoing its work must not delete it)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / record["sha256"]
    if target.exists():
        return None
    partial = folder / f".{record['sha256']}.{os.getpid()}.part"
    partial.write_bytes(upload.data)
    os.replace(partial, target)
    return target


def stored_path(folder: Path, record: dict[str, Any]) -> Path:
    """Where a recorded file's bytes are; the hash is checked to be a hash, so a record cannot point elsewhere."""
    digest = str(record.get("sha256", ""))
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise CycleError("佐证文件记录已损坏。")
    return folder / digest
