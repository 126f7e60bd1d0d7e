"""The benchmarks cannot rot: generate one county, load it, and check that the product and its SQL floor agree."""

import datetime as dt
import sqlite3

from bench.generate import PRINCIPALS_PER_COUNTY, apply_state_mix, generate
from bench.measure import AS_OF, check_floor_sql, decide, listing, listing_floor_sql, load_database, weekly
from tracker.calendar import WorkCalendar
from tracker.db import make_engine, read_session
from tracker.queries import LightRules
from tracker.reminders import Policy, plan_check


def test_generator_and_one_small_benchmark(tmp_path):
    generated = generate(tmp_path / "plans", 2)
    db = tmp_path / "bench.db"
    assert load_database(generated, db) > 0
    with sqlite3.connect(db) as conn:
        principals = conn.execute("SELECT count(*) FROM assignment WHERE role = 'principal'").fetchone()[0]
        units = conn.execute("SELECT count(*) FROM unit").fetchone()[0]
    assert principals == 2 * PRINCIPALS_PER_COUNTY and units == 2 * (2 + 18 + 11 + 135)
    mix = apply_state_mix(make_engine(f"sqlite:///{db}"), AS_OF)
    assert mix["done_on_time"] and mix["done_late"] and mix["in_progress"]
    assert AS_OF == dt.date(2021, 3, 15)  # a Monday, a working day, nothing in the ledger yet
    calendar, policy = WorkCalendar(), Policy()
    notices = decide(db, calendar, policy)()
    # Written from the policy, not from the product's stage logic: every open principal assignment whose fixed deadline
    # has reached its first reminder (30 days before; a Monday's next 30 days hold no non-working day that could move a
    # later reminder back onto it) gets exactly one notice, as nothing has been sent yet; done or waiting ones get none.
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM notice").fetchone()[0] == 0
        expected = conn.execute(
            "SELECT count(*) FROM assignment a JOIN item i ON i.id = a.item_id WHERE a.role = 'principal' AND a.retired = 0 "
            "AND a.state IN ('not_started', 'in_progress') AND json_extract(i.deadline, '$.kind') = 'fixed' "
            "AND COALESCE(a.extended_due, json_extract(i.deadline, '$.due')) <= date(?, '+30 days')", (AS_OF.isoformat(),)
        ).fetchone()[0]
        overdue = conn.execute(
            "SELECT count(*) FROM assignment a JOIN item i ON i.id = a.item_id WHERE a.role = 'principal' AND a.retired = 0 "
            "AND a.state IN ('not_started', 'in_progress') AND json_extract(i.deadline, '$.due') < ?", (AS_OF.isoformat(),)
        ).fetchone()[0]
    assert notices == expected > overdue > 0  # both overdue and coming deadlines
    assert check_floor_sql(db, calendar, policy)() == expected  # and the benchmark's floor measures the same decision
    assert listing(db, calendar)() > 0 and listing_floor_sql(db)() > 0 and weekly(db, calendar)() > 0  # they run; the overdue
    # listing itself is compared with an SQL query in the next test


def test_check_and_listing_read_in_chunks_decide_the_same(tmp_path, monkeypatch):
    """Long item lists are asked in chunks (the database limits parameters per statement); chunking changes nothing."""
    from tracker import queries
    from tracker.db import read_session
    from tracker.queries import ItemFilter, LightRules, filter_views, load_views
    from tracker.reminders import plan_check

    db = tmp_path / "bench.db"
    load_database(generate(tmp_path / "plans", 2), db)
    apply_state_mix(make_engine(f"sqlite:///{db}"), AS_OF)
    engine, calendar, flt = make_engine(f"sqlite:///{db}"), WorkCalendar(), ItemFilter(overdue=True)

    def decided():
        with read_session(engine) as session:
            plan = plan_check(session, AS_OF, calendar, Policy(), LightRules())
            views = filter_views(load_views(session, AS_OF, calendar, LightRules(), only=flt), flt, AS_OF)
        digests = [(d.recipient, [(e.item, e.unit, e.role, e.stage) for e in d.entries]) for d in plan.digests]
        return plan.notices, digests, {(v.item.key, a.unit) for v in views for a in v.principals}

    whole = decided()
    monkeypatch.setattr(queries, "_CHUNK", 7)
    assert decided() == whole
    with sqlite3.connect(db) as conn:  # the overdue listing is exactly what one SQL query over the fixed deadlines finds
        overdue = set(conn.execute(
            "SELECT i.key, u.name FROM assignment a JOIN item i ON i.id = a.item_id JOIN unit u ON u.id = a.unit_id "
            "WHERE a.role = 'principal' AND a.retired = 0 AND a.state IN ('not_started', 'in_progress') "
            "AND COALESCE(a.extended_due, json_extract(i.deadline, '$.due')) < ?", (AS_OF.isoformat(),)).fetchall())
    assert whole[2] == overdue and overdue


def test_several_plans_per_county_share_the_units_and_the_daily_check(tmp_path):
    """Two plans of the seed's shape per county in one database: twice the principal assignments over the same units,
    one digest per unit (the check's notices cover both plans, its messages do not double)."""
    generated = generate(tmp_path / "plans", 1, plans=2)
    assert len(generated.plan_files) == 2
    db = tmp_path / "bench.db"
    load_database(generated, db)
    with sqlite3.connect(db) as conn:
        per_plan = dict(conn.execute("SELECT i.plan_id, count(*) FROM assignment a JOIN item i ON i.id = a.item_id "
                                     "WHERE a.role = 'principal' GROUP BY i.plan_id").fetchall())
        units = conn.execute("SELECT count(*) FROM unit").fetchone()[0]
        codes = [r[0] for r in conn.execute("SELECT code FROM plan ORDER BY id")]
    assert codes == ["p1", "p2"] and sorted(per_plan.values()) == [PRINCIPALS_PER_COUNTY] * 2
    assert units == 2 + 18 + 11 + 135
    calendar, policy = WorkCalendar(), Policy()
    with read_session(make_engine(f"sqlite:///{db}")) as session:
        check = plan_check(session, AS_OF, calendar, policy, LightRules())
    recipients = [d.recipient for d in check.digests]
    assert len(recipients) == len(set(recipients))
    assert {e.plan for d in check.digests for e in d.entries} == {"p1", "p2"}
    assert len(check.notices) == check_floor_sql(db, calendar, policy)()
