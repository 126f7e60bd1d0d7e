"""The daily job renders and stores its mail a block at a time (issue 17, second pass): only one block of rendered
messages is held at once, yet the day is still one transaction. Whatever the block size, every stage in the ledger
points at the message of the recipient the decision gave it, every message parses back, and a failure in a later
block leaves nothing of the earlier ones behind."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json

import pytest
from sqlalchemy import create_engine, text

from notifications.render import _EntryView, build_message
from schedules.jobs import CheckSettings, preview_check
from tracker import outbox
from tracker.calendar import WorkCalendar
from tracker.queries import LightRules
from tracker.reminders import DigestEntry, Policy

DAY = dt.date(2020, 10, 9)


def _plan(url: str):
    engine = create_engine(url)
    try:
        settings = CheckSettings(policy=Policy(), lights=LightRules(), sender="x <x@example.cn>", county="武定县", subject_prefix="")
        return preview_check(engine, settings, WorkCalendar(), DAY)
    finally:
        engine.dispose()


@pytest.mark.clock
def test_blocks_of_two_link_every_stage_to_its_recipients_message(seeded, monkeypatch):
    seeded("units", "set", "县教育体育局", "--email", "jyj@wuding.example")
    plan = _plan(seeded.absolute_url)
    assert len(plan.digests) > 4  # several blocks of two, the last one short or full
    monkeypatch.setattr(outbox, "STORE_BLOCK", 2)
    report = seeded.json("run", "--once", "--today", DAY.isoformat())["check"]
    assert report["messages"] == len(plan.digests) and report["notices"] == len(plan.notices)
    engine = create_engine(seeded.absolute_url)
    with engine.connect() as conn:
        messages = conn.execute(text("SELECT m.id, m.recipient, m.message_id, b.raw, b.entries FROM outboxmessage m "
                                     "JOIN outboxbody b ON b.id = m.id WHERE m.kind = 'reminder' ORDER BY m.id")).all()
        ledger = conn.execute(text("SELECT n.assignment_id, n.due_on, n.stage, m.recipient FROM notice n "
                                   "JOIN outboxmessage m ON m.id = n.message_id")).all()
    engine.dispose()
    # in the decision's order, one message per digest, each addressed to its digest's recipient and carrying its entries
    assert [m.recipient for m in messages] == [d.recipient for d in plan.digests]
    assert len({m.id for m in messages}) == len(messages)
    for (ident, recipient, message_id, raw, entries), digest in zip(messages, plan.digests):
        parsed = email.message_from_bytes(raw.encode("utf-8"), policy=email.policy.SMTP)
        assert not parsed.defects and str(parsed["Message-ID"]) == message_id
        assert parsed["To"].addresses[0].display_name == recipient
        assert (json.loads(entries) if isinstance(entries, str) else entries) == [e.to_json() for e in digest.entries]
    # every planned stage is claimed, by the message that went to the recipient the decision chose for it
    planned = {(n.assignment_id, n.due_on.isoformat(), n.stage): n.recipient for n in plan.notices}
    stored = {(a, str(d)[:10], s): r for a, d, s, r in ledger}
    assert stored == planned


@pytest.mark.clock
def test_a_fault_in_a_later_block_stores_nothing_of_the_earlier_ones(seeded, monkeypatch):
    plan = _plan(seeded.absolute_url)
    last = plan.digests[-1].recipient  # rendered in the last block, after earlier blocks were written
    engine = create_engine(seeded.absolute_url)
    with engine.begin() as conn:  # an address without "@": rendering its digest is refused
        conn.execute(text("UPDATE unit SET emails = :e WHERE name = :n"), {"e": json.dumps(["no-at-sign"]), "n": last})
    engine.dispose()
    before = seeded.snapshot()
    monkeypatch.setattr(outbox, "STORE_BLOCK", 2)
    result = seeded("run", "--once", "--today", DAY.isoformat(), ok=False)
    assert result.exit_code == 1 and "no-at-sign" in result.output
    after = seeded.snapshot()
    for table in ("outboxmessage", "outboxbody", "notice"):
        assert after[table] == before[table] == []


def test_an_entry_view_carries_what_the_templates_read():
    entry = DigestEntry(item="3", title="义务教育均衡", unit="狮山镇", role="lead", stage="before-7", due=dt.date(2021, 3, 20),
                        days_left=5, light="yellow", on_behalf=True, note="已完成初稿", task="推进", domain="教育", progress=40,
                        occurrence="2021-03", signed=False)
    view = _EntryView(entry)
    for name in ("item", "occurrence", "unit", "on_behalf", "task", "domain", "progress", "note", "signed", "due", "days_left"):
        assert getattr(view, name) == getattr(entry, name)
    assert view.heading == "推进——教育领域" and view.timing == "期限 2021-03-20，还剩 5 天"
    assert (view.light_label, view.light_color) == ("黄灯", "#b8860b")
    late = _EntryView(DigestEntry(item="4", title="标题", unit="甲", role="lead", stage="overdue-1", due=dt.date(2021, 3, 1),
                                  days_left=-14, light="purple"))
    assert late.heading == "标题" and late.timing == "期限 2021-03-01，已逾期 14 天"
    assert (late.light_label, late.light_color) == ("purple", "#555")  # a light the labels do not know is shown as is


def test_the_date_header_follows_the_moments_zone():
    """The Date header is written once per moment; the same moment in another zone is equal to it but is written
    with its own offset."""
    here = dt.datetime(2021, 3, 15, 8, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    utc = here.astimezone(dt.timezone.utc)
    assert here == utc and hash(here) == hash(utc)
    dates = []
    for now in (here, utc, here):
        raw = build_message(recipient="甲", to=["a@example.cn"], subject="主题", text="正文", html=None,
                            sender="办公室 <o@example.cn>", now=now, entries=[]).raw
        dates.append(str(email.message_from_string(raw, policy=email.policy.SMTP)["Date"]))
    assert dates == ["Mon, 15 Mar 2021 08:30:00 +0800", "Mon, 15 Mar 2021 00:30:00 +0000", "Mon, 15 Mar 2021 08:30:00 +0800"]
