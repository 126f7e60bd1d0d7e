import datetime as dt
import io
import os
import re
import shutil
import subprocess

import pytest
from openpyxl import load_workbook

from tests.conftest import use_smtp

TOWNSHIPS = {"狮山镇人民政府", "高桥镇人民政府", "猫街镇人民政府", "插甸镇人民政府", "白路镇人民政府", "万德镇人民政府",
             "己衣镇人民政府", "田心乡人民政府", "发窝乡人民政府", "环州乡人民政府", "东坡傣族乡人民政府"}


def progress(cli):
    cli("status", "1.义务教育", "--unit", "各乡镇", "--set", "done", "--on", "2020-09-28", "--today", "2020-09-28")
    cli("status", "1.义务教育", "--unit", "县教育体育局", "--set", "done", "--on", "2020-10-09", "--today", "2020-10-09")
    cli("status", "2", "--unit", "狮山镇", "--progress", "50", "--note", "目录已初步梳理", "--today", "2020-10-10")


def totals(report):
    t = report["totals"]
    return {k: t[k] for k in ("assignments", "done", "done_on_time", "overdue", "waiting", "in_progress")}


def test_figures_before_any_update(seeded):
    report = seeded.json("report", "weekly", "--as-of", "2020-10-12")
    # 18 domain rows x 12 + 13 items x 30 (items 12 and 13 have no village committees yet)
    assert totals(report) == {"assignments": 216 + 13 * 30, "done": 0, "done_on_time": 0, "overdue": 216, "waiting": 60,
                              "in_progress": 0}
    assert report["totals"]["on_time_rate"] is None
    assert len([i for i in report["items"] if i["light"] == "red"]) == 18


@pytest.mark.clock
def test_figures_after_on_time_and_late_completions(seeded):
    progress(seeded)
    report = seeded.json("report", "weekly", "--as-of", "2020-10-12")
    assert totals(report) == {"assignments": 606, "done": 12, "done_on_time": 11, "overdue": 216 - 12, "waiting": 60,
                              "in_progress": 1}
    assert report["totals"]["on_time_rate"] == 91.7
    units = report["units"]
    assert {u["unit"] for u in units[:11]} == TOWNSHIPS
    shishan = next(u for u in units if u["unit"] == "狮山镇人民政府")
    assert shishan == {"unit": "狮山镇人民政府", "assigned": 18 + 13, "done": 1, "on_time": 1, "overdue": 17, "overdue_days": 17 * 12}
    assert units[-1] == {"unit": "县教育体育局", "assigned": 14, "done": 1, "on_time": 0, "overdue": 0, "overdue_days": 0}
    edu = next(i for i in report["items"] if i["key"] == "1.义务教育")
    assert (edu["light"], edu["done"], edu["total"], edu["late_units"]) == ("green", 12, 12, [])
    kinds = {(c["kind"], c["unit"]) for c in report["changes"]}
    assert ("completed", "县教育体育局") in kinds and ("note", "狮山镇人民政府") in kinds
    assert ("completed", "狮山镇人民政府") not in kinds  # 2020-09-28 is outside the last 7 days
    assert len([c for c in report["changes"] if c["kind"] == "overdue"]) == 0


@pytest.mark.clock
def test_figures_with_an_extension(seeded):
    progress(seeded)
    seeded("extend", "2", "--unit", "县财政局", "--to", "2020-11-30", "--reason", "县政府办批复同意", "--today", "2020-11-16")
    report = seeded.json("report", "weekly", "--as-of", "2020-11-20")
    assert totals(report)["overdue"] == 204 + 29
    assert [(u["due"], u["item"], u["unit"]) for u in report["upcoming"]] == [("2020-11-30", "2", "县财政局")]
    [extension] = [c for c in report["changes"] if c["kind"] == "extension"]
    assert extension["unit"] == "县财政局" and "2020-10-31 → 2020-11-30" in extension["text"]


LEDGER_COLUMNS = ["事项编号", "工作任务", "事项", "责任单位", "状态", "灯", "原定期限", "现期限", "完成日期", "逾期天数", "进度(%)",
                  "备注", "佐证", "计划"]


