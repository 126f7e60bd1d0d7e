"""The whole jobs as the daemon runs them, each in a fresh process, with its time, its CPU time (all its threads: on a
shared machine the wall time is mostly waiting for a core) and peak memory (VmHWM).

The daily job: `schedules.jobs.daily_check` (decide, render every digest, store them in the outbox with the
ledger rows) plus folding the write-ahead log back into the database. The weekly job:
`schedules.jobs.weekly_report_job` (build the report, render text, HTML and the workbook, store the mail).
Both run on a copy of the benchmark database, so the measurement leaves the database as it was.

The daily job's floor (``bench.daily_floor``, in a fresh process the same way): the product's decision, then the
same messages' bytes produced with the templates compiled once and the MIME assembled as bytes, stored with plain
``sqlite3`` executemany in one transaction, and the write-ahead log folded back. Product and floor run alternately,
each on a fresh copy, so that the machine's drift falls on both.

``python -m bench.jobs DB [--runs N] [--against TREE]`` runs the daily job and its floor on copies of a kept benchmark
database (made by ``python -m bench --keep``): the quick loop for working on the daily job; with ``--against``, another
source tree's job and floor (``git archive REV | tar -x -C TREE``) in the same rounds, for a before/after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

_DAILY = """
import json, os, sys, time
from pathlib import Path
from bench.measure import AS_OF, NOW, SENDER
from schedules.jobs import CheckSettings, daily_check
from tracker.calendar import WorkCalendar
from tracker.db import make_engine
from tracker.queries import LightRules
from tracker.reminders import Policy
engine = make_engine(f"sqlite:///{sys.argv[1]}")
settings = CheckSettings(policy=Policy(), lights=LightRules(), sender=SENDER, county="基准测试", subject_prefix="基准测试")
started, cpu = time.perf_counter(), sum(os.times()[:2])
report = daily_check(engine, settings, WorkCalendar(), AS_OF, NOW)
with engine.connect() as connection:
    connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
seconds = time.perf_counter() - started
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
cpu = sum(os.times()[:2]) - cpu
print(json.dumps({"seconds": seconds, "cpu_s": cpu, "peak_mb": peak / 1024, "messages": report.messages, "notices": report.notices}))
"""

_DAILY_FLOOR = """
import json, os, sys, time
from pathlib import Path
from bench.daily_floor import render_floor, store_floor
from bench.measure import AS_OF, NOW, SENDER
from tracker.calendar import WorkCalendar
from tracker.db import make_engine, read_session
from tracker.queries import LightRules
from tracker.reminders import Policy, plan_check
engine = make_engine(f"sqlite:///{sys.argv[1]}")
calendar = WorkCalendar()
started, cpu = time.perf_counter(), sum(os.times()[:2])
with read_session(engine) as session:
    plan = plan_check(session, AS_OF, calendar, Policy(), LightRules())
engine.dispose()
decided = time.perf_counter()
rendered = render_floor(plan, sender=SENDER, now=NOW, county="基准测试", prefix="基准测试", warnings=calendar.warnings)
made = time.perf_counter()
store_floor(Path(sys.argv[1]), plan, rendered, NOW)
seconds = time.perf_counter() - started
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
cpu = sum(os.times()[:2]) - cpu
print(json.dumps({"seconds": seconds, "cpu_s": cpu, "decide_s": decided - started, "render_s": made - decided,
                  "store_s": started + seconds - made, "peak_mb": peak / 1024, "messages": len(rendered),
                  "notices": len(plan.notices)}))
"""

_WEEKLY = """
import datetime as dt, json, os, resource, sys, time
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
def hwm():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
beside, writers = [], []  # the job's own peak while the workbook's writer ran (it has exited when ``wait`` returns), and the writer's
try:
    from notifications.workbook_process import WorkbookProcess
    waited = WorkbookProcess.wait
    WorkbookProcess.wait = lambda self: (waited(self), beside.append(hwm()), writers.append(getattr(self, "peak_bytes", None)))[0]
except ImportError:  # a tree from before the writer process (--against)
    pass
