"""The outbox: messages are stored before delivery, claimed before sending, and their outcome recorded.

Claiming is a conditional update (``... WHERE id = ? AND state = 'pending'``, then the row count),
so two processes never send the same message. A message left in 'sending' by a process that died
is taken over once its lease has run out; it is sent again with the same Message-ID.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, bindparam, or_, text, update
from sqlmodel import Session, select

from tracker.errors import StatusError
from tracker.models import Notice, OutboxMessage
from tracker.reminders import CheckPlan

STATES = {"pending": "待发送", "sending": "发送中", "sent": "已发送", "failed": "发送失败"}


@dataclass(frozen=True)
class RenderedMessage:
    """What notifications made of a digest: enough to store it and to send it again unchanged."""

    recipient: str
    to: list[str]
    subject: str
    message_id: str
    raw: str
    entries: list[dict[str, object]]


def store_check(
    session: Session, plan: CheckPlan, rendered: Sequence[RenderedMessage], *, now: dt.datetime, kind: str = "reminder"
) -> list[OutboxMessage]:
    """Write the messages of one check and the ledger rows that claim its stages, in the caller's transaction."""
    by_recipient = {m.recipient: store_message(session, m, run_date=plan.today, now=now, kind=kind) for m in rendered}
    for notice in plan.notices:
        message = by_recipient.get(notice.recipient)
        session.add(Notice(
            assignment_id=notice.assignment_id, due_on=notice.due_on, stage=notice.stage, rank=notice.rank,
            sent_on=plan.today, message_id=message.id if message else None, created_at=now,
        ))
    session.flush()
    return list(by_recipient.values())


def store_message(session: Session, message: RenderedMessage, *, run_date: dt.date, now: dt.datetime, kind: str) -> OutboxMessage:
    row = OutboxMessage(
        kind=kind, run_date=run_date, recipient=message.recipient, to_addrs=message.to, subject=message.subject,
        message_id=message.message_id, raw=message.raw, entries=message.entries, state="pending", created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def _claimable(now: dt.datetime, lease: dt.timedelta) -> ColumnElement[bool]:
    """Pending and due (or queued for the next pass), or claimed by a process whose lease has run out."""
    return or_(
        (OutboxMessage.state == "pending")
        & or_(OutboxMessage.next_attempt_at == None, OutboxMessage.next_attempt_at <= now),  # noqa: E711
        (OutboxMessage.state == "sending") & (OutboxMessage.claimed_at <= now - lease),
    )


@dataclass(frozen=True)
class Claimed:
    """A message taken for sending, with what sending needs."""

    id: int
    to: list[str]
    raw: str
    message_id: str
    recipient: str


def claim_batch(session: Session, *, now: dt.datetime, lease: dt.timedelta, limit: int) -> list[Claimed]:
    """Take up to ``limit`` messages for sending, oldest first; rows another process took meanwhile are skipped."""
    oldest = select(OutboxMessage.id).where(_claimable(now, lease)).order_by(OutboxMessage.id).limit(limit)
    taken = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(oldest.scalar_subquery()), _claimable(now, lease))  # type: ignore[attr-defined]
        .values(state="sending", claimed_at=now, attempts=OutboxMessage.attempts + 1)
        .returning(OutboxMessage.id)
    ).scalars().all()
    if not taken:
        return []
    rows = session.execute(
        select(OutboxMessage.id, OutboxMessage.to_addrs, OutboxMessage.raw, OutboxMessage.message_id, OutboxMessage.recipient)
        .where(OutboxMessage.id.in_(taken)).order_by(OutboxMessage.id)  # type: ignore[attr-defined]
    ).all()
    return [Claimed(r.id, list(r.to_addrs), r.raw, r.message_id, r.recipient) for r in rows]


def release(session: Session, ids: Sequence[int]) -> None:
    """Give back claimed messages that were not attempted (the process is stopping, or the server is down)."""
    session.execute(
        update(OutboxMessage).where(OutboxMessage.id.in_(ids), OutboxMessage.state == "sending")  # type: ignore[attr-defined]
        .values(state="pending", claimed_at=None, attempts=OutboxMessage.attempts - 1)
    )


_SENT = text("UPDATE outboxmessage SET state = 'sent', sent_at = :at, last_error = :note WHERE id = :id").bindparams(
    bindparam("at", type_=OutboxMessage.__table__.c.sent_at.type)  # type: ignore[attr-defined]
)


def record_sent(connection: Connection | Session, message_id: int, *, now: dt.datetime, note: str = "") -> None:
    """One cached statement: this runs once per message delivered, between two round trips to the server."""
    connection.execute(_SENT, {"at": now, "note": note, "id": message_id})


def record_failure(
    session: Session, message_id: int, error: str, *, permanent: bool, now: dt.datetime, max_attempts: int, retry_after: int
) -> str:
    """Record a failed attempt: retry later with backoff, or give up; returns the new state."""
    row = session.get_one(OutboxMessage, message_id)
    row.last_error = error
    if permanent or row.attempts >= max_attempts:
        row.state = "failed"
    else:
        row.state = "pending"
        row.next_attempt_at = now + dt.timedelta(seconds=retry_after * 2 ** (row.attempts - 1))
    session.add(row)
    return row.state


def list_messages(session: Session, states: Sequence[str] = ()) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if states:
        query = query.where(OutboxMessage.state.in_(states))  # type: ignore[attr-defined]
    return list(session.exec(query).all())


def retry(session: Session, ids: Sequence[int]) -> list[OutboxMessage]:
    """Put failed messages back in the queue, to be sent at the next pass (all failed ones when ``ids`` is empty)."""
    failed = list_messages(session, ["failed"])
    if ids:
        known = {m.id: m for m in failed}
        missing = [i for i in ids if i not in known]
        if missing:
            raise StatusError(f"邮件 {missing[0]} 不存在或不是“发送失败”状态。可用 tracker outbox list --state failed 查看。")
        failed = [known[i] for i in ids]
    for row in failed:
        row.state, row.attempts, row.next_attempt_at, row.last_error = "pending", 0, None, ""
        session.add(row)
    session.flush()
    return failed
