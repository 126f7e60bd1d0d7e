import datetime as dt
import subprocess
import sys
import textwrap
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text


def assignment(cli, key, unit, today):
    items = {i["key"]: i for i in cli.json("items", "list", "--today", today)}
    return next(a for a in items[key]["assignments"] if a["unit"] == unit)


BEIJING = ZoneInfo("Asia/Shanghai")


def beijing_date(timestamp: str) -> dt.date:
    """The Beijing date of a printed timestamp, whichever zone it is printed in (it always carries its offset)."""
    moment = dt.datetime.fromisoformat(timestamp)
    assert moment.tzinfo is not None, f"timestamp without an offset: {timestamp}"
    return moment.astimezone(BEIJING).date()


@pytest.mark.clock
def test_done_with_evidence_is_journalled(seeded):
    out = seeded("status", "1.义务教育", "--unit", "县教育体育局", "--set", "done", "--on", "2020-09-20",
                 "--by", "张三", "--evidence", "武教发〔2020〕12号", "--note", "已上网公开", "--today", "2020-09-25")
    assert "县教育体育局：未开始 0% → 已完成 100%，完成日期 2020-09-20" in out.stdout
    a = assignment(seeded, "1.义务教育", "县教育体育局", "2020-09-25")
    assert (a["state"], a["status"], a["progress"], a["completed_on"], a["light"]) == ("done", "done", 100, "2020-09-20", "green")
    [entry] = seeded.json("history", "1.义务教育", "--unit", "县教育体育局")
    assert (entry["by"], entry["from"], entry["to"], entry["evidence"], entry["note"]) == ("张三", "not_started", "done", "武教发〔2020〕12号", "已上网公开")
    assert beijing_date(entry["at"]) == dt.date(2020, 9, 25)  # the update was made "today", 2020-09-25 in Beijing


def test_group_updates_every_member_with_an_assignment(seeded):
    result = seeded.json("status", "2", "--unit", "各乡镇", "--progress", "50", "--today", "2020-10-09")
    assert len(result) == 11 and all(r["to"] == "in_progress" and r["to_progress"] == 50 for r in result)
    assert len(seeded.json("history", "2")) == 11


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["99", "--unit", "县财政局", "--set", "done"], "未知的事项“99”"),
        (["2", "--unit", "县财政厅", "--set", "done"], "县财政局"),
        (["1.义务教育", "--unit", "县公安局", "--set", "done"], "没有主体责任任务"),
        (["1", "--unit", "县公安局", "--set", "done"], "请指定具体领域"),
        (["2", "--unit", "县财政局", "--set", "done", "--on", "2020-10-10"], "晚于今天"),
        (["2", "--unit", "县财政局", "--progress", "101"], "0 到 100"),
        (["2", "--unit", "县财政局", "--progress", "-5"], "0 到 100"),
        (["2", "--unit", "县财政局", "--set", "n/a"], "原因"),
        (["2", "--unit", "县财政局", "--set", "finished"], "--set 的值“finished”无效"),
        (["2", "--unit", "县财政局", "--set", "done", "--on", "2020-13-01"], "--on 的值“2020-13-01”"),
        (["2", "--unit", "县财政局", "--unit", "县财政厅", "--set", "done"], "未知的单位“县财政厅”"),
    ],
)
def test_refused_updates_change_nothing(seeded, args, message):
    before = seeded.snapshot()
    result = seeded("status", *args, "--today", "2020-10-09", ok=False)
    assert result.exit_code == 1 and message in result.stderr, result.stderr
    assert seeded.snapshot() == before


@pytest.mark.clock
def test_done_again_with_another_date_needs_force(seeded):
    seeded("status", "2", "--unit", "县财政局", "--set", "done", "--on", "2020-10-01", "--today", "2020-10-09")
    before = seeded.snapshot()
    refused = seeded("status", "2", "--unit", "县财政局", "--set", "done", "--on", "2020-10-05", "--today", "2020-10-09", ok=False)
    assert "--force" in refused.stderr and seeded.snapshot() == before
    seeded("status", "2", "--unit", "县财政局", "--set", "done", "--on", "2020-10-05", "--force", "--today", "2020-10-09")
    assert assignment(seeded, "2", "县财政局", "2020-10-09")["completed_on"] == "2020-10-05"
    assert [h["details"]["previous_completed_on"] for h in seeded.json("history", "2")] == [None, "2020-10-01"]


def test_not_applicable_and_reopening(seeded):
    seeded("status", "1.户籍管理", "--unit", "东坡傣族乡", "--set", "n/a", "--note", "本乡无户籍窗口", "--today", "2020-09-01")
    a = assignment(seeded, "1.户籍管理", "东坡傣族乡人民政府", "2020-10-09")
    assert a["status"] == "na" and a["light"] == "green" and a["overdue_days"] == 0
    seeded("status", "1.户籍管理", "--unit", "东坡傣族乡", "--set", "in-progress", "--progress", "30", "--today", "2020-10-09")
    a = assignment(seeded, "1.户籍管理", "东坡傣族乡人民政府", "2020-10-09")
    assert (a["status"], a["light"], a["overdue_days"], a["progress"]) == ("overdue", "red", 9, 30)


