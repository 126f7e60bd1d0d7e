"""Turning what the operating system and the database refuse into one Chinese line each.

A full disk, a read-only database, an unreachable PostgreSQL or a folder without write permission
is not a bug in the tracker, and the operator needs the cause and the fix, not a traceback.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import DBAPIError

from tracker.outfiles import describe_os_error

_SQLITE = (
    ("database or disk is full", "数据库所在的磁盘已满，本次操作没有写入任何内容。请清理磁盘空间后重试。"),
    ("readonly database", "数据库文件是只读的（或它所在的文件夹不可写），本次操作没有写入任何内容。请检查数据库文件及其文件夹的权限和所有者。"),
    ("read-only", "数据库文件是只读的（或它所在的文件夹不可写），本次操作没有写入任何内容。请检查数据库文件及其文件夹的权限和所有者。"),
    ("unable to open database file", "无法打开数据库文件：文件夹不存在，或没有读写权限。请检查 database.url 和文件夹权限。"),
    ("disk i/o error", "读写数据库时磁盘出错（可能是磁盘已满或损坏），本次操作没有完成。请检查磁盘后重试。"),
    ("database is locked", "数据库被另一个进程长时间占用，本次操作没有完成。请稍后重试；如果一直如此，请检查是否有卡住的 tracker 进程。"),
    ("file is not a database", "数据库文件已损坏或不是 SQLite 数据库。请检查 database.url 是否指向了别的文件，或从备份恢复。"),
)


def database_error(exc: DBAPIError, where: str) -> str:
    """One sentence for a database failure: what happened, to which database, what to do."""
    text = str(exc.orig or exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    lowered = text.lower()
    for needle, sentence in _SQLITE:
        if needle in lowered:
            return f"{sentence}（数据库：{where}）"
    if exc.connection_invalidated or any(word in lowered for word in (
            "connection refused", "could not connect", "connection failed", "could not translate host name",
            "timeout expired", "no route to host", "server closed the connection", "name or service not known",
            "password authentication failed", "does not exist")):
        return (f"无法连接数据库 {where}：{first}。请检查数据库服务器是否运行、网络是否通，以及 database.url 或"
                " TRACKER_DATABASE_URL 中的地址、用户名和库名是否正确。")
    return f"数据库操作失败（{where}）：{first}。本次操作没有完成；请检查数据库状态后重试。"


def os_error(exc: OSError) -> str:
    """One sentence for a file the operating system refused: which file and why."""
    name = exc.filename if exc.filename is not None else ""
    target = f" {name}" if name else ""
    return f"无法读写文件或文件夹{target}：{describe_os_error(exc)}。请检查路径、磁盘空间和权限后重试。"


def shown_database(context: Any) -> str:
    """The database's address without its password, or a placeholder when even the configuration failed."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(context.config.database_url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 (the configuration itself may be what failed)
        return "（见配置）"
