"""The outbox: messages are stored before delivery, claimed before sending, and their outcome recorded.

Claiming is a conditional update (``... WHERE id = ? AND state = 'pending'``, then the row count),
so two processes never send the same message. A message left in 'sending' by a process that died
is taken over once its lease has run out; it is sent again with the same Message-ID.

A claim names its owner (``claimed_by``, one token per pass of a pump), and the owner renews the
claims it still holds after every message: however long a batch takes on a slow server, a claim
never expires while its owner is working, and an owner that finds a claim taken over skips it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Integer, bindparam, insert, or_, text, update
from sqlmodel import Session, select

from tracker.bulk import batched
from tracker.disclosures import store_disclosure_notices
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


STORE_BLOCK = 256  # messages rendered and written at a time by ``store_check``


def store_check(
    session: Session, plan: CheckPlan, rendered: Iterable[RenderedMessage], *, now: dt.datetime, kind: str = "reminder",
) -> list[int]:
    """Write the messages of one check and the ledger rows that claim its stages, in the caller's transaction;
    returns the messages' ids.

    ``rendered`` may be a generator that renders each message as it is asked for: the messages are written
    ``STORE_BLOCK`` at a time, all in the caller's one transaction (the day is still stored whole or not at all), so
    only one block of rendered mail is held at once. At 1M assignments the day's mail is about 280 MB of text, and its
    entries more again as Python objects: holding all of it until one insert was most of the job's peak memory."""
    stored: list[int] = []
    ids: dict[str, int] = {}
    for messages in batched(rendered, STORE_BLOCK):
        numbers = store_messages(session, messages, run_date=plan.today, now=now, kind=kind)
        stored += numbers
        ids.update((m.recipient, number) for m, number in zip(messages, numbers))
    if plan.notices:  # one executemany: a province's first morning has about 75,000 ledger rows, too many to build as objects
        bulk_insert(session, Notice.__table__, {"sent_on": plan.today, "created_at": now},  # type: ignore[attr-defined]
                    ("assignment_id", "due_on", "stage", "rank", "message_id"),
                    [(n.assignment_id, n.due_on, n.stage, n.rank, ids.get(n.recipient)) for n in plan.notices])
    store_disclosure_notices(session, plan, ids, now)
    session.flush()
    return stored


def store_messages(
    session: Session, messages: Sequence[RenderedMessage], *, run_date: dt.date, now: dt.datetime, kind: str,
) -> list[int]:
    """Many messages in two statements (rows, then bodies), not one ORM object and flush each; their ids, in order."""
    if not messages:
        return []
    table, bodies = OutboxMessage.__table__, OutboxBody.__table__  # type: ignore[attr-defined]
    connection = session.connection()
    if connection.dialect.name == "sqlite":  # the writer holds the database's one write lock: the next ids are ours
        first = connection.exec_driver_sql("SELECT coalesce(max(id), 0) + 1 FROM outboxmessage").scalar_one()
        ids = list(range(first, first + len(messages)))
        bulk_insert(session, table, {"kind": kind, "run_date": run_date, "state": "pending", "created_at": now},
                    ("id", "recipient", "to_addrs", "subject", "message_id"),
                    [(i, m.recipient, list(m.to), m.subject, m.message_id) for i, m in zip(ids, messages)])
        bulk_insert(session, bodies, {}, ("id", "raw", "entries"), [(i, m.raw, m.entries) for i, m in zip(ids, messages)])
        return ids
    ids = list(session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), [
        {"kind": kind, "run_date": run_date, "recipient": m.recipient, "to_addrs": list(m.to), "subject": m.subject,
         "message_id": m.message_id, "state": "pending", "created_at": now} for m in messages]).scalars())
    session.execute(insert(bodies), [{"id": i, "raw": m.raw, "entries": m.entries} for i, m in zip(ids, messages)])
    return ids


