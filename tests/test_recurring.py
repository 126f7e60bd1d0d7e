"""Recurring duties: the wordings, their occurrences, and each occurrence's own due date, state and reminders."""

import datetime as dt
import json

import pytest
from sqlalchemy import text

from tests.test_layouts import dump
from tracker.calendar import WorkCalendar
from tracker.db import head_revision, make_engine, upgrade_database
from tracker.deadlines import parse_deadline
from tracker.errors import DeadlineParseError
from tracker.occurrences import fitting_lead_days, next_due, occurrences

D = dt.date


@pytest.mark.parametrize(
    ("wording", "every", "fields"),
    [
        ("每月25日前", "month", {"day": 25}),
        ("每月5日前报送", "month", {"day": 5}),
        ("每年4月30日前", "year", {"month": 4, "day": 30}),
        ("每年6月底前予以公开", "year", {"month": 6, "day": None}),
        ("每季度末", "quarter", {"day": None, "days": None}),
        ("每季度结束后10日内上报", "quarter", {"days": 10}),
        ("每月结束后5个工作日内报送", "month", {"working_days": 5}),
        ("每半年", "half_year", {}),
        ("每半年度公开", "half_year", {}),
        ("每周五前", "week", {"weekday": 4}),
        ("每星期一", "week", {"weekday": 0}),
        ("按月更新", "month", {"day": None}),
        ("按季度公开", "quarter", {}),
    ],
)
def test_periodic_wordings_are_recurring_with_their_day(wording, every, fields):
    rule = parse_deadline(wording, plan_year=2020)
    assert (rule.kind, rule.every, rule.event, rule.due) == ("recurring", every, None, None)
    for name, value in fields.items():
        assert getattr(rule, name) == value, name


@pytest.mark.parametrize(
    "wording",
    ["每两个月", "每月上旬", "每年2月30日前", "每月32日前", "按旬报送", "每季度15日前", "每周八", "每年度某月", "每个单位自行确定"],
)
def test_a_period_word_that_cannot_be_read_is_refused_never_an_event(wording):
    with pytest.raises(DeadlineParseError) as refused:
        parse_deadline(wording, plan_year=2020)
    assert "每" in str(refused.value) or "按" in str(refused.value)


@pytest.mark.parametrize(
    "wording", ["9月后10日内", "2020年10月1日起30日内", "本月底后5个工作日内", "25日后5日内", "2021年后3个月内", "下半年后1个月内"],
)
def test_an_event_name_that_is_only_a_date_or_period_fragment_is_refused(wording):
    with pytest.raises(DeadlineParseError) as refused:
        parse_deadline(wording, plan_year=2020)
    assert "不是一个事件" in str(refused.value)


@pytest.mark.parametrize(
    ("wording", "kind", "expected"),
    [  # the action after the period is not part of the date
        ("2021年3月31日前办结", "fixed", D(2021, 3, 31)),
        ("2020年11月底前完成", "fixed", D(2020, 11, 30)),
        ("2020年12月底前到位", "fixed", D(2020, 12, 31)),
        ("批复后10日内上报", "after_event", "批复"),
        ("方案印发后1个月内报送", "after_event", "方案印发"),
        ("信息形成之日起20个工作日内予以公开", "after_event", "信息形成"),
        ("政策出台之日起15个工作日内公开", "after_event", "政策出台"),
        ("自文件印发之日起3个工作日内予以公布", "after_event", "文件印发"),  # leading 自 stripped
        ("从收到申请之日起20个工作日内办结", "after_event", "收到申请"),  # leading 从 stripped
        ("自然资源部标准出台后2个月内", "after_event", "自然资源部标准出台"),  # 自然 is a word, not 自
        ("年内", "fixed", D(2020, 12, 31)),
        ("年内完成", "fixed", D(2020, 12, 31)),
        ("2021年内完成", "fixed", D(2021, 12, 31)),
        ("年内持续推进", "ongoing", None),
        ("长期坚持，年内见效", "ongoing", None),
        ("年内长期坚持", "ongoing", None),
        ("2021年上半年", "fixed", D(2021, 6, 30)),
        ("每半年", "recurring", "half_year"),
    ],
)
def test_wordings_with_actions_and_leading_words(wording, kind, expected):
    rule = parse_deadline(wording, plan_year=2020)
    assert rule.kind == kind
    if kind == "fixed":
        assert rule.due == expected
    elif kind == "after_event":
        assert rule.event == expected
    elif kind == "recurring":
        assert rule.every == expected


