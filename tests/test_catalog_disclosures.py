"""Disclosure deadlines from accepted catalogues: the working-day calendar, reminders through the digests, the weekly report.

The dates are worked out from the rules, not read off the product: 2020-10-01..08 were the National Day
and Mid-Autumn holidays, Sunday 2020-09-27 and Saturday 2020-10-10 were make-up working days.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import create_engine, inspect, text

from tests.conftest import SHARED_SEED, use_smtp
from tests.test_catalog import ITEM, UNIT, dump, row
from tracker.calendar import WorkCalendar
from tracker.db import head_revision, make_engine, upgrade_database

ENTRY = f"{ITEM}/{UNIT}/2"


def _accept(cli, path=SHARED_SEED) -> None:
    cli("catalog", "accept", str(path), "--unit", UNIT, "--item", ITEM, "--today", "2020-09-25")


def test_twenty_working_days_across_the_national_day_holiday(seeded):
    _accept(seeded)
    # counted by hand: 9-29, 9-30, (10-1..8 holiday), 10-9, 10-10 (make-up Saturday), 10-12..16, 10-19..23, 10-26..30, 11-2
    calendar = WorkCalendar()
    days = [dt.date(2020, 9, 28) + dt.timedelta(days=n) for n in range(1, 40)]
    working = [d for d in days if calendar.is_workday(d)]
    assert working[:4] == [dt.date(2020, 9, 29), dt.date(2020, 9, 30), dt.date(2020, 10, 9), dt.date(2020, 10, 10)]
    assert working[19] == dt.date(2020, 11, 2)
    event = seeded.json("catalog", "event", ENTRY, "--formed", "2020-09-28", "--today", "2020-09-28", "--note", "某超市许可")
    assert (event["formed_on"], event["due_on"], event["status"], event["publisher"]) == ("2020-09-28", "2020-11-02", "open", UNIT)
    assert event["created"] is True and event["rule_note"] == "" and event["warnings"] == []
    again = seeded.json("catalog", "event", ENTRY, "--formed", "2020-09-28", "--today", "2020-09-29")
    assert again["created"] is False and again["id"] == event["id"]
    future = seeded("catalog", "event", ENTRY, "--formed", "2020-10-05", "--today", "2020-09-29", ok=False)
    assert future.exit_code == 1 and "晚于今天" in future.stderr
    history = seeded.json("history", ITEM, "--unit", UNIT)
    assert [e["action"] for e in history] == ["status", "disclosure"]
    assert history[1]["details"]["due_on"] == "2020-11-02" and history[1]["note"] == "某超市许可"


def test_realtime_and_prompt_use_the_configured_short_default_and_say_so(seeded, tmp_path):
    path = tmp_path / "目录.txt"
    path.write_text(dump([row("1", "行政许可", "许可结果", deadline="实时", publisher=UNIT),
                          row("2", "行政许可", "许可变更", deadline="及时公开", publisher=UNIT)]), "utf-8")
    _accept(seeded, path)
    realtime = seeded.json("catalog", "event", f"{UNIT}/1", "--formed", "2020-09-30", "--today", "2020-09-30")
    assert realtime["due_on"] == "2020-10-09"  # 1 working day after 9-30: the holiday is skipped
    assert "默认的 1 个工作日" in realtime["rule_note"] and "realtime_working_days" in realtime["rule_note"]
    prompt = seeded("catalog", "event", f"{UNIT}/2", "--formed", "2020-09-30", "--today", "2020-09-30")
    assert "应于 2020-10-14 前公开" in prompt.stdout  # 10-9, 10-10 (make-up Saturday), 10-12, 10-13, 10-14: 5 after 9-30
    assert "默认的 5 个工作日" in prompt.stdout
    seeded.write_config("\n[catalog]\nrealtime_working_days = 2\n")
    changed = seeded.json("catalog", "event", f"{UNIT}/1", "--formed", "2020-09-29", "--today", "2020-09-30")
    assert changed["due_on"] == "2020-10-09" and "默认的 2 个工作日" in changed["rule_note"]


def test_the_publisher_is_reminded_through_the_digest_and_the_office_sees_overdue_ones(seeded, smtp_server):
    _accept(seeded)
    first = seeded.json("catalog", "event", ENTRY, "--formed", "2020-09-28", "--today", "2020-09-28")
    # due 2020-11-02 (Monday): 7 days before is Monday 10-26, a working day
    planned = seeded.json("remind", "--dry-run", "--today", "2020-10-26")
    mine = [e for m in planned if m["recipient"] == UNIT for e in m["entries"] if e["item"] == f"公开{first['id']}"]
    assert mine == [{"plan": "", "item": f"公开{first['id']}", "occurrence": None, "unit": UNIT, "role": "principal", "stage": "before-7",
                     "due": "2020-11-02"}]
    use_smtp(seeded, smtp_server.port)
    seeded("run", "--once", "--today", "2020-10-26")
    mail = next(m for m in smtp_server.recorder.messages if m["To"].addresses[0].display_name == UNIT)
    body = mail.get_body(("plain",)).get_content()
    assert "食品生产经营许可基本信息" in body and "2020-11-02" in body
    again = seeded.json("remind", "--dry-run", "--today", "2020-10-26")
    assert not [e for m in again for e in m["entries"] if e["item"].startswith("公开")]  # the ledger claimed the stage
    overdue = seeded.json("remind", "--dry-run", "--today", "2020-11-03")
    late = {(m["recipient"], e["role"], e["stage"]) for m in overdue for e in m["entries"] if e["item"] == f"公开{first['id']}"}
    assert late == {(UNIT, "principal", "overdue-1"), ("县政府办公室", "county_office", "overdue-1")}
    report = seeded.json("report", "weekly", "--as-of", "2020-11-09")
    assert [(d["entry"], d["publisher"], d["due_on"], d["days_overdue"]) for d in report["overdue_disclosures"]] == [
        (ENTRY, UNIT, "2020-11-02", 7)]
    shown = seeded("report", "weekly", "--as-of", "2020-11-09").stdout
    section = shown[shown.index("逾期未公开的信息"):]
    assert "食品生产经营许可基本信息" in section and "已逾期 7 天" in section
    html = seeded.home / "通报.html"
    seeded("report", "weekly", "--as-of", "2020-11-09", "--out", str(html))
    page = html.read_text("utf-8")
    listed = page[page.index('id="overdue-disclosures"'):]
    assert "食品生产经营许可基本信息" in listed[:listed.index("</ul>")] and "已逾期 7 天" in listed
    done = seeded.json("catalog", "disclosed", str(first["id"]), "--on", "2020-11-04", "--today", "2020-11-04")
    assert done["status"] == "disclosed_late"
    later = seeded.json("remind", "--dry-run", "--today", "2020-11-10")
    assert not [e for m in later for e in m["entries"] if e["item"].startswith("公开")]
    assert seeded.json("report", "weekly", "--as-of", "2020-11-16")["overdue_disclosures"] == []


def test_upgrade_from_0003_keeps_the_data_and_adds_the_catalogue_tables(cli):
    engine = make_engine(cli.absolute_url)
    upgrade_database(engine, "0003")
    with engine.begin() as conn:  # a database the previous release made: its plan row, a unit, a message
        conn.execute(text("INSERT INTO plan (id, title, source, checksum, plan_year, county, domain_row_principals, "
                          "lead_does_work) VALUES (1, '旧计划', 'old.txt', 'x', 2020, '武定县', 'guiding', false)"))
        conn.execute(text("INSERT INTO unit (id, name, kind, emails, aliases, contact, phone) VALUES "
                          "(1, '县市场监管局', 'department', '[\"scjgj@wuding.example\"]', '[]', '王五', '')"))
        conn.execute(text("INSERT INTO outboxmessage (id, kind, run_date, recipient, to_addrs, subject, message_id, state, attempts, "
                          "last_error, created_at) VALUES (1, 'reminder', '2020-09-23', '县市场监管局', '[]', '旧邮件', '<a@b>', "
                          "'sent', 1, '', '2020-09-23 00:30:00')"))
    assert "catalogue" not in inspect(engine).get_table_names()
    assert cli.json("db", "upgrade") == {"from": "0003", "to": head_revision(), "changed": True}
    assert {"catalogue", "catalogueentry", "disclosure", "disclosurenotice"} <= set(inspect(engine).get_table_names())
    assert cli.json("units", "show", "县市场监管局")["contact"] == "王五"
    assert [m["subject"] for m in cli.json("outbox", "list")] == ["旧邮件"]
    assert cli.json("catalog", "list") == []
    engine.dispose()
    check = create_engine(cli.absolute_url)
    with check.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM catalogue")).scalar() == 0
    check.dispose()
