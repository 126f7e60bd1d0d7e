"""Many plans in one database (issue 14): codes, CODE:KEY addressing, one digest per unit, a report section per
plan, archiving, per-plan events and dependencies, and the upgrade of a one-plan database.

The seed's plan is joined by two plans built here in other layouts (a five-column text table and an Excel sheet
with a title row) whose units overlap the seed's: 县教育体育局, 县财政局 and the townships appear in all three.
"""

from __future__ import annotations

import email
from email import policy

import openpyxl
import pytest
from sqlalchemy import create_engine, inspect, text

from tests.conftest import SEED_ANNEX1, use_smtp
from tests.test_layouts import dump
from tracker.db import head_revision, make_engine

TOWNSHIPS = 11


BUSINESS = dump(
    "武定县2020年优化营商环境工作任务分工",
    ["序号", "工作任务", "牵头单位", "责任单位", "时限要求"],
    ["1", "公开涉企收费清单", "县财政局", "县财政局、县市场监管局", "2020年9月底"],
    ["2", "推进教育收费公开", "县教育体育局", "县教育体育局", "2020年10月31日前"],
    ["3", "乡镇便民服务事项公开", "县政务服务管理局", "各乡镇", "2020年12月底"],
)


def _work_report(path):
    """The government work report's key tasks as an Excel sheet: a title row, then 序号|具体措施|牵头单位|责任单位|完成时限
    (its items are keyed 1-1, 2-2, 3-3); its second item waits for its own first, its third for an outside event of
    its own, which the plan calls E1 as the seed calls its own event E1."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["武定县2020年政府工作报告重点任务分解"])
    sheet.append(["序号", "具体措施", "牵头单位", "责任单位", "完成时限"])
    sheet.append(["1", "新建城区幼儿园", "县教育体育局", "县教育体育局", "2020年9月30日前"])
    sheet.append(["2", "新建幼儿园开园招生", "县教育体育局", "县教育体育局、狮山镇人民政府", "新建城区幼儿园完成后1个月内"])
    sheet.append(["3", "落实省级政务服务标准", "县政府办", "各乡镇", "省级标准出台后2个月内"])
    book.save(path)
    return path


@pytest.fixture
def three(seeded, tmp_path):
    """The seed (zwgk2020), the business-environment plan (yshj2020) and the work report (gzbg2020)."""
    business = tmp_path / "营商环境.txt"
    business.write_text(BUSINESS, encoding="utf-8")
    seeded("import", str(business), "--plan", "yshj2020", "--today", "2020-08-03")
    seeded("import", str(_work_report(tmp_path / "政府工作报告.xlsx")), "--plan", "gzbg2020",
           "--title", "2020年政府工作报告重点任务", "--today", "2020-08-03")
    return seeded


def test_importing_a_new_code_leaves_the_other_plan_alone_and_shows_the_code(seeded, tmp_path):
    before = seeded.json("items", "list", "--today", "2020-09-01")
    business = tmp_path / "营商环境.txt"
    business.write_text(BUSINESS, encoding="utf-8")
    preview = seeded("import", str(business), "--dry-run").stdout
    assert "计划代码：营商环境（新计划，由文件名生成，不影响其他计划" in preview and "移除" not in preview
    result = seeded.json("import", str(business))
    assert (result["plan"], result["new_plan"], result["removed_items"], result["removed_assignments"]) == ("营商环境", True, [], [])
    after = seeded.json("items", "list", "--plan", "zwgk2020", "--today", "2020-09-01")
    assert after == [{**i, "plan": "zwgk2020"} for i in before]  # the first plan's items, untouched
    again = seeded.json("import", str(business))  # the same file again: the same plan, no change
    assert (again["plan"], again["new_plan"], again["unchanged"]) == ("营商环境", False, True)
    plans = {p["plan"]: p for p in seeded.json("plans", "list", "--today", "2020-09-01")}
    assert set(plans) == {"zwgk2020", "营商环境"}
    assert plans["营商环境"]["title"]  # the document's own title (the importer reads it), shown for each plan
    assert (plans["营商环境"]["items"], plans["营商环境"]["assignments"], plans["营商环境"]["state"]) == (3, 3 + TOWNSHIPS, "active")
    assert plans["zwgk2020"]["items"] == 34
    assert "zwgk2020:1" not in seeded("plans", "list").stderr
    refused = seeded("import", str(business), "--plan", "bad:code", ok=False)
    assert refused.exit_code == 1 and "计划代码“bad:code”不可用" in refused.stderr


def test_a_renamed_copy_of_a_plan_is_refused_without_plan_once_there_are_several(three, tmp_path):
    """With one plan, a renamed copy re-imports it (as every import did before plans had codes); with several, the
    product cannot know whether the copy updates that plan or starts next year's, so it asks."""
    copy = tmp_path / "政务公开修订稿.txt"
    copy.write_text(SEED_ANNEX1.read_text("utf-8"), encoding="utf-8")
    before = three.json("export")
    refused = three("import", str(copy), "--today", "2020-09-01", ok=False)
    assert refused.exit_code == 1
    assert "与已有计划 zwgk2020 的事项相同" in refused.stderr and "请加 --plan zwgk2020" in refused.stderr
    assert "--plan 政务公开修订稿" in refused.stderr
    assert three.json("export") == before
    again = three.json("import", str(copy), "--plan", "zwgk2020", "--today", "2020-09-01")
    assert (again["plan"], again["new_plan"], again["unchanged"]) == ("zwgk2020", False, True)