def test_cli_parses_a_yearly_duty(cli):
    data = cli.json("deadline", "parse", "每年4月30日前")
    assert {k: data[k] for k in ("kind", "every", "month", "day")} == {"kind": "recurring", "every": "year", "month": 4, "day": 30}
    monthly = cli.json("deadline", "parse", "每月25日前")
    assert (monthly["every"], monthly["day"], monthly["event"]) == ("month", 25, None)


def test_occurrences_are_one_per_period_with_their_own_due_date():
    cal = WorkCalendar()
    monthly = occurrences(parse_deadline("每月31日前"), D(2020, 8, 1), D(2022, 12, 31), cal.add_working_days)
    assert len(monthly) == 29 and monthly[0].label == "2020-08" and monthly[-1].label == "2022-12"
    assert {o.label: o.due for o in monthly}["2021-02"] == D(2021, 2, 28)  # a day the month lacks: its last day
    yearly = occurrences(parse_deadline("每年4月30日前"), D(2020, 8, 1), D(2022, 12, 31), cal.add_working_days)
    assert [(o.label, o.due) for o in yearly] == [("2021", D(2021, 4, 30)), ("2022", D(2022, 4, 30))]  # 2020's was before the start
    quarterly = occurrences(parse_deadline("每季度结束后5个工作日内"), D(2020, 8, 1), D(2020, 12, 31), cal.add_working_days)
    # Q3 ends 2020-09-30; Oct 1–8 is the National Day holiday, Sat Oct 10 a make-up working day: 9, 10, 12, 13, 14
    assert [(o.label, o.due) for o in quarterly] == [("2020-Q3", D(2020, 10, 14))]
    weekly = occurrences(parse_deadline("每周五前"), D(2020, 10, 1), D(2020, 10, 31), cal.add_working_days)
    assert [o.label for o in weekly][:2] == ["2020-W40", "2020-W41"] and weekly[0].due == D(2020, 10, 2)
    halves = occurrences(parse_deadline("每半年"), D(2020, 8, 1), D(2021, 12, 31), cal.add_working_days)
    assert [(o.label, o.due) for o in halves] == [("2020-H2", D(2020, 12, 31)), ("2021-H1", D(2021, 6, 30)), ("2021-H2", D(2021, 12, 31))]
    assert next_due(parse_deadline("每月25日前"), "2020-09", cal.add_working_days) == D(2020, 10, 25)


def test_lead_times_that_do_not_fit_the_period_are_dropped():
    policy = (30, 14, 7, 3, 1)
    assert fitting_lead_days("month", policy) == (7, 3, 1)
    assert fitting_lead_days("quarter", policy) == (14, 7, 3, 1)
    assert fitting_lead_days("year", policy) == policy
    assert fitting_lead_days("week", policy) == (1,)


PLAN = dump(
    "武定县2020年政务公开重点工作任务分工",
    ["序号", "工作任务", "牵头单位", "责任单位", "完成时限"],
    ["1", "按月公开财政预算执行情况", "县财政局", "县财政局、县税务局", "每月25日前"],
    ["2", "按季度公开社会救助数据", "县民政局", "县民政局，县司法局", "每季度末"],
    ["3", "公开政府信息公开工作年度报告", "县政府办公室", "县政府办公室", "每年4月30日前予以公开"],
    ["4", "完成政务公开专栏建设", "县政府办公室", "县政务服务局", "年内完成"],
    ["5", "持续推进基层政务公开", "县政府办公室", "各乡镇", "年内持续推进"],
)


@pytest.fixture
def recurring(cli, tmp_path):
    path = tmp_path / "recurring.txt"
    path.write_text(PLAN, encoding="utf-8")
    cli("init", "--plan", str(path), "--start", "2020-08-01")
    return cli


def by_key(views):
    return {v["key"]: v for v in views}


def test_each_principal_gets_one_occurrence_per_period_to_the_end_of_the_plan_year_after_next(recurring):
    data = recurring.json("export")
    principal = [a for a in data["assignments"] if a["role"] == "principal"]
    monthly = [a for a in principal if a["occurrence"] and a["occurrence"].count("-") == 1 and "Q" not in a["occurrence"]]
    assert len(monthly) == 2 * 29  # two units, 2020-08 … 2022-12
    assert {a["occurrence"] for a in principal if a["occurrence"] and "Q" in a["occurrence"]} == {
        f"{y}-Q{q}" for y in (2020, 2021, 2022) for q in (1, 2, 3, 4) if (y, q) >= (2020, 3)}
    assert data["events"] == []  # 每月/每年 never became outside events


