"""The daily job stores its messages, bodies and ledger rows in bulk (tracker.outbox.bulk_insert, issue 17): on SQLite
the rows go to the driver as tuples. What it writes must be exactly what SQLAlchemy's own insert writes for the same
values (so every reader sees the same rows), and the ids it hands out must be the ones the rows got."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, text

from tracker.db import create_database, make_engine, write_session
from tracker.models import OutboxBody, OutboxMessage
from tracker.outbox import RenderedMessage, bulk_insert, store_messages

NOW = dt.datetime(2021, 3, 15, 8, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
DAY = dt.date(2021, 3, 15)


def _message(n: int) -> RenderedMessage:
    return RenderedMessage(recipient=f"第{n}单位", to=[f"u{n}@example.cn", "抄送@example.cn"], subject=f"【提醒】第{n}单位：1项已逾期",
                           message_id=f"<{n}@example.cn>", raw=f"Subject: x\r\n\r\n正文 {n}\r\n",
                           entries=[{"item": str(n), "unit": f"第{n}单位", "due": "2021-03-01", "progress": 0, "note": None}])


def _rows(engine, table: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY id"))]


def test_bulk_rows_are_the_rows_sqlalchemy_writes(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    create_database(engine)
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    same = {"kind": "reminder", "run_date": DAY, "state": "pending", "created_at": NOW}
    with write_session(engine) as session:
        session.execute(insert(table), [{**same, "id": 1, "recipient": "甲", "to_addrs": ["a@b.cn"], "subject": "主题",
                                         "message_id": "<1@b.cn>"}])
        bulk_insert(session, table, same, ("id", "recipient", "to_addrs", "subject", "message_id"),
                    [(2, "甲", ["a@b.cn"], "主题", "<2@b.cn>")])
        bodies = OutboxBody.__table__  # type: ignore[attr-defined]
        session.execute(insert(bodies), [{"id": 1, "raw": "原文", "entries": [{"a": 1, "b": "乙"}]}])
        bulk_insert(session, bodies, {}, ("id", "raw", "entries"), [(2, "原文", [{"a": 1, "b": "乙"}])])
    sqlalchemy_row, bulk_row = _rows(engine, "outboxmessage")
    assert sqlalchemy_row[0] == 1 and bulk_row[0] == 2
    # every column alike but the id and the Message-ID: defaults (attempts, last_error), the date, the UTC moment, JSON
    assert [v for v in sqlalchemy_row[1:] if v != "<1@b.cn>"] == [v for v in bulk_row[1:] if v != "<2@b.cn>"]
    first, second = _rows(engine, "outboxbody")
    assert first[1:] == second[1:]


def test_stored_messages_get_the_ids_returned_and_read_back_as_written(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'b.db'}")
    create_database(engine)
    with write_session(engine) as session:
        earlier = store_messages(session, [_message(0)], run_date=DAY, now=NOW, kind="report")
        ids = store_messages(session, [_message(n) for n in range(1, 6)], run_date=DAY, now=NOW, kind="reminder")
    assert ids == list(range(earlier[0] + 1, earlier[0] + 6))
    with write_session(engine) as session:
        for n, ident in enumerate(ids, start=1):
            message, body = session.get(OutboxMessage, ident), session.get(OutboxBody, ident)
            expected = _message(n)
            assert (message.recipient, message.to_addrs, message.subject, message.message_id) == (
                expected.recipient, expected.to, expected.subject, expected.message_id)
            assert (message.kind, message.state, message.attempts, message.last_error, message.run_date) == (
                "reminder", "pending", 0, "", DAY)
            assert message.created_at.replace(tzinfo=dt.timezone.utc) == NOW  # stored in UTC, as every moment
            assert (body.raw, body.entries) == (expected.raw, expected.entries)
