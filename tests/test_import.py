import datetime as dt
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from sqlalchemy import create_engine, inspect
from hypothesis import strategies as st

from tests.conftest import SEED_ANNEX1, SHARED_SEED
from tracker.db import create_database, make_engine, write_session
from tracker.directory import Directory, bundled_directory_path, read_directory_file, store_directory
from tracker.errors import TrackerError
from tracker.importer import parse_plan
from tracker.models import Plan

TOWNSHIPS = ["狮山镇人民政府", "高桥镇人民政府", "猫街镇人民政府", "插甸镇人民政府", "白路镇人民政府", "万德镇人民政府",
             "己衣镇人民政府", "田心乡人民政府", "发窝乡人民政府", "环州乡人民政府", "东坡傣族乡人民政府"]


def by_key(items):
    return {i["key"]: i for i in items}


def test_seed_imports_to_the_structure_of_annex_1(seeded):
    items = by_key(seeded.json("items", "list", "--today", "2020-08-01"))
    domain_rows = [i for i in items.values() if i["domain"]]
    assert len(domain_rows) == 18
    assert len([k for k in items if "." not in k]) == 16
    assert len({i["task"] for i in items.values()}) == 9
    assert sum(len(i["assignments"]) for i in domain_rows) == 216
    edu = items["1.义务教育"]
    assert sorted(a["unit"] for a in edu["assignments"]) == sorted([*TOWNSHIPS, "县教育体育局"])
    assert edu["guiding"] == ["县教育体育局"] and edu["lead"] == ["县人民政府"]
    assert edu["due"] == "2020-09-30" and edu["deadline_text"] == "2020年9月底"
    assert items["1.公共资源交易"]["guiding"] == ["县政务服务管理局"]
    assert all(i["due"] == "2020-09-30" for i in domain_rows)
    # blank cells are merged cells: (2), (5)-(11), (15)-(16) lead 县人民政府, principals 各乡镇各部门
    for key in ["2", "5", "6", "7", "8", "9", "10", "11", "15", "16"]:
        assert items[key]["lead"] == ["县人民政府"], key
        assert len(items[key]["assignments"]) == 11 + 19, key
    for key in ["5", "6", "7", "8", "9", "14", "15", "16"]:
        assert items[key]["guiding"] == ["县政府办公室"], key
    assert items["11"]["guiding"] == ["县政务服务管理局"]
    assert items["13"]["lead"] == TOWNSHIPS and items["13"]["guiding"] == ["县政府办公室"]
    assert items["13"]["assignments"] == []  # no village committees yet
    assert items["3"]["deadline"]["kind"] == "after_event" and items["3"]["due"] is None
    assert items["4"]["deadline"]["kind"] == "after_item" and items["4"]["waiting_for"].startswith("等待事项 3")
    assert items["2"]["guiding"] == ["县政府办公室"]  # written 县政府办 in the table


def test_village_committees_become_principals_of_13_when_added(seeded):
    seeded("units", "add", "狮山镇东村村民委员会", "--parent", "狮山镇")
    result = seeded("units", "add", "田心乡西村村民委员会", "--kind", "village", "--parent", "田心乡人民政府", "--json")
    assert '"item": "13"' in result.stdout
    items = by_key(seeded.json("items", "list", "--today", "2020-08-01"))
    assert sorted(a["unit"] for a in items["13"]["assignments"]) == ["狮山镇东村村民委员会", "田心乡西村村民委员会"]
    assert len(items["12"]["assignments"]) == 2


def test_init_summary_and_warnings(cli):
    result = cli("init")
    assert "工作任务 9 项，事项 34 个（含领域行 18 个）" in result.stdout
    assert "外部事件 E1：国务院部门其他领域标准指引出台" in result.stdout
    assert "县级有关部门" in result.stderr and "事项 12、13" in result.stderr
    again = cli("init", ok=False)
    assert again.exit_code == 1 and "--force" in again.stderr


def test_the_whole_seed_with_annex_2_imports_the_same(seeded):
    before = seeded.snapshot()
    result = seeded("import", str(SHARED_SEED))
    assert "没有任何变化" in result.stdout
    after = seeded.snapshot()
    unchanged = [t for t in before if t not in ("journalentry", "plan")]
    assert {t: after[t] for t in unchanged} == {t: before[t] for t in unchanged}