def test_derived_state_lights_and_filters(seeded):
    seeded("status", "1.义务教育", "--unit", "狮山镇", "--set", "done", "--on", "2020-09-28", "--today", "2020-10-09")
    seeded("status", "1.义务教育", "--unit", "高桥镇", "--set", "done", "--on", "2020-10-06", "--today", "2020-10-09")
    edu = {a["unit"]: a for a in assignment_list(seeded, "1.义务教育", "2020-10-09")}
    assert edu["狮山镇人民政府"]["status"] == "done"
    assert edu["高桥镇人民政府"]["status"] == "done_late" and edu["高桥镇人民政府"]["overdue_days"] == 6
    assert edu["猫街镇人民政府"]["status"] == "overdue" and edu["猫街镇人民政府"]["overdue_days"] == 9
    overdue = seeded.json("items", "list", "--overdue", "--today", "2020-10-09")
    assert {i["key"] for i in overdue} == {i for i in keys(seeded) if i.startswith("1.")}
    assert len([a for i in overdue for a in i["assignments"]]) == 216 - 2
    soon = seeded.json("items", "list", "--due-within", "30", "--today", "2020-10-09")
    assert [i["key"] for i in soon] == ["2"]
    assert all(a["light"] == "yellow" for a in soon[0]["assignments"])  # due in 22 days, 0 % behind the plan
    mine = seeded.json("items", "list", "--unit", "县教育体育局", "--state", "overdue", "--today", "2020-10-09")
    assert [i["key"] for i in mine] == ["1.义务教育"]
    green = seeded.json("items", "list", "--light", "green", "--today", "2020-08-03")
    assert "9" in {i["key"] for i in green}
    late = seeded.json("items", "list", "--state", "done-late", "--today", "2020-10-09")
    assert [(i["key"], [a["unit"] for a in i["assignments"]]) for i in late] == [("1.义务教育", ["高桥镇人民政府"])]


def test_finishing_on_the_due_date_is_on_time(seeded):
    """逾期完成 means completed after the deadline: the deadline day itself is still on time, also after an extension."""
    seeded("status", "1.义务教育", "--unit", "狮山镇", "--set", "done", "--on", "2020-09-30", "--today", "2020-10-09")
    seeded("status", "1.义务教育", "--unit", "高桥镇", "--set", "done", "--on", "2020-10-01", "--today", "2020-10-09")
    edu = {a["unit"]: a for a in assignment_list(seeded, "1.义务教育", "2020-10-09")}
    assert (edu["狮山镇人民政府"]["status"], edu["狮山镇人民政府"]["overdue_days"], edu["狮山镇人民政府"]["light"]) == ("done", 0, "green")
    assert (edu["高桥镇人民政府"]["status"], edu["高桥镇人民政府"]["overdue_days"]) == ("done_late", 1)
    late = seeded.json("items", "list", "--state", "done-late", "--today", "2020-10-09")
    assert [(i["key"], [a["unit"] for a in i["assignments"]]) for i in late] == [("1.义务教育", ["高桥镇人民政府"])]
    totals = seeded.json("report", "weekly", "--as-of", "2020-10-12")["totals"]
    assert (totals["done"], totals["done_on_time"], totals["done_late"], totals["on_time_rate"]) == (2, 1, 1, 50.0)
    seeded("extend", "9", "--unit", "环州乡", "--to", "2021-08-31", "--reason", "县政府办批复同意", "--today", "2021-06-01")
    seeded("status", "9", "--unit", "环州乡", "--set", "done", "--on", "2021-08-31", "--today", "2021-09-01")
    assert assignment(seeded, "9", "环州乡人民政府", "2021-09-01")["status"] == "done"


def assignment_list(cli, key, today):
    return {i["key"]: i for i in cli.json("items", "list", "--today", today)}[key]["assignments"]


def keys(cli):
    return [i["key"] for i in cli.json("items", "list", "--today", "2020-08-01")]


def test_yellow_light_when_behind_planned_progress(seeded):
    # item 9: 2020-08-01 → 2021-06-30; on 2021-01-01 about 46 % of the time has passed
    seeded("status", "9", "--unit", "狮山镇", "--progress", "40", "--today", "2021-01-01")
    nine = {a["unit"]: a for a in assignment_list(seeded, "9", "2021-01-01")}
    assert nine["狮山镇人民政府"]["light"] == "green"
    assert nine["高桥镇人民政府"]["light"] == "yellow"


