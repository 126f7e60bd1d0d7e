"""The whole jobs as the daemon runs them, each in a fresh process, with its time, its CPU time (all its threads: on a
shared machine the wall time is mostly waiting for a core) and peak memory (VmHWM).

The daily job: `schedules.jobs.daily_check` (decide, render every digest, store them in the outbox with the
ledger rows) plus folding the write-ahead log back into the database. The weekly job:
`schedules.jobs.weekly_report_job` (build the report, render text, HTML and the workbook, store the mail).
Both run on a copy of the benchmark database, so the measurement leaves the database as it was.

Its floor for the daily job (``daily_floor``): the same messages' bytes produced with the templates compiled
once and the MIME assembled as bytes, and stored with one executemany: what rendering and storing must cost at
least, whatever the product's own structure.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

_DAILY = """
import json, sys, time
from pathlib import Path
from bench.measure import AS_OF, NOW, SENDER
from schedules.jobs import CheckSettings, daily_check
from tracker.calendar import WorkCalendar
from tracker.db import make_engine
from tracker.queries import LightRules
from tracker.reminders import Policy
engine = make_engine(f"sqlite:///{sys.argv[1]}")
settings = CheckSettings(policy=Policy(), lights=LightRules(), sender=SENDER, county="基准测试", subject_prefix="基准测试")
started, cpu = time.perf_counter(), time.process_time()
report = daily_check(engine, settings, WorkCalendar(), AS_OF, NOW)
with engine.connect() as connection:
    connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"seconds": seconds, "cpu_s": cpu, "peak_mb": peak / 1024, "messages": report.messages, "notices": report.notices}))
"""

_WEEKLY = """
import datetime as dt, json, sys, time
from pathlib import Path
from bench.measure import AS_OF, NOW, SENDER, TZ
from schedules.jobs import ReportSettings, weekly_report_job
from tracker.calendar import WorkCalendar
from tracker.db import make_engine, read_session
from tracker.models import OutboxBody
from sqlmodel import func, select
engine = make_engine(f"sqlite:///{sys.argv[1]}")
settings = ReportSettings(title="基准测试进度通报", recipients=(sys.argv[2],), sender=SENDER, weekday=0,
                          lights=__import__("tracker.queries", fromlist=["LightRules"]).LightRules(), tz=TZ,
                          folder=Path(sys.argv[3]))
started, cpu = time.perf_counter(), time.process_time()
outcome = weekly_report_job(engine, settings, WorkCalendar(), AS_OF, NOW)
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
with read_session(engine) as session:
    mail = session.exec(select(func.max(func.length(OutboxBody.raw)))).one()
kept = [p.stat().st_size for p in Path(sys.argv[3]).glob("*.xlsx")]
print(json.dumps({"seconds": seconds, "cpu_s": cpu, "peak_mb": peak / 1024, "generated": outcome.generated, "mail_bytes": mail,
                  "kept_xlsx_bytes": kept[0] if kept else None}))
"""


def _run(code: str, *args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def _copy(db: Path, name: str) -> Path:
    copy = db.with_name(f"{db.stem}-{name}.db")
    for suffix in ("-wal", "-shm"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(db, copy)
    return copy


def daily_job(db: Path) -> dict[str, Any]:
    """Seconds and peak MB of the whole daily job on a copy of ``db`` (the first day: an empty ledger)."""
    copy = _copy(db, "daily")
    try:
        return _run(_DAILY, str(copy))
    finally:
        copy.unlink(missing_ok=True)


def weekly_job(db: Path, recipient: str, folder: Path) -> dict[str, Any]:
    """Seconds and peak MB of the whole weekly job on a copy of ``db``, the report going to ``recipient``; a workbook
    over the default 10 MB limit is kept in ``folder``."""
    copy = _copy(db, "weekly")
    shutil.rmtree(folder, ignore_errors=True)
    try:
        return _run(_WEEKLY, str(copy), recipient, str(folder))
    finally:
        copy.unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
