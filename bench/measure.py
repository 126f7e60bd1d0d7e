"""Each benchmark beside its floor, run side by side in one process on one machine.

Floors: the same decision or listing as one raw SQL query through sqlite3, and aiosmtplib sending
prebuilt messages over one connection. Every figure is the median of several runs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import aiosmtplib
from sqlmodel import select, update

from bench import jobs
from bench.generate import Generated, apply_state_mix
from notifications.delivery import DeliveryPolicy, deliver_pending
from notifications.transports import SmtpSettings, SmtpTransport
from notifications.weekly import render_html, render_xlsx
from schedules.jobs import CheckSettings, daily_check
from tracker.calendar import WorkCalendar
from tracker.db import create_database, make_engine, read_session, write_session
from tracker.directory import Directory, read_directory_file, store_directory
from tracker.importer import read_plan
from tracker.models import OutboxBody, OutboxMessage, Plan
from tracker.plan_sync import apply_plan
from tracker.queries import ItemFilter, LightRules, PlanContext, listed_views
from tracker.reminders import Policy, latest_stage, plan_check
from tracker.report import build_weekly_report

AS_OF = dt.date(2021, 3, 15)
TZ = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime.combine(AS_OF, dt.time(8, 30), tzinfo=TZ)
SENDER = "县政府办公室 <bench@bench.example>"


def median_time(action: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def side_by_side(product: Callable[[], Any], floor: Callable[[], Any], runs: int, *, seconds: float = 2.0) -> tuple[float, float]:
    """Median times of a product path and its floor, run alternately (after one untimed run of each), so that the
    machine's drift falls on both; at least ``runs`` pairs, more for quick figures until each side had ``seconds``."""
    product(), floor()
    times: tuple[list[float], list[float]] = ([], [])
    while len(times[0]) < runs or (min(sum(times[0]), sum(times[1])) < seconds and len(times[0]) < 200):
        for action, spent in zip((product, floor), times):
            started = time.perf_counter()
            action()
            spent.append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1])


def load_database(generated: Generated, db: Path) -> float:
    """Create a database and import the plan through the product's importer; returns the seconds the import took."""
    if db.exists():
        db.unlink()
    engine = make_engine(f"sqlite:///{db}")
    create_database(engine)
    directory_file = read_directory_file(generated.directory)
    with write_session(engine) as session:
        session.add(Plan(code="p1", county="基准测试", domain_row_principals="guiding", starts_on=dt.date(2020, 8, 1)))
        store_directory(session, directory_file, now=dt.datetime.now(dt.timezone.utc))
    started = time.perf_counter()
    for number, path in enumerate(generated.plan_files, start=1):  # each plan in its own import, as an operator would
        with write_session(engine) as session:
            directory = Directory.load(session)
            plan = read_plan(path, directory)
            apply_plan(session, plan, directory, now=NOW, actor="bench", code=f"p{number}", starts_on=dt.date(2020, 8, 1))
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed


def check_floor_sql(db: Path, calendar: WorkCalendar, policy: Policy) -> Callable[[], int]:
    """The daily check's decision in raw SQL: per deadline, open principals whose latest due stage is not in the ledger."""
    engine = make_engine(f"sqlite:///{db}")
    with read_session(engine) as session:
        context = PlanContext.load(session, calendar)
    engine.dispose()
    groups: dict[tuple[str, int], list[int]] = {}
    for item in context.items:
        due = context.dues[item.id][0]
        found = latest_stage(due, AS_OF, calendar, policy) if due and item.deadline.get("kind") == "fixed" else None
        if found:
            groups.setdefault((due.isoformat(), found.rank), []).append(item.id)  # type: ignore[arg-type]
    query = """
        SELECT a.id, a.item_id, u.name, u.emails FROM assignment a JOIN unit u ON u.id = a.unit_id
        WHERE a.role = 'principal' AND a.retired = 0 AND a.state IN ('not_started', 'in_progress')
          AND a.extended_due IS NULL AND a.item_id IN ({ids})
          AND NOT EXISTS (SELECT 1 FROM notice n WHERE n.assignment_id = a.id AND n.due_on = ? AND n.rank >= ?)
    """
    statements = [(query.format(ids=",".join(map(str, ids))), (due, rank)) for (due, rank), ids in groups.items()]

    def run() -> int:
        with sqlite3.connect(db) as conn:
            return sum(len(conn.execute(sql, args).fetchall()) for sql, args in statements)

    return run


