"""Robot posts in the outbox: one row per post, claimed one at a time just before it is sent.

A digest becomes one outbox row per e-mail message and one per robot post (a long digest is
several numbered posts), each with its own state, attempts and claim, so a dead webhook never
holds up the mail and a post that went through is never posted again. Robot posts are paced
(WeCom and DingTalk take 20 a minute), so a pass may wait minutes for a busy robot: a batch
claimed up front would outlive its lease. Each post is therefore claimed by a conditional update
of its own row right before it is sent, exactly like mail otherwise; a process that dies after
posting and before recording leaves the row 'sending', and it is posted again when the lease
runs out (the platforms have no idempotency key to prevent that).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, or_, update
from sqlmodel import Session, select

from tracker.models import OutboxBody, OutboxMessage, RobotChannel
from tracker.outbox import RenderedMessage, store_message


def store_post(session: Session, message: RenderedMessage, channel_id: int, *, run_date: dt.date, now: dt.datetime,
               kind: str = "reminder") -> OutboxMessage:
    """Store one robot post, beside the e-mail of the same digest, in the caller's transaction."""
    row = store_message(session, message, run_date=run_date, now=now, kind=kind)
    row.channel_id = channel_id
    session.add(row)
    return row


def _due(now: dt.datetime, lease: dt.timedelta) -> Any:
    return or_(
        and_(OutboxMessage.state == "pending",
             or_(OutboxMessage.next_attempt_at == None, OutboxMessage.next_attempt_at <= now)),  # type: ignore[operator]  # noqa: E711
        and_(OutboxMessage.state == "sending", OutboxMessage.claimed_at <= now - lease),  # type: ignore[operator]
    )


@dataclass(frozen=True)
class DuePost:
    id: int
    channel_id: int
    platform: str
    target: str


def due_posts(session: Session | Connection, *, now: dt.datetime, lease: dt.timedelta) -> list[DuePost]:
    """Robot posts that may be sent now, oldest first: read, not claimed (each is claimed when its turn comes).

    A robot's posts go out in order: once one of them must wait (a rate limit's retry time, or
    another process sending it), its later posts wait too, so part 3 never arrives before part 2.
    """
    query = (select(OutboxMessage.id, OutboxMessage.channel_id, RobotChannel.platform, RobotChannel.target,
                    _due(now, lease).label("due"))
             .join(RobotChannel, RobotChannel.id == OutboxMessage.channel_id)
             .where(OutboxMessage.state.in_(("pending", "sending"))).order_by(OutboxMessage.id))  # type: ignore[attr-defined]
    waiting: set[tuple[str, str]] = set()
    found = []
    for message_id, channel_id, platform, target, due in session.execute(query).all():  # type: ignore[call-overload]
        if not due:
            waiting.add((platform, target))
        elif (platform, target) not in waiting:
            found.append(DuePost(message_id, channel_id, platform, target))
    return found


@dataclass(frozen=True)
class ClaimedPost:
    """A post taken for sending, with the robot's current credentials (a secret set anew applies to retries)."""

    id: int
    channel_id: int
    recipient: str
    subject: str
    raw: str
    platform: str
    target: str
    secret: str
    retired: bool
    broken: bool


def claim_post(session: Session, message_id: int, *, now: dt.datetime, lease: dt.timedelta) -> ClaimedPost | None:
    """Take one post for sending; None when another process took it (or it was sent) meanwhile."""
    claimed = session.execute(
        update(OutboxMessage).where(OutboxMessage.id == message_id, _due(now, lease))
        .values(state="sending", claimed_at=now, attempts=OutboxMessage.attempts + 1)
        .returning(OutboxMessage.id)
    ).first()
    if claimed is None:
        return None
    row = session.get_one(OutboxMessage, message_id)
    body = session.get_one(OutboxBody, message_id)
    channel = session.get_one(RobotChannel, row.channel_id)
    return ClaimedPost(message_id, channel.id, row.recipient, row.subject, body.raw, channel.platform,  # type: ignore[arg-type]
                       channel.target, channel.secret, channel.retired, channel.broken_since is not None)


def recent_sends(session: Session | Connection, platform: str, target: str, *, since: dt.datetime) -> list[dt.datetime]:
    """When this robot last posted (through any unit's channel row), so that pacing carries over from earlier passes."""
    query = (select(OutboxMessage.sent_at).join(RobotChannel, RobotChannel.id == OutboxMessage.channel_id)
             .where(RobotChannel.platform == platform, RobotChannel.target == target, OutboxMessage.sent_at >= since)  # type: ignore[operator]
             .order_by(OutboxMessage.sent_at))
    return [row[0] for row in session.execute(query).all()]


def fail_robot_posts(session: Session, platform: str, target: str, reason: str) -> int:
    """Fail every waiting post of a robot whose key or signature was refused: posting them would only be refused again.
    `tracker outbox retry` sends them once the robot is set anew."""
    channels = select(RobotChannel.id).where(RobotChannel.platform == platform, RobotChannel.target == target)
    result = session.execute(
        update(OutboxMessage).where(OutboxMessage.channel_id.in_(channels.scalar_subquery()),  # type: ignore[union-attr]
                                    OutboxMessage.state == "pending")
        .values(state="failed", last_error=reason)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


def channel_posts(session: Session, channel_ids: Sequence[int]) -> list[OutboxMessage]:
    query = select(OutboxMessage).where(OutboxMessage.channel_id.in_(channel_ids))  # type: ignore[union-attr]
    return list(session.exec(query.order_by(OutboxMessage.id)).all())