def test_keys_resolve_or_are_refused_with_the_candidates(three):
    before = three.snapshot()
    refused = three("status", "2", "--unit", "县教育体育局", "--set", "done", "--on", "2020-09-20", "--today", "2020-09-21", ok=False)
    assert refused.exit_code == 1
    assert "事项编号“2”在 2 个计划中都有" in refused.stderr
    assert all(f"{code}:2" in refused.stderr for code in ("zwgk2020", "yshj2020"))
    assert "请写成 计划代码:编号，如 zwgk2020:2" in refused.stderr
    assert three.snapshot() == before
    done = three.json("status", "yshj2020:2", "--unit", "县教育体育局", "--set", "done", "--on", "2020-09-20", "--today", "2020-09-21")
    assert [(r["plan"], r["item"], r["to"]) for r in done] == [("yshj2020", "2", "done")]
    assert three.json("status", "2", "--plan", "zwgk2020", "--unit", "县教育体育局", "--progress", "40",
                      "--today", "2020-09-21")[0]["plan"] == "zwgk2020"
    assert three.json("status", "1-1", "--unit", "县教育体育局", "--progress", "40",
                      "--today", "2020-09-21")[0]["plan"] == "gzbg2020"
    # a key only one plan has needs no code; CODE:KEY is shown wherever items are listed
    assert three.json("show", "1.义务教育", "--today", "2020-09-21")["plan"] == "zwgk2020"
    assert "事项 zwgk2020:1.义务教育" in three("show", "1.义务教育", "--today", "2020-09-21").stdout
    listing = three("items", "list", "--plan", "yshj2020", "--today", "2020-09-21").stdout
    assert "yshj2020:2" in listing and "zwgk2020" not in listing
    items = three.json("items", "list", "--today", "2020-09-21")
    assert {i["plan"] for i in items} == {"zwgk2020", "yshj2020", "gzbg2020"} and len(items) == 34 + 3 + 3
    assert all(a["plan"] == i["plan"] for i in items for a in i["assignments"])
    # history and extension are the plan's own: the seed's item 2 has no journal entry of the other plan's item 2
    assert [(e["plan"], e["to"]) for e in three.json("history", "yshj2020:2")] == [("yshj2020", "done")]
    assert [(e["plan"], e["to_progress"]) for e in three.json("history", "zwgk2020:2")] == [("zwgk2020", 40)]
    extended = three.json("extend", "gzbg2020:1-1", "--unit", "县教育体育局", "--to", "2020-10-15", "--reason", "县政府办批复",
                          "--today", "2020-09-21")
    assert [(e["plan"], e["item"], e["to_due"]) for e in extended] == [("gzbg2020", "1-1", "2020-10-15")]
    unknown = three("show", "nosuch:1", ok=False)
    assert unknown.exit_code == 1 and "未知的计划代码“nosuch”" in unknown.stderr


def test_a_unit_gets_one_digest_across_plans_grouped_by_plan(three, smtp_server):
    messages = {m["recipient"]: m for m in three.json("remind", "--dry-run", "--today", "2020-09-29")}
    edu = messages["县教育体育局"]  # the seed's 1.义务教育 and the work report's item 1, both due 2020-09-30
    assert {(e["plan"], e["item"]) for e in edu["entries"]} == {("zwgk2020", "1.义务教育"), ("gzbg2020", "1-1")}
    finance = messages["县财政局"]
    assert {(e["plan"], e["item"]) for e in finance["entries"]} == {("zwgk2020", "1.财政预决算"), ("yshj2020", "1")}
    assert len(messages) == len({m["recipient"] for m in messages.values()})
    use_smtp(three, smtp_server.port)
    three("run", "--once", "--today", "2020-09-29")
    received = [email.message_from_bytes(m.as_bytes(), policy=policy.default) for m in smtp_server.recorder.messages]
    to_edu = [m for m in received if "县教育体育局" in m["Subject"] and "提醒" in m["Subject"]]
    assert len(to_edu) == 1
    body = to_edu[0].get_body(("plain",)).get_content()
    assert "〔2020年政府工作报告重点任务（计划代码 gzbg2020）〕" in body and "（计划代码 zwgk2020）" in body
    assert body.index("计划代码 zwgk2020") < body.index("事项 1.义务教育")
    # the ledger keeps each (assignment, stage) once: the same day again sends nothing
    assert three.json("remind", "--dry-run", "--today", "2020-09-29") == []