def test_workbook_cell_by_cell(seeded, tmp_path):
    progress(seeded)
    seeded("status", "2", "--unit", "县财政局", "--progress", "30", "--evidence", "武财发〔2020〕8号", "--today", "2020-10-10")
    path = tmp_path / "台账.xlsx"
    seeded("report", "weekly", "--as-of", "2020-10-12", "--xlsx", str(path))
    book = load_workbook(path)
    assert book.sheetnames == ["汇总", "台账"]
    summary = book["汇总"]
    assert summary["A1"].value == "武定县政务工作任务进度通报"
    assert summary["B2"].value == dt.datetime(2020, 10, 12)
    figures = {summary.cell(row=r, column=1).value: summary.cell(row=r, column=2).value for r in range(4, 11)}
    # 12 done (11 townships on time, the bureau late: 11/12 = 91.7 %), two units under way on item 2, 216 - 12 overdue;
    # counts are numbers and the rate a fraction shown as a percentage
    assert figures == {"任务分工": 606, "已完成": 12, "按时完成率": pytest.approx(0.917), "进行中": 2, "已逾期": 204,
                       "待触发": 60, "持续推进": 0}
    assert summary["B6"].number_format == "0.0%"
    ledger = book["台账"]
    assert [c.value for c in ledger[1]] == LEDGER_COLUMNS
    assert ledger.max_column == len(LEDGER_COLUMNS)
    assert ledger.freeze_panes == "A2"
    assert ledger.auto_filter.ref == f"A1:N{ledger.max_row}"
    assert ledger.max_row == 1 + 606
    rows = {(r[0].value, r[3].value): r for r in ledger.iter_rows(min_row=2)}
    done = rows[("1.义务教育", "狮山镇人民政府")]
    assert [c.value for c in done[4:10]] == ["已完成", "绿灯", dt.datetime(2020, 9, 30), dt.datetime(2020, 9, 30), dt.datetime(2020, 9, 28), 0]
    assert done[8].number_format == "yyyy-mm-dd"
    assert done[5].fill.fgColor.rgb.endswith("2E7D32")
    late = rows[("1.户籍管理", "狮山镇人民政府")]
    assert [c.value for c in late[4:6]] == ["已逾期", "红灯"] and late[9].value == 12
    assert late[5].fill.fgColor.rgb.endswith("C62828")
    waiting = rows[("3", "县财政局")]
    assert waiting[4].value == "待触发" and waiting[6].value is None
    note = rows[("2", "狮山镇人民政府")]
    assert note[11].value == "目录已初步梳理" and note[10].value == 50
    evidence = rows[("2", "县财政局")]
    # 30 % done on 2020-10-12 while about 79 % of the time from 2020-08-01 to 2020-10-31 has passed: behind plan, yellow
    assert [c.value for c in evidence] == ["2", "编制政务公开事项目录", "建立县、乡两级政务公开事项目录体系并统一公开", "县财政局",
                                           "进行中", "黄灯", dt.datetime(2020, 10, 31), dt.datetime(2020, 10, 31), None, 0, 30,
                                           None, "武财发〔2020〕8号", "zwgk2020"]
    assert evidence[5].fill.fgColor.rgb.endswith("B8860B")


@pytest.mark.clock
def test_report_mail_arrives_with_its_attachment(seeded, smtp_server):
    progress(seeded)
    use_smtp(seeded, smtp_server.port)
    result = seeded.json("report", "weekly", "--as-of", "2020-10-12", "--send")
    assert result["delivery"]["sent"] == 1
    [message] = smtp_server.recorder.messages
    assert message["To"].addresses[0].addr_spec == "xzfb@wuding.example"
    assert str(message["Subject"]) == "【工作进度通报】截至2020-10-12：完成12/606，逾期204"
    assert message.get_content_type() == "multipart/mixed"
    assert "已逾期：204" in message.get_body(("plain",)).get_content()
    assert 'data-figure="overdue"' in message.get_body(("html",)).get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "工作进度台账_2020-10-12.xlsx"
    book = load_workbook(io.BytesIO(attachment.get_content()))
    assert book["台账"].max_row == 607


@pytest.mark.clock
def test_scheduled_once_per_week_on_its_first_working_day(seeded):
    generated = {}
    for day in ("2020-10-05", "2020-10-06", "2020-10-08", "2020-10-09", "2020-10-10", "2020-10-09", "2020-10-12", "2020-10-13"):
        generated.setdefault(day, []).append(seeded.json("run", "--once", "--today", day)["weekly_report"])
    # Oct 1-8 is a holiday: the week's first working day is Friday the 9th; then Monday the 12th starts a new week
    assert generated == {"2020-10-05": [False], "2020-10-06": [False], "2020-10-08": [False], "2020-10-09": [True, False],
                         "2020-10-10": [False], "2020-10-12": [True], "2020-10-13": [False]}
    reports = [m for m in seeded.json("outbox", "list") if m["subject"].startswith("【工作进度通报】")]
    assert [m["run_date"] for m in reports] == ["2020-10-09", "2020-10-12"]
    assert all(m["to"] == ["xzfb@wuding.example"] and m["state"] == "sent" for m in reports)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("TRACKER_REQUIRE_BROWSER"),
                    reason="Debian's chromium is not installed (.ci/run installs it and requires this test)")
def test_html_renders_in_a_browser_with_the_figures(seeded, tmp_path):
    assert CHROMIUM, "TRACKER_REQUIRE_BROWSER is set but chromium is missing"
    progress(seeded)
    page = tmp_path / "通报.html"
    seeded("report", "weekly", "--as-of", "2020-10-12", "--out", str(page))
    profile = tmp_path / "profile"
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    figures = dict(re.findall(r'data-figure="(\w+)".*?<div class="value"[^>]*>([^<]+)</div>', dom, re.S))
    assert figures == {"assignments": "606", "done": "12", "on_time_rate": "91.7%", "in_progress": "1", "overdue": "204",
                       "waiting": "60", "ongoing": "0"}
    red = re.findall(r'<tr data-item="([^"]+)"', dom)
    assert len(red) == 17 and "1.义务教育" not in red
    assert re.search(r'class="light light-red"[^>]*>红灯</span>', dom)  # colour with a text label
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--window-size=1280,1000", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 20_000
