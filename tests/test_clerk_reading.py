"""What a clerk or a recipient reads: times in the configured zone, reminder words that match the calendar,
digests that say what to do, a CLI that speaks Chinese, and the smaller faults found trying it as a new user."""

from __future__ import annotations

import datetime as dt
import email
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from email import policy
from pathlib import Path

import openpyxl
import pytest
import typer

from tests.conftest import wait_for
from tracker.cli.app import app

TRACKER = str(Path(sys.executable).with_name("tracker"))
BEIJING = dt.timezone(dt.timedelta(hours=8))
FAKETIME = shutil.which("faketime")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRED = bool(os.environ.get("TRACKER_REQUIRE_BROWSER"))


def _mails(folder: Path) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted(folder.glob("*.eml"))]


def _text(message) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


# --- 1. times -------------------------------------------------------------------------------------------

def _half_past_midnight_beijing() -> str:
    """00:30 Beijing time today as faketime's UTC start instant: 16:30 UTC the day before (never in the past of
    the records this test makes, which are all made under the same clock)."""
    today_beijing = dt.datetime.now(BEIJING).date()
    return f"{today_beijing - dt.timedelta(days=1)} 16:30:00"


@pytest.mark.skipif(FAKETIME is None and not REQUIRED, reason="Debian's faketime is not installed (.ci/run installs it)")
def test_times_are_local_at_half_past_midnight_beijing(cli):
    assert FAKETIME, "TRACKER_REQUIRE_BROWSER is set (CI) but faketime is missing"
    env = {**os.environ, "TZ": "UTC"}

    def run(*args: str) -> str:
        done = subprocess.run([FAKETIME, _half_past_midnight_beijing(), TRACKER, "--config", str(cli.config), *args],
                              capture_output=True, text=True, env=env, cwd=cli.home, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    probe = subprocess.run([FAKETIME, _half_past_midnight_beijing(), sys.executable, "-c",
                            "import datetime as d; print(d.datetime.now(d.timezone.utc).strftime('%H:%M'))"],
                           capture_output=True, text=True, env=env, timeout=60)
    assert probe.stdout.strip() in ("16:30", "16:31"), "faketime did not take effect"
    run("init", "--start", "2020-08-01")
    run("status", "1.义务教育", "--unit", "县教育体育局", "--set", "done", "--on", "2020-09-20", "--today", "2020-09-25")
    [entry] = json.loads(run("history", "1.义务教育", "--unit", "县教育体育局", "--json"))
    assert re.fullmatch(r"2020-09-25T00:3\d:\d\d\.\d+\+08:00", entry["at"]), entry["at"]
    run("run", "--once", "--today", "2020-09-27")
    messages = json.loads(run("outbox", "list", "--json"))
    assert messages and all(m["sent_at"].startswith("2020-09-27T00:3") and m["sent_at"].endswith("+08:00") for m in messages)
    assert all(m["created_at"].startswith("2020-09-27T00:3") for m in messages)
    exported = json.loads(run("export"))
    stamps = [e["at"] for e in exported["journal"]] + [n["created_at"] for n in exported["notices"]]
    assert stamps and all(s.endswith("+08:00") for s in stamps)
    assert {n["created_at"][:10] for n in exported["notices"]} == {"2020-09-27"}
    table = run("history", "1.义务教育", "--unit", "县教育体育局")
    assert "2020-09-25 00:3" in table and "+08:00" in table


# --- 2. reminder words match the calendar --------------------------------------------------------------

_TIMING = re.compile(r"期限 (\d{4}-\d\d-\d\d)，(?:还剩 (\d+) 天|(今日到期)|已逾期 (\d+) 天)")


def test_simulated_reminders_never_contradict_their_dates(seeded, tmp_path):
    if seeded.backend != "sqlite":
        pytest.skip("simulate runs on a SQLite copy whatever the database; once is enough")
    out = tmp_path / "模拟"
    seeded("simulate", "--from", "2020-09-01", "--to", "2020-11-30", "--out", str(out))
    checked = 0
    friday_before_saturday_due = False
    for message in _mails(out):
        body = _text(message)
        if "政务工作任务中需要贵单位关注" not in body:
            continue  # the weekly report
        read_on = dt.date.fromisoformat(re.search(r"截至 (\d{4}-\d\d-\d\d)", body).group(1))
        assert "天后到期" not in body and "tracker" not in body
        html = message.get_body(("html",)).get_content()
        for due_text, left, today_word, late in _TIMING.findall(body):
            due = dt.date.fromisoformat(due_text)
            days = (due - read_on).days
            if left:
                assert days == int(left) > 0, (read_on, due_text, left)
                friday_before_saturday_due |= due.weekday() == 5 and days == 1
            elif today_word:
                assert days == 0, (read_on, due_text)
            else:
                assert -days == int(late) > 0, (read_on, due_text, late)
            checked += 1
        assert len(re.findall(r"期限 \d{4}-\d\d-\d\d", html)) >= len(_TIMING.findall(body))
    assert checked > 500
    assert friday_before_saturday_due  # 2020-10-31 is a Saturday: its due-day notice goes out on Friday, "还剩 1 天"


# --- 3. the digest tells a recipient what to do -----------------------------------------------------------

def test_digest_names_task_progress_note_and_contact(seeded, tmp_path):
    seeded("units", "set", "县政府办公室", "--contact", "李四", "--phone", "0878-8712345")
    seeded("status", "1.义务教育", "--unit", "狮山镇", "--progress", "40", "--note", "已收集材料", "--today", "2020-09-20")
    seeded.write_config(f'\n[mail]\nfolder = "{tmp_path / "mail"}"\n')
    seeded("run", "--once", "--today", "2020-09-27")
    mails = _mails(tmp_path / "mail")
    [shishan] = [m for m in mails if "狮山镇人民政府" in m["Subject"]]
    body = _text(shishan)
    block = body[body.index("事项 1.义务教育"):].split("\n\n")[0]
    assert "编制政务公开事项目录——义务教育领域" in block
    assert "期限 2020-09-30，还剩 3 天" in block and block.count("3 天") == 1
    assert "目前进度：40%；最近说明：已收集材料" in block
    assert "联系方式：县政府办公室 李四 电话 0878-8712345 邮箱 xzfb@wuding.example" in body
    for message in mails:
        assert "tracker " not in _text(message) and "tracker " not in message.get_body(("html",)).get_content()


@pytest.mark.skipif(CHROMIUM is None and not REQUIRED, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_digest_dates_and_lights_stay_on_one_line_at_desktop_and_phone_width(seeded, tmp_path):
    from playwright.sync_api import sync_playwright

    seeded.write_config(f'\n[mail]\nfolder = "{tmp_path / "mail"}"\n')
    seeded("run", "--once", "--today", "2020-10-12")  # overdue work and escalations
    mails = {m["Subject"]: m for m in _mails(tmp_path / "mail")}
    office = next(m for s, m in mails.items() if "县政府办公室" in s and "督办" in s)
    township = next(m for s, m in mails.items() if "狮山镇人民政府" in s)
    flags = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=flags)
        for name, message in (("office", office), ("township", township)):
            page_file = tmp_path / f"{name}.html"
            page_file.write_text(message.get_body(("html",)).get_content(), "utf-8")
            for width in (1280, 400):
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.goto(page_file.as_uri())
                assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
                lines = page.evaluate("[...document.querySelectorAll('.date, .light')].map(e => e.getClientRects().length)")
                assert lines and set(lines) == {1}, (name, width, lines)
                shot = tmp_path / f"{name}-{width}.png"
                page.screenshot(path=str(shot), full_page=True)
                assert shot.stat().st_size > 10_000
                page.close()
        browser.close()


# --- 4. the CLI speaks Chinese ----------------------------------------------------------------------------

def _all_commands():
    root = typer.main.get_command(app)

    def walk(command, path):
        yield path, command
        for name in getattr(command, "commands", {}):
            yield from walk(command.commands[name], [*path, name])

    yield from walk(root, [])


ENGLISH = re.compile(r"Usage|Options|Arguments|Commands|Show this message|\[required\]|<int>|<str>|<bool>|TEXT|INTEGER|default:")


def test_every_help_page_is_chinese(cli):
    pages = 0
    for path, _command in _all_commands():
        result = cli(*path, "--help")
        assert result.exit_code == 0
        assert result.stdout.startswith("用法：tracker"), (path, result.stdout[:80])
        assert not ENGLISH.search(result.stdout), (path, ENGLISH.search(result.stdout).group(0))
        pages += 1
    assert pages > 25


def test_root_help_groups_commands_in_the_order_they_are_used(cli):
    out = cli("--help").stdout
    positions = [out.index(f"\n{panel}：\n") for panel in ("设置", "计划", "状态", "提醒", "报告", "维护")]
    assert positions == sorted(positions)
    assert out.index("  init ") < out.index("  import ") < out.index("  status ") < out.index("  run ") < out.index("  report ")


CLICK_WORDS = re.compile(r"No such|Missing|Invalid|Error|Usage|Try |unexpected|requires|Did you mean|is not a valid")


@pytest.mark.parametrize(("args", "expected"), [
    (["items", "lst"], "没有“lst”这个命令。您是否想输入：list？"),
    (["itmes"], "您是否想输入：items"),
    (["items", "list", "--overdu"], "没有“--overdu”这个选项。您是否想输入：--overdue"),
    (["status", "2", "--unit", "县财政局", "--progress", "abc"], "选项 --progress 的值“abc”无效：应为整数。"),
    (["status"], "缺少事项编号。"),
    (["status", "2"], "缺少必填的选项 --unit。"),
    (["items", "list", "--due-within"], "选项 --due-within 后面需要一个值。"),
    (["items", "list", "extra"], "多余的参数：extra。"),
])
def test_parser_errors_are_chinese_and_exit_1(cli, args, expected):
    result = cli(*args, ok=False)
    assert result.exit_code == 1, result.output
    assert expected in result.stderr, result.stderr
    assert not CLICK_WORDS.search(result.stderr), result.stderr


def test_global_option_after_the_sub_command(seeded, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = seeded.runner.invoke(app, ["items", "list", "--overdue", "--today", "2020-10-12", "--json", "--config", str(seeded.config)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) and json.loads(result.stdout) == seeded.json("items", "list", "--overdue", "--today", "2020-10-12")


def test_chinese_words_for_states_lights_and_kinds(seeded):
    by_code = seeded.json("status", "2", "--unit", "县财政局", "--set", "in-progress", "--progress", "20", "--today", "2020-10-09")
    by_word = seeded.json("status", "2", "--unit", "县税务局", "--set", "进行中", "--progress", "20", "--today", "2020-10-09")
    assert by_code[0]["to"] == by_word[0]["to"] == "in_progress"
    assert seeded.json("items", "list", "--light", "红", "--today", "2020-10-12") == seeded.json(
        "items", "list", "--light", "red", "--today", "2020-10-12")
    assert seeded.json("items", "list", "--state", "已逾期", "--today", "2020-10-12") == seeded.json(
        "items", "list", "--state", "overdue", "--today", "2020-10-12")
    towns = seeded.json("units", "list", "--kind", "乡镇")
    assert len(towns) == 11 and towns == seeded.json("units", "list", "--kind", "township")
    refused = seeded("items", "list", "--light", "紫", ok=False)
    assert refused.exit_code == 1 and "--light 的值“紫”无效" in refused.stderr


# --- 5. smaller faults ------------------------------------------------------------------------------------

def test_bad_report_date_names_the_option_used(seeded):
    for option in ("--as-of", "--today"):
        result = seeded("report", "weekly", option, "2020-02-30", ok=False)
        assert result.exit_code == 1 and f"{option} 的值“2020-02-30”不是有效日期" in result.stderr
    both = seeded("report", "weekly", "--as-of", "2020-10-12", "--today", "2020-10-12", ok=False)
    assert both.exit_code == 1 and "只能写一个" in both.stderr


def test_summary_sheet_holds_numbers(seeded, tmp_path):
    seeded("status", "2", "--unit", "县财政局", "--set", "done", "--on", "2020-10-01", "--today", "2020-10-09")
    seeded("status", "1.义务教育", "--unit", "县教育体育局", "--set", "done", "--on", "2020-10-05", "--today", "2020-10-09")
    book = tmp_path / "台账.xlsx"
    seeded("report", "weekly", "--as-of", "2020-10-12", "--xlsx", str(book))
    sheet = openpyxl.load_workbook(book)["汇总"]
    figures = {row[0].value: row[1] for row in sheet.iter_rows(min_row=4, max_row=10)}
    assert figures["已完成"].value == 2 and isinstance(figures["任务分工"].value, int)
    rate = figures["按时完成率"]
    assert rate.value == pytest.approx(0.5) and rate.number_format == "0.0%"  # one on time (2), one late (1.义务教育)
    units = [row for row in sheet.iter_rows(min_row=12, values_only=True) if row[0] and row[0] != "单位"]
    assert units and all(isinstance(v, int) for row in units for v in row[1:6])


def test_bad_email_is_shown_once_quoted(seeded):
    result = seeded("units", "set", "县财政局", "--email", "not-an-email", ok=False)
    assert result.exit_code == 1 and "邮箱“not-an-email”格式不正确" in result.stderr and "'" not in result.stderr


def test_history_shows_the_event_and_dependency_that_moved_a_deadline(seeded):
    # domain.md: item (3) waits for the State Council's guidelines (event E1); item (4) for (3) to be complete
    seeded("event", "record", "E1", "--on", "2020-12-01", "--today", "2020-12-02")
    entries = seeded.json("history", "3")
    assert [(e["via"], e["details"]["event"], e["details"]["to"]) for e in entries if e["via"]] == [("event", "E1", "2020-12-01")]
    units = [a["unit"] for a in next(i for i in seeded.json("items", "list", "--today", "2020-12-02") if i["key"] == "3")["assignments"]]
    seeded("status", "3", "--unit", units[0], "--set", "done", "--on", "2020-12-02", "--today", "2020-12-02")
    caused = [e for e in seeded.json("history", "4") if e["via"] == "dependency"]
    assert [(e["item"], e["unit"], e["to"]) for e in caused] == [("3", units[0], "done")]
    table = seeded("history", "4").stdout
    assert "依赖事项" in table and units[0] in table
    assert "外部事件" in seeded("history", "3").stdout


def test_weekly_sections_numbered_alike_and_attachment_mentioned_only_when_attached(seeded, tmp_path, smtp_server):
    from tests.conftest import use_smtp

    page = tmp_path / "通报.html"
    text = seeded("report", "weekly", "--as-of", "2020-10-12", "--out", str(page)).stdout
    html = page.read_text("utf-8")
    headings = re.compile(r"([一二三四五六七八九])、([^（<\n]+)")
    assert headings.findall(text) == headings.findall(re.sub(r"<[^>]+>", "\n", html))
    assert "附件" not in text and "附件" not in html
    use_smtp(seeded, smtp_server.port)
    seeded("report", "weekly", "--as-of", "2020-10-12", "--send")
    [mail] = smtp_server.recorder.messages
    assert "详细台账见附件 Excel" in mail.get_body(("plain",)).get_content()
    assert "详细台账见附件 Excel" in mail.get_body(("html",)).get_content()


def test_export_is_json_without_a_flag(seeded):
    plain = json.loads(seeded("export").stdout)
    assert plain == json.loads(seeded("export", "--json").stdout)
    assert plain["journal"] and all(e["at"].endswith("+08:00") for e in plain["journal"])


def test_filters_select_units_but_keep_the_item_light_and_counts(seeded):
    seeded("status", "1.义务教育", "--unit", "县教育体育局", "--set", "done", "--on", "2020-09-20", "--today", "2020-09-25")
    [item] = seeded.json("items", "list", "--state", "done", "--today", "2020-10-12")
    assert item["key"] == "1.义务教育" and [a["unit"] for a in item["assignments"]] == ["县教育体育局"]
    assert item["light"] == "red" and (item["units_closed"], item["units_total"]) == (1, 12)
    overdue = {i["key"]: i for i in seeded.json("items", "list", "--overdue", "--today", "2020-10-12")}
    assert (overdue["1.义务教育"]["units_closed"], overdue["1.义务教育"]["units_total"]) == (1, 12)
    table = seeded("items", "list", "--state", "已完成", "--today", "2020-10-12").stdout
    assert "1/12" in table and "红" in table


def test_one_wrong_character_gets_a_suggestion(seeded):
    result = seeded("status", "2", "--unit", "高侨镇", "--progress", "5", "--today", "2020-10-09", ok=False)
    assert result.exit_code == 1 and "未知的单位“高侨镇”。您是否想输入：“高桥镇人民政府”" in result.stderr


@pytest.mark.clock
def test_daemon_logs_in_chinese_with_zoned_times(cli, tmp_path):
    if cli.backend != "sqlite":
        pytest.skip("about the log lines, not the database")
    cli("init", "--start", "2020-08-01")
    # check and report times of 00:00 make the catch-up at start run both, whatever the hour the suite runs at
    cli.write_config(f'\n[mail]\nfolder = "{tmp_path / "mail"}"\npump_every_seconds = 1\n'
                     '[reminders]\ncheck_time = "00:00"\n[report]\ntime = "00:00"\n')
    log = tmp_path / "daemon.log"
    with log.open("w") as handle:
        daemon = subprocess.Popen([TRACKER, "--config", str(cli.config), "run", "--today", "2020-09-27"],
                                  stdout=handle, stderr=subprocess.STDOUT, cwd=cli.home)
        try:
            assert wait_for(lambda: "调度已启动" in log.read_text("utf-8"), 120)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(60)
    lines = [line for line in log.read_text("utf-8").splitlines() if line.strip()]
    assert lines and all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00 (信息|警告|错误) ", line) for line in lines), lines
    assert any("2020-09-27 检查完成：29 封邮件" in line for line in lines), lines
    assert not any("apscheduler" in line.lower() or "Added job" in line or "Scheduler started" in line for line in lines)