def listing_floor_sql(db: Path) -> Callable[[], int]:
    """`items list --overdue --json` as one query plus JSON encoding (the product's side is the command's own
    ``listed_views``: views, filter and the counts of the listed items)."""
    query = """
        SELECT i.key, i.title, u.name, a.state, a.progress, a.extended_due, i.deadline FROM assignment a
        JOIN item i ON i.id = a.item_id JOIN unit u ON u.id = a.unit_id
        WHERE a.role = 'principal' AND a.retired = 0 AND a.state IN ('not_started', 'in_progress')
          AND COALESCE(a.extended_due, json_extract(i.deadline, '$.due')) < ?
    """

    def run() -> int:
        with sqlite3.connect(db) as conn:
            rows = conn.execute(query, (AS_OF.isoformat(),)).fetchall()
        return len(json.dumps(rows, ensure_ascii=False))

    return run


def listing(db: Path, calendar: WorkCalendar) -> Callable[[], int]:
    engine = make_engine(f"sqlite:///{db}")

    def run() -> int:
        with read_session(engine) as session:
            views = listed_views(session, AS_OF, calendar, LightRules(), ItemFilter(overdue=True))
        return len(json.dumps([v.to_json() for v in views], ensure_ascii=False))

    return run


def decide(db: Path, calendar: WorkCalendar, policy: Policy) -> Callable[[], int]:
    engine = make_engine(f"sqlite:///{db}")

    def run() -> int:
        with read_session(engine) as session:
            return len(plan_check(session, AS_OF, calendar, policy, LightRules()).notices)

    return run


def weekly(db: Path, calendar: WorkCalendar) -> Callable[[], int]:
    engine = make_engine(f"sqlite:///{db}")

    def run() -> int:
        with read_session(engine) as session:
            report = build_weekly_report(session, AS_OF, calendar, LightRules(), title="基准测试进度通报", tz=TZ)
        return len(render_html(report)) + len(render_xlsx(report))

    return run


