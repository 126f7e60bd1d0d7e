"""The daily job's before/after (issue 17, second pass): ``bench.jobs`` runs another source tree's job and floor in
the same rounds as this tree's, since on a shared machine only figures taken side by side compare."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from bench.generate import apply_state_mix, generate
from bench.jobs import daily_beside_floor
from bench.measure import AS_OF, load_database
from tracker.db import make_engine

ROOT = Path(__file__).resolve().parent.parent


def test_another_tree_runs_in_the_same_rounds_and_does_the_same_work(tmp_path):
    db = tmp_path / "bench.db"
    load_database(generate(tmp_path / "plans", 1), db)
    apply_state_mix(make_engine(f"sqlite:///{db}"), AS_OF)
    other = tmp_path / "before"  # a copy of this tree's sources stands for the previous commit
    for package in ("tracker", "notifications", "schedules", "bench"):
        shutil.copytree(ROOT / package, other / package, ignore=shutil.ignore_patterns("__pycache__"))
    row = daily_beside_floor(db, 2, against=other)
    before = row["against"]
    assert before["tree"] == str(other)
    assert len(before["daily_job_runs"]) == len(row["daily_job_runs"]) == 2 and len(before["daily_load"]) == 2
    [first, second] = before["daily_floor_runs"]
    assert first["messages"] == second["messages"] == row["daily_floor_runs"][0]["messages"] > 20
    assert before["daily_cpu_ratio"] == before["daily_job_cpu_s"] / before["daily_floor_cpu_s"]
    with sqlite3.connect(db) as conn:  # every run, of either tree, ran on a copy
        assert conn.execute("SELECT count(*) FROM notice").fetchone()[0] == 0


def test_the_other_trees_code_is_what_runs(tmp_path):
    db = tmp_path / "bench.db"
    load_database(generate(tmp_path / "plans", 1), db)
    other = tmp_path / "broken"
    for package in ("tracker", "notifications", "schedules", "bench"):
        shutil.copytree(ROOT / package, other / package, ignore=shutil.ignore_patterns("__pycache__"))
    jobs = other / "schedules" / "jobs.py"
    jobs.write_text(jobs.read_text(encoding="utf-8") + '\nraise RuntimeError("this is the other tree")\n', encoding="utf-8")
    try:
        daily_beside_floor(db, 1, against=other)
    except RuntimeError as exc:
        assert "this is the other tree" in str(exc)
    else:
        raise AssertionError("the other tree's daily job did not run")