def test_the_report_covers_every_plan_with_a_section_each_and_can_be_narrowed(three, tmp_path):
    report = three.json("report", "weekly", "--as-of", "2020-10-12")
    sections = {p["plan"]: p for p in report["plans"]}
    assert list(sections) == ["zwgk2020", "yshj2020", "gzbg2020"]
    assert sum(p["totals"]["assignments"] for p in sections.values()) == report["totals"]["assignments"]
    assert sections["yshj2020"]["totals"]["assignments"] == 3 + TOWNSHIPS
    assert {i["plan"] for i in report["items"]} == set(sections)
    seed_only = three.json("report", "weekly", "--as-of", "2020-10-12", "--plan", "zwgk2020")
    edu = next(u for u in report["units"] if u["unit"] == "县教育体育局")
    edu_seed = next(u for u in seed_only["units"] if u["unit"] == "县教育体育局")
    assert edu["assigned"] == edu_seed["assigned"] + 1 + 2  # ranked on all its work: yshj2020's item 2, gzbg2020's 1-1 and 2-2
    page = three("report", "weekly", "--as-of", "2020-10-12").stdout
    assert "各计划（3 个）" in page and "〔2020年政府工作报告重点任务（gzbg2020）〕" in page
    assert "事项 zwgk2020:1.义务教育" in page or "zwgk2020:1." in page
    one = three.json("report", "weekly", "--as-of", "2020-10-12", "--plan", "yshj2020")
    assert [p["plan"] for p in one["plans"]] == ["yshj2020"] and one["totals"]["assignments"] == 3 + TOWNSHIPS
    xlsx = tmp_path / "台账.xlsx"
    three("report", "weekly", "--as-of", "2020-10-12", "--xlsx", str(xlsx))
    ledger = openpyxl.load_workbook(xlsx)["台账"]
    header = [c.value for c in ledger[1]]
    plan_column = header.index("计划")
    assert {row[plan_column].value for row in ledger.iter_rows(min_row=2)} == {"zwgk2020", "yshj2020", "gzbg2020"}


def test_archiving_silences_a_plan_and_keeps_its_history(three):
    three("status", "yshj2020:1", "--unit", "县财政局", "--progress", "50", "--today", "2020-09-20")
    archived = three.json("plans", "archive", "yshj2020", "--today", "2020-09-21")
    assert (archived["state"], archived["changed"]) == ("archived", True)
    assert three.json("plans", "archive", "yshj2020")["changed"] is False
    entries = [e for m in three.json("remind", "--dry-run", "--today", "2020-09-29") for e in m["entries"]]
    assert entries and not [e for e in entries if e["plan"] == "yshj2020"]
    assert not [i for i in three.json("items", "list", "--today", "2020-09-29") if i["plan"] == "yshj2020"]
    assert [p["plan"] for p in three.json("report", "weekly", "--as-of", "2020-10-12")["plans"]] == ["zwgk2020", "gzbg2020"]
    # its history stays readable by CODE:KEY; a bare key no longer collides with it
    assert [e["to_progress"] for e in three.json("history", "yshj2020:1")] == [50]
    assert three.json("show", "yshj2020:1", "--today", "2020-09-29")["assignments"][0]["progress"] == 50
    assert three.json("show", "2", "--today", "2020-09-29")["plan"] == "zwgk2020"
    shown = three.json("plans", "show", "yshj2020", "--today", "2020-09-29")
    assert (shown["state"], shown["items"]) == ("archived", 3)
    assert "已归档" in three("plans", "list").stdout


