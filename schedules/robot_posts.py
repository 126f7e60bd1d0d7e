"""The robot posts of the daily check (each digest, beside its e-mail, to every robot of its unit and of the unit's
groups) and of the weekly 通报 (a summary to the robots of the report's recipients).

Called inside the check's transaction, so the posts are stored with the e-mail and the ledger
rows, or not at all. The county office's digests (mail and chat) also name every robot that is
broken, so that someone mends it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlmodel import Session, select

from notifications.chat_render import ChatPost, render_chat_digest, render_chat_weekly
from tracker.channels import broken_channel_warnings, channels_by_unit, robot_label
from tracker.chat_outbox import store_post
from tracker.models import Unit
from tracker.outbox import RenderedMessage
from tracker.reminders import Digest
from tracker.report import WeeklyReport


def office_warnings(session: Session, tz: dt.tzinfo) -> tuple[set[str], list[str]]:
    """The county offices' names, and what their digests must say about broken robots."""
    offices = set(session.exec(select(Unit.name).where(Unit.kind == "office")).all())
    return offices, broken_channel_warnings(session, tz)


def store_robot_posts(
    session: Session, digests: Sequence[Digest], *, county: str, prefix: str, now: dt.datetime,
    warnings: Sequence[str], office: tuple[set[str], list[str]],
) -> int:
    """Render and store the posts of the day's digests; returns how many posts were stored."""
    channels = channels_by_unit(session)
    if not channels:
        return 0
    units = {u.name: u for u in session.exec(select(Unit)).all()}
    offices, broken = office
    stored = 0
    for digest in digests:
        unit = units.get(digest.recipient)
        for channel in channels.get(unit.id, []) if unit else []:  # type: ignore[union-attr,arg-type]
            notes = [*warnings, *(broken if digest.recipient in offices else [])]
            for post in render_chat_digest(digest, channel.platform, county=county, prefix=prefix, warnings=notes,
                                           mobiles=unit.mobiles):  # type: ignore[union-attr]
                message = RenderedMessage(recipient=digest.recipient, to=[robot_label(channel)], subject=post.subject,
                                          message_id=ChatPost.new_id(channel.platform), raw=post.raw, entries=post.entries)
                store_post(session, message, channel.id, run_date=digest.run_date, now=now)  # type: ignore[arg-type]
                stored += 1
    return stored


def store_weekly_robot_posts(session: Session, report: WeeklyReport, recipients: Sequence[str], *, now: dt.datetime) -> int:
    """The weekly 通报's summary to every robot of the report's recipient units (the full report goes by mail)."""
    channels = channels_by_unit(session)
    if not channels:
        return 0
    units = dict(session.exec(select(Unit.name, Unit.id).where(Unit.name.in_(list(recipients)))).all())  # type: ignore[attr-defined]
    stored = 0
    for name in recipients:
        for channel in channels.get(units.get(name, -1), []):
            for post in render_chat_weekly(report, channel.platform):
                message = RenderedMessage(recipient=name, to=[robot_label(channel)], subject=post.subject,
                                          message_id=ChatPost.new_id(channel.platform), raw=post.raw, entries=[])
                store_post(session, message, channel.id, run_date=report.as_of, now=now, kind="report")  # type: ignore[arg-type]
                stored += 1
    return stored
