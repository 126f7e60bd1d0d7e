"""The supervision cycle in the domain and at the command line: sign, report, review (approve / return), extensions.

Expectations come from the issue: a completion that needs review changes nothing until approved,
then counts on the unit's date; a return reopens with a reason the unit sees; an extension can be
asked only before the deadline; every step is journalled with its actor.
"""

from __future__ import annotations

import datetime as dt
import email
from email import policy
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import inspect, text
from sqlmodel import Session, select

from tracker.calendar import WorkCalendar
from tracker.cycle import (acknowledge, report, request_extension, unit_assignment, unit_tasks,
                           unsigned)
from tracker.db import head_revision, make_engine, upgrade_database
from tracker.errors import AccessError, CycleError
from tracker.models import Assignment, Item, Notice, OutboxBody, OutboxMessage, Unit
from tracker.queries import LightRules

TZ = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar()


def at(day: str, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), tzinfo=TZ)


def ids(session: Session, key: str, unit: str) -> tuple[int, int]:
    row = session.exec(select(Assignment.id, Assignment.unit_id).join(Item).join(Unit, Unit.id == Assignment.unit_id)
                       .where(Item.key == key, Unit.name == unit, Assignment.role == "principal")).one()
    return row[0], row[1]


@pytest.fixture
def engine(seeded):
    engine = make_engine(seeded.absolute_url)
    yield engine
    engine.dispose()


def test_the_whole_cycle_from_sign_to_closed_on_the_units_date(seeded, engine):
    with Session(engine, expire_on_commit=False) as s:
        aid, uid = ids(s, "1.义务教育", "县教育体育局")
        assert acknowledge(s, aid, unit_id=uid, by="教体局 李明", now=at("2020-09-10")) is True
        assert acknowledge(s, aid, unit_id=uid, by="教体局 李明", now=at("2020-09-11")) is False
        first = report(s, aid, unit_id=uid, kind="done", by="教体局 李明", today=dt.date(2020, 9, 22), now=at("2020-09-22"),
                       completed_on=dt.date(2020, 9, 21), evidence="武教发〔2020〕12号")
        s.commit()
        assert first.review == "pending"  # fixed deadline: reviewed by default
    shown = {a["unit"]: a for a in seeded.json("show", "1.义务教育", "--today", "2020-09-22")["assignments"]}
    assert shown["县教育体育局"]["state"] == "not_started"  # waiting for review changes nothing yet
    queue = seeded.json("review", "list")
    assert [(q["id"], q["unit"], q["completed_on"]) for q in queue] == [(first.id, "县教育体育局", "2020-09-21")]
    seeded("review", "return", str(first.id), "--reason", "缺少盖章的目录文件", "--by", "王主任", "--today", "2020-09-23")
    assert seeded.json("review", "list") == []
    with Session(engine, expire_on_commit=False) as s:
        [group] = unit_tasks(s, uid, dt.date(2020, 9, 23), CAL, LightRules())
        task = next(t for t in group.tasks if t.item.item.key == "1.义务教育")
        assert task.returned is not None and task.returned.review_note == "缺少盖章的目录文件"
        assert {t.view.unit for t in group.tasks} == {"县教育体育局"}  # nobody else's work
        second = report(s, aid, unit_id=uid, kind="done", by="教体局 李明", today=dt.date(2020, 9, 24), now=at("2020-09-24"),
                        completed_on=dt.date(2020, 9, 24), evidence="武教发〔2020〕12号（盖章件）")
        with pytest.raises(CycleError, match="等待县政府办公室审核"):
            report(s, aid, unit_id=uid, kind="progress", by="x", today=dt.date(2020, 9, 24), now=at("2020-09-24"),
                   progress=50, note="再报")
        s.commit()
    seeded("review", "approve", str(second.id), "--by", "王主任", "--today", "2020-10-09")
    shown = {a["unit"]: a for a in seeded.json("show", "1.义务教育", "--today", "2020-10-09")["assignments"]}
    assert (shown["县教育体育局"]["status"], shown["县教育体育局"]["completed_on"]) == ("done", "2020-09-24")  # on time: the unit's date
    history = seeded.json("history", "1.义务教育", "--unit", "县教育体育局")
    steps = [(h["action"], h["by"]) for h in history]
    assert steps == [("acknowledge", "教体局 李明"), ("report", "教体局 李明"), ("review_return", "王主任"),
                     ("report", "教体局 李明"), ("review_approve", "王主任"), ("status", "王主任")]
    assert "退回" in seeded("history", "1.义务教育", "--unit", "县教育体育局").stdout
    exported = seeded.json("export")["unit_reports"]
    assert [(r["review"], r["submitted_at"]) for r in exported] == [("returned", "2020-09-22T10:00:00+08:00"),
                                                                     ("approved", "2020-09-24T10:00:00+08:00")]
    refused = seeded("review", "approve", str(second.id), "--today", "2020-10-09", ok=False)
    assert refused.exit_code == 1 and "不在待审核状态" in refused.output