def test_events_and_dependencies_are_the_plans_own(three):
    refused = three("event", "record", "E1", "--on", "2020-10-20", "--today", "2020-10-21", ok=False)
    assert refused.exit_code == 1 and "计划 zwgk2020 的 E1" in refused.stderr and "计划 gzbg2020 的 E1" in refused.stderr
    recorded = three.json("event", "record", "E1", "--plan", "gzbg2020", "--on", "2020-10-20", "--today", "2020-10-21")
    assert (recorded["plan"], recorded["name"]) == ("gzbg2020", "省级标准出台")
    assert [(i["plan"], i["item"], i["due"]) for i in recorded["items"]] == [("gzbg2020", "3-3", "2020-12-20")]
    seed_waiting = three.json("show", "zwgk2020:3", "--today", "2020-10-21")
    assert seed_waiting["due"] is None  # the seed's own E1 is still waiting
    events = {(e["plan"], e["key"]): e for e in three.json("events", "list")}
    assert events[("gzbg2020", "E1")]["occurred_on"] == "2020-10-20" and events[("zwgk2020", "E1")]["occurred_on"] is None
    # the work report's item 2 waits for its own item 1, not for the seed's item (1)
    assert three.json("show", "gzbg2020:2-2", "--today", "2020-10-21")["waiting_for"] == "等待事项 1-1 全部完成"
    three("status", "gzbg2020:1-1", "--unit", "县教育体育局", "--set", "done", "--on", "2020-10-10", "--today", "2020-10-21")
    assert three.json("show", "gzbg2020:2-2", "--today", "2020-10-21")["due"] == "2020-11-10"
    assert three.json("show", "zwgk2020:3", "--today", "2020-10-21")["due"] is None


def test_sheet_export_and_ical_take_a_plan(three, tmp_path):
    sheet = tmp_path / "教育局.xlsx"
    rows = three.json("sheet", "export", "--unit", "县教育体育局", "--plan", "gzbg2020", "--out", str(sheet), "--today", "2020-09-21")
    assert rows[0]["rows"] == 2  # 1-1 and 2-2
    seed = three.json("sheet", "export", "--unit", "县教育体育局", "--plan", "zwgk2020", "--out", str(tmp_path / "seed.xlsx"),
                      "--today", "2020-09-21")
    everything = three.json("sheet", "export", "--unit", "县教育体育局", "--out", str(tmp_path / "all.xlsx"), "--today", "2020-09-21")
    assert everything[0]["rows"] == seed[0]["rows"] + 1 + 2  # and yshj2020's item 2
    # the sheet comes back: each row goes to its own plan's item, never to the other plan's item 2
    book = openpyxl.load_workbook(tmp_path / "all.xlsx")
    sheet = book["进度填报"]
    rows = [r for r in range(1, sheet.max_row + 1) if sheet[f"B{r}"].value == "2"]
    assert len(rows) == 2  # the seed's item 2 and yshj2020's
    expected = {}
    for row, progress in zip(rows, (30, 60)):
        sheet[f"I{row}"] = progress
        expected[row] = ("yshj2020" if sheet[f"C{row}"].value == "推进教育收费公开" else "zwgk2020", progress)
    book.save(tmp_path / "all.xlsx")
    back = three.json("sheet", "import", str(tmp_path / "all.xlsx"), "--today", "2020-09-21")
    assert {c["row"]: (c["plan"], c["to_progress"]) for c in back["changes"]} == expected
    assert sorted(plan for plan, _ in expected.values()) == ["yshj2020", "zwgk2020"]
    feed = three.json("ical", "--plan", "yshj2020", "--out", str(tmp_path / "营商.ics"), "--today", "2020-09-21")
    assert {e["item"] for e in feed["events"]} == {"yshj2020:1", "yshj2020:2", "yshj2020:3"}
    refused = three("ical", "--plan", "nosuch", "--out", str(tmp_path / "x.ics"), ok=False)
    assert refused.exit_code == 1 and "未知的计划代码" in refused.stderr


# ---------------------------------------------------------------------------------------------------- upgrade

_KEPT = {  # what the upgrade must not change: every row of these tables, in these columns
    "assignment": "id, item_id, unit_id, role, state, progress, completed_on, note, evidence, extended_due, retired",
    "journalentry": "id, at, actor, action, item_key, unit_name, assignment_id, from_state, to_state, note, details",
    "notice": "id, assignment_id, due_on, stage, rank, sent_on, message_id",
    "outboxmessage": "id, kind, run_date, recipient, subject, message_id, state, attempts, sent_at",
    "outboxbody": "id, raw",
    "reportrun": "id, week, as_of, message_id",
    "event": "id, \"key\", name, occurred_on",
    "item": "id, \"key\", task_id, title, deadline_text, retired",
}


