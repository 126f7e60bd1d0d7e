"""The whole cycle in a real browser (Debian's headless Chromium through Playwright), against `tracker serve`'s
application on a free port and a SQLite file: a unit opens the link from a reminder in the outbox, signs, uploads
evidence and reports done; the office returns it with a reason; the unit sees the reason and reports again; the office
approves; `tracker show` and the weekly report show it done on the unit's date. The unit page is checked at 1280 and
400 px wide for horizontal scrolling."""

from __future__ import annotations

import datetime as dt
import email
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
from email import policy
from pathlib import Path

import httpx
import pytest
import uvicorn

from tracker.cli.app import app as app_cli
from tracker.cli.context import Context
from tracker.web.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
SECRET = "browser-secret-0123456789abcdef"
NOW = dt.datetime(2020, 9, 23, 2, 0, tzinfo=dt.timezone.utc)  # Wednesday 10:00 in Beijing
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

REQUIRED = bool(os.environ.get("TRACKER_REQUIRE_BROWSER"))
TRACKER = Path(sys.executable).with_name("tracker")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(seeded, monkeypatch):
    if seeded.backend != "sqlite":
        pytest.skip("one backend is enough for the browser; the cycle itself runs on both")
    monkeypatch.setenv("TRACKER_WEB_SECRET", SECRET)
    port = free_port()
    seeded.write_config(f'[web]\npublic_url = "http://127.0.0.1:{port}"\n[mail]\ntransport = "folder"\nfolder = "outbox"\n')
    seeded("units", "set", "县教育体育局", "--email", "jtj@wuding.example")
    added = seeded.runner.invoke(app_cli, ["--config", str(seeded.config), "users", "add", "wang", "--password-stdin"],
                                 input="correct horse battery\n")
    assert added.exit_code == 0, added.output
    app = create_app(Context(config_path=str(seeded.config), clock=lambda: NOW))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield seeded, port
    server.should_exit = True
    thread.join(10)


def link_from_outbox(cli, unit: str) -> str:
    seeded_run = cli.json("run", "--once", "--today", "2020-09-23")
    assert seeded_run["check"]["messages"] > 0
    [path] = [p for p in (cli.home / "outbox").iterdir() if unit in p.name]
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    text = message.get_body(("plain",)).get_content()
    assert "尚未签收" in text  # the first reminder asks the unit to sign
    return re.search(r"http://127\.0\.0\.1:\d+/u/\S+", text).group(0)


def png_width(path: Path) -> int:
    return struct.unpack(">I", path.read_bytes()[16:20])[0]


