"""The robot pump: every robot's waiting posts, in order, paced by that robot's limits, all robots at once.

Robots are independent: one worker per robot sends its posts oldest first, waiting for its own
rate-limit windows, while the others go on (a county's morning takes as long as its busiest
robot needs, not the sum). A post is claimed just before it is sent and recorded just after
(tracker.chat_outbox). A temporary failure (rate limit, timeout) stops that robot's worker for
this pass, so its posts keep their order; a refused key or signature marks the robot broken and
fails its waiting posts at once, with the reason, for `outbox list --state failed` and the county
office's next digest. Mail has its own pump and never waits for a robot.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Callable

from sqlalchemy import Engine

from notifications.delivery import DeliveryPolicy, DeliveryReport
from notifications.errors import DeliveryError
from notifications.robots import LIMITS, Pacer, RateLimit, Robot, RobotDeliveryError, RobotTransport
from tracker.channels import PLATFORMS, mark_broken, mark_working, mask
from tracker.chat_outbox import ClaimedPost, DuePost, claim_post, due_posts, fail_robot_posts, recent_sends
from tracker.db import read_session, write_session
from tracker.models import RobotChannel
from tracker.outbox import record_failure, record_sent

log = logging.getLogger(__name__)


def deliver_chat_pending(
    engine: Engine, transport: RobotTransport, policy: DeliveryPolicy, *, now: Callable[[], dt.datetime],
    stop: Callable[[], bool] = lambda: False, limits: dict[str, tuple[RateLimit, ...]] = LIMITS,
) -> DeliveryReport:
    """Post every robot message that is due, pacing each robot; stop early (after the posts in flight) when ``stop()``."""
    return asyncio.run(_pump(engine, transport, policy, now, stop, limits))


async def _pump(
    engine: Engine, transport: RobotTransport, policy: DeliveryPolicy, now: Callable[[], dt.datetime],
    stop: Callable[[], bool], limits: dict[str, tuple[RateLimit, ...]],
) -> DeliveryReport:
    report = DeliveryReport()
    with read_session(engine) as session:
        due = due_posts(session, now=now(), lease=policy.lease)
    by_robot: dict[tuple[str, str], list[DuePost]] = defaultdict(list)
    for post in due:
        by_robot[(post.platform, post.target)].append(post)
    gate = asyncio.Semaphore(transport.settings.parallel)
    with read_session(engine) as session:
        moment, clock = now(), time.monotonic()
        pacers = {}
        for platform, target in by_robot:
            since = moment - dt.timedelta(seconds=max(limit.seconds for limit in limits[platform]) * 1.1)
            earlier = [clock - (moment - at).total_seconds() for at in recent_sends(session, platform, target, since=since)]
            pacers[(platform, target)] = Pacer(limits[platform], earlier=earlier)
    try:
        await asyncio.gather(*(
            _robot(engine, transport, policy, now, stop, pacers[robot], posts, gate, report)
            for robot, posts in by_robot.items()
        ))
    finally:
        await transport.close()
    return report


async def _robot(
    engine: Engine, transport: RobotTransport, policy: DeliveryPolicy, now: Callable[[], dt.datetime], stop: Callable[[], bool],
    pacer: Pacer, posts: list[DuePost], gate: asyncio.Semaphore, report: DeliveryReport,
) -> None:
    """One robot's posts, in order. The database work runs in a thread, so other robots' requests go on meanwhile."""
    platform, target = posts[0].platform, posts[0].target
    label = f"{PLATFORMS[platform]}机器人{mask(target)}"
    for post in posts:
        if stop():
            return
        await pacer.wait()
        claimed = await asyncio.to_thread(_claim, engine, post.id, now(), policy.lease)
        if claimed is None:
            continue  # another process took it, or the robot's posts were failed meanwhile
        started = time.monotonic()
        try:
            if claimed.retired:
                raise RobotDeliveryError(f"{label}已被删除，消息不再发送", permanent=True)
            async with gate:
                try:
                    note = await transport.send(Robot(platform, target, claimed.secret), claimed.raw)
                finally:
                    pacer.record()  # when the answer came: the post reached the platform before that
        except DeliveryError as exc:
            if not await asyncio.to_thread(_failed, engine, policy, now, claimed, exc, label, report):
                return  # temporary: the rest of this robot's posts wait for a later pass, in order
            continue
        await asyncio.to_thread(_sent, engine, claimed, now(), note)
        report.sent += 1
        log.info("机器人消息 %s 已发到%s（%s，%.2f 秒）", claimed.id, label, claimed.recipient, time.monotonic() - started)


def _claim(engine: Engine, message_id: int, moment: dt.datetime, lease: dt.timedelta) -> ClaimedPost | None:
    with write_session(engine) as session:
        return claim_post(session, message_id, now=moment, lease=lease)


def _sent(engine: Engine, claimed: ClaimedPost, moment: dt.datetime, note: str) -> None:
    with write_session(engine) as session:
        record_sent(session, claimed.id, now=moment, note=note)
        if claimed.broken:
            mark_working(session, claimed.channel_id)


def _failed(
    engine: Engine, policy: DeliveryPolicy, now: Callable[[], dt.datetime], claimed: ClaimedPost, exc: DeliveryError,
    label: str, report: DeliveryReport,
) -> bool:
    """Record a refused post; True when the robot may go on with its next post."""
    retry_after = getattr(exc, "retry_after", None)
    broken = getattr(exc, "broken", False)
    moment, message_id, channel_id, recipient = now(), claimed.id, claimed.channel_id, claimed.recipient
    reason = f"{label}：{exc}"
    with write_session(engine) as session:
        state = record_failure(session, message_id, reason, permanent=exc.permanent, now=moment,
                               max_attempts=policy.max_attempts, retry_after=policy.retry_after_seconds,
                               retry_at=moment + dt.timedelta(seconds=retry_after) if retry_after else None)
        extra = 0
        if broken:
            mark_broken(session, channel_id, str(exc), now=moment)
            channel = session.get_one(RobotChannel, channel_id)
            extra = fail_robot_posts(session, channel.platform, channel.target, reason)
    if state == "failed":
        report.failed += 1 + extra
    else:
        report.retrying += 1
    report.errors.append(f"{recipient}（{label}）：{exc}")
    log.warning("机器人消息 %s 发到%s失败（%s）：%s", message_id, label, "不再重试" if state == "failed" else "稍后重试", exc)
    return exc.permanent and not broken