def test_listing_show_and_json_count_occurrences(recurring):
    items = by_key(recurring.json("items", "list", "--today", "2020-10-20"))
    first = items["1"]["assignments"]
    assert sorted((a["occurrence"], a["unit"], a["due"]) for a in first) == sorted(
        (f"2020-{m:02d}", unit, f"2020-{m:02d}-25") for m in (8, 9, 10) for unit in ("县财政局", "县税务局"))  # November has not begun
    assert {a["status"] for a in first if a["occurrence"] != "2020-10"} == {"overdue"}
    assert items["3"]["assignments"] == []  # the 2021 report's period has not begun
    assert {a["status"] for a in items["5"]["assignments"]} == {"ongoing"} and items["5"]["assignments"][0]["occurrence"] is None
    october = by_key(recurring.json("items", "list", "--period", "2020-10", "--today", "2020-10-20"))
    assert {a["occurrence"] for a in october["1"]["assignments"]} == {"2020-10"}
    assert {a["occurrence"] for a in october["2"]["assignments"]} == {"2020-Q4"}
    shown = recurring.json("show", "2", "--occurrence", "2020-Q3", "--today", "2020-10-20")
    assert [(a["unit"], a["due"], a["status"]) for a in shown["assignments"]] == [
        ("县民政局", "2020-09-30", "overdue"), ("县司法局", "2020-09-30", "overdue")]
    overdue = by_key(recurring.json("items", "list", "--overdue", "--today", "2020-10-20"))
    assert sorted(a["occurrence"] for a in overdue["2"]["assignments"]) == ["2020-Q3", "2020-Q3"]


def test_each_occurrence_has_its_own_state(recurring):
    refused = recurring("status", "1", "--unit", "县财政局", "--set", "done", "--today", "2020-10-20", ok=False)
    assert refused.exit_code == 1 and "--occurrence" in refused.stderr and "--period" in refused.stderr
    wrong = recurring("status", "1", "--unit", "县财政局", "--occurrence", "2020-Q4", "--set", "done", "--today", "2020-10-20", ok=False)
    assert wrong.exit_code == 1 and "2020-10" in wrong.stderr
    one_off = recurring("status", "4", "--unit", "县政务服务局", "--period", "2020-10", "--set", "done", "--today", "2020-10-20", ok=False)
    assert one_off.exit_code == 1 and "不是定期工作" in one_off.stderr
    [done] = recurring.json("status", "1", "--unit", "县财政局", "--period", "2020-10-09", "--set", "done", "--on", "2020-10-19",
                            "--evidence", "武财〔2020〕8号", "--today", "2020-10-20")
    assert (done["occurrence"], done["to"], done["completed_on"]) == ("2020-10", "done", "2020-10-19")
    [late] = recurring.json("status", "2", "--unit", "县民政局", "--occurrence", "2020-q3", "--set", "done", "--on", "2020-10-09",
                            "--today", "2020-10-20")
    assert late["occurrence"] == "2020-Q3"
    items = by_key(recurring.json("items", "list", "--today", "2020-10-20"))
    states = {(a["occurrence"], a["unit"]): a["status"] for a in items["1"]["assignments"] + items["2"]["assignments"]}
    assert states[("2020-10", "县财政局")] == "done" and states[("2020-09", "县财政局")] == "overdue"
    assert states[("2020-Q3", "县民政局")] == "done_late" and states[("2020-Q3", "县司法局")] == "overdue"
    [entry] = [e for e in recurring.json("history", "1", "--unit", "县财政局") if e["action"] == "status"]
    assert entry["details"]["occurrence"] == "2020-10"
    [extended] = recurring.json("extend", "2", "--unit", "县司法局", "--period", "2020-11", "--to", "2021-01-15",
                                "--reason", "县政府办批复", "--today", "2020-10-20")
    assert (extended["occurrence"], extended["original_due"], extended["to_due"]) == ("2020-Q4", "2020-12-31", "2021-01-15")


def entries(cli, day):
    digests = cli.json("remind", "--dry-run", "--today", day)
    return {(e["item"], e.get("occurrence"), e["unit"], e["stage"]) for d in digests for e in d["entries"] if e["role"] == "principal"}