def test_progress_reports_and_review_none(seeded, engine):
    seeded.write_config('[cycle]\nreview = "none"\n')
    with Session(engine, expire_on_commit=False) as s:
        aid, uid = ids(s, "1.义务教育", "狮山镇人民政府")
        report(s, aid, unit_id=uid, kind="progress", by="狮山镇 张", today=dt.date(2020, 9, 1), now=at("2020-09-01"),
               progress=40, note="已收集 12 个事项")
        with pytest.raises(CycleError, match="0 到 100"):
            report(s, aid, unit_id=uid, kind="progress", by="x", today=dt.date(2020, 9, 1), now=at("2020-09-01"), progress=101, note="n")
        with pytest.raises(CycleError, match="未来"):
            report(s, aid, unit_id=uid, kind="done", by="x", today=dt.date(2020, 9, 1), now=at("2020-09-01"),
                   completed_on=dt.date(2020, 9, 2), evidence="e", review="none")
        entry = report(s, aid, unit_id=uid, kind="done", by="狮山镇 张", today=dt.date(2020, 9, 29), now=at("2020-09-29"),
                       completed_on=dt.date(2020, 9, 28), evidence="狮政发〔2020〕5号", review="none")
        s.commit()
        assert entry.review == "none"
        assert s.get(Assignment, aid).acknowledged_at is not None  # a report implies signing
    shown = {a["unit"]: a for a in seeded.json("show", "1.义务教育", "--today", "2020-09-29")["assignments"]}
    assert (shown["狮山镇人民政府"]["state"], shown["狮山镇人民政府"]["completed_on"]) == ("done", "2020-09-28")
    # the office can still send a counted completion back: it reopens
    seeded("review", "return", str(entry.id), "--reason", "文件未公开", "--today", "2020-09-30")
    shown = {a["unit"]: a for a in seeded.json("show", "1.义务教育", "--today", "2020-09-30")["assignments"]}
    assert shown["狮山镇人民政府"]["state"] == "in_progress"


def test_a_unit_cannot_touch_another_units_assignment(seeded, engine):
    with Session(engine, expire_on_commit=False) as s:
        aid, _uid = ids(s, "1.义务教育", "县教育体育局")
        _other, other_uid = ids(s, "1.义务教育", "狮山镇人民政府")
        for attempt in (lambda: acknowledge(s, aid, unit_id=other_uid, by="x", now=at("2020-09-10")),
                        lambda: unit_assignment(s, 999999, other_uid)):
            with pytest.raises(AccessError, match="没有找到编号"):
                attempt()


