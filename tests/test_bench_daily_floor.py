"""The daily job's floor (bench/daily_floor.py) is honest: for the same day, on the same database, it stores what the
product's whole daily job stores, message for message and ledger row for ledger row. Only what is new for every
message by design differs: the Message-ID and the MIME boundary."""

from __future__ import annotations

import email
import email.policy
import re
import shutil
import sqlite3

from bench.daily_floor import daily_floor
from bench.generate import apply_state_mix, generate
from bench.jobs import daily_beside_floor, delivery_beside_floor
from bench.measure import AS_OF, NOW, SENDER, load_database, prepared_database
from schedules.jobs import CheckSettings, daily_check
from tracker.calendar import WorkCalendar
from tracker.db import make_engine, read_session
from tracker.queries import LightRules
from tracker.reminders import Policy, plan_check

_BOUNDARY = re.compile(r"={15}\d{19}==")


def _stored(db) -> tuple[list[tuple], list[tuple]]:
    """Every message with its body and every ledger row, Message-IDs and boundaries replaced by placeholders."""
    with sqlite3.connect(db) as conn:
        messages = conn.execute(
            "SELECT m.id, m.kind, m.run_date, m.recipient, m.to_addrs, m.subject, m.message_id, m.state, m.attempts, "
            "m.next_attempt_at, m.claimed_at, m.claimed_by, m.last_error, m.created_at, m.sent_at, m.channel_id, b.raw, "
            "b.entries FROM outboxmessage m JOIN outboxbody b ON b.id = m.id ORDER BY m.id").fetchall()
        notices = conn.execute("SELECT assignment_id, due_on, stage, rank, sent_on, message_id, created_at FROM notice "
                               "ORDER BY assignment_id, due_on, stage").fetchall()
    out = []
    for row in messages:
        message_id, raw = row[6], row[16]
        parsed = email.message_from_bytes(raw.encode("utf-8"), policy=email.policy.SMTP)
        assert not parsed.defects and str(parsed["Message-ID"]) == message_id
        assert all(len(line) <= 78 for line in raw.split("\r\n"))
        out.append((*row[:6], "<id>", *row[7:16], _BOUNDARY.sub("<boundary>", raw.replace(message_id, "<id>")), row[17]))
    return out, notices


def test_the_floor_stores_the_same_messages_and_ledger_rows_as_the_daily_job(tmp_path):
    base = tmp_path / "bench.db"
    load_database(generate(tmp_path / "plans", 1), base)
    apply_state_mix(make_engine(f"sqlite:///{base}"), AS_OF)
    product_db, floor_db = tmp_path / "product.db", tmp_path / "floor.db"
    shutil.copyfile(base, product_db)
    shutil.copyfile(base, floor_db)
    settings = CheckSettings(policy=Policy(), lights=LightRules(), sender=SENDER, county="基准测试", subject_prefix="基准测试")
    calendar = WorkCalendar()
    report = daily_check(make_engine(f"sqlite:///{product_db}"), settings, calendar, AS_OF, NOW)

    def decide():
        with read_session(make_engine(f"sqlite:///{floor_db}")) as session:
            return plan_check(session, AS_OF, calendar, settings.policy, settings.lights)

    plan = daily_floor(floor_db, decide, sender=SENDER, now=NOW, county="基准测试", prefix="基准测试",
                       warnings=calendar.warnings)
    product, floor = _stored(product_db), _stored(floor_db)
    assert len(product[0]) == report.messages == len(plan.digests) > 20  # every digest of one county's first morning
    assert len(product[1]) == report.notices == len(plan.notices) > 100
    for ours, theirs in zip(product[0], floor[0]):
        assert ours == theirs
    assert product[1] == floor[1]
    # both escalations and own work were in the day's mail, so both halves of the templates were compared
    assert any("督办" in subject for _i, _k, _r, _n, _t, subject, *_ in product[0])


def test_the_job_and_its_floor_side_by_side_on_a_kept_database(tmp_path):
    generated = generate(tmp_path / "plans", 1)
    db, seconds, assignments = prepared_database("county", generated, tmp_path, 1, keep=True)
    assert seconds is not None and (tmp_path / "county.base.db").exists()
    again, not_imported, same = prepared_database("county", generated, tmp_path, 1, keep=True)  # the kept copy, no import
    assert again == db and not_imported is None and same == assignments == 1386
    row = daily_beside_floor(db, 1)
    [floor] = row["daily_floor_runs"]
    assert floor["messages"] > 20 and floor["notices"] > 100  # the same work as the job's (checked inside)
    assert row["daily_ratio"] == row["daily_job_s"] / row["daily_floor_s"] and row["daily_job_peak_mb"] > 0
    with sqlite3.connect(db) as conn:  # both ran on copies
        assert conn.execute("SELECT count(*) FROM notice").fetchone()[0] == 0


def test_delivery_runs_carry_their_cpu_time_beside_the_floor(tmp_path):
    """The delivery figure's spread (issue 17): every run and every floor run with wall time, the CPU time of the pump's
    process and of the SMTP server's, and the load average; one ratio per delivery run by each measure."""
    generated = generate(tmp_path / "plans", 1)
    db, _seconds, _assignments = prepared_database("county", generated, tmp_path, 1, keep=False)
    row = delivery_beside_floor(db, 2)
    assert row["messages"] > 20 and len(row["deliver_runs"]) == 2 and len(row["deliver_floor_runs"]) == 3
    for run in row["deliver_runs"] + row["deliver_floor_runs"]:
        assert run["wall_s"] > 0 and run["cpu_s"] > 0 and run["server_cpu_s"] > 0 and run["load"] >= 0
        assert run["queue_s"] >= 0 and run["server_queue_s"] >= 0 and run["queue_s"] + run["cpu_s"] < run["wall_s"] + 0.05
    assert len(row["deliver_ratios"]) == len(row["deliver_cpu_ratios"]) == 2
    floors = row["deliver_floor_runs"]
    first = (floors[0]["wall_s"] + floors[1]["wall_s"]) / 2 / row["deliver_runs"][0]["wall_s"]
    assert row["deliver_ratios"][0] == first  # against the floor runs just before and after it
    with sqlite3.connect(db) as conn:  # the delivery ran on a copy
        assert conn.execute("SELECT count(*) FROM outboxmessage").fetchone()[0] == 0