started, cpu = time.perf_counter(), sum(os.times()[:4])
outcome = weekly_report_job(engine, settings, WorkCalendar(), AS_OF, NOW)
seconds, cpu = time.perf_counter() - started, sum(os.times()[:4]) - cpu  # the workbook's writer process included
peak = hwm()
# KB, as the writer measured itself; a tree whose writer does not say it (--against): getrusage's maxrss, which also counts
# the job's pages the child shared until it started Python (an upper bound)
writer_said = bool(writers and writers[0])
writer_peak = writers[0] // 1024 if writer_said else resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
# the two processes' peaks do not add up: the job's own peak comes later, when it writes the mail. The whole job's peak
# is at most the larger of: the job's peak until the writer ended plus the writer's, and the job's peak overall
whole = max(peak, (beside[0] if beside else peak) + writer_peak)
with read_session(engine) as session:
    mail = session.exec(select(func.max(func.length(OutboxBody.raw)))).one()
kept = [p.stat().st_size for p in Path(sys.argv[3]).glob("*.xlsx")]
print(json.dumps({"seconds": seconds, "cpu_s": cpu, "peak_mb": whole / 1024, "job_peak_mb": peak / 1024,
                  "job_peak_beside_writer_mb": beside[0] / 1024 if beside else None, "writer_peak_mb": writer_peak / 1024,
                  "writer_peak_measured_by": "VmHWM" if writer_said else "getrusage" if writers else None,
                  "generated": outcome.generated, "mail_bytes": mail,
                  "kept_xlsx_bytes": kept[0] if kept else None}))
