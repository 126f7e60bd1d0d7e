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
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:  # APScheduler is imported when a scheduler is built: the CLI's other commands start without it
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DaemonPlan:
    timezone: ZoneInfo
    check_at: dt.time
    report_at: dt.time
    pump_every_seconds: int
    clock: Callable[[], dt.datetime]  # the real clock, read at the CLI's edge


@dataclass(frozen=True)
class Jobs:
    check: Callable[[], object]
    report: Callable[[], object]
    pump: Callable[[], object]
    robots: Callable[[], object] | None = None  # the robot pump: a job of its own, so that pacing never holds up mail


def _daily(at: dt.time, tz: ZoneInfo) -> CronTrigger:
    from apscheduler.triggers.cron import CronTrigger

    return CronTrigger(day_of_week="mon-sun", hour=at.hour, minute=at.minute, timezone=tz)


def build_scheduler(plan: DaemonPlan, jobs: Jobs) -> BackgroundScheduler:
    """The scheduler with its jobs; the jobs themselves skip days that are not working days."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.interval import IntervalTrigger

    scheduler = BackgroundScheduler(
        timezone=plan.timezone,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
    )
    scheduler.add_job(jobs.check, _daily(plan.check_at, plan.timezone), id="daily-check", name="每日到期检查")
    scheduler.add_job(jobs.report, _daily(plan.report_at, plan.timezone), id="weekly-report", name="每周进度通报")
    scheduler.add_job(jobs.pump, IntervalTrigger(seconds=plan.pump_every_seconds, timezone=plan.timezone),
                      id="delivery-pump", name="邮件发送")
    if jobs.robots is not None:
        scheduler.add_job(jobs.robots, IntervalTrigger(seconds=plan.pump_every_seconds, timezone=plan.timezone),
                          id="robot-pump", name="群机器人发送")
    return scheduler


def run_daemon(plan: DaemonPlan, jobs: Jobs, stop: threading.Event) -> None:
    """Run until SIGTERM/SIGINT.

    The signal handler only sets ``stop``; the main thread waits for it and then shuts the scheduler
    down, waiting for the job that runs (the pump ends after its current message). So a signal at any
    moment, during the catch-up at start included, ends the process cleanly.
    """

    def on_signal(signum: int, _frame: object) -> None:
        log.info("收到信号 %s，发送完当前邮件后退出。", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    now = plan.clock().astimezone(plan.timezone)
    if now.time() >= plan.check_at and not stop.is_set():
        jobs.check()
    if now.time() >= plan.report_at and not stop.is_set():
        jobs.report()
    if not stop.is_set():
        jobs.pump()
    if stop.is_set():
        return
    scheduler = build_scheduler(plan, jobs)
    scheduler.start()
    log.info("调度已启动：每天 %s 检查（非工作日跳过），每周第一个工作日 %s 生成通报，每 %d 秒发送一次待发邮件。",
             plan.check_at.strftime("%H:%M"), plan.report_at.strftime("%H:%M"), plan.pump_every_seconds)
    while not stop.wait(1):
        pass
    scheduler.shutdown(wait=True)