def test_reminders_fit_the_period_and_overdue_notices_stop_when_the_next_occurrence_is_due(recurring):
    # October's monthly report is due Sun 2020-10-25. 14 days before is Sun 10-11 (sent Sat 10-10, a make-up working
    # day), 7 days before is Sun 10-18 (sent Fri 10-16): a monthly duty has no 14-day reminder, only 7/3/1.
    assert not any(o == "2020-10" for _i, o, _u, _s in entries(recurring, "2020-10-10"))
    assert ("1", "2020-10", "县财政局", "before-7") in entries(recurring, "2020-10-16")
    # the quarterly duty (due 2020-12-31) keeps its 14-day reminder (Thu 12-17) but has no 30-day one (Tue 12-01)
    assert not any(i == "2" and o == "2020-Q4" for i, o, _u, _s in entries(recurring, "2020-12-01"))
    assert ("2", "2020-Q4", "县民政局", "before-14") in entries(recurring, "2020-12-17")
    # September's report, still open, is overdue until October's falls due on 10-25, then no longer notified
    assert any(o == "2020-09" and s.startswith("overdue") for _i, o, _u, s in entries(recurring, "2020-10-23"))
    assert not any(o == "2020-09" for _i, o, _u, _s in entries(recurring, "2020-10-26"))
    # the annual report of 2021 (due 2021-04-30) gets every lead time, 30 days included (Wed 2021-03-31)
    assert ("3", "2021", "县政府办公室", "before-30") in entries(recurring, "2021-03-31")


def test_the_daily_check_sends_each_occurrence_once(recurring):
    recurring("run", "--once", "--today", "2020-10-16")
    again = recurring.json("remind", "--dry-run", "--today", "2020-10-16")
    assert not any(e.get("occurrence") == "2020-10" for d in again for e in d["entries"])
    mail = recurring.json("outbox", "list")
    assert mail  # the digests were stored for delivery


def test_weekly_report_counts_occurrences_and_their_on_time_rate(recurring):
    recurring("status", "1", "--unit", "县财政局", "--occurrence", "2020-08", "--set", "done", "--on", "2020-08-24", "--today", "2020-10-26")
    recurring("status", "1", "--unit", "县税务局", "--occurrence", "2020-08", "--set", "done", "--on", "2020-08-28", "--today", "2020-10-26")
    report = recurring.json("report", "weekly", "--as-of", "2020-10-26")
    totals = report["totals"]
    # begun occurrences: item 1 Aug–Oct × 2 units, item 2 Q3–Q4 × 2 units; item 4 once; item 5 ongoing × 11 townships
    assert totals["assignments"] == 6 + 4 + 1 + 11
    assert (totals["done"], totals["done_on_time"], totals["done_late"], totals["on_time_rate"]) == (2, 1, 1, 50.0)
    assert totals["ongoing"] == 11
    assert totals["overdue"] == 2 + 2 + 2  # Sep and Oct of item 1 (Oct due 10-25), Q3 of item 2
    page = recurring.home / "通报.html"
    later = recurring.json("report", "weekly", "--as-of", "2020-11-16", "--out", str(page))
    assert {(u["item"], u.get("occurrence"), u["due"], u["unit"]) for u in later["upcoming"]} == {
        ("1", "2020-11", "2020-11-25", "县财政局"), ("1", "2020-11", "2020-11-25", "县税务局")}
    assert "事项 1（2020-11期）" in page.read_text("utf-8")


OLD_RULE = {"due": None, "months": None, "days": None, "working_days": None, "event": None, "item": None, "every": None}


