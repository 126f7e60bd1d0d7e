"""The whole-job benchmarks cannot rot: the daily and weekly jobs run on one county as the daemon runs them, in a
fresh process, on a copy (the benchmark database is left as it was), and report what they did."""

import sqlite3

from bench.generate import apply_state_mix, generate
from bench.jobs import daily_job, weekly_job
from bench.measure import AS_OF, load_database
from tracker.calendar import WorkCalendar
from tracker.db import make_engine, read_session
from tracker.queries import LightRules
from tracker.reminders import Policy, plan_check


def test_whole_jobs_on_one_county(tmp_path):
    db = tmp_path / "bench.db"
    load_database(generate(tmp_path / "plans", 1), db)
    apply_state_mix(make_engine(f"sqlite:///{db}"), AS_OF)
    daily = daily_job(db)
    with read_session(make_engine(f"sqlite:///{db}")) as session:
        plan = plan_check(session, AS_OF, WorkCalendar(), Policy(), LightRules())
    # one message per digest the decision makes: the job renders and stores all of them
    assert daily["messages"] == len(plan.digests) > 0
    assert daily["peak_mb"] > 0 and daily["seconds"] > 0
    weekly = weekly_job(db, "第001县政府办公室", tmp_path / "reports")
    assert weekly["generated"] is True and weekly["mail_bytes"] > 10_000
    assert weekly["kept_xlsx_bytes"] is None  # one county's workbook is far under the 10 MB limit: it is attached
    with sqlite3.connect(db) as conn:  # the jobs ran on copies
        assert conn.execute("SELECT count(*) FROM notice").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM outboxmessage").fetchone()[0] == 0
    assert not (tmp_path / "reports").exists()