def bulk_insert(session: Session, table: Any, same: dict[str, Any], names: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """Insert ``rows`` (values of the columns ``names``; ``same`` holds the values every row shares) in one executemany.

    On SQLite the rows go to the driver as tuples, each value through its column's own bind processor (so they are
    stored exactly as SQLAlchemy stores them) and the shared values and column defaults processed once: SQLAlchemy's
    own executemany builds and processes a parameter dictionary per row, which for a province's first morning (4,000
    messages and their bodies, tens of thousands of ledger rows) cost more than writing them. Elsewhere, SQLAlchemy's."""
    connection = session.connection()
    dialect = connection.dialect
    given = {*names, *same}
    if dialect.name != "sqlite" or any(c.default is not None and not c.default.is_scalar for c in table.c if c.name not in given):
        # elsewhere, or a column whose default is computed per row: SQLAlchemy's insert, which knows how
        session.execute(insert(table), [{**same, **dict(zip(names, row))} for row in rows])
        return
    # the column defaults as SQLAlchemy's insert applies them (all scalar: checked above)
    same = {**{c.name: c.default.arg for c in table.c if c.default is not None and c.name not in given}, **same}
    constants = tuple(_processed(table.c[name], dialect, value) for name, value in same.items())
    processors = [(n, p) for n, name in enumerate(names) if (p := _bind_processor(table.c[name], dialect))]
    if processors:
        rows = [_row(row, processors) for row in rows]
    columns = ", ".join([*names, *same])
    marks = ", ".join("?" * (len(names) + len(same)))
    connection.exec_driver_sql(f"INSERT INTO {table.name} ({columns}) VALUES ({marks})",
                               [(*row, *constants) for row in rows])


def _bind_processor(column: Any, dialect: Any) -> Any:
    """What SQLAlchemy applies to a value of ``column`` before handing it to the driver (None: nothing), through the
    public API: the type's implementation for this dialect (a TypeDecorator's included) and its bind processor."""
    return column.type.dialect_impl(dialect).bind_processor(dialect)


def _processed(column: Any, dialect: Any, value: Any) -> Any:
    process = _bind_processor(column, dialect)
    return process(value) if process else value


def _row(row: tuple[Any, ...], processors: list[tuple[int, Any]]) -> tuple[Any, ...]:
    values = list(row)
    for n, process in processors:
        values[n] = process(values[n])
    return tuple(values)


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
    owner = bindparam("owner")
    mail = OutboxMessage.channel_id == None  # noqa: E711  (robot posts have a pump of their own: tracker.chat_outbox)
    claimable = (
        mail & (OutboxMessage.state == "sending") & (OutboxMessage.claimed_at <= expired_before),  # type: ignore[operator]
        mail & (OutboxMessage.state == "pending") & or_(OutboxMessage.next_attempt_at == None, OutboxMessage.next_attempt_at <= now),  # noqa: E711
    )
    return tuple(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(  # type: ignore[attr-defined]
            select(OutboxMessage.id).where(condition).order_by(OutboxMessage.id).limit(n).scalar_subquery()), condition)
        .values(state="sending", claimed_at=now, claimed_by=owner, attempts=OutboxMessage.attempts + 1)
        .returning(OutboxMessage.id, OutboxMessage.to_addrs, OutboxMessage.message_id, OutboxMessage.recipient,
                   OutboxMessage.run_date)
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
    run_date: dt.date | None = None


def claim_batch(
    session: Session | Connection, *, now: dt.datetime, lease: dt.timedelta, limit: int, owner: str = "",
) -> list[Claimed]:
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
            taken += session.execute(
                claim, {"now": now, "expired_before": now - lease, "n": limit - len(taken), "owner": owner}).all()
    if not taken:
        return []
    ids = [row.id for row in taken]
    if max(ids) - min(ids) < 2 * limit:
        bodies = session.execute(_BODIES_BETWEEN, {"lo": min(ids), "hi": max(ids)})
    else:
        bodies = session.execute(_BODIES_IN, {"ids": ids})
    raw = dict(bodies.all())  # type: ignore[arg-type]
    return [Claimed(r.id, list(r.to_addrs), raw[r.id], r.message_id, r.recipient, r.run_date)
            for r in sorted(taken, key=lambda r: r.id)]


_OWNED = (OutboxMessage.id.in_(bindparam("ids", expanding=True)), OutboxMessage.state == "sending",  # type: ignore[attr-defined]
          OutboxMessage.claimed_by == bindparam("owner"))
_RENEW = (update(OutboxMessage).where(*_OWNED)
          .values(claimed_at=bindparam("now", type_=OutboxMessage.__table__.c.claimed_at.type))  # type: ignore[attr-defined]
          .returning(OutboxMessage.id))
_RELEASE = update(OutboxMessage).where(*_OWNED).values(state="pending", claimed_at=None, claimed_by=None,
                                                       attempts=OutboxMessage.attempts - 1)
_RELEASE_WITH_NOTE = _RELEASE.values(last_error=bindparam("note"))


def renew(session: Session | Connection, ids: Sequence[int], *, owner: str, now: dt.datetime) -> set[int]:
    """Extend the lease on the claims ``owner`` still holds among ``ids``; returns those (a row taken over is not)."""
    if not ids:
        return set()
    return set(session.execute(_RENEW, {"ids": list(ids), "owner": owner, "now": now}).scalars())


def release(session: Session | Connection, ids: Sequence[int], *, owner: str = "", note: str = "") -> None:
    """Give back claimed messages that were not attempted (the process is stopping, the server is down, the
    settings are wrong): the attempt is not charged; ``note`` says why, for `outbox list`."""
    if note:
        session.execute(_RELEASE_WITH_NOTE, {"ids": list(ids), "owner": owner, "note": note})
    else:
        session.execute(_RELEASE, {"ids": list(ids), "owner": owner})


_SENT = text("UPDATE outboxmessage SET state = 'sent', sent_at = :at, last_error = :note WHERE id = :id").bindparams(
    bindparam("at", type_=OutboxMessage.__table__.c.sent_at.type)  # type: ignore[attr-defined]
)


def record_sent(connection: Connection | Session, message_id: int, *, now: dt.datetime, note: str = "") -> None:
    """One cached statement: this runs once per message delivered, between two round trips to the server."""
    connection.execute(_SENT, {"at": now, "note": note, "id": message_id})


def retry_delay(attempts: int, retry_after: int, retry_max: int | None) -> dt.timedelta:
    """The wait after the ``attempts``-th failed attempt: doubling from ``retry_after``, at most ``retry_max`` seconds."""
    seconds = retry_after * 2 ** min(attempts - 1, 40)
    return dt.timedelta(seconds=seconds if retry_max is None else min(seconds, retry_max))


def record_failure(
    session: Session, message_id: int, error: str, *, permanent: bool, now: dt.datetime, max_attempts: int, retry_after: int,
    retry_max: int | None = None, owner: str | None = None, retry_at: dt.datetime | None = None,
) -> str:
    """Record a failed attempt: retry later with backoff (or at ``retry_at``, when a rate limit says when), or give up;
    returns the new state.

    With ``owner``, a message no longer claimed by it (another pump took it over, and may have sent
    it) is left as it is: recording this failure would put a delivered message back in the queue.
    """
    row = session.get_one(OutboxMessage, message_id)
    if owner is not None and (row.state != "sending" or row.claimed_by != owner):
        return row.state
    row.last_error = error
    if permanent or row.attempts >= max_attempts:
        row.state = "failed"
    else:
        row.state = "pending"
        row.next_attempt_at = retry_at or now + retry_delay(row.attempts, retry_after, retry_max)
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
