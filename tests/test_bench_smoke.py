"""The benchmarks cannot rot: generate one county, load it, and check that the product and its SQL floor agree."""

import datetime as dt
import sqlite3

from bench.generate import PRINCIPALS_PER_COUNTY, apply_state_mix, generate
from bench.measure import AS_OF, check_floor_sql, decide, listing, listing_floor_sql, load_database, weekly
from tracker.calendar import WorkCalendar
from tracker.db import make_engine
from tracker.reminders import Policy


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
    calendar, policy = WorkCalendar(), Policy()
    notices = decide(db, calendar, policy)()
    assert notices == check_floor_sql(db, calendar, policy)() > 0  # the product decides exactly what the floor query finds
    assert listing(db, calendar)() > 0 and listing_floor_sql(db)() > 0
    assert weekly(db, calendar)() > 0
    assert AS_OF == dt.date(2021, 3, 15)