def test_extension(seeded):
    out = seeded.json("extend", "9", "--unit", "环州乡", "--to", "2021-08-31", "--reason", "县政府办批复同意", "--today", "2021-06-01")
    assert out == [{"plan": "zwgk2020", "item": "9", "occurrence": None, "unit": "环州乡人民政府", "original_due": "2021-06-30", "from_due": "2021-06-30", "to_due": "2021-08-31"}]
    a = assignment(seeded, "9", "环州乡人民政府", "2021-07-15")
    # nobody reported progress on item 9: after its extension the unit is simply not started, and not overdue
    assert (a["due"], a["effective_due"], a["status"], a["progress"], a["extended"]) == ("2021-06-30", "2021-08-31", "not_started", 0, True)
    other = assignment(seeded, "9", "发窝乡人民政府", "2021-07-15")
    assert other["status"] == "overdue"
    before = seeded.snapshot()
    earlier = seeded("extend", "9", "--unit", "环州乡", "--to", "2021-07-31", "--reason", "再议", ok=False)
    assert "不晚于" in earlier.stderr and seeded.snapshot() == before
    seeded("status", "9", "--unit", "发窝乡", "--set", "done", "--on", "2021-06-20", "--today", "2021-06-21")
    after_completion = seeded.snapshot()
    done = seeded("extend", "9", "--unit", "发窝乡", "--to", "2021-09-30", "--reason", "x", ok=False)
    assert "已于 2021-06-20 完成" in done.stderr and seeded.snapshot() == after_completion
    assert assignment(seeded, "9", "发窝乡人民政府", "2021-07-15")["effective_due"] == "2021-06-30"
    history = seeded.json("history", "9", "--unit", "环州乡")
    assert history[0]["action"] == "extend" and history[0]["details"]["original_due"] == "2021-06-30"


def test_outside_event_gives_a_due_date_and_moving_it_is_journalled(seeded):
    events = seeded.json("events", "list")
    assert events == [{"plan": "zwgk2020", "key": "E1", "name": "国务院部门其他领域标准指引出台", "occurred_on": None, "items": ["3"]}]
    assert assignment(seeded, "3", "县财政局", "2021-01-01")["status"] == "waiting"
    result = seeded.json("event", "record", "E1", "--on", "2021-03-15", "--today", "2021-03-20")
    assert result["items"] == [{"plan": "zwgk2020", "item": "3", "due": "2021-05-15"}]
    seeded("event", "record", "标准指引出台", "--on", "2021-03-31", "--today", "2021-04-02")
    assert {i["key"]: i for i in seeded.json("items", "list", "--today", "2021-04-02")}["3"]["due"] == "2021-05-31"
    future = seeded("event", "record", "E1", "--on", "2021-05-01", "--today", "2021-04-02", ok=False)
    assert "晚于今天" in future.stderr
    unknown = seeded("event", "record", "省政府批复", "--on", "2021-03-01", ok=False)
    assert "未知的事件" in unknown.stderr and "events list" in unknown.stderr


def test_item_4_waits_for_the_last_unit_of_item_3(seeded):
    seeded("event", "record", "E1", "--on", "2021-03-15", "--today", "2021-03-20")
    seeded("status", "3", "--unit", "各乡镇", "--set", "done", "--on", "2021-04-20", "--today", "2021-05-01")
    assert due_of(seeded, "4", "2021-05-01") is None
    seeded("status", "3", "--unit", "各部门", "--set", "done", "--on", "2021-04-30", "--today", "2021-05-01")
    assert due_of(seeded, "4", "2021-05-01") == "2021-05-30"
    seeded("status", "3", "--unit", "县税务局", "--set", "n/a", "--note", "垂直管理", "--today", "2021-05-01")
    assert due_of(seeded, "4", "2021-05-01") == "2021-05-30"  # n/a counts as closed
    seeded("status", "3", "--unit", "县财政局", "--set", "in-progress", "--progress", "90", "--today", "2021-05-02")
    assert due_of(seeded, "4", "2021-05-02") is None
    seeded("status", "3", "--unit", "县财政局", "--set", "done", "--on", "2021-05-10", "--today", "2021-05-10")
    assert due_of(seeded, "4", "2021-05-10") == "2021-06-10"


def due_of(cli, key, today):
    return {i["key"]: i for i in cli.json("items", "list", "--today", today)}[key]["due"]


WRITER = textwrap.dedent(
    """
    import sys
    from typer.testing import CliRunner
    from tracker.cli.app import app
    config, unit, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
    runner = CliRunner()
    for progress in range(start, start + 40):
        result = runner.invoke(app, ["--config", config, "status", "2", "--unit", unit, "--progress", str(progress),
                                     "--note", f"{unit}-{progress}", "--today", "2020-10-09"])
        if result.exit_code != 0:
            print(result.output, file=sys.stderr)
            sys.exit(1)
    """
)


@pytest.mark.clock
def test_two_processes_writing_at_once_lose_nothing(seeded, tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER, "utf-8")
    procs = [subprocess.Popen([sys.executable, str(script), str(seeded.config), unit, str(start)], stderr=subprocess.PIPE, text=True)
             for unit, start in (("狮山镇", 10), ("县财政局", 50))]
    errors = [p.communicate(timeout=240)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    engine = create_engine(seeded.absolute_url)
    with engine.connect() as conn:
        counts = dict(conn.execute(text("SELECT unit_name, count(*) FROM journalentry WHERE action='status' GROUP BY unit_name")).fetchall())
        if seeded.backend == "sqlite":
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    assert counts == {"狮山镇人民政府": 40, "县财政局": 40}
    final = {a["unit"]: a["progress"] for a in assignment_list(seeded, "2", "2020-10-09")}
    assert (final["狮山镇人民政府"], final["县财政局"]) == (49, 89)