def test_upgrade_from_0003_keeps_the_data_and_adds_occurrences_on_the_next_change(cli):
    engine = make_engine(cli.absolute_url)
    assert upgrade_database(engine, "0003") == (None, "0003")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO plan (id, title, source, checksum, plan_year, county, domain_row_principals, "
                          "lead_does_work, starts_on) VALUES (1, '旧计划', 'old.txt', 'x', 2020, '武定县', 'guiding', false, '2020-08-01')"))
        conn.execute(text("INSERT INTO unit (id, name, kind, emails, aliases, contact, phone) VALUES "
                          "(1, '县政府办公室', 'office', '[\"xzfb@wuding.example\"]', '[]', '', ''), "
                          "(2, '县财政局', 'department', '[\"czj@wuding.example\"]', '[]', '', '')"))
        conn.execute(text("INSERT INTO worktask (id, number, title, position, retired) VALUES (1, '1', '公开', 0, false)"))
        conn.execute(text(
            "INSERT INTO item (id, key, task_id, title, deadline_text, deadline, lead_text, principal_text, guiding_text, "
            "cooperating_text, inherited, source_line, position, retired) VALUES "
            "(1, '1', 1, '预算公开', '2020年9月底', :fixed, '', '县财政局', '', '', '[]', 5, 0, false), "
            "(2, '2', 1, '月报', '每月', :monthly, '', '县财政局', '', '', '[]', 9, 1, false)"),
            {"fixed": json.dumps(OLD_RULE | {"kind": "fixed", "text": "2020年9月底", "due": "2020-09-30"}),
             "monthly": json.dumps(OLD_RULE | {"kind": "recurring", "text": "每月", "every": "month"})})
        conn.execute(text("INSERT INTO assignment (id, item_id, unit_id, role, state, progress, completed_on, note, evidence, "
                          "na_reason, retired) VALUES (1, 1, 2, 'principal', 'done', 100, '2020-09-20', '已公开', '文号', '', false), "
                          "(2, 2, 2, 'principal', 'in_progress', 30, null, '', '', '', false)"))
        conn.execute(text("INSERT INTO outboxmessage (id, run_date, recipient, to_addrs, subject, message_id, state, attempts, "
                          "last_error, created_at) VALUES (1, '2020-09-23', '县财政局', '[]', '提醒', '<m1@x>', 'sent', 1, '', "
                          "'2020-09-23 00:30:00')"))
        conn.execute(text("INSERT INTO notice (id, assignment_id, due_on, stage, rank, sent_on, message_id, created_at) VALUES "
                          "(1, 1, '2020-09-30', 'before-7', -7, '2020-09-23', 1, '2020-09-23 00:30:00')"))
        if cli.backend == "postgres":  # rows written with their ids: move the sequences past them, as an import would
            for table in ("plan", "unit", "worktask", "item", "assignment", "outboxmessage", "notice"):
                conn.execute(text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))"))
    assert cli.json("db", "upgrade") == {"from": "0003", "to": head_revision(), "changed": True}
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, state, progress, completed_on, occurrence, occurrence_due FROM assignment ORDER BY id")).all()
        assert [tuple(r)[:3] + (tuple(r)[4],) for r in rows] == [(1, "done", 100, ""), (2, "in_progress", 30, "")]
        assert conn.execute(text("SELECT assignment_id, stage FROM notice")).all() == [(1, "before-7")]
    items = by_key(cli.json("items", "list", "--today", "2020-10-09"))
    assert [(a["status"], a["completed_on"], a["note"]) for a in items["1"]["assignments"]] == [("done", "2020-09-20", "已公开")]
    assert [a["status"] for a in items["2"]["assignments"]] == ["recurring"]  # no occurrences until the plan is expanded again
    cli("units", "add", "县税务局", "--kind", "department")  # any change re-expands the plan: the monthly item gets occurrences
    items = by_key(cli.json("items", "list", "--today", "2020-10-09"))
    assert sorted(a["occurrence"] for a in items["2"]["assignments"] if a["unit"] == "县财政局") == ["2020-08", "2020-09", "2020-10"]
    assert [a["status"] for a in items["1"]["assignments"]] == ["done"]
    if cli.backend == "sqlite":
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []


def test_an_import_lists_new_outside_events_for_confirmation_and_a_later_item_counts_from_its_listing(recurring, tmp_path):
    later = tmp_path / "later.txt"
    later.write_text(PLAN + "\n" + dump(
        "", ["6", "公开重大决策", "县政府办公室", "县发展和改革局", "自决策作出之日起20个工作日内予以公开"],
        ["7", "公开审计整改情况", "县政府办公室", "县财政局", "每月10日前报送"],
    ).lstrip("\n"), encoding="utf-8")
    preview = recurring("import", str(later), "--dry-run", "--today", "2020-11-12")
    assert "将登记 1 个外部事件，请确认" in preview.stdout and "决策作出" in preview.stdout
    assert recurring.json("import", str(later), "--dry-run", "--today", "2020-11-12")["new_events"] == [
        {"key": "E1", "name": "决策作出"}]
    assert recurring.json("events", "list") == []  # a preview writes nothing
    recurring("import", str(later), "--today", "2020-11-12")
    export = recurring.json("export")
    item7 = next(i["id"] for i in export["items"] if i["key"] == "7")
    labels = sorted(a["occurrence"] for a in export["assignments"] if a["item_id"] == item7 and a["role"] == "principal")
    assert labels[0] == "2020-12" and len(labels) == 25  # November's (due 11-10) came before the item was listed
    item1 = next(i["id"] for i in export["items"] if i["key"] == "1")
    assert min(a["occurrence"] for a in export["assignments"] if a["item_id"] == item1 and a["occurrence"]) == "2020-08"