def _rows(url: str) -> dict[str, list[tuple]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = {t: [tuple(r) for r in conn.execute(text(f"SELECT {cols} FROM {t} ORDER BY id"))] for t, cols in _KEPT.items()}
    engine.dispose()
    return found


def test_upgrade_from_0009_keeps_every_status_journal_ledger_and_outbox_row(seeded, smtp_server):
    from tests.test_database_state import _downgrade

    use_smtp(seeded, smtp_server.port)
    seeded("status", "1.义务教育", "--unit", "狮山镇", "--set", "done", "--on", "2020-09-20", "--today", "2020-09-21")
    seeded("status", "2", "--unit", "县财政局", "--progress", "30", "--note", "已起草", "--today", "2020-09-21")
    seeded("extend", "9", "--unit", "环州乡", "--to", "2021-08-31", "--reason", "县政府办批复同意", "--today", "2020-09-21")
    seeded("event", "record", "E1", "--on", "2020-09-15", "--today", "2020-09-21")
    seeded("run", "--once", "--today", "2020-09-21")  # a Monday: reminders and the weekly report
    url = seeded.absolute_url
    _downgrade(make_engine(url), "0009")  # the database as the previous release left it, its data kept
    engine = make_engine(url)
    assert "plan_id" not in {c["name"] for c in inspect(engine).get_columns("item")}
    engine.dispose()
    before = _rows(url)
    assert before["reportrun"] and before["notice"] and before["outboxmessage"] and len(before["journalentry"]) >= 4
    assert seeded.json("db", "upgrade") == {"from": "0009", "to": head_revision(), "changed": True}
    assert _rows(url) == before
    assert [(p["plan"], p["state"]) for p in seeded.json("plans", "list", "--today", "2020-09-21")] == [("zwgk2020", "active")]
    shown = seeded.json("show", "1.义务教育", "--today", "2020-09-21")
    assert [a["status"] for a in shown["assignments"] if a["unit"] == "狮山镇人民政府"] == ["done"]
    assert [e["action"] for e in seeded.json("history", "zwgk2020:9")] == ["extend"]
    assert [e["via"] for e in seeded.json("history", "3")] == ["event"]
    assert seeded.json("remind", "--dry-run", "--today", "2020-09-21") == []  # the ledger still holds today's stages
    # a second plan can now join
    assert seeded.json("plans", "show", "zwgk2020")["items"] == 34


def test_upgrade_names_a_plan_of_another_file_plan1_and_ties_its_rows_to_it(cli):
    from tracker.db import upgrade_database

    engine = make_engine(cli.absolute_url)
    assert upgrade_database(engine, "0009") == (None, "0009")
    with engine.begin() as conn:  # what the previous release held for another county's plan
        conn.execute(text("INSERT INTO plan (id, title, source, checksum, plan_year, county, domain_row_principals, "
                          "lead_does_work, starts_on) VALUES (1, '某县计划', '/data/某县.docx', 'x', 2021, '某县', 'guiding', false, "
                          "'2021-03-01')"))
        conn.execute(text("INSERT INTO worktask (id, number, title, position, retired) VALUES (1, '1', '公开', 0, false)"))
        conn.execute(text(
            "INSERT INTO item (id, key, task_id, title, deadline_text, deadline, lead_text, principal_text, guiding_text, "
            "cooperating_text, leader_text, contact_text, inherited, source_line, position, retired) VALUES "
            "(1, '1', 1, '预算公开', '2021年6月底', '{\"kind\": \"fixed\", \"text\": \"2021年6月底\", \"due\": \"2021-06-30\"}', "
            "'', '县财政局', '', '', '', '', '[]', 5, 0, false)"))
        conn.execute(text("INSERT INTO event (id, key, name) VALUES (1, 'E1', '省级标准出台')"))
        conn.execute(text("INSERT INTO journalentry (id, at, actor, action, item_key, note, evidence, details) VALUES "
                          "(1, '2021-03-02 01:00:00', '张三', 'status', '1', '', '', '{}'), "
                          "(2, '2021-03-02 01:00:00', '张三', 'unit', NULL, '', '', '{}')"))
    engine.dispose()
    assert cli.json("db", "upgrade")["to"] == head_revision()
    check = create_engine(cli.absolute_url)
    with check.connect() as conn:
        assert conn.execute(text("SELECT code, state FROM plan")).all() == [("plan1", "active")]
        assert conn.execute(text("SELECT plan_id FROM item")).scalar() == 1
        assert conn.execute(text("SELECT plan_id FROM worktask")).scalar() == 1
        assert conn.execute(text("SELECT plan_id FROM event")).scalar() == 1
        assert conn.execute(text("SELECT id, plan_id FROM journalentry ORDER BY id")).all() == [(1, 1), (2, None)]
    check.dispose()
