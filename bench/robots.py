"""`python -m bench.robots`: a prefecture's morning of digests posted to group-chat robots, against the limits' lower bound.

The day is real: the prefecture plans of `bench.generate` (10 counties), the daily check of
2021-03-15, which stores each digest's e-mail and its robot posts (a long digest is several
parts). Robots are assigned round-robin to the digests' units, as many as asked (100 by default:
40 WeCom, 40 DingTalk, 20 Feishu, the DingTalk and Feishu ones signed). The platforms are the local
server of the tests (tests/robot_servers.py) in a process of its own, with the real limits: 20 a
minute for WeCom and DingTalk, 100 a minute and 5 a second for Feishu, refusing whatever exceeds
them (DingTalk would throttle the robot for ten minutes).

Two lower bounds, both measured or computed in the same run:
- the limits: for each robot with n posts, the time its windows force between its first and its
  last post (WeCom, DingTalk: ⌊(n−1)/20⌋ minutes; Feishu: the larger of ⌊(n−1)/5⌋ s and
  ⌊(n−1)/100⌋ min); the morning cannot be shorter than its busiest robot;
- the transfer: the same prebuilt bodies posted by plain httpx, every robot's posts one after
  another and all robots at once with the same connection cap, ignoring the limits (and so refused
  by the server where they exceed them; only its time is used).
The product's time is compared with the larger of the two; every post must be accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import select, update

from bench.__main__ import free_port
from bench.generate import apply_state_mix, generate
from bench.measure import AS_OF, NOW, SENDER, load_database
from notifications.chat_delivery import deliver_chat_pending
from notifications.delivery import DeliveryPolicy
from notifications.robots import LIMITS, Robot, RobotSettings, RobotTransport
from schedules.jobs import CheckSettings, daily_check
from tracker.calendar import WorkCalendar
from tracker.db import make_engine, read_session, write_session
from tracker.models import OutboxBody, OutboxMessage, RobotChannel, Unit
from tracker.queries import LightRules
from tracker.reminders import Policy, plan_check

ROOT = Path(__file__).resolve().parent.parent


def robots_for(count: int) -> list[tuple[str, str, str]]:
    """(platform, id, secret): 40 % WeCom, 40 % DingTalk, 20 % Feishu."""
    found = []
    for n in range(count):
        share = n % 5
        platform = "wecom" if share < 2 else "dingtalk" if share < 4 else "feishu"
        secret = "" if platform == "wecom" else (f"SEC{n:060d}" if platform == "dingtalk" else f"feishusecret{n:08d}")
        found.append((platform, f"{platform}-robot-{n:08d}", secret))
    return found


def limit_bound(counts: dict[tuple[str, str], int]) -> float:
    """Seconds the limits force on the busiest robot between its first and last post."""
    worst = 0.0
    for (platform, _robot), n in counts.items():
        worst = max([worst, *(((n - 1) // limit.count) * limit.seconds for limit in LIMITS[platform])])
    return worst


def _server(port: int, robots: list[tuple[str, str, str]], folder: Path) -> subprocess.Popen[bytes]:
    listing = folder / "robots.json"
    listing.write_text(json.dumps(robots), "utf-8")
    process = subprocess.Popen([sys.executable, "-m", "tests.robot_servers", "--port", str(port), "--robots", str(listing)],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            httpx.get(f"http://127.0.0.1:{port}/_posts", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    return process


def _posts(port: int) -> list[list[Any]]:
    return httpx.get(f"http://127.0.0.1:{port}/_posts", timeout=30).json()


def morning(robot_count: int, folder: Path, runs: int) -> dict[str, Any]:
    db = folder / f"robots-{robot_count}.db"
    load_database(generate(folder / "plans", 10), db)
    engine = make_engine(f"sqlite:///{db}")
    apply_state_mix(engine, AS_OF)
    robots = robots_for(robot_count)
    with read_session(engine) as session:  # the day's digests, each unit with one of the robots, round-robin
        recipients = [d.recipient for d in plan_check(session, AS_OF, WorkCalendar(), Policy(), LightRules()).digests]
    with write_session(engine) as session:
        ids = dict(session.exec(select(Unit.name, Unit.id)).all())
        for n, name in enumerate(recipients):
            platform, target, secret = robots[n % robot_count]
            session.add(RobotChannel(unit_id=ids[name], platform=platform, target=target, secret=secret, created_at=NOW))
    settings = CheckSettings(policy=Policy(), lights=LightRules(), sender=SENDER, county="基准测试", subject_prefix="基准测试")
    report = daily_check(engine, settings, WorkCalendar(), AS_OF, NOW)
    with read_session(engine) as session:
        prebuilt = session.exec(select(RobotChannel.platform, RobotChannel.target, RobotChannel.secret, OutboxBody.raw)
                                .join(OutboxMessage, OutboxMessage.channel_id == RobotChannel.id)
                                .join(OutboxBody, OutboxBody.id == OutboxMessage.id).order_by(OutboxMessage.id)).all()
    counts = Counter((platform, target) for platform, target, _s, _r in prebuilt)
    bound = limit_bound(counts)
    settings_ = lambda port: RobotSettings(base_urls={  # noqa: E731
        "wecom": f"http://127.0.0.1:{port}/wecom/send", "dingtalk": f"http://127.0.0.1:{port}/dingtalk/send",
        "feishu": f"http://127.0.0.1:{port}/feishu/hook"}, timeout_seconds=30)

    products, floors, answers, delivered = [], [], Counter(), None
    for _ in range(runs):  # floor, product, floor, ...: each against a fresh server (fresh windows), medians reported
        floors.append(_timed(robots, folder, lambda port: _transfer_floor(prebuilt, settings_(port)))[0])
        with write_session(engine) as session:
            session.execute(update(OutboxMessage).where(OutboxMessage.channel_id != None)  # noqa: E711
                            .values(state="pending", attempts=0, claimed_at=None, sent_at=None))

        def product_run(port: int) -> tuple[Any, float]:
            started = time.perf_counter()
            result = deliver_chat_pending(engine, RobotTransport(settings_(port)), DeliveryPolicy(sender=SENDER), now=lambda: NOW)
            return result, time.perf_counter() - started

        (delivered, elapsed), posted = _timed(robots, folder, product_run)
        products.append(elapsed)
        answers = Counter(code for _at, _p, _r, code in posted)
    floor, product = statistics.median(floors), statistics.median(products)
    engine.dispose()
    lower = max(bound, floor)
    return {
        "robots": robot_count, "runs": runs, "digests": report.messages, "posts": len(prebuilt), "busiest_robot_posts": max(counts.values()),
        "sent": delivered.sent, "retrying": delivered.retrying, "failed": delivered.failed,  # type: ignore[union-attr]
        "accepted": answers.get(0, 0), "refused": sum(n for code, n in answers.items() if code != 0),
        "product_s": product, "limit_bound_s": bound, "transfer_floor_s": floor, "lower_bound_s": lower,
        "over_bound_s": product - lower, "ratio": product / lower if lower else 0,
    }


def _timed(robots: list[tuple[str, str, str]], folder: Path, action: Any) -> tuple[Any, list[list[Any]]]:
    """Run ``action(port)`` against a fresh platform server; returns its result and what the server recorded."""
    port = free_port()
    server = _server(port, robots, folder)
    try:
        result = action(port)
        return result, _posts(port)
    finally:
        server.terminate()
        server.wait(10)


def _transfer_floor(prebuilt: list[Any], settings: RobotSettings) -> float:
    by_robot: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for platform, target, secret, raw in prebuilt:
        by_robot[(platform, target, secret)].append(raw)

    async def run() -> float:  # the product's own request building and signing, without database, pacing or checks
        transport = RobotTransport(settings)
        gate = asyncio.Semaphore(settings.parallel)

        async def robot(key: tuple[str, str, str], bodies: list[str]) -> None:
            for raw in bodies:
                async with gate:
                    url, params, body = transport.request(Robot(*key), json.loads(raw))
                    assert transport._client is not None
                    await transport._client.post(url, params=params, content=json.dumps(body, ensure_ascii=False).encode(),
                                                 headers={"Content-Type": "application/json; charset=utf-8"})

        transport._client = httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=settings.parallel), trust_env=False)
        started = time.perf_counter()
        await asyncio.gather(*(robot(key, bodies) for key, bodies in by_robot.items()))
        elapsed = time.perf_counter() - started
        await transport.close()
        return elapsed

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.robots", description="一个州市一早上的群机器人消息：实际用时与限速下限对比。")
    parser.add_argument("--robots", default="100,10", help="机器人数，逗号分隔（默认 100 和 10：后者每个机器人 30 多条，限速起作用）")
    parser.add_argument("--runs", default="3,1", help="每种机器人数测几次（取中位数），与 --robots 对应")
    parser.add_argument("--out", type=Path, default=Path("bench-robots.json"))
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tracker-bench-robots-"))
    rows = []
    for count, runs in zip(filter(None, args.robots.split(",")), args.runs.split(",")):
        row = morning(int(count), folder, int(runs))
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False), flush=True)
    args.out.write_text(json.dumps(rows, ensure_ascii=False, indent=2), "utf-8")


if __name__ == "__main__":
    main()
