"""A peer: Taskwarrior's overdue listing against `tracker items list --overdue --json`, same tasks, same due dates.

Both run as a person would run them, as commands, timed end to end (process start included). The tracker runs
through its console script twice per round: with the preloaded server warm (the figure a clerk sees from the second
command on, tracker/cli/launch.py) and cold (``TRACKER_PRELOAD=0``: every module imported by the command itself).
Taskwarrior knows only the real clock, so its due dates are shifted by (today - AS_OF): the same
tasks are overdue for both.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
import sqlite3
import statistics
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from bench.generate import PRINCIPALS_PER_COUNTY, apply_state_mix, generate
from bench.measure import AS_OF, load_database
from bench.startup import ENV, SCRIPT, preload_env, served, stop_servers, warm_server
from tracker.db import make_engine


def _timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, bytes]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env=env, check=True)
    return time.perf_counter() - started, done.stdout


def compare_with_taskwarrior(size: int, work: Path, runs: int = 3) -> dict[str, Any]:
    task = shutil.which("task")
    if task is None:
        raise SystemExit("找不到 Taskwarrior（task）。请先安装：apt-get install taskwarrior")
    counties = math.ceil(size / PRINCIPALS_PER_COUNTY)
    generated = generate(work / "plans", counties)
    db = work / f"peer-{size}.db"
    load_database(generated, db)
    apply_state_mix(make_engine(f"sqlite:///{db}"), AS_OF)
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT a.id, a.state, i.deadline, u.name, i.key FROM assignment a JOIN item i ON i.id = a.item_id "
            "JOIN unit u ON u.id = a.unit_id WHERE a.role = 'principal' ORDER BY a.id LIMIT ?", (size,)).fetchall()
        conn.execute("UPDATE assignment SET retired = 1 WHERE role = 'principal' AND id > ?", (rows[-1][0],))
    shift = dt.date.today() - AS_OF
    tasks = []
    for ident, state, deadline, unit, key in rows:
        due = json.loads(deadline).get("due")
        record = {"uuid": str(uuid.uuid5(uuid.NAMESPACE_OID, str(ident))), "description": f"{key} {unit}",
                  "status": "completed" if state == "done" else "pending", "entry": "20200801T000000Z"}
        if due:
            record["due"] = (dt.date.fromisoformat(due) + shift).strftime("%Y%m%dT160000Z")
        if state == "done":
            record["end"] = "20210301T000000Z"
        tasks.append(record)
    data = work / f"taskdata-{size}"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    rc = work / f"taskrc-{size}"
    rc.write_text(f"data.location={data}\nverbose=nothing\nconfirmation=off\ngc=off\nhooks=off\n", "utf-8")
    env = {"TASKRC": str(rc), "PATH": "/usr/bin:/bin", "HOME": str(work)}
    import_file = work / f"tasks-{size}.json"
    import_file.write_text(json.dumps(tasks, ensure_ascii=False), "utf-8")
    subprocess.run([task, "import", str(import_file)], env=env, capture_output=True, check=True)
    config = work / f"peer-{size}.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{db}"\n', "utf-8")
    ours_cmd = [*SCRIPT, "--config", str(config), "items", "list", "--overdue", "--json", "--today", AS_OF.isoformat()]
    theirs_cmd = [task, "+OVERDUE", "export"]
    run_dir = work / f"preload-{size}"
    ours, cold, theirs = [], [], []
    try:
        warm_server(ours_cmd, work, run_dir)
        for _ in range(runs):  # side by side, alternating
            before = served(run_dir)
            seconds, out = _timed(ours_cmd, preload_env(run_dir))
            if served(run_dir) != before + 1:
                raise SystemExit("预加载进程没有执行这条命令，数字无效")
            ours.append(seconds)
            ours_count = sum(len(i["assignments"]) for i in json.loads(out))
            seconds, out = _timed(ours_cmd, {**ENV, "TRACKER_PRELOAD": "0"})
            cold.append(seconds)
            assert sum(len(i["assignments"]) for i in json.loads(out)) == ours_count
            seconds, out = _timed(theirs_cmd, env)
            theirs.append(seconds)
            theirs_count = len(json.loads(out))
    finally:
        stop_servers(run_dir)
    return {"tasks": len(rows), "tracker_overdue": ours_count, "taskwarrior_overdue": theirs_count,
            "tracker_s": statistics.median(ours), "taskwarrior_s": statistics.median(theirs),
            "tracker_runs_s": ours, "taskwarrior_runs_s": theirs, "tracker_cold_s": statistics.median(cold),
            "tracker_cold_runs_s": cold,
            "faster_in_every_run": all(o < t for o, t in zip(ours, theirs)),
            "cold_faster_in_every_run": all(o < t for o, t in zip(cold, theirs)),
            "speedup": statistics.median(theirs) / statistics.median(ours),
            "cold_speedup": statistics.median(theirs) / statistics.median(cold)}
