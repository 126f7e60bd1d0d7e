"""Group-chat robots (WeCom, DingTalk, Feishu) beside e-mail, against a local server that behaves like the platforms.

The expectations come from the issue and the platforms' rules: secrets never shown; one outbox row
per post with its own state; posts within each platform's size, split into numbered parts, never
mid-entry, overdue first; DingTalk and Feishu signatures checked with their clock window; rate
limits paced, and a refusal classified (rate limit temporary, bad key permanent and named to the
county office).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import time

import pytest
from sqlalchemy import text

from notifications.chat_delivery import deliver_chat_pending
from notifications.chat_render import ChatPost, fits, render_chat_digest
from notifications.delivery import DeliveryPolicy
from notifications.robots import Robot, RobotDeliveryError, RobotSettings, RobotTransport, RateLimit
from tests.robot_servers import RobotServer
from tracker.chat_outbox import store_post
from tracker.db import head_revision, make_engine, upgrade_database, write_session
from tracker.directory import bundled_directory_path
from tracker.models import RobotChannel
from tracker.outbox import RenderedMessage
from tracker.reminders import Digest, DigestEntry

WECOM = "0f3c2a9e-5b1d-4c8e-9a77-1d2e3f4a5b6c"
DING = "b7e1c0d2a3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0"
DING_SECRET = "SEC4d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3"
FEISHU = "2b4f6d8e-1a3c-4e5f-8a9b-0c1d2e3f4a5b"
FEISHU_SECRET = "qR7sT9uV1wX3yZ5aB7cD9e"


@pytest.fixture
def robots():
    server = RobotServer().add("wecom", WECOM).add("dingtalk", DING, DING_SECRET).add("feishu", FEISHU, FEISHU_SECRET).start()
    yield server
    server.stop()


def _secrets_absent(output: str) -> None:
    for secret in (WECOM, DING, DING_SECRET, FEISHU, FEISHU_SECRET):
        assert secret not in output and secret[:-4] not in output


def test_robots_are_set_per_unit_and_group_and_shown_masked(seeded):
    seeded("units", "set", "狮山镇", "--wecom", f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WECOM}",
           "--dingtalk", DING, "--dingtalk-secret", DING_SECRET, "--mobile", "138 0000 0001")
    group = seeded.json("units", "set", "各乡镇", "--feishu", FEISHU, "--feishu-secret", FEISHU_SECRET)
    assert group["group"] is True and [r["target"] for r in group["robots"]] == ["…" + FEISHU[-4:]]
    shown = seeded.json("units", "show", "狮山镇人民政府")
    assert shown["mobiles"] == ["13800000001"]
    assert [(r["platform"], r["target"], r["secret"], r["signed"], r["via_group"]) for r in shown["robots"]] == [
        ("wecom", "…" + WECOM[-4:], "", False, None),
        ("dingtalk", "…" + DING[-4:], "…" + DING_SECRET[-4:], True, None),
        ("feishu", "…" + FEISHU[-4:], "…" + FEISHU_SECRET[-4:], True, "各乡镇"),
    ]
    other = seeded.json("units", "show", "高桥镇人民政府")  # a member of the group, without robots of its own
    assert [r["via_group"] for r in other["robots"]] == ["各乡镇"]
    assert seeded.json("units", "show", "县财政局")["robots"] == []
    for args in (("units", "list"), ("units", "list", "--json"), ("units", "show", "狮山镇"), ("export", "--json")):
        _secrets_absent(seeded(*args).stdout)
    listing = seeded("units", "list").stdout
    assert "钉钉…" + DING[-4:] in listing and "飞书…" + FEISHU[-4:] + "（经各乡镇）" in listing
    # given again with a new secret: one robot, the new secret; removed by its masked form
    seeded("units", "set", "狮山镇", "--dingtalk", DING, "--dingtalk-secret", DING_SECRET[:-4] + "0000")
    robots = seeded.json("units", "show", "狮山镇")["robots"]
    assert [r["secret"] for r in robots if r["platform"] == "dingtalk"] == ["…0000"]
    seeded("units", "set", "狮山镇", "--remove-robot", "…" + WECOM[-4:])
    assert [r["platform"] for r in seeded.json("units", "show", "狮山镇")["robots"]] == ["dingtalk", "feishu"]


@pytest.mark.parametrize("args, says", [
    (("狮山镇", "--dingtalk", DING, "--dingtalk", DING[::-1], "--dingtalk-secret", DING_SECRET), "数量必须相同"),
    (("狮山镇", "--dingtalk", DING, "--dingtalk-secret", "not-a-dingtalk-secret"), "SEC 开头"),
    (("狮山镇", "--dingtalk-secret", DING_SECRET), "要和机器人一起给出"),
    (("狮山镇", "--wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"), "无效"),
    (("狮山镇", "--mobile", "0871-1234567"), "11 位大陆手机号"),
    (("狮山镇", "--remove-robot", "…zzzz"), "没有标识为"),
    (("各乡镇", "--email", "x@wuding.gov.cn"), "是单位组"),
    (("各乡镇", "--feishu", FEISHU, "--mobile", "13800000001"), "是单位组"),
])
def test_bad_robot_settings_are_refused_and_change_nothing(seeded, args, says):
    before = seeded.snapshot()
    result = seeded("units", "set", *args, ok=False)
    assert result.exit_code == 1 and says in result.stderr
    _secrets_absent(result.stderr)
    assert seeded.snapshot() == before


def test_the_directory_file_takes_the_same_fields(cli, tmp_path):
    text_ = bundled_directory_path().read_text("utf-8")
    text_ = text_.replace('name = "狮山镇人民政府"\nkind = "township"\n',
                          f'name = "狮山镇人民政府"\nkind = "township"\nwecom = "{WECOM}"\ndingtalk = ["{DING}"]\n'
                          f'dingtalk_secret = ["{DING_SECRET}"]\nmobiles = ["13800000001"]\n')
    text_ = text_.replace('kinds = ["township"]\n', f'kinds = ["township"]\nfeishu = "{FEISHU}"\nfeishu_secret = "{FEISHU_SECRET}"\n', 1)
    path = tmp_path / "units.toml"
    path.write_text(text_, "utf-8")
    cli("init", "--units", str(path), "--start", "2020-08-01")
    shown = cli.json("units", "show", "狮山镇")
    assert [(r["platform"], r["via_group"]) for r in shown["robots"]] == [("wecom", None), ("dingtalk", None), ("feishu", "各乡镇")]
    assert shown["mobiles"] == ["13800000001"]
    bad = tmp_path / "bad.toml"
    bad.write_text(text_.replace(f'dingtalk_secret = ["{DING_SECRET}"]', 'dingtalk_secret = ["plain"]'), "utf-8")
    refused = cli("init", "--force", "--units", str(bad), ok=False)
    assert refused.exit_code == 1 and "狮山镇人民政府" in refused.stderr and "SEC 开头" in refused.stderr


def _entry(n: int, days_left: int, *, escalation: bool = False, unit: str = "狮山镇人民政府") -> DigestEntry:
    return DigestEntry(f"{n}", f"第{n}项工作：按标准目录编制并公开本领域政务公开事项，完善发布、解读和回应机制", unit,
                       "county_office" if escalation else "principal", "overdue-1" if days_left < 0 else "before-7",
                       dt.date(2020, 10, 9) + dt.timedelta(days=days_left), days_left,
                       "red" if days_left < 0 else "yellow", escalation)


@pytest.mark.parametrize("platform", ["wecom", "dingtalk", "feishu"])
def test_a_long_digest_is_split_into_numbered_parts_within_the_limit_never_mid_entry(platform):
    entries = [_entry(n, -3 if n % 3 == 0 else 5) for n in range(1, 91)]
    entries += [_entry(200 + n, -10, escalation=True, unit=f"某某乡{n}人民政府") for n in range(60)]
    # the check's order: own entries first, overdue first
    entries.sort(key=lambda e: (e.escalation, e.days_left, e.item))
    digest = Digest("狮山镇人民政府", ["shishan@wuding.example"], dt.date(2020, 10, 9), entries)
    posts = render_chat_digest(digest, platform, county="武定县", prefix="政务公开任务提醒", mobiles=["13800000001"])
    markdown = [p for p in posts if "text" not in p.payload or platform == "dingtalk"]
    if platform == "wecom":
        assert posts[-1].payload == {"msgtype": "text", "text": {"content": posts[-1].payload["text"]["content"],
                                                                 "mentioned_mobile_list": ["13800000001"]}}
        markdown = posts[:-1]
    bodies = [_text(platform, p.payload) for p in markdown]
    assert len(bodies) > (1 if platform != "wecom" else 5)
    for number, (post, body) in enumerate(zip(markdown, bodies), 1):
        assert fits(platform, post.payload)
        assert f"（第{number}/{len(bodies)}部分）" in body
    if platform == "wecom":
        assert all(len(b.encode()) <= 4096 for b in bodies)
    if platform == "feishu":
        assert all(len(json.dumps(p.payload, ensure_ascii=False).encode()) <= 20 * 1024 for p in markdown)
    whole = "\n".join(bodies)
    for entry in entries:  # every entry once, whole, in one part
        if entry.escalation:
            assert sum(f"**事项 {entry.item}**" in b for b in bodies) == 1
        else:
            line = f"**事项 {entry.item}**：{entry.title}"
            assert sum(line in b for b in bodies) == 1
    own_positions = [whole.index(f"**事项 {e.item}**：") for e in entries if not e.escalation]
    assert own_positions == sorted(own_positions)
    first_due_soon = min(whole.index(f"**事项 {e.item}**：") for e in entries if not e.escalation and e.days_left > 0)
    assert all(whole.index(f"**事项 {e.item}**：") < first_due_soon for e in entries if e.days_left < 0 and not e.escalation)
    assert [e for p in markdown for e in p.entries] == [e.to_json() for e in entries]
    if platform == "dingtalk":
        assert markdown[0].payload["at"]["atMobiles"] == ["13800000001"] and "@13800000001" in bodies[0]


def _text(platform: str, payload: dict) -> str:
    if platform == "wecom":
        return payload["markdown"]["content"]
    if platform == "dingtalk":
        return payload["markdown"]["text"]
    return payload["card"]["elements"][0]["content"]


def _set_robots(cli, server: RobotServer) -> None:
    cli.write_config(server.config())
    cli("units", "set", "狮山镇", "--wecom", WECOM, "--dingtalk", DING, "--dingtalk-secret", DING_SECRET,
        "--mobile", "13800000001")
    cli("units", "set", "各乡镇", "--feishu", FEISHU, "--feishu-secret", FEISHU_SECRET)


def test_each_digest_goes_to_each_robot_as_its_own_outbox_rows_signed_and_never_twice(seeded, robots):
    _set_robots(seeded, robots)
    report = seeded.json("run", "--once", "--today", "2020-09-27")
    # 狮山镇: one WeCom markdown post and its @-mention, one DingTalk post; the group's Feishu robot: every township
    assert report["check"]["robot_posts"] == 3 + 11
    assert report["robot_delivery"] == {"sent": 3 + 11, "retrying": 0, "failed": 0, "errors": []}
    assert report["delivery"]["sent"] == report["check"]["messages"]
    assert all(p.code == 0 for p in robots.posts) and len(robots.posts) == 3 + 11
    ding = robots.accepted("dingtalk")[0].body
    assert ding["at"]["atMobiles"] == ["13800000001"] and "@13800000001" in ding["markdown"]["text"]
    assert "狮山镇人民政府" in ding["markdown"]["title"]
    wecom = [p.body for p in robots.accepted("wecom")]
    assert [b["msgtype"] for b in wecom] == ["markdown", "text"]
    assert wecom[1]["text"]["mentioned_mobile_list"] == ["13800000001"]
    feishu_titles = sorted(p.body["card"]["header"]["title"]["content"] for p in robots.accepted("feishu"))
    assert len(feishu_titles) == 11 and all("人民政府" in t for t in feishu_titles)
    listing = seeded.json("outbox", "list")
    posts = [m for m in listing if m["to"] and "机器人" in m["to"][0]]
    assert len(posts) == 3 + 11 and {m["state"] for m in posts} == {"sent"}
    townships = {m["recipient"] for m in listing if m["recipient"].endswith(("镇人民政府", "乡人民政府"))}
    assert len(townships) == 11 and {m["recipient"] for m in posts if m["to"][0].startswith("飞书")} == townships
    _secrets_absent(json.dumps(listing, ensure_ascii=False))
    again = seeded.json("run", "--once", "--today", "2020-09-27")
    assert again["robot_delivery"]["sent"] == 0 and len(robots.posts) == 3 + 11


def test_a_dead_webhook_fails_alone_says_why_and_the_office_digest_names_it(seeded, robots):
    _set_robots(seeded, robots)
    dead = "9d9d9d9d-0000-4000-8000-deadbeefdead"
    seeded("units", "set", "猫街镇", "--wecom", dead)
    dead_run = seeded("run", "--once", "--today", "2020-09-27", "--json", ok=False)
    assert dead_run.exit_code == 1  # a post failed for good: a cron job must notice
    report = json.loads(dead_run.stdout)
    assert report["delivery"]["failed"] == 0 and report["delivery"]["sent"] == report["check"]["messages"]
    assert report["robot_delivery"]["failed"] == 1 and report["robot_delivery"]["sent"] == 3 + 11
    failed = seeded.json("outbox", "list", "--state", "failed")
    assert [(m["recipient"], m["to"]) for m in failed] == [("猫街镇人民政府", ["企业微信机器人…dead"])]
    assert "93000" in failed[0]["last_error"] and "key 无效" in failed[0]["last_error"]
    assert "93000" in seeded("outbox", "list", "--state", "failed").stdout
    broken = seeded.json("units", "show", "猫街镇")["robots"][0]
    assert broken["broken_since"].endswith("+08:00") and "93000" in broken["broken_reason"]
    again = seeded("run", "--once", "--today", "2020-10-09", ok=False)  # the county office's next digest
    assert again.exit_code == 1 and "条群机器人消息发送失败" in again.stderr  # the robot is still broken
    engine = make_engine(seeded.absolute_url)
    with engine.connect() as conn:
        office = conn.execute(text("SELECT b.raw FROM outboxmessage m JOIN outboxbody b ON b.id = m.id WHERE m.recipient = "
                                   "'县政府办公室' AND m.channel_id IS NULL AND m.run_date = '2020-10-09' AND m.kind = 'reminder'")).scalar()
    engine.dispose()
    import email

    body = email.message_from_string(office).get_payload()[0].get_payload(decode=True).decode()
    assert "猫街镇人民政府的企业微信机器人…dead" in body and "93000" in body and "重新设置" in body and "tracker " not in body
    # set anew: mended; `outbox retry` sends the failed post
    robots.add("wecom", dead)
    seeded("units", "set", "猫街镇", "--wecom", dead)
    assert seeded.json("units", "show", "猫街镇")["robots"][0]["broken_since"] is None
    seeded("outbox", "retry")
    assert seeded.json("run", "--once", "--today", "2020-10-09")["robot_delivery"]["sent"] >= 1
    assert robots.accepted("wecom", dead)


def _engine_with_posts(cli, server: RobotServer, robots: dict[str, tuple[str, str]], count: int):
    """A seeded database whose outbox holds ``count`` posts for each robot (platform -> (id, secret))."""
    cli("init", "--start", "2020-08-01")
    engine = make_engine(cli.absolute_url)
    now = dt.datetime(2020, 10, 9, 8, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    with write_session(engine) as session:
        for platform, (target, secret) in robots.items():
            server.add(platform, target, secret)
            channel = RobotChannel(unit_id=1, platform=platform, target=target, secret=secret, created_at=now)
            session.add(channel)
            session.flush()
            for n in range(count):
                payload = {"wecom": {"msgtype": "markdown", "markdown": {"content": f"第{n}条"}},
                           "dingtalk": {"msgtype": "markdown", "markdown": {"title": "t", "text": f"第{n}条"}},
                           "feishu": {"msg_type": "interactive", "card": {"elements": [{"tag": "markdown", "content": f"第{n}条"}]}}}
                message = RenderedMessage("县政府办公室", ["robot"], f"第{n}条", ChatPost.new_id(platform),
                                          json.dumps(payload[platform], ensure_ascii=False), [])
                store_post(session, message, channel.id, run_date=now.date(), now=now)
    return engine, now


SCALE = 0.05  # every window and throttle 20 times shorter: 20 a minute becomes 20 in 3 s


def test_posts_are_paced_per_robot_within_every_window_and_nothing_is_refused(cli):
    server = RobotServer(scale=SCALE).start()
    try:
        robots = {"wecom": (WECOM, ""), "dingtalk": (DING, DING_SECRET), "feishu": (FEISHU, FEISHU_SECRET)}
        engine, now = _engine_with_posts(cli, server, robots, 26)
        limits = {p: tuple(RateLimit(l.count, l.seconds * SCALE) for l in ls)
                  for p, ls in {"wecom": (RateLimit(20, 60),), "dingtalk": (RateLimit(20, 60),),
                                "feishu": (RateLimit(100, 60), RateLimit(5, 1))}.items()}
        transport = RobotTransport(RobotSettings(base_urls=server.base_urls(), timeout_seconds=5))
        report = deliver_chat_pending(engine, transport, DeliveryPolicy(sender="x <x@y.z>"), now=lambda: now, limits=limits)
        assert report.sent == 3 * 26 and report.retrying == report.failed == 0
        assert [p.code for p in server.posts] == [0] * (3 * 26)
        for platform, (target, _secret) in robots.items():
            times = [p.at for p in server.accepted(platform, target)]
            assert [int(re.search(r"第(\d+)条", json.dumps(p.body, ensure_ascii=False)).group(1))
                    for p in server.accepted(platform, target)] == list(range(26))  # in order
            for limit in limits[platform]:  # the platform's own count over sliding windows never went over
                assert all(sum(1 for u in times if t - limit.seconds < u <= t) <= limit.count for t in times)
        wecom = [p.at for p in server.accepted("wecom")]
        assert wecom[20] - wecom[0] >= 60 * SCALE  # the 21st post waited for the window: paced, not refused
        engine.dispose()
    finally:
        server.stop()


def test_a_rate_limit_answer_is_temporary_and_retried_after_the_window_in_order(cli):
    server = RobotServer(scale=SCALE).start()
    try:
        engine, now = _engine_with_posts(cli, server, {"dingtalk": (DING, DING_SECRET)}, 3)
        server._throttled_until[("dingtalk", DING)] = time.time() + 600  # another sender made the platform throttle it
        transport = RobotTransport(RobotSettings(base_urls=server.base_urls(), timeout_seconds=5))
        report = deliver_chat_pending(engine, transport, DeliveryPolicy(sender="x <x@y.z>"), now=lambda: now)
        assert (report.sent, report.retrying, report.failed) == (0, 1, 0)
        assert [p.code for p in server.posts] == [130101]  # the robot's other posts were not tried: order kept
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT state, attempts, next_attempt_at, last_error FROM outboxmessage "
                                     "WHERE channel_id IS NOT NULL ORDER BY id")).all()
        assert [(r[0], r[1]) for r in rows] == [("pending", 1), ("pending", 0), ("pending", 0)]
        assert "130101" in rows[0][3] and "600 秒后重试" in rows[0][3]
        server._throttled_until.clear()
        later = now + dt.timedelta(seconds=601)
        transport = RobotTransport(RobotSettings(base_urls=server.base_urls(), timeout_seconds=5))
        assert deliver_chat_pending(engine, transport, DeliveryPolicy(sender="x <x@y.z>"), now=lambda: now).sent == 0
        assert deliver_chat_pending(engine, transport, DeliveryPolicy(sender="x <x@y.z>"), now=lambda: later).sent == 3
        assert [json.loads(json.dumps(p.body))["markdown"]["text"] for p in server.accepted()] == ["第0条", "第1条", "第2条"]
        engine.dispose()
    finally:
        server.stop()


def test_a_refused_signature_fails_the_robot_and_its_waiting_posts_not_the_others(cli):
    server = RobotServer().start()
    try:
        engine, now = _engine_with_posts(cli, server, {"dingtalk": (DING, DING_SECRET), "wecom": (WECOM, "")}, 3)
        server.robots[("dingtalk", DING)] = DING_SECRET[:-4] + "ffff"  # the robot's secret was changed on the platform
        transport = RobotTransport(RobotSettings(base_urls=server.base_urls(), timeout_seconds=5))
        report = deliver_chat_pending(engine, transport, DeliveryPolicy(sender="x <x@y.z>"), now=lambda: now)
        assert (report.sent, report.failed) == (3, 3)
        assert [p.code for p in server.posts if p.platform == "dingtalk"] == [310000]  # tried once, not three times
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT c.platform, m.state, m.last_error FROM outboxmessage m JOIN robotchannel c "
                                     "ON c.id = m.channel_id ORDER BY m.id")).all()
            broken = conn.execute(text("SELECT platform, broken_reason FROM robotchannel WHERE broken_since IS NOT NULL")).all()
        assert [(p, s) for p, s, _ in rows] == [("dingtalk", "failed")] * 3 + [("wecom", "sent")] * 3
        assert all("310000" in e and "加签密钥" in e for p, _, e in rows if p == "dingtalk")
        assert [p for p, _ in broken] == ["dingtalk"]
        engine.dispose()
    finally:
        server.stop()


@pytest.mark.parametrize("platform, code", [("dingtalk", 310000), ("feishu", 19021)])
def test_signatures_outside_the_platforms_clock_window_are_refused_and_inside_accepted(platform, code):
    target, secret = (DING, DING_SECRET) if platform == "dingtalk" else (FEISHU, FEISHU_SECRET)
    server = RobotServer().add(platform, target, secret).start()
    payload = {"dingtalk": {"msgtype": "markdown", "markdown": {"title": "t", "text": "x"}},
               "feishu": {"msg_type": "interactive", "card": {"elements": [{"tag": "markdown", "content": "x"}]}}}[platform]

    async def post(clock) -> str | RobotDeliveryError:
        transport = RobotTransport(RobotSettings(base_urls=server.base_urls(), timeout_seconds=5), clock=clock)
        try:
            return await transport.send(Robot(platform, target, secret), json.dumps(payload))
        except RobotDeliveryError as exc:
            return exc
        finally:
            await transport.close()

    try:
        assert asyncio.run(post(lambda: time.time() - 3500)) == ""  # 58 minutes slow: still inside the hour
        refused = asyncio.run(post(lambda: time.time() - 3700))
        assert isinstance(refused, RobotDeliveryError) and refused.permanent and refused.broken and str(code) in str(refused)
        assert [p.code for p in server.posts] == [0, code]
    finally:
        server.stop()


def test_channel_test_posts_through_each_robot_and_reports_each(seeded, robots):
    _set_robots(seeded, robots)
    seeded("units", "set", "狮山镇", "--feishu", "0000aaaa-1111-4222-8333-444455556666", "--feishu-secret", "unknownsecret1")
    result = seeded("channel", "test", "狮山镇", "--json", ok=False)
    assert result.exit_code == 1 and "1 个机器人测试失败" in result.stderr
    outcome = json.loads(result.stdout)
    assert [(r["platform"], r["ok"]) for r in outcome["results"]] == [
        ("wecom", True), ("dingtalk", True), ("feishu", False), ("feishu", True)]
    assert "19001" in outcome["results"][2]["error"]
    _secrets_absent(result.stdout + result.stderr)
    assert [p.code for p in robots.posts] == [0, 0, 19001, 0]
    assert all("测试消息" in json.dumps(p.body, ensure_ascii=False) for p in robots.posts)
    seeded("units", "set", "狮山镇", "--remove-robot", "…6666")
    table = seeded("channel", "test", "狮山镇").stdout
    assert table.count("成功") == 3 and "各乡镇" in table
    none = seeded("channel", "test", "县财政局", ok=False)
    assert none.exit_code == 1 and "没有群机器人" in none.stderr


def test_an_old_database_gets_robot_channels_with_its_data_kept(cli):
    engine = make_engine(cli.absolute_url)
    upgrade_database(engine, "0003")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO plan (id, title, source, checksum, plan_year, county, domain_row_principals, "
                          "lead_does_work) VALUES (1, '旧计划', 'old.txt', 'x', 2020, '武定县', 'guiding', false)"))
        conn.execute(text("INSERT INTO unit (id, name, kind, emails, aliases, contact, phone) VALUES "
                          "(1, '县政府办公室', 'office', '[\"xzfb@wuding.example\"]', '[]', '李四', '')"))
        conn.execute(text("INSERT INTO outboxmessage (id, kind, run_date, recipient, to_addrs, subject, message_id, state, "
                          "attempts, last_error, created_at) VALUES (1, 'reminder', '2020-09-23', '县政府办公室', "
                          "'[\"xzfb@wuding.example\"]', '旧邮件', '<old@wuding.example>', 'pending', 0, '', '2020-09-23 00:30:00+00')"))
        conn.execute(text("INSERT INTO outboxbody (id, raw, entries) VALUES (1, 'raw', '[]')"))
    assert cli.json("db", "upgrade")["to"] == head_revision()
    shown = cli.json("units", "show", "县政府办公室")
    assert (shown["contact"], shown["mobiles"], shown["robots"]) == ("李四", [], [])
    assert [(m["subject"], m["state"]) for m in cli.json("outbox", "list")] == [("旧邮件", "pending")]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT channel_id FROM outboxmessage WHERE id = 1")).scalar() is None
    cli("units", "set", "县政府办公室", "--wecom", WECOM)
    assert cli.json("units", "show", "县政府办公室")["robots"][0]["platform"] == "wecom"
    engine.dispose()


def test_the_benchmarks_lower_bound_is_the_busiest_robots_windows():
    from bench.robots import limit_bound, robots_for

    assert limit_bound({("wecom", "a"): 20, ("dingtalk", "b"): 3}) == 0  # 20 posts fit in one minute
    assert limit_bound({("wecom", "a"): 21}) == 60 and limit_bound({("dingtalk", "a"): 42}) == 120
    assert limit_bound({("feishu", "a"): 12}) == 2 and limit_bound({("feishu", "a"): 101}) == 60
    robots = robots_for(100)
    assert [sum(r[0] == p for r in robots) for p in ("wecom", "dingtalk", "feishu")] == [40, 40, 20]
    assert all(r[2] for r in robots if r[0] != "wecom") and len({r[1] for r in robots}) == 100


def test_the_weekly_report_and_the_offices_long_digest_reach_the_office_robots(seeded, robots):
    seeded.write_config(robots.config())
    seeded("units", "set", "县政府办公室", "--dingtalk", DING, "--dingtalk-secret", DING_SECRET, "--wecom", WECOM)
    report = seeded.json("run", "--once", "--today", "2020-10-09")  # a Friday: the week's report is due, and the first overdue notices
    assert report["weekly_report"] is True and report["robot_delivery"]["failed"] == 0
    posts = [p.body["markdown"] for p in robots.accepted("dingtalk", DING)]
    weekly = [p for p in posts if p["title"].startswith("【工作进度通报】")]
    assert len(weekly) == 1 and "红灯事项" in weekly[0]["text"] and "已逾期" in weekly[0]["text"]
    assert all(len(p["text"].encode()) <= 20_000 for p in posts)
    wecom = [p.body["markdown"]["content"] for p in robots.accepted("wecom", WECOM)]
    digest = [t for t in wecom if "政务公开任务提醒" in t]  # 217 entries: more than 4096 bytes
    assert len(digest) >= 2 and all(f"（第{n}/{len(digest)}部分）" in t for n, t in enumerate(digest, 1))
    assert all(len(t.encode()) <= 4096 for t in wecom)
    rows = [m for m in seeded.json("outbox", "list") if m["to"] == ["钉钉机器人…" + DING[-4:]]]
    assert sorted({m["kind"] for m in rows}) == ["reminder", "report"] and {m["state"] for m in rows} == {"sent"}