def test_reimport_is_idempotent(seeded):
    before = seeded.snapshot()
    data = seeded.json("import", str(SEED_ANNEX1))
    assert data["unchanged"] is True
    assert seeded.snapshot() == before


def _edited_seed(tmp_path: Path) -> Path:
    text = SEED_ANNEX1.read_text("utf-8")
    text = text.replace("\t县税务局\n\t\n", "\t县财政局\n\t\n", 1)  # 税收管理 now guided by 县财政局
    text = text.replace("\t2021年6月底\n\n\t7\n", "\t2021年9月底\n\n\t7\n", 1)  # item 9's deadline
    path = tmp_path / "changed.txt"
    path.write_text(text, "utf-8")
    return path


def test_changed_file_prints_the_difference_and_keeps_status(seeded, tmp_path):
    seeded("status", "1.税收管理", "--unit", "狮山镇", "--set", "done", "--on", "2020-09-10", "--today", "2020-09-15")
    seeded("status", "1.税收管理", "--unit", "县税务局", "--set", "in-progress", "--progress", "40", "--today", "2020-09-15")
    changed = _edited_seed(tmp_path)
    before = seeded.snapshot()
    preview = seeded("import", str(changed), "--dry-run")
    assert "↑" in preview.stdout and "数据库没有任何改动" in preview.stdout
    assert seeded.snapshot() == before
    diff = seeded.json("import", str(changed))
    assert {"item": "1.税收管理", "unit": "县财政局", "role": "principal"} in diff["added_assignments"]
    assert {"item": "1.税收管理", "unit": "县税务局", "role": "principal"} in diff["removed_assignments"]
    assert {"item": "9", "fields": ["完成时间"]} in diff["changed_items"]
    items = by_key(seeded.json("items", "list", "--today", "2020-09-15"))
    tax = {a["unit"]: a for a in items["1.税收管理"]["assignments"]}
    assert tax["狮山镇人民政府"]["state"] == "done" and tax["狮山镇人民政府"]["completed_on"] == "2020-09-10"
    assert "县税务局" not in tax and tax["县财政局"]["state"] == "not_started"
    assert items["9"]["due"] == "2021-09-30"
    history = seeded.json("history", "1.税收管理")
    assert [h["action"] for h in history] == ["status", "status", "retire", "retire"]
    assert sorted((h["unit"], h["details"]["role"]) for h in history[2:]) == [("县税务局", "guiding"), ("县税务局", "principal")]
    # importing the original again restores 县税务局 with the status it had
    seeded("import", str(SEED_ANNEX1))
    tax = {a["unit"]: a for a in by_key(seeded.json("items", "list", "--today", "2020-09-15"))["1.税收管理"]["assignments"]}
    assert tax["县税务局"]["state"] == "in_progress" and tax["县税务局"]["progress"] == 40


def test_dry_run_on_a_fresh_database_changes_nothing(seeded):
    before = seeded.snapshot()
    seeded("import", str(SEED_ANNEX1), "--dry-run")
    assert seeded.snapshot() == before


def test_minimal_table_with_other_column_names(cli, tmp_path):
    plan = tmp_path / "plan.txt"
    plan.write_text(
        "某县重点工作分工\n\n\t序号\n\t工作任务\n\t责任单位\n\t时限要求\n\n"
        "\t1\n\t制定年度工作要点\n\t县政府办\n\t2021年3月底前\n\n"
        "\t2\n\t开展业务培训\n\t各乡镇\n\t年底前\n\n"
        "\t3\n\t公开财政预决算\n\t县财政局、县税务局\n\t批复后20日内\n\n"
        "\t4\n\t持续推进政务公开\n\t\n\t持续推进\n",
        "utf-8",
    )
    cli("init", "--plan", str(plan))
    items = by_key(cli.json("items", "list", "--today", "2021-01-04"))
    assert list(items) == ["1", "2", "3", "4"]
    assert [a["unit"] for a in items["1"]["assignments"]] == ["县政府办公室"]
    assert len(items["2"]["assignments"]) == 11 and items["2"]["due"] == "2021-12-31"
    assert [a["unit"] for a in items["3"]["assignments"]] == ["县财政局", "县税务局"]
    assert items["3"]["deadline"]["days"] == 20
    assert len(items["4"]["assignments"]) == 2 and items["4"]["assignments"][0]["status"] == "ongoing"


