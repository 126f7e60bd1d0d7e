"""Writing files the operator asked for (reports, workbooks, .eml files) without ever clobbering data.

An output path is checked before any work is done: never the database or the configuration
(`report weekly --xlsx tracker.db` once overwrote the live database), never a folder, never in a
folder that does not exist, and an existing file only when the operator says ``--force``. The
file is written under a temporary name in the same folder, flushed to disk and renamed, so a
full disk or a crash leaves the old file or nothing, never a truncated one. Reports hold the same
data as the database, so they get its permissions (0600 unless the database file is more open).
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from tracker.errors import OutputFileError

_REASONS = {
    errno.ENOSPC: "磁盘已满", errno.EDQUOT: "磁盘配额已用完", errno.EROFS: "文件系统是只读的",
    errno.EACCES: "没有写入权限", errno.EPERM: "没有写入权限", errno.ENOENT: "文件夹不存在",
    errno.ENOTDIR: "路径中有一段不是文件夹", errno.EISDIR: "这是一个文件夹", errno.ENAMETOOLONG: "文件名太长",
}


def describe_os_error(exc: OSError) -> str:
    """The reason of an OSError in Chinese, with the system's own words beside it."""
    reason = _REASONS.get(exc.errno or 0, "系统错误")
    return f"{reason}（{exc.strerror or type(exc).__name__}）"


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def check_output_path(path: Path, *, protected: Iterable[Path], force: bool, what: str) -> Path:
    """Refuse an output path that would destroy data or cannot be written; returns the path to write."""
    for keep in protected:
        if _same(path, keep):
            raise OutputFileError(f"{what}的输出路径 {path} 是本系统的数据库或配置文件，不能覆盖。请换一个文件名，例如 台账.xlsx。")
    if path.is_dir():
        raise OutputFileError(f"{what}的输出路径 {path} 是一个文件夹。请写出文件名，例如 {path / '通报.html'}。")
    parent = path.parent
    if not parent.is_dir():
        raise OutputFileError(f"{what}的输出文件夹 {parent} 不存在，未生成任何文件。请先创建它（mkdir -p {parent}），或换一个路径。")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputFileError(f"没有权限在文件夹 {parent} 中写入{what}。请换一个有写权限的文件夹。")
    if path.exists() and not force:
        raise OutputFileError(f"{what}文件 {path} 已存在，未覆盖。要替换它请加 --force，或换一个文件名。")
    return path


def write_file(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder: fsync, then rename over it."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    try:
        folder = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(folder)  # the rename itself reaches the disk
    except OSError:
        pass
    finally:
        os.close(folder)


def write_output(path: Path, data: bytes, *, mode: int, what: str) -> None:
    """``write_file`` with a Chinese error naming the file and the reason (a full disk, no permission)."""
    try:
        write_file(path, data, mode=mode)
    except OSError as exc:
        raise OutputFileError(f"无法写入{what} {path}：{describe_os_error(exc)}。原有文件（如有）保持不变。") from exc


def mode_like(reference: Path | None) -> int:
    """The permission bits of ``reference`` (the database file), never more open than 0644; 0600 without one."""
    try:
        return os.stat(reference).st_mode & 0o644 if reference is not None else 0o600
    except OSError:
        return 0o600
