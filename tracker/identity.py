"""A stable fingerprint of one tracker database, for files that must come back to the database that made them.

Status sheets are refused when they were exported from another database, and calendar UIDs must
not collide between two counties' feeds. The journal is append-only and its first entry is written
when the database is created (the first import), so that entry's id and timestamp identify the
database for its whole life, including backups of it, without a schema change.
"""

from __future__ import annotations

import hashlib

from sqlmodel import Session, select

from tracker.errors import DatabaseStateError
from tracker.models import JournalEntry


def database_identity(session: Session) -> str:
    """16 hex digits that differ between databases and never change for one."""
    first = session.exec(select(JournalEntry).order_by(JournalEntry.id).limit(1)).first()  # type: ignore[arg-type]
    if first is None:
        raise DatabaseStateError("数据库中还没有导入任何计划（历史记录为空）。请先运行 tracker init。")
    at = first.at.replace(tzinfo=None).isoformat(timespec="microseconds")
    return hashlib.sha256(f"{first.id}|{at}|{first.action}".encode()).hexdigest()[:16]
