"""The one scheduler process: a daily check on working days and a delivery pump.

APScheduler only calls the job functions; all reminder state lives in our own tables (ledger and
outbox), never in a job store, so restarting loses nothing. On start the daemon catches up: if the
check time of today has passed it runs the check at once (the ledger keeps it from repeating).
The weekly report has its own daily trigger and sends only on the week's first working day.
SIGTERM and SIGINT stop it after the message in flight.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DaemonPlan:
    timezone: ZoneInfo
    check_at: dt.time
    report_at: dt.time
    pump_every_seconds: int


@dataclass(frozen=True)
class Jobs:
    check: Callable[[], object]
    report: Callable[[], object]
    pump: Callable[[], object]


def _daily(at: dt.time, tz: ZoneInfo) -> CronTrigger:
    return CronTrigger(day_of_week="mon-sun", hour=at.hour, minute=at.minute, timezone=tz)


def build_scheduler(plan: DaemonPlan, jobs: Jobs) -> BlockingScheduler:
    """The scheduler with its jobs; the jobs themselves skip days that are not working days."""
    scheduler = BlockingScheduler(
        timezone=plan.timezone,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
    )
    scheduler.add_job(jobs.check, _daily(plan.check_at, plan.timezone), id="daily-check", name="每日到期检查")
    scheduler.add_job(jobs.report, _daily(plan.report_at, plan.timezone), id="weekly-report", name="每周进度通报")
    scheduler.add_job(jobs.pump, IntervalTrigger(seconds=plan.pump_every_seconds, timezone=plan.timezone),
                      id="delivery-pump", name="邮件发送")
    return scheduler


def run_daemon(plan: DaemonPlan, jobs: Jobs, stop: threading.Event) -> None:
    """Run until SIGTERM/SIGINT; ``stop`` is set first so that the pump ends after its current message."""
    scheduler = build_scheduler(plan, jobs)

    def shutdown(signum: int, _frame: object) -> None:
        log.info("收到信号 %s，发送完当前邮件后退出。", signal.Signals(signum).name)
        stop.set()
        if scheduler.running:  # a signal during the catch-up at start comes before the scheduler runs
            scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    now = dt.datetime.now(plan.timezone)
    if now.time() >= plan.check_at:
        jobs.check()
    if now.time() >= plan.report_at:
        jobs.report()
    jobs.pump()
    if stop.is_set():
        return
    log.info("调度已启动：每天 %s 检查（非工作日跳过），每周第一个工作日 %s 生成通报，每 %d 秒发送一次待发邮件。",
             plan.check_at.strftime("%H:%M"), plan.report_at.strftime("%H:%M"), plan.pump_every_seconds)
    scheduler.start()
