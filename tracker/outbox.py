"""The outbox: messages are stored before delivery, claimed before sending, and their outcome recorded.

Claiming is a conditional update (``... WHERE id = ? AND state = 'pending'``, then the row count),
so two processes never send the same message. A message left in 'sending' by a process that died
is taken over once its lease has run out; it is sent again with the same Message-ID.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Integer, bindparam, or_, text, update
from sqlmodel import Session, select

from tracker.errors import StatusError
from tracker.models import Notice, OutboxBody, OutboxMessage
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
        message_id=message.message_id, state="pending", created_at=now,
    )
    session.add(row)
    session.flush()
    session.add(OutboxBody(id=row.id, raw=message.raw, entries=message.entries))  # type: ignore[arg-type]
    return row


def _claim_statements() -> tuple[Any, ...]:
    """The claim as two conditional updates (expired leases, then pending mail), built once with bound
    parameters: building SQLAlchemy statements anew costs more than running them."""
    at = OutboxMessage.__table__.c.claimed_at.type  # type: ignore[attr-defined]
    now, expired_before, n = bindparam("now", type_=at), bindparam("expired_before", type_=at), bindparam("n", type_=Integer)
    mail = OutboxMessage.channel_id == None  # noqa: E711  (robot posts have a pump of their own: tracker.chat_outbox)
    claimable = (
        mail & (OutboxMessage.state == "sending") & (OutboxMessage.claimed_at <= expired_before),  # type: ignore[operator]
        mail & (OutboxMessage.state == "pending") & or_(OutboxMessage.next_attempt_at == None, OutboxMessage.next_attempt_at <= now),  # noqa: E711
    )
    return tuple(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(  # type: ignore[attr-defined]
            select(OutboxMessage.id).where(condition).order_by(OutboxMessage.id).limit(n).scalar_subquery()), condition)
        .values(state="sending", claimed_at=now, attempts=OutboxMessage.attempts + 1)
        .returning(OutboxMessage.id, OutboxMessage.to_addrs, OutboxMessage.message_id, OutboxMessage.recipient)
        for condition in claimable
    )


_CLAIMS = _claim_statements()
_BODIES = select(OutboxBody.id, OutboxBody.raw)
_BODIES_BETWEEN = _BODIES.where(OutboxBody.id.between(bindparam("lo"), bindparam("hi")))
_BODIES_IN = _BODIES.where(OutboxBody.id.in_(bindparam("ids", expanding=True)))  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Claimed:
    """A message taken for sending, with what sending needs."""

    id: int
    to: list[str]
    raw: str
    message_id: str
    recipient: str


def claim_batch(session: Session | Connection, *, now: dt.datetime, lease: dt.timedelta, limit: int) -> list[Claimed]:
    """Take up to ``limit`` messages for sending, oldest first; rows another process took meanwhile are skipped.

    Expired leases and pending messages are claimed by separate statements, so that each walks the
    state index in id order and stops after ``limit`` rows (one condition with an OR over both
    states scans every pending message at every claim: quadratic over a province's day of mail).
    The conditional update is the claim: a row another process took no longer matches. A batch's
    ids are usually close together, so their content is read as one id range.
    """
    taken: list[Any] = []
    for claim in _CLAIMS:
        if len(taken) < limit:
            taken += session.execute(claim, {"now": now, "expired_before": now - lease, "n": limit - len(taken)}).all()
    if not taken:
        return []
    ids = [row.id for row in taken]
    if max(ids) - min(ids) < 2 * limit:
        bodies = session.execute(_BODIES_BETWEEN, {"lo": min(ids), "hi": max(ids)})
    else:
        bodies = session.execute(_BODIES_IN, {"ids": ids})
    raw = dict(bodies.all())  # type: ignore[arg-type]
    return [Claimed(r.id, list(r.to_addrs), raw[r.id], r.message_id, r.recipient) for r in sorted(taken, key=lambda r: r.id)]


def release(session: Session | Connection, ids: Sequence[int]) -> None:
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
    session: Session, message_id: int, error: str, *, permanent: bool, now: dt.datetime, max_attempts: int, retry_after: int,
    retry_at: dt.datetime | None = None,
) -> str:
    """Record a failed attempt: retry later with backoff (or at ``retry_at``, when a rate limit says when), or give up;
    returns the new state."""
    row = session.get_one(OutboxMessage, message_id)
    row.last_error = error
    if permanent or row.attempts >= max_attempts:
        row.state = "failed"
    else:
        row.state = "pending"
        row.next_attempt_at = retry_at or now + dt.timedelta(seconds=retry_after * 2 ** (row.attempts - 1))
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