@contextmanager
def smtp_sink(port: int) -> Iterator[int]:
    """A real SMTP server on localhost in its own process, so that it does not share our interpreter; yields its pid."""
    server = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                asyncio.run(aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=1).connect())
                break
            except (OSError, aiosmtplib.SMTPException):
                time.sleep(0.1)
        yield server.pid
    finally:
        server.terminate()
        server.wait(10)


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of this process (all its threads), or of process ``pid`` (from /proc)."""
    if pid is None:
        own = os.times()
        return own.user + own.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime and stime, fields 14 and 15


def queue_seconds(pid: int | None = None) -> float:
    """Seconds the main thread of this process (or of ``pid``) has waited, runnable, for a core (/proc/PID/schedstat)."""
    return int(Path(f"/proc/{pid or 'self'}/schedstat").read_text().split()[1]) / 1e9


def _timed(action: Callable[[], Any], server: int | None) -> dict[str, float]:
    """Wall time of ``action`` with the CPU time it took here and in the SMTP server, the time both spent runnable but
    waiting for a core, and the load average before it: on a shared machine wall time is also waiting for a core."""
    load = os.getloadavg()[0]
    wall, cpu, queued = time.perf_counter(), cpu_seconds(), queue_seconds()
    served, server_queued = (cpu_seconds(server), queue_seconds(server)) if server else (0.0, 0.0)
    action()
    return {"wall_s": time.perf_counter() - wall, "cpu_s": cpu_seconds() - cpu, "queue_s": queue_seconds() - queued,
            "server_cpu_s": (cpu_seconds(server) - served) if server else 0.0,
            "server_queue_s": (queue_seconds(server) - server_queued) if server else 0.0, "load": load}


def delivery(db: Path, calendar: WorkCalendar, policy: Policy, port: int, runs: int,
             server: int | None = None) -> tuple[int, float, list[dict[str, float]], list[dict[str, float]]]:
    """(messages, seconds to compose and store, each delivery run, each floor run) for the day's digests; a run is its
    wall time, its CPU time here and in the SMTP server (process ``server``), and the load average before it.

    Composing runs once (it writes the ledger); delivery runs ``runs`` times with the floor before and
    after each (so there is one more floor run than deliveries), the outbox put back to pending before each delivery.
    """
    engine = make_engine(f"sqlite:///{db}")
    settings = CheckSettings(policy=policy, lights=LightRules(), sender=SENDER, county="基准测试", subject_prefix="基准测试")
    started = time.perf_counter()
    report = daily_check(engine, settings, calendar, AS_OF, NOW)
    with engine.connect() as connection:  # the check's writes leave a large WAL; folding it back is the check's cost
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    composed = time.perf_counter() - started
    with read_session(engine) as session:
        prebuilt = session.exec(select(OutboxMessage.to_addrs, OutboxBody.raw).join(OutboxBody, OutboxBody.id == OutboxMessage.id)).all()

    async def floor(messages: list[Any]) -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
        await client.connect()
        for to, raw in messages:
            await client.sendmail("bench@bench.example", to, raw)
        await client.quit()

    def deliver() -> dict[str, float]:
        with write_session(engine) as session:
            session.execute(update(OutboxMessage).values(state="pending", attempts=0, claimed_at=None, sent_at=None))
        transport = SmtpTransport(SmtpSettings("127.0.0.1", port, False, False, "", "", 30))

        def send() -> None:
            delivered = deliver_pending(engine, transport, DeliveryPolicy(sender=SENDER), now=lambda: NOW)
            assert delivered.sent == report.messages, delivered

        return _timed(send, server)

    def timed_floor() -> dict[str, float]:
        return _timed(lambda: asyncio.run(floor(prebuilt)), server)

    asyncio.run(floor(prebuilt[:20]))  # the server's first messages are slower: neither side should pay for them
    floors, sends = [timed_floor()], []
    for _ in range(runs):  # floor, product, floor, ...: the floor runs before and after every delivery
        sends.append(deliver())
        floors.append(timed_floor())
    engine.dispose()
    return report.messages, composed, sends, floors


def delivery_spread(messages: int, sends: list[dict[str, float]], floors: list[dict[str, float]]) -> dict[str, Any]:
    """Each delivery run against the mean of the floor runs just before and after it, by wall time and by CPU time
    (here plus the SMTP server's): the spread says how much of a low figure is the machine (the floor moves too) and
    how much the pump; the CPU ratio is what the pump costs beyond the floor whatever the load."""
    around = [((floors[i]["wall_s"] + floors[i + 1]["wall_s"]) / 2, (_all_cpu(floors[i]) + _all_cpu(floors[i + 1])) / 2)
              for i in range(len(sends))]
    return {
        "deliver_ratios": [wall / send["wall_s"] for (wall, _), send in zip(around, sends)],
        "deliver_cpu_ratios": [cpu / _all_cpu(send) for (_, cpu), send in zip(around, sends) if _all_cpu(send)],
        "deliver_floor_rates": [messages / f["wall_s"] for f in floors if f["wall_s"]],
        "deliver_rates": [messages / s["wall_s"] for s in sends if s["wall_s"]],
        "deliver_runs": sends, "deliver_floor_runs": floors,
    }


def _all_cpu(run: dict[str, float]) -> float:
    return run["cpu_s"] + run["server_cpu_s"]


def peak_memory_of_check(db: Path) -> float:
    """Peak resident memory (MB) of a fresh process that runs the daily check decision once.

    Read from /proc (VmHWM): getrusage's ru_maxrss is carried across fork and exec on Linux, so a
    child would report the parent's peak whenever that is larger.
    """
    code = ("import sys; from pathlib import Path; from bench.measure import decide; "
            "from tracker.calendar import WorkCalendar; from tracker.reminders import Policy; "
            "decide(Path(sys.argv[1]), WorkCalendar(), Policy())(); "
            "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))")
    out = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def measure_jobs(name: str, generated: Generated, folder: Path, *, reuse: bool = False) -> dict[str, Any]:
    """The whole daily and weekly jobs alone (``--jobs-only``), each in a fresh process with its peak memory, and the
    machine's load average before each: the figures the targets for the whole jobs are about, without the hour of
    side-by-side measurements around them. With ``reuse`` an existing database of this scale is used as it is."""
    db = folder / f"{name}.db"
    import_seconds, mix = None, None
    if not (reuse and db.exists()):
        import_seconds = load_database(generated, db)
        mix = apply_state_mix(make_engine(f"sqlite:///{db}"), AS_OF)
    load_daily = os.getloadavg()
    daily_whole = jobs.daily_job(db)
    load_weekly = os.getloadavg()
    weekly_whole = jobs.weekly_job(db, "第001县政府办公室", folder / f"{name}-reports")
    return {
        "scale": name, "counties": generated.counties, "plans": len(generated.plan_files), "jobs_only": True,
        "assignments": mix["assignments"] if mix else None, "import_s": import_seconds,
        "load_before_daily": load_daily, "load_before_weekly": load_weekly,
        "daily_job_s": daily_whole["seconds"], "daily_job_cpu_s": daily_whole["cpu_s"], "daily_job_peak_mb": daily_whole["peak_mb"],
        "messages": daily_whole["messages"],
        "weekly_job_s": weekly_whole["seconds"], "weekly_job_cpu_s": weekly_whole["cpu_s"], "weekly_job_peak_mb": weekly_whole["peak_mb"],
        "weekly_mail_bytes": weekly_whole["mail_bytes"], "weekly_kept_xlsx_bytes": weekly_whole["kept_xlsx_bytes"],
    }


def prepared_database(name: str, generated: Generated, folder: Path, repeats: int, keep: bool) -> tuple[Path, float | None, int]:
    """(database, seconds of the import or None when a kept one was reused, principal assignments).

    With ``keep`` the imported database (state mix applied) is kept as ``NAME.base.db`` in ``folder`` and later runs
    start from a copy of it instead of importing again: at 1M the import takes minutes."""
    db, base = folder / f"{name}.db", folder / f"{name}.base.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    if keep and base.exists():
        shutil.copyfile(base, db)
        with sqlite3.connect(db) as conn:
            assignments = conn.execute("SELECT count(*) FROM assignment WHERE role = 'principal'").fetchone()[0]
        return db, None, assignments
    import_seconds = statistics.median(load_database(generated, db) for _ in range(repeats))
    engine = make_engine(f"sqlite:///{db}")
    mix = apply_state_mix(engine, AS_OF)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    if keep:
        shutil.copyfile(db, base)
    return db, import_seconds, mix["assignments"]


def measure_scale(name: str, generated: Generated, folder: Path, runs: int, port: int, *, keep: bool = False) -> dict[str, Any]:
    calendar, policy = WorkCalendar(), Policy()
    repeats = max(1, runs) if generated.counties * len(generated.plan_files) < 100 else 1  # the slow steps (import, report, delivery) run once at scale
    db, import_seconds, assignments = prepared_database(name, generated, folder, repeats, keep)
    check, check_floor = side_by_side(decide(db, calendar, policy), check_floor_sql(db, calendar, policy), runs)
    notices = decide(db, calendar, policy)()
    floor_rows = check_floor_sql(db, calendar, policy)()
    listed, listed_floor = side_by_side(listing(db, calendar), listing_floor_sql(db), runs)
    report = median_time(weekly(db, calendar), repeats)
    memory = peak_memory_of_check(db)
    daily_whole = jobs.daily_beside_floor(db, 3 if repeats > 1 else 2)
    load_weekly = os.getloadavg()
    weekly_whole = jobs.weekly_job(db, "第001县政府办公室", folder / f"{name}-reports")
    with smtp_sink(port) as server:
        messages, composed, send_runs, floor_runs = delivery(db, calendar, policy, port, max(repeats, 3), server)
    spread = delivery_spread(messages, send_runs, floor_runs)
    sends, floors = [r["wall_s"] for r in send_runs], [r["wall_s"] for r in floor_runs]
    sent, floor_seconds = statistics.median(sends), statistics.median(floors)
    return {
        "scale": name, "counties": generated.counties, "plans": len(generated.plan_files), "assignments": assignments, "runs": runs,
        "import_s": import_seconds, "check_s": check, "check_floor_s": check_floor, "check_ratio": check / check_floor,
        "check_notices": notices, "check_floor_rows": floor_rows,
        "listing_s": listed, "listing_floor_s": listed_floor, "listing_ratio": listed / listed_floor,
        "weekly_report_s": report, "peak_memory_mb": memory,
        "messages": messages, "compose_store_s": composed, "deliver_s": sent, "deliver_floor_s": floor_seconds,
        "deliver_rate": messages / sent if sent else 0, "deliver_floor_rate": messages / floor_seconds if floor_seconds else 0,
        "deliver_ratio": floor_seconds / sent if sent else 0,
        "pipeline_rate": messages / (composed + sent) if messages else 0,
        **spread,
        **daily_whole,
        "weekly_job_s": weekly_whole["seconds"], "weekly_job_peak_mb": weekly_whole["peak_mb"],
        "weekly_mail_bytes": weekly_whole["mail_bytes"], "weekly_kept_xlsx_bytes": weekly_whole["kept_xlsx_bytes"],
        "load_before_weekly": load_weekly,
    }