def test_extension_only_before_the_deadline_and_decided_by_the_office(seeded, engine):
    with Session(engine, expire_on_commit=False) as s:
        aid, uid = ids(s, "1.义务教育", "高桥镇人民政府")
        late_aid, late_uid = ids(s, "1.义务教育", "猫街镇人民政府")
        with pytest.raises(CycleError, match="已过"):
            request_extension(s, late_aid, unit_id=late_uid, to=dt.date(2020, 10, 31), reason="人手不足", by="x",
                              today=dt.date(2020, 10, 9), now=at("2020-10-09"), calendar=CAL)
        with pytest.raises(CycleError, match="不晚于"):
            request_extension(s, aid, unit_id=uid, to=dt.date(2020, 9, 30), reason="r", by="x", today=dt.date(2020, 9, 25),
                              now=at("2020-09-25"), calendar=CAL)
        first = request_extension(s, aid, unit_id=uid, to=dt.date(2020, 10, 31), reason="村级数据未报齐", by="高桥镇 赵",
                                  today=dt.date(2020, 9, 25), now=at("2020-09-25"), calendar=CAL)
        s.commit()
    listed = seeded.json("extension", "list")
    assert [(e["id"], e["unit"], e["current_due"], e["proposed_due"]) for e in listed] == [
        (first.id, "高桥镇人民政府", "2020-09-30", "2020-10-31")]
    seeded("extension", "grant", str(first.id), "--note", "同意", "--today", "2020-09-27")
    shown = {a["unit"]: a for a in seeded.json("show", "1.义务教育", "--today", "2020-10-09")["assignments"]}
    assert (shown["高桥镇人民政府"]["effective_due"], shown["高桥镇人民政府"]["status"]) == ("2020-10-31", "not_started")
    assert shown["猫街镇人民政府"]["status"] == "overdue"
    with Session(engine, expire_on_commit=False) as s:
        second = request_extension(s, aid, unit_id=uid, to=dt.date(2020, 11, 30), reason="再延", by="高桥镇 赵",
                                   today=dt.date(2020, 10, 20), now=at("2020-10-20"), calendar=CAL)
        s.commit()
    seeded("extension", "refuse", str(second.id), "--reason", "不再延期", "--today", "2020-10-21")
    assert [e["decision"] for e in seeded.json("extension", "list", "--all")] == ["granted", "refused"]
    refused = seeded("extension", "refuse", str(second.id), "--reason", "x", "--today", "2020-10-21", ok=False)
    assert refused.exit_code == 1 and "已处理" in refused.output
    assert [h["action"] for h in seeded.json("history", "1.义务教育", "--unit", "高桥镇人民政府")] == [
        "extension_request", "extend", "extension_request", "extension_refuse"]


def test_units_that_did_not_sign_after_the_first_reminder(seeded, engine):
    with Session(engine, expire_on_commit=False) as s:
        aid, uid = ids(s, "1.义务教育", "白路镇人民政府")
        signed, signed_uid = ids(s, "1.义务教育", "万德镇人民政府")
        for a in (aid, signed):
            s.add(Notice(assignment_id=a, due_on=dt.date(2020, 9, 30), stage="before_30", rank=1, sent_on=dt.date(2020, 8, 31),
                         created_at=at("2020-08-31")))
        acknowledge(s, signed, unit_id=signed_uid, by="万德镇", now=at("2020-09-01"))
        s.commit()
        # first reminder Mon 08-31; 3 working days → Thu 09-03; late from Fri 09-04
        assert unsigned(s, dt.date(2020, 9, 3), CAL, 3) == []
        assert unsigned(s, dt.date(2020, 9, 4), CAL, 3) == [("白路镇人民政府", "1.义务教育", dt.date(2020, 8, 31))]