"""


def _run(code: str, *args: str, tree: Path | None = None) -> dict[str, Any]:
    """``code`` in a fresh process; with ``tree``, with that source tree's packages (e.g. the previous commit, unpacked
    with ``git archive``) in place of these."""
    env = {**os.environ, "PYTHONPATH": str(tree)} if tree else None
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False, cwd=tree, env=env)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def _copy(db: Path, name: str) -> Path:
    copy = db.with_name(f"{db.stem}-{name}.db")
    for suffix in ("-wal", "-shm"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(db, copy)
    return copy


def daily_job(db: Path, *, floor: bool = False, tree: Path | None = None) -> dict[str, Any]:
    """Seconds and peak MB of the whole daily job (or with ``floor``, of its floor) on a copy of ``db`` (the first day:
    an empty ledger); with ``tree``, the job of that source tree."""
    copy = _copy(db, "daily")
    try:
        return _run(_DAILY_FLOOR if floor else _DAILY, str(copy.resolve()), tree=tree)
    finally:
        copy.unlink(missing_ok=True)


def daily_beside_floor(db: Path, runs: int, against: Path | None = None) -> dict[str, Any]:
    """The whole daily job and its floor, alternately ``runs`` times each (after neither warms the other: each is a
    fresh process on a fresh copy); every run kept, with the medians and CPU load around them. With ``against`` (another
    source tree, e.g. the previous commit), that tree's job and floor run in the same rounds, before this tree's: on a
    shared machine only figures taken side by side compare (``against`` holds them, in the same form)."""
    product, floor, load, other = [], [], [], []
    for _ in range(runs):
        if against:
            other.append((os.getloadavg()[0], daily_job(db, tree=against), daily_job(db, floor=True, tree=against)))
        load.append(os.getloadavg()[0])
        product.append(daily_job(db))
        floor.append(daily_job(db, floor=True))
    if product[0]["messages"] != floor[0]["messages"] or product[0]["notices"] != floor[0]["notices"]:
        raise RuntimeError(f"the floor did other work than the job: {product[0]} / {floor[0]}")
    summary = _daily_summary(product, floor, load)
    if against:
        if any(job["messages"] != product[0]["messages"] or job["notices"] != product[0]["notices"] for _l, job, _f in other):
            raise RuntimeError(f"{against} did other work than this tree: {other[0][1]} / {product[0]}")
        summary["against"] = {"tree": str(against), **_daily_summary([r[1] for r in other], [r[2] for r in other],
                                                                     [r[0] for r in other])}
    return summary


def _daily_summary(product: list[dict[str, Any]], floor: list[dict[str, Any]], load: list[float]) -> dict[str, Any]:
    seconds, floor_seconds = statistics.median(r["seconds"] for r in product), statistics.median(r["seconds"] for r in floor)
    cpu, floor_cpu = statistics.median(r["cpu_s"] for r in product), statistics.median(r["cpu_s"] for r in floor)
    return {"daily_job_s": seconds, "daily_job_peak_mb": max(r["peak_mb"] for r in product),
            "daily_floor_s": floor_seconds, "daily_floor_peak_mb": max(r["peak_mb"] for r in floor),
            "daily_ratio": seconds / floor_seconds, "daily_job_cpu_s": cpu, "daily_floor_cpu_s": floor_cpu,
            "daily_cpu_ratio": cpu / floor_cpu, "daily_job_runs": [r["seconds"] for r in product],
            "daily_job_cpu_runs": [r["cpu_s"] for r in product], "daily_floor_runs": floor, "daily_load": load}


def weekly_job(db: Path, recipient: str, folder: Path, tree: Path | None = None) -> dict[str, Any]:
    """Seconds and peak MB of the whole weekly job on a copy of ``db``, the report going to ``recipient``; a workbook
    over the default 10 MB limit is kept in ``folder``; with ``tree``, the job of that source tree."""
    copy = _copy(db, "weekly")
    shutil.rmtree(folder, ignore_errors=True)
    try:
        return _run(_WEEKLY, str(copy.resolve()), recipient, str(folder.resolve()), tree=tree)
    finally:
        copy.unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.jobs", description="在保留的基准数据库副本上，交替运行每日任务与其下限。")
    parser.add_argument("db", type=Path, help="基准数据库（python -m bench --keep 保留的 .db 文件）")
    parser.add_argument("--runs", type=int, default=3, help="每日任务与其下限各运行的次数（0 则不测）")
    parser.add_argument("--delivery", type=int, default=0, help="另测投递的次数（每次前后各测一次下限，记录 CPU 时间）")
    parser.add_argument("--against", type=Path, help="另一份源码目录（如 git archive 解出的上一个提交），在同样的轮次中交替运行其每日任务与下限，便于前后对比")
    parser.add_argument("--weekly", type=int, default=0, help="另测整个周报任务的次数（有 --against 时与其交替运行）")
    args = parser.parse_args()
    against = args.against.resolve() if args.against else None
    if args.runs:
        print(json.dumps(daily_beside_floor(args.db, args.runs, against), ensure_ascii=False, indent=1), flush=True)
    if args.weekly:
        print(json.dumps(weekly_runs(args.db, args.weekly, against), ensure_ascii=False, indent=1), flush=True)
    if args.delivery:
        print(json.dumps(delivery_beside_floor(args.db, args.delivery), ensure_ascii=False, indent=1))


def weekly_runs(db: Path, runs: int, against: Path | None = None) -> dict[str, Any]:
    """The whole weekly job ``runs`` times on fresh copies of ``db`` (the report to the benchmark's county office),
    with ``against``'s job before each run in the same rounds; every run kept, with the medians and the CPU load."""
    folder = db.parent / f"{db.stem}-weekly-reports"
    product, other, load = [], [], []
    for _ in range(runs):
        load.append(os.getloadavg()[0])
        if against:
            other.append(weekly_job(db, "第001县政府办公室", folder, tree=against))
        product.append(weekly_job(db, "第001县政府办公室", folder))
    summary = _weekly_summary(product) | {"weekly_load": load}
    if against:
        summary["against"] = {"tree": str(against), **_weekly_summary(other)}
    return summary


def _weekly_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"weekly_job_s": statistics.median(r["seconds"] for r in runs), "weekly_job_cpu_s": statistics.median(r["cpu_s"] for r in runs),
            "weekly_job_peak_mb": max(r["peak_mb"] for r in runs), "weekly_job_runs": [r["seconds"] for r in runs],
            "weekly_job_cpu_runs": [r["cpu_s"] for r in runs], "weekly_mail_bytes": runs[0]["mail_bytes"]}


def delivery_beside_floor(db: Path, runs: int) -> dict[str, Any]:
    """The day's digests composed once on a copy of ``db``, then delivered ``runs`` times to a local SMTP server with
    the floor before and after each run (``bench.measure.delivery``), with the CPU time of each run."""
    from bench.__main__ import free_port
    from bench.measure import delivery, delivery_spread, smtp_sink
    from tracker.calendar import WorkCalendar
    from tracker.reminders import Policy

    copy, port = _copy(db, "delivery"), free_port()
    try:
        with smtp_sink(port) as server:
            messages, composed, sends, floors = delivery(copy, WorkCalendar(), Policy(), port, runs, server)
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{copy}{suffix}").unlink(missing_ok=True)
    return {"messages": messages, "compose_store_s": composed, **delivery_spread(messages, sends, floors)}


if __name__ == "__main__":
    main()
