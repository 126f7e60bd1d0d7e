"""Another county adopts the tracker: its directory from its own plan, its contact list in and out, its table's shape.

The county (青川县) and all its units are invented; they have the kinds a real county has: towns
and townships, a 街道, bureaus, centres, a state-owned company, villages and 社区.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import text

from tracker.db import head_revision, make_engine, upgrade_database

COUNTY = "青川县"
HEADER = ["序号", "工作任务", "具体措施", "牵头单位", "责任单位", "配合部门", "牵头领导", "责任人", "完成时限",
          "本月工作内容", "下月工作计划"]
TITLE = "青川县2026年度优化营商环境重点工作任务分解表"
# The shape an online office suite exports: an empty first row, a title merged across one cell, the task
# cells (序号, 工作任务) repeated on every measure row, several names in a cell on separate lines,
# deadlines without a year, empty monthly-report columns.
ROWS = [
    ["1", "优化政务服务", "1.推行“一网通办”", "县政务服务中心", "县数据局", "县财政局", "王明", "李华\n张丽", "6月底前", "", ""],
    ["1", "优化政务服务", "2.推进帮办代办", "县政务服务中心", "各乡镇（街道）", "县司法局", "王明", "赵强", "9月底前", "", ""],
    ["1", "优化政务服务", "3.清理证明事项", "县司法局", "各部门", "", "王明", "赵强", "10月底前", "", ""],
    ["2", "加强要素保障", "4.保障项目用地", "县自然资源局", "县自然资源局\n清溪镇\n石门乡\n白鹭街道",
     "青川县城市建设投资集团有限公司", "陈刚", "周敏", "12月底前", "", ""],
    ["3", "完善基层服务", "5.建设便民服务站", "县民政局", "白鹭街道锦华社区\n清溪镇红岩村\n县融媒体中心\n县委",
     "", "陈刚", "吴迪", "年底前", "", ""],
]


def dump(rows: list[list[str]], preamble: list[str] = ()) -> str:
    """A table in the text-dump format (tracker/tablefile.py): each cell a line starting with TAB, rows end with an empty line."""
    lines = list(preamble)
    for row in rows:
        for cell in row:
            first, *rest = cell.split("\n")
            lines += ["\t" + first, *rest]
        lines.append("")
    return "\n".join(lines) + "\n"


def online_plan(tmp_path: Path, rows: list[list[str]] = ROWS) -> Path:
    path = tmp_path / "分解表.txt"
    path.write_text(dump([[""] * len(HEADER), [TITLE], HEADER, *rows]), encoding="utf-8")
    return path


def test_a_new_county_starts_from_its_own_plan(cli, tmp_path):
    plan = online_plan(tmp_path)
    result = cli.json("init", "--county", COUNTY, "--plan", str(plan), "--units-from-plan", "--start", "2026-01-05")
    units = {u["name"]: u for u in cli.json("units", "list")}
    kinds = {name: u["kind"] for name, u in units.items()}
    assert kinds == {
        "青川县人民政府": "county_government", "青川县人民政府办公室": "office",
        "青川县政务服务中心": "department", "青川县数据局": "department", "青川县财政局": "department",
        "青川县司法局": "department", "青川县自然资源局": "department",
        "青川县城市建设投资集团有限公司": "department", "青川县民政局": "department", "青川县融媒体中心": "department",
        "清溪镇人民政府": "township", "石门乡人民政府": "township", "白鹭街道办事处": "township",
        "白鹭街道锦华社区": "village", "清溪镇红岩村": "village",
        "县委": "unclassified",
    }
    # the county prefix is stripped for the short names the plan uses
    assert "县财政局" in units["青川县财政局"]["aliases"]
    assert {"县政府办公室", "县政府办"} <= set(units["青川县人民政府办公室"]["aliases"])
    assert units["清溪镇人民政府"]["aliases"] == ["清溪镇"] and units["白鹭街道办事处"]["aliases"] == ["白鹭街道"]
    # villages and 社区 sit under the town their name starts with; the county government is reached via its office
    assert units["清溪镇红岩村"]["parent"] == "清溪镇人民政府" and units["白鹭街道锦华社区"]["parent"] == "白鹭街道办事处"
    assert units["青川县人民政府"]["via"] == "青川县人民政府办公室"
    # the one name it cannot classify is listed with its line, not guessed
    found = result["units_from_plan"]
    assert [(u["name"]) for u in found["unclassified"]] == ["县委"]
    assert plan.read_text("utf-8").splitlines()[found["unclassified"][0]["line"] - 1] == "县委"
    assert result["units_without_email"]["count"] == len(units)
    assert set(found["added_groups"]) == {"各乡镇（街道）", "各部门", "各乡镇（街道）各部门", "各村（社区）", "县级有关部门"}

    # the usual groups expand by kind: item 2 goes to the three townships, item 3 to every department
    principals = {i["key"]: {a["unit"] for a in i["assignments"]} for i in cli.json("items", "list", "--today", "2026-03-02")}
    assert principals["2"] == {"白鹭街道办事处", "石门乡人民政府", "清溪镇人民政府"}
    assert principals["3"] == {n for n, k in kinds.items() if k in ("department", "office")}

    # the operator sets the kind of what could not be classified; it joins 各部门 and gets item 3
    changed = cli.json("units", "set", "县委", "--kind", "department")
    assert changed["kind"] == "department" and {"item": "3", "role": "principal"} in changed["added_assignments"]
    principals = {i["key"]: {a["unit"] for a in i["assignments"]} for i in cli.json("items", "list", "--today", "2026-03-02")}
    assert "县委" in principals["3"]


def test_the_contact_list_goes_in_and_comes_back_out(cli, tmp_path):
    cli("init", "--county", COUNTY, "--plan", str(online_plan(tmp_path)), "--units-from-plan", "--start", "2026-01-05")
    book = Workbook()
    sheet = book.active
    sheet.append(["青川县政府系统通讯录"])  # a title row above the header
    # columns in the office's own order and words
    sheet.append(["序号", "单位", "联系人", "手机", "电子邮件", "简称", "上级单位", "备注"])
    sheet.append([1, "县财政局", "张三", 13812345678, "czj@qingchuan.gov.cn", "", "", ""])
    sheet.append([2, "清溪镇人民政府", "李四", "0839-8123456", "qxz@qingchuan.gov.cn、qxzdzb@qingchuan.gov.cn", "", "", ""])
    sheet.append([3, "青川县文化旅游和体育局", "王五", "13912345678", "wlj@qingchuan.gov.cn", "县文旅局", "", ""])
    sheet.append([4, "清溪镇白云村", "赵六", "13712345678", "", "", "", ""])
    sheet.append([5, "白鹭街道锦华社区", "孙七", "", "", "", "白鹭街道", ""])
    sheet.append([6, "青川县数据局", "周八", "0839-8123457", "sjj@qingchuan.gov.cn", "", "", ""])
    sheet.append([7, "石桥镇新华村", "吴九", "", "", "", "", ""])  # a village listed above its town, both new
    sheet.append([8, "石桥镇", "郑十", "", "sqz@qingchuan.gov.cn", "", "", ""])
    sheet.append([None, None, None, None, None, None, None, None])
    path = tmp_path / "通讯录.xlsx"
    book.save(path)

    preview = cli.json("units", "import", str(path), "--dry-run")
    added = ["清溪镇白云村", "石桥镇人民政府", "石桥镇新华村", "青川县文化旅游和体育局"]
    assert preview["dry_run"] is True and sorted(preview["added"]) == added
    assert cli.json("units", "show", "县财政局")["emails"] == []  # the preview changed nothing

    typo = tmp_path / "错字.csv"
    typo.write_text("单位名称,邮箱\n县才政局,czt@qingchuan.gov.cn\n", encoding="utf-8")
    warned = cli.json("units", "import", str(typo), "--dry-run")
    assert warned["added"] == ["青川县才政局"] and "“县财政局”很像" in warned["warnings"][0]

    loaded = cli.json("units", "import", str(path))
    assert sorted(loaded["added"]) == added
    assert {u["unit"] for u in loaded["updated"]} == {"青川县财政局", "清溪镇人民政府", "白鹭街道锦华社区", "青川县数据局"}
    finance = cli.json("units", "show", "县财政局")
    assert (finance["contact"], finance["phone"], finance["emails"]) == ("张三", "13812345678", ["czj@qingchuan.gov.cn"])
    assert cli.json("units", "show", "清溪镇")["emails"] == ["qxz@qingchuan.gov.cn", "qxzdzb@qingchuan.gov.cn"]
    culture = cli.json("units", "show", "县文旅局")  # the alias from the 简称 column resolves
    assert culture["name"] == "青川县文化旅游和体育局" and culture["kind"] == "department"
    village = cli.json("units", "show", "清溪镇白云村")
    assert (village["kind"], village["parent"]) == ("village", "清溪镇人民政府")  # kind and town read from the name
    assert cli.json("units", "show", "石桥镇新华村")["parent"] == "石桥镇人民政府"
    # the new town joined 各乡镇（街道） and got item 2
    assert {"item": "2", "role": "principal"} in _duties(cli.json("units", "show", "石桥镇"))
    # the new village joined 各村（社区）... nothing in this plan names that group, so it has no duties; the new
    # bureau joined 各部门 and got item 3
    assert {"item": "3", "role": "principal"} in _duties(culture)

    # the addresses are used: the data bureau's item 1 is due on 2026-06-30, and its reminder goes to the address loaded
    digests = cli.json("remind", "--dry-run", "--today", "2026-06-30")
    assert [(d["recipient"], d["to"], [e["item"] for e in d["entries"]]) for d in digests] == [
        ("青川县数据局", ["sjj@qingchuan.gov.cn"], ["1"])]

    out = tmp_path / "导出.xlsx"
    cli("units", "export", "--out", str(out))
    exported = [list(r) for r in load_workbook(out).active.iter_rows(values_only=True)]
    assert exported[0] == ["单位名称", "类别", "简称/别名", "上级单位", "联系人", "电话", "邮箱"]
    by_name = {r[0]: r for r in exported[1:]}
    assert len(by_name) == len(cli.json("units", "list"))
    assert by_name["青川县财政局"] == ["青川县财政局", "县级部门", "县财政局", None, "张三", "13812345678", "czj@qingchuan.gov.cn"]
    assert by_name["清溪镇白云村"][1:4] == ["村（居）委会", None, "清溪镇人民政府"]
    # the same layout loads back and changes nothing
    again = cli.json("units", "import", str(out))
    assert again["added"] == [] and again["updated"] == [] and again["unchanged"] == len(by_name)
    csv_out = tmp_path / "导出.csv"
    cli("units", "export", "--out", str(csv_out))
    with csv_out.open(encoding="utf-8-sig", newline="") as handle:
        assert next(csv.reader(handle)) == exported[0]
    assert cli.json("units", "import", str(csv_out))["unchanged"] == len(by_name)


def test_a_bad_contact_list_names_every_bad_cell_and_changes_nothing(cli, tmp_path):
    cli("init", "--county", COUNTY, "--plan", str(online_plan(tmp_path)), "--units-from-plan", "--start", "2026-01-05")
    path = tmp_path / "通讯录.csv"
    path.write_text(
        "单位名称,联系人,电话/手机,邮箱\n"
        "县财政局,张三,13812345678,czj@qingchuan.gov.cn\n"
        "县司法局,李四,1381234,sfj@qingchuan.gov.cn\n"
        "县民政局,王五,13912345678,mzj@@qingchuan\n"
        "县财政局,赵六,,\n"
        "各部门,钱七,,\n"
        "县文旅局,孙九,,\n"
        "青川县文旅局,周十,,\n"
        "县第一人民医院某科室负责人,孙八,,\n", encoding="gbk")
    before = cli.snapshot()
    refused = cli("units", "import", str(path), ok=False)
    assert refused.exit_code == 1
    message = refused.stderr
    assert "6 处问题" in message and "未做任何改动" in message
    assert "第 8 行 A8 单位名称“青川县文旅局”：与第 7 行重复" in message
    for expected in ("第 3 行 C3 电话“1381234”", "第 4 行 D4 邮箱“mzj@@qingchuan”", "第 5 行 A5 单位名称“县财政局”：与第 2 行重复",
                     "第 6 行 A6 单位名称“各部门”", "第 9 行"):
        assert expected in message, expected
    assert cli.snapshot() == before


def test_an_online_suite_table_reads_as_tasks_with_several_items(cli, tmp_path):
    plan = online_plan(tmp_path)
    init = cli.json("init", "--county", COUNTY, "--plan", str(plan), "--units-from-plan", "--start", "2026-01-05")
    assert init["tasks"] == 3 and init["items"] == 5  # rows repeating 序号 and task are items of one task
    items = {i["key"]: i for i in cli.json("items", "list", "--today", "2026-03-02")}
    assert [(k, i["task"]) for k, i in items.items()] == [
        ("1", "优化政务服务"), ("2", "优化政务服务"), ("3", "优化政务服务"), ("4", "加强要素保障"), ("5", "完善基层服务")]
    # the year comes from the title "2026年度…"; "年底前" is the end of that year
    assert [items[k]["due"] for k in "12345"] == ["2026-06-30", "2026-09-30", "2026-10-31", "2026-12-31", "2026-12-31"]
    # four names on four lines are four units
    assert {a["unit"] for a in items["4"]["assignments"]} == {"青川县自然资源局", "清溪镇人民政府", "石门乡人民政府", "白鹭街道办事处"}
    # 配合部门 is the cooperating role; 牵头领导 and 责任人 are people kept on the item, never units
    one = cli.json("show", "1", "--today", "2026-03-02")
    assert one["guiding"] == ["青川县财政局"]
    assert (one["leader"], one["contact"]) == ("王明", "李华、张丽")
    assert _duties(cli.json("units", "show", "县财政局")) == [
        {"item": "1", "role": "cooperating"}, {"item": "3", "role": "principal"}]  # item 3 through 各部门
    names = {u["name"] for u in cli.json("units", "list")}
    assert not names & {"王明", "李华", "张丽", "陈刚"}
    shown = cli("show", "1", "--today", "2026-03-02").stdout
    assert "牵头领导：王明" in shown and "责任人：李华、张丽" in shown
    # the monthly-report columns are recognised and left alone
    preview = cli("import", str(plan), "--dry-run").stdout
    assert "月报填写列（不导入）：本月工作内容、下月工作计划" in preview and "没有任何变化" in preview


def test_a_repeated_number_with_another_task_is_refused(cli, tmp_path):
    rows = [ROWS[0], ["1", "加强要素保障", *ROWS[1][2:]]]
    plan = online_plan(tmp_path, rows)
    refused = cli("init", "--county", COUNTY, "--plan", str(plan), "--units-from-plan", ok=False)
    assert refused.exit_code == 1
    assert "序号“1”与上一行相同，但工作任务不同" in refused.stderr
    line = int(refused.stderr.split("第 ")[1].split(" 行")[0])
    assert plan.read_text("utf-8").splitlines()[line - 1] == "\t1"


def test_unknown_group_words_are_refused_with_their_line(cli, tmp_path):
    rows = [[*ROWS[0][:4], "各县级领导", *ROWS[0][5:]]]
    refused = cli("init", "--county", COUNTY, "--plan", str(online_plan(tmp_path, rows)), "--units-from-plan", ok=False)
    assert refused.exit_code == 1 and "不认识的单位组" in refused.stderr and "“各县级领导”" in refused.stderr


def test_units_from_plan_adds_what_an_existing_directory_lacks(seeded, tmp_path):
    cli = seeded
    header = ["序号", "工作任务", "责任单位", "时限要求"]
    plan = tmp_path / "新计划.txt"
    plan.write_text(dump([header, ["1", "推进数字乡村建设", "武定县财政局\n狮山镇某某社区\n县融媒体中心", "2020年12月底"]]),
                    encoding="utf-8")
    refused = cli("import", str(plan), ok=False)
    assert refused.exit_code == 1
    before = cli.snapshot()
    preview = cli.json("units", "from-plan", str(plan), "--dry-run")
    assert cli.snapshot() == before
    assert preview["already_known"] == 0 and preview["county"] == "武定县"
    # the directory calls it 县财政局; the plan's full name becomes its alias, not a second unit
    assert preview["added_aliases"] == [{"unit": "县财政局", "alias": "武定县财政局"}]
    assert [(u["name"], u["kind"], u["parent"]) for u in preview["added_units"]] == [
        ("武定县融媒体中心", "department", None), ("狮山镇某某社区", "village", "狮山镇人民政府")]
    assert preview["added_groups"] == []  # the directory's own groups stay; no duplicates of them
    cli("units", "from-plan", str(plan))
    assert cli.json("units", "show", "县融媒体中心")["name"] == "武定县融媒体中心"
    assert cli.json("units", "show", "武定县财政局")["name"] == "县财政局"
    cli("import", str(plan))
    assert {a["unit"] for a in cli.json("show", "新计划:1", "--today", "2020-11-02")["assignments"]} == {
        "县财政局", "狮山镇某某社区", "武定县融媒体中心"}


@pytest.mark.parametrize(("name", "kind", "full"), [
    ("某某县人民政府", "county_government", "某某县人民政府"),
    ("县政府办", "office", "某某县人民政府办公室"),
    ("县财政局", "department", "某某县财政局"),
    ("某某县发展和改革局", "department", "某某县发展和改革局"),
    ("县融媒体中心", "department", "某某县融媒体中心"),
    ("县人民医院", "department", "某某县人民医院"),
    ("县消防救援大队", "department", "某某县消防救援大队"),
    ("县供销合作社", "department", "某某县供销合作社"),
    ("县总工会", "department", "某某县总工会"),
    ("某某县城市建设投资集团有限公司", "department", "某某县城市建设投资集团有限公司"),
    ("州生态环境局某某分局", "department", "州生态环境局某某分局"),
    ("甲镇", "township", "甲镇人民政府"),
    ("乙乡人民政府", "township", "乙乡人民政府"),
    ("丙彝族乡", "township", "丙彝族乡人民政府"),
    ("丁街道", "township", "丁街道办事处"),
    ("某某县丁街道办事处", "township", "丁街道办事处"),
    ("甲镇红岩村", "village", "甲镇红岩村"),
    ("丁街道锦华社区", "village", "丁街道锦华社区"),
    ("甲镇红岩村民委员会", "village", "甲镇红岩村民委员会"),
    ("县委", None, None),
    ("张三", None, None),
    ("甲镇卫生院", None, None),
    ("各乡镇", None, None),
])
def test_names_are_classified_by_their_form(name, kind, full):
    from tracker.unit_naming import classify

    found = classify(name, "某某县", {"甲镇": "甲镇人民政府", "丁街道": "丁街道办事处"})
    assert (found.kind, found.name) == (kind, full) if kind else found is None


@pytest.mark.parametrize(("cell", "names"), [
    ("各乡镇\n各部门", ["各乡镇", "各部门"]),
    ("各乡镇\n人民政府", ["各乡镇人民政府"]),
    ("县财政局\n县税务局", ["县财政局", "县税务局"]),
    ("县人力资源和社会\n保障局", ["县人力资源和社会保障局"]),
    ("县财政局县税务局", ["县财政局", "县税务局"]),
    ("甲镇\n乙乡、丁街道", ["甲镇", "乙乡", "丁街道"]),
    ("县残联\n县委", ["县残联", "县委"]),
    ("某某县财政局\n甲镇乙社区\n县融媒体中心", ["某某县财政局", "甲镇乙社区", "县融媒体中心"]),
])
def test_cells_split_into_names(cell, names):
    from tracker.unit_naming import split_names

    assert split_names(cell, "某某县") == names


def test_a_database_of_the_previous_revision_gains_the_people_columns(cli, tmp_path):
    engine = make_engine(cli.absolute_url)
    upgrade_database(engine, "0003")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO plan (id, title, source, checksum, plan_year, county, domain_row_principals, "
                          "lead_does_work) VALUES (1, '旧计划', 'old.txt', 'x', 2026, '青川县', 'guiding', true)"))
        conn.execute(text("INSERT INTO worktask (id, number, title, position, retired) VALUES (1, '1', '优化政务服务', 0, false)"))
        conn.execute(text(
            "INSERT INTO item (id, key, task_id, title, deadline_text, deadline, lead_text, principal_text, guiding_text, "
            "cooperating_text, inherited, source_line, position, retired) VALUES (1, '1', 1, '推行一网通办', '2026年6月底', "
            "'{\"kind\": \"fixed\", \"due\": \"2026-06-30\", \"text\": \"2026年6月底\"}', '', '', '', '', '[]', 3, 0, false)"))
    engine.dispose()
    assert cli.json("db", "upgrade") == {"from": "0003", "to": head_revision(), "changed": True}
    shown = cli.json("show", "1", "--today", "2026-03-02")
    assert (shown["title"], shown["due"], shown["leader"], shown["contact"]) == ("推行一网通办", "2026-06-30", "", "")


def test_the_shape_pre_pass_works_on_any_table_reader():
    """A reader of .xlsx gives full-width rows: the title row and an empty row are as wide as the table."""
    from tracker.importer import _columns, column_of
    from tracker.table_shape import drop_title_rows, unrepeat_tasks
    from tracker.tablefile import Cell, Row, Table

    def row(line: int, *texts: str) -> Row:
        return Row([Cell(t, line) for t in texts])

    table = Table(header=row(1, "", "", "", ""), rows=[
        row(2, TITLE, "", "", ""),
        row(3, "序号", "工作任务", "责任单位", "完成时限"),
        row(4, "1", "优化政务服务", "县数据局", "6月底前"),
        row(5, "1", "优化政务服务", "县财政局", "9月底前"),
        row(6, "", "", "", ""),
        row(7, "2", "加强要素保障", "县自然资源局", "年底前"),
    ])
    shaped = drop_title_rows(table, column_of)
    assert shaped.preamble == [TITLE] and shaped.header.line == 3
    columns = _columns(shaped.header, "x.xlsx")
    rows = unrepeat_tasks(shaped.rows, columns, "x.xlsx")
    assert [[c.text for c in r.cells] for r in rows] == [
        ["1", "优化政务服务", "县数据局", "6月底前"], ["", "", "县财政局", "9月底前"], ["2", "加强要素保障", "县自然资源局", "年底前"]]


def test_a_group_the_plan_uses_without_naming_its_members_is_pointed_out(cli, tmp_path):
    rows = [ROWS[1]]  # 各乡镇（街道）, but no town is named anywhere
    result = cli("init", "--county", COUNTY, "--plan", str(online_plan(tmp_path, rows)), "--units-from-plan")
    assert "单位组“各乡镇（街道）”" in result.stderr and "tracker units import" in result.stderr
    as_json = cli.json("init", "--county", COUNTY, "--plan", str(online_plan(tmp_path, rows)), "--units-from-plan", "--force")
    assert as_json["units_from_plan"]["empty_groups"] == ["各乡镇（街道）"]


def test_contact_files_that_cannot_be_read_or_written_are_refused(cli, tmp_path):
    cli("init", "--county", COUNTY, "--plan", str(online_plan(tmp_path)), "--units-from-plan")
    broken = tmp_path / "坏的.xlsx"
    broken.write_bytes(b"not a workbook")
    old = tmp_path / "旧格式.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0")
    no_header = tmp_path / "无表头.csv"
    no_header.write_text("张三,13812345678\n", encoding="utf-8")
    for path, expected in ((broken, "不是有效的 Excel 工作簿"), (old, "请另存为 Excel 工作簿（.xlsx）"), (no_header, "找不到表头")):
        refused = cli("units", "import", str(path), ok=False)
        assert refused.exit_code == 1 and expected in refused.stderr, refused.stderr
    refused = cli("units", "export", "--out", str(tmp_path / "没有的文件夹" / "通讯录.xlsx"), ok=False)
    assert refused.exit_code == 1 and "无法写入" in refused.stderr


def test_a_contact_list_with_full_names_updates_a_directory_of_short_names(seeded, tmp_path):
    path = tmp_path / "通讯录.csv"
    path.write_text("单位名称,联系人,邮箱\n武定县财政局,张三,czj@wuding.gov.cn\n", encoding="utf-8")
    result = seeded.json("units", "import", str(path))
    assert result["added"] == [] and result["updated"] == [{"unit": "县财政局", "fields": ["邮箱", "联系人"]}]
    assert seeded.json("units", "show", "县财政局")["emails"] == ["czj@wuding.gov.cn"]


def _duties(shown: dict) -> list[dict]:
    """A unit's assignments as (item, role), the plan (there is one) left out."""
    return [{"item": a["item"], "role": a["role"]} for a in shown["assignments"]]