def test_upgrade_from_0009_keeps_assignments_and_adds_the_cycle(cli):
    engine = make_engine(cli.absolute_url)
    upgrade_database(engine, "0009")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO plan (id, title, source, checksum, plan_year, county, domain_row_principals, "
                          "lead_does_work) VALUES (1, '旧计划', 'old.txt', 'x', 2020, '武定县', 'guiding', false)"))
        conn.execute(text("INSERT INTO unit (id, name, kind, emails, aliases, contact, phone, mobiles) VALUES "
                          "(1, '县市场监管局', 'department', '[]', '[]', '王五', '', '[]')"))
        conn.execute(text("INSERT INTO worktask (id, number, title, position, retired) VALUES (1, '1', '任务', 0, false)"))
        conn.execute(text("INSERT INTO item (id, key, task_id, title, deadline_text, deadline, lead_text, principal_text, "
                          "guiding_text, cooperating_text, leader_text, contact_text, inherited, source_line, position, retired) "
                          "VALUES (1, '1', 1, '事项', '2020年9月底', '{\"kind\": \"fixed\", \"due\": \"2020-09-30\"}', '', '', '', '', "
                          "'', '', '[]', 1, 0, false)"))
        conn.execute(text("INSERT INTO assignment (id, item_id, unit_id, role, state, progress, note, evidence, na_reason, "
                          "occurrence, retired) VALUES (1, 1, 1, 'principal', 'in_progress', 30, '进行中', '', '', '', false)"))
    assert cli.json("db", "upgrade") == {"from": "0009", "to": head_revision(), "changed": True}
    assert {"unitreport", "extensionrequest", "unitlink", "officeuser"} <= set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        assert conn.execute(text("SELECT state, progress, acknowledged_at, acknowledged_by FROM assignment")).one() == (
            "in_progress", 30, None, "")
    engine.dispose()


def test_units_that_do_not_sign_are_named_once_in_the_lead_and_office_digests(seeded, engine, monkeypatch):
    monkeypatch.setenv("TRACKER_WEB_SECRET", "digest-secret-0123456789")
    seeded.write_config('[web]\npublic_url = "https://renwu.wuding.example"\n[mail]\ntransport = "memory"\n')
    first = seeded.json("run", "--once", "--today", "2020-08-31")  # 1.* due 09-30: the 30-day reminder, Monday
    assert first["check"]["messages"] > 0
    with Session(engine, expire_on_commit=False) as s:
        signed, signed_uid = ids(s, "1.义务教育", "县教育体育局")
        acknowledge(s, signed, unit_id=signed_uid, by="教体局", now=at("2020-09-02"))
        s.commit()
    assert not [e for m in seeded.json("remind", "--dry-run", "--today", "2020-09-03") for e in m["entries"]
                if e["stage"] == "unsigned"]  # three working days (09-01..09-03) are allowed
    late = [(m["recipient"], e["unit"], e["item"], e["role"]) for m in seeded.json("remind", "--dry-run", "--today", "2020-09-04")
            for e in m["entries"] if e["stage"] == "unsigned"]
    assert ("县政府办公室", "狮山镇人民政府", "1.义务教育", "lead") in late
    assert not [x for x in late if x[1] == "县教育体育局"]  # it signed
    assert {x[0] for x in late} == {"县政府办公室"}  # 县人民政府 leads these items and acts through the office
    seeded("run", "--once", "--today", "2020-09-04")
    with Session(engine) as s:
        [raw] = s.exec(select(OutboxBody.raw).join(OutboxMessage, OutboxMessage.id == OutboxBody.id)
                       .where(OutboxMessage.recipient == "县政府办公室", OutboxMessage.run_date == dt.date(2020, 9, 4))).all()
    text = email.message_from_string(raw, policy=policy.default).get_body(("plain",)).get_content()
    assert "督办：以下单位收到提醒后未按时签收" in text and "狮山镇人民政府" in text.split("未按时签收", 1)[1]
    again = [e for m in seeded.json("remind", "--dry-run", "--today", "2020-09-07") for e in m["entries"] if e["stage"] == "unsigned"]
    assert again == []  # told once


def test_reminders_go_out_without_links_when_the_secret_is_missing(seeded, engine, monkeypatch):
    """The reminder pipeline never depends on the web application: a missing secret costs the links, not the mail."""
    monkeypatch.delenv("TRACKER_WEB_SECRET", raising=False)
    seeded.write_config('[web]\npublic_url = "https://renwu.wuding.example"\n[mail]\ntransport = "memory"\n')
    result = seeded("run", "--once", "--today", "2020-08-31")
    assert "不附单位链接" in result.output and "TRACKER_WEB_SECRET" in result.output
    with Session(engine) as s:
        raws = s.exec(select(OutboxBody.raw)).all()
    assert raws and not [r for r in raws if "renwu.wuding.example" in r]
