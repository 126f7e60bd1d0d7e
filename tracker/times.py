"""Moments as people read them: in the configured time zone, with its offset.

The database keeps moments in UTC (PostgreSQL and SQLite alike may hand them back without a zone);
anything a person or a script reads gets the configured zone, so that the date in it is the local
date: a status recorded at 00:30 Beijing time is dated that day, not the UTC day before.
"""

from __future__ import annotations

import datetime as dt


def local(moment: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """``moment`` in ``tz``; a moment without a zone is taken as UTC, which is how it was stored."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(tz)


def local_iso(moment: dt.datetime | None, tz: dt.tzinfo) -> str | None:
    """``2020-09-25T04:19:44+08:00``; None stays None (a message not sent yet)."""
    return None if moment is None else local(moment, tz).isoformat()


def local_text(moment: dt.datetime | None, tz: dt.tzinfo) -> str:
    """``2020-09-25 04:19 +08:00`` for tables and mail; empty for None."""
    if moment is None:
        return ""
    shown = local(moment, tz)
    offset = shown.strftime("%z")
    return f"{shown:%Y-%m-%d %H:%M} {offset[:3]}:{offset[3:]}"