def test_gbk_file_is_detected(cli, tmp_path):
    gbk = tmp_path / "gbk.txt"
    gbk.write_bytes(SEED_ANNEX1.read_text("utf-8").encode("gbk"))
    result = cli("init", "--plan", str(gbk))
    assert "编码 gbk" in result.stdout and "事项 34 个" in result.stdout


def _bad(tmp_path: Path, name: str, content: bytes | str | None) -> Path:
    path = tmp_path / name
    if content is None:
        return path
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


SEED_TEXT = SEED_ANNEX1.read_text("utf-8")


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("unknown-unit.txt", SEED_TEXT.replace("\t县公安局\n", "\t县公安厅\n", 1), ["第 38 行", "县公安厅", "县公安局"]),
        ("bad-deadline.txt", SEED_TEXT.replace("\t2020年10月底\n", "\t2020年10月中下旬\n", 1), ["第 182 行", "2020年10月中下旬"]),
        ("short-row.txt", SEED_TEXT.replace("\t\n\t县政务服务管理局\n\t2020年12月底", "\t县政务服务管理局\n\t2020年12月底", 1),
         ["第 243 行", "单元格"]),
        ("empty.txt", "", ["文件是空的"]),
        ("binary.docx", b"PK\x03\x04\x00\x00binary", ["已损坏"]),
        ("latin.txt", b"\t\xff\xfe\xfd\xfc\x80\n", ["既不是 UTF-8", "GBK"]),
        ("missing.txt", None, ["找不到这个文件"]),
        ("no-table.txt", "只是一段文字\n没有表格\n", ["没有找到表格"]),
        ("no-deadline-column.txt", "\t序号\n\t工作任务\n\t责任单位\n\n\t1\n\t某事\n\t县财政局\n", ["完成时间列"]),
    ],
)
def test_bad_input_is_a_clear_error_and_changes_nothing(seeded, tmp_path, name, content, expected):
    path = _bad(tmp_path, name, content)
    before = seeded.snapshot()
    result = seeded("import", str(path), ok=False)
    assert result.exit_code == 1
    assert result.stderr.startswith("错误：")
    assert str(path) in result.stderr
    for fragment in expected:
        assert fragment in result.stderr, (fragment, result.stderr)
    assert "Traceback" not in result.output
    assert seeded.snapshot() == before


def test_bad_plan_at_init_leaves_no_database(cli, tmp_path):
    path = _bad(tmp_path, "bad.txt", SEED_TEXT.replace("\t县公安局\n", "\t县公安厅\n", 1))
    result = cli("init", "--plan", str(path), ok=False)
    assert result.exit_code == 1
    assert not inspect(create_engine(cli.absolute_url)).get_table_names()


def test_import_before_init_says_what_to_do(cli):
    result = cli("import", str(SEED_ANNEX1), ok=False)
    assert result.exit_code == 1 and "tracker init" in result.stderr


@pytest.fixture(scope="module")
def scratch_directory():
    engine = make_engine("sqlite://")
    create_database(engine)
    with write_session(engine) as session:
        session.add(Plan())
        store_directory(session, read_directory_file(bundled_directory_path()), now=dt.datetime(2020, 8, 1, tzinfo=dt.timezone.utc))
    with write_session(engine) as session:
        yield Directory.load(session)


_CELLS = st.sampled_from(["\t", "\t序号", "\t工作任务", "\t责任单位", "\t完成时间", "\t县财政局", "\t各乡镇", "\t2020年9月底",
                          "\t（1）某事", "\t持续推进", "\t未知单位", "\t批复后20日内", "", "继续", "\t1", "\t\t"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_CELLS, max_size=40) | st.lists(st.text(max_size=12), max_size=20))
def test_importer_raises_nothing_but_its_own_error(scratch_directory, lines):
    text = "\t序号\n\t工作任务\n\t责任单位\n\t完成时间\n\n" + "\n".join(lines) if lines[:1] == ["\t"] else "\n".join(lines)
    try:
        plan = parse_plan(text, "fuzz.txt", scratch_directory, plan_year=2020)
    except TrackerError:
        return
    assert Counter(i.key for i in plan.items).most_common(1)[0][1] == 1 if plan.items else True