@pytest.mark.skipif(not CHROMIUM.exists() and not REQUIRED, reason="needs Debian's chromium (.ci/run installs it and requires this test)")
def test_the_cycle_in_a_real_browser(server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    assert CHROMIUM.exists(), "TRACKER_REQUIRE_BROWSER is set but /usr/bin/chromium is missing"

    cli, port = server
    link = link_from_outbox(cli, "县教育体育局")
    evidence = tmp_path / "义务教育目录.pdf"
    evidence.write_bytes(PDF)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        unit = browser.new_page(viewport={"width": 1280, "height": 900})
        unit.goto(link)
        task = unit.locator("section.card", has_text="事项 1.义务教育")
        expect(task).to_contain_text("未签收")
        task.get_by_role("button", name="签收").click()
        expect(unit.locator("#message")).to_have_text("已签收。")
        task.locator("summary", has_text="报告完成").click()
        task.locator("input[name=completed_on]").fill("2020-09-21")
        task.locator("form[action$='/done'] textarea[name=evidence]").fill("武教发〔2020〕12号")
        task.locator("form[action$='/done'] input[type=file]").set_input_files(str(evidence))
        task.get_by_role("button", name="报告完成").click()
        expect(unit.locator("#message")).to_have_text("完成情况已报送。")
        expect(task).to_contain_text("正在等待县政府办公室审核")

        office = browser.new_page()
        office.goto(f"http://127.0.0.1:{port}/login")
        office.locator("input[name=name]").fill("wang")
        office.locator("input[name=password]").fill("correct horse battery")
        office.get_by_role("button", name="登录").click()
        office.goto(f"http://127.0.0.1:{port}/office/reviews")
        card = office.locator("section.card", has_text="县教育体育局")
        expect(card).to_contain_text("义务教育目录.pdf")
        card.locator("input[name=reason]").fill("请补充盖章的目录文件")
        card.get_by_role("button", name="退回").click()
        expect(office.locator("#message")).to_have_text("已退回，单位会看到退回原因。")

        unit.reload()
        expect(task.locator(".return-reason")).to_have_text("请补充盖章的目录文件")
        task.locator("input[name=completed_on]").fill("2020-09-21")
        task.locator("form[action$='/done'] textarea[name=evidence]").fill("武教发〔2020〕12号（盖章件）")
        task.locator("form[action$='/done'] input[type=file]").set_input_files(str(evidence))
        task.get_by_role("button", name="报告完成").click()
        expect(unit.locator("#message")).to_have_text("完成情况已报送。")

        office.goto(f"http://127.0.0.1:{port}/office/reviews")
        office.locator("section.card", has_text="县教育体育局").get_by_role("button", name="审核通过（办结）").click()
        expect(office.locator("#message")).to_have_text("已审核通过（办结）。")

        unit.reload()
        expect(task).to_contain_text("已完成（完成于 2020-09-21）")
        widths = {}
        for width in (1280, 400):
            unit.set_viewport_size({"width": width, "height": 900})
            shot = tmp_path / f"unit-{width}.png"
            unit.screenshot(path=str(shot), full_page=True)
            assert png_width(shot) == width
            widths[width] = unit.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        browser.close()
    assert all(scroll <= client for scroll, client in widths.values()), widths  # no horizontal scrolling

    shown = {a["unit"]: a for a in cli.json("show", "1.义务教育", "--today", "2020-09-23")["assignments"]}
    assert (shown["县教育体育局"]["status"], shown["县教育体育局"]["completed_on"]) == ("done", "2020-09-21")
    weekly = cli.json("report", "weekly", "--as-of", "2020-09-28")
    assert any(c["kind"] == "completed" and c["unit"] == "县教育体育局" and c["item"] == "1.义务教育"
               and "2020-09-21" in c["text"] for c in weekly["changes"])
    assert weekly["review"]["returned_this_week"] == 1 and weekly["review"]["waiting_for_review"] == 0
    assert "县教育体育局" not in [u["unit"] for u in weekly["review"]["unsigned"]]


def test_tracker_serve_runs_as_a_service_on_the_same_database(seeded, tmp_path):
    """`tracker serve --host --port` as an operator starts it: it answers, refuses to start without a secret, and
    stops cleanly; the reminder pipeline does not need it (the outbox test above runs without any server)."""
    if seeded.backend != "sqlite":
        pytest.skip("the service start is the same on both backends")
    port = free_port()
    args = [str(TRACKER), "--config", str(seeded.config), "serve", "--host", "127.0.0.1", "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if k != "TRACKER_WEB_SECRET"}
    refused = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    assert refused.returncode == 1 and "TRACKER_WEB_SECRET" in refused.stdout + refused.stderr
    process = subprocess.Popen(args, env={**env, "TRACKER_WEB_SECRET": SECRET}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline, answer = time.monotonic() + 30, None
        while time.monotonic() < deadline and answer is None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
            except httpx.TransportError:
                time.sleep(0.2)
        assert answer is not None and answer.status_code == 200 and "县政府办公室登录" in answer.text
        assert httpx.get(f"http://127.0.0.1:{port}/office", follow_redirects=False).headers["location"] == "/login"
    finally:
        process.terminate()
        code = process.wait(20)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it, as service managers expect
    assert code in (0, -15) and b"Traceback" not in process.stderr.read()
