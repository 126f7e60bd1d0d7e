"""Annex 2 catalogues: reading the three formats, checking, accepting as evidence, and the template round trip.

Expectations come from the issue and the Annex 2 section of domain.md: the seed's two example rows pass;
each defect the office looks for is reported on its row; acceptance is refused while any row fails.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from openpyxl import load_workbook
from sqlalchemy import create_engine, text

from tests.conftest import SHARED_SEED
from tracker.catalogue_read import CHANNELS, parse_channels

UNIT = "县市场监管局"
ITEM = "1.食品药品监管"  # the domain row whose guiding department is the market supervision bureau
SEED_PUBLISHER = "市场监督管理行政审批相关责任部门、科室"
BASIS = "《中华人民共和国食品安全法》《中华人民共和国政府信息公开条例》"
DEADLINE = "信息形成或变更之日起20个工作日内"


def channel_cell(*ticked: str, other: str = "") -> str:
    """The channel cell as in the form: every choice with a box, the ticked ones ■."""
    return "\n".join(("■" if name in ticked else "□") + name + (f"：{other}" if name == "其他" and other else "")
                     for name in CHANNELS)


def row(number: str, level1: str, level2: str, **changes: str) -> list[str]:
    cells = {
        "number": number, "level1": level1, "level2": level2, "content": "许可事项、办理流程、办理结果", "basis": BASIS,
        "deadline": DEADLINE, "publisher": UNIT, "channels": channel_cell("政府网站", "政务服务中心"),
        "public": "√", "group": "", "active": "√", "request": "", "county": "√", "township": "",
    }
    cells.update(changes)
    return list(cells.values())


def dump(rows: list[list[str]]) -> str:
    """A text dump in the layout of the seed: the seed's own two header rows, then ``rows``."""
    lines = SHARED_SEED.read_text("utf-8").splitlines()
    start = lines.index("\t序号", lines.index("附件2："))
    end = lines.index("\t1", start)
    out = lines[start:end]
    for cells in rows:
        for cell in cells:
            first, *rest = cell.split("\n")
            out.append("\t" + first)
            out.extend(rest)
        out.append("")
    return "\n".join(out) + "\n"


def test_the_seeds_two_rows_pass_for_the_unit_that_hands_them_in(seeded):
    result = seeded("catalog", "check", str(SHARED_SEED), "--unit", UNIT)
    assert result.stdout.strip().splitlines()[-1] == "wuding_seed_with_annex2.txt：共 2 行，2 行通过，0 行有问题，可以验收。"
    data = seeded.json("catalog", "check", str(SHARED_SEED), "--unit", UNIT)
    assert data["ok"] is True and data["format"] == "txt"
    assert data["summary"] == {"rows": 2, "passed": 2, "failed": 0, "problems": 0, "text": data["summary"]["text"]}
    first, second = data["rows"]
    assert (first["number"], first["level1"], first["level2"]) == ("1", "行政审批", "食品生产经营许可服务指南")
    assert (second["number"], second["level1"], second["level2"]) == ("2", "行政审批", "食品生产经营许可基本信息")
    assert first["channels"] == ["政府网站", "政务服务中心"]
    assert second["channels"] == ["政府网站", "政务服务中心", "入户/现场宣传"]
    for r in (first, second):
        assert r["audience"] == {"public": True, "group": None}
        assert r["mode"] == {"active": True, "on_request": False}
        assert r["level"] == {"county": True, "township": False}
        assert r["deadline"]["kind"] == "after_event" and r["deadline"]["working_days"] == 20
        assert r["publisher"] == UNIT and r["publisher_text"] == SEED_PUBLISHER
    assert any("按上一行的“行政审批”" in n for n in second["notes"])  # blank 一级事项 = same as above, and said so


def test_a_publisher_written_as_offices_is_read_as_their_unit_and_said_so(seeded, tmp_path):
    alone = seeded.json("catalog", "check", str(SHARED_SEED))  # 市场监督管理… is the core of 县市场监督管理局, an alias
    assert [r["publisher"] for r in alone["rows"]] == [UNIT, UNIT]
    assert all(f"是“{UNIT}”的内设科室" in " ".join(r["notes"]) for r in alone["rows"])
    other = seeded("catalog", "check", str(SHARED_SEED), "--unit", "县教育体育局", ok=False)
    assert other.exit_code == 1  # the market supervision bureau's offices, handed in by the education bureau
    assert other.stdout.count("写的是“县市场监管局”的科室，不是报送单位“县教育体育局”") == 2
    path = tmp_path / "科室.txt"
    path.write_text(dump([row("1", "行政许可", "许可服务指南", publisher="相关业务科室")]), "utf-8")
    unnamed = seeded("catalog", "check", str(path), ok=False)
    assert unnamed.exit_code == 1 and "请用 --unit 指明报送单位" in unnamed.stdout  # whose offices? not guessed
    named = seeded.json("catalog", "check", str(path), "--unit", "狮山镇")
    assert named["ok"] and named["rows"][0]["publisher"] == "狮山镇人民政府"


def test_a_hand_made_catalogue_with_every_defect(seeded, tmp_path):
    rows = [
        row("1", "行政许可", "许可服务指南"),
        row("2", "行政许可", "许可结果", content="", basis=""),
        row("3", "行政许可", "变更信息", deadline="尽快"),
        row("4", "行政许可", "注销信息", channels=channel_cell()),
        row("5", "行政处罚", "处罚依据", request="√"),
        row("6", "行政处罚", "处罚程序", active=""),
        row("7", "行政处罚", "处罚决定", county=""),
        row("8", "行政处罚", "听证告知", public="", group="√"),
        row("9", "行政处罚", "处罚裁量基准", publisher="县档案馆"),
        row("10", "行政检查", "抽查结果"),
        row("11", "行政检查", "抽查结果"),
        row("12", "行政检查", "检查计划", channels=channel_cell("其他")),
        row("13", "行政检查", "检查人员", township="是"),
        row("14", "行政检查", "投诉举报渠道", deadline="实时", group="√ 投诉人", public=""),
    ]
    path = tmp_path / "自制目录.txt"
    path.write_text(dump(rows), "utf-8")
    result = seeded("catalog", "check", str(path), "--unit", UNIT, ok=False)
    assert result.exit_code == 1
    assert result.stdout.strip().splitlines()[-1] == "自制目录.txt：共 14 行，2 行通过，12 行有问题（共 13 处）。请修改后重新检查。"
    raw = seeded("catalog", "check", str(path), "--unit", UNIT, "--json", ok=False)  # exit 1, so not cli.json
    assert raw.exit_code == 1
    data = json.loads(raw.stdout)
    assert data["ok"] is False
    fields = {r["number"]: [p["field"] for p in r["problems"]] for r in data["rows"]}
    assert fields == {
        "1": [],
        "2": ["公开内容", "公开依据"],
        "3": ["公开时限"],
        "4": ["公开渠道和载体"],
        "5": ["公开方式"],
        "6": ["公开方式"],
        "7": ["公开层级"],
        "8": ["公开对象"],
        "9": ["公开主体"],
        "10": ["二级事项"],
        "11": ["二级事项"],
        "12": ["公开渠道和载体"],
        "13": ["公开层级·乡级"],
        "14": [],
    }
    messages = {r["number"]: " ".join(p["message"] for p in r["problems"]) for r in data["rows"]}
    assert "尽快" in messages["3"]
    assert "没有勾选任何公开渠道" in messages["4"]
    assert "同时" in messages["5"] and "没有勾选" in messages["6"]
    assert "没有写明" in messages["8"]
    assert "县档案馆" in messages["9"] and "不在单位名录中" in messages["9"]
    assert "序号 11" in messages["10"] and "序号 10" in messages["11"]
    assert "其他" in messages["12"]
    assert "“是”" in messages["13"]
    realtime = next(r for r in data["rows"] if r["number"] == "14")
    assert realtime["deadline"]["working_days"] == 1 and "默认的 1 个工作日" in " ".join(realtime["notes"])
    assert realtime["audience"] == {"public": False, "group": "投诉人"}


def test_accept_is_refused_while_the_check_fails_and_changes_nothing(seeded, tmp_path):
    path = tmp_path / "有问题.txt"
    path.write_text(dump([row("1", "行政许可", "许可服务指南", content="")]), "utf-8")
    before = seeded.snapshot()
    refused = seeded("catalog", "accept", str(path), "--unit", UNIT, "--item", ITEM, "--today", "2020-09-25", ok=False)
    assert refused.exit_code == 1
    assert "未通过检查" in refused.stderr and "公开内容" in refused.stderr
    assert seeded.snapshot() == before
    wrong_item = seeded("catalog", "accept", str(SHARED_SEED), "--unit", UNIT, "--item", "2", "--today", "2020-09-25", ok=False)
    assert "不是第（1）项的领域事项" in wrong_item.stderr
    not_theirs = seeded("catalog", "accept", str(SHARED_SEED), "--unit", UNIT, "--item", "1.义务教育", "--today", "2020-09-25", ok=False)
    assert not_theirs.exit_code == 1 and "没有主体责任任务" in not_theirs.stderr
    assert seeded.snapshot() == before


def test_accepting_the_seed_records_the_assignment_done_with_the_file_as_evidence(seeded, tmp_path):
    result = seeded.json("catalog", "accept", str(SHARED_SEED), "--unit", UNIT, "--item", ITEM,
                         "--today", "2020-09-25", "--by", "张三")
    assert result["rows"] == 2 and result["unit"] == UNIT and result["item"] == ITEM
    assert result["status"] == [{"plan": "zwgk2020", "item": ITEM, "occurrence": None, "unit": UNIT, "from": "not_started", "to": "done", "from_progress": 0,
                                 "to_progress": 100, "completed_on": "2020-09-25", "changed": True}]
    shown = seeded.json("show", ITEM, "--today", "2020-09-25")
    mine = next(a for a in shown["assignments"] if a["unit"] == UNIT)
    assert mine["state"] == "done" and mine["evidence"].startswith(f"附件2目录 #{result['catalogue']}：wuding_seed_with_annex2.txt")
    journal = seeded.json("history", ITEM, "--unit", UNIT)
    assert [(e["by"], e["from"], e["to"], e["evidence"]) for e in journal] == [("张三", "not_started", "done", mine["evidence"])]
    engine = create_engine(seeded.absolute_url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT content, sha256 FROM catalogue")).one()
        entries = conn.execute(text("SELECT level2, channels FROM catalogueentry ORDER BY id")).all()
    engine.dispose()
    assert bytes(stored[0]) == SHARED_SEED.read_bytes() and stored[1] == hashlib.sha256(SHARED_SEED.read_bytes()).hexdigest()
    assert [e[0] for e in entries] == ["食品生产经营许可服务指南", "食品生产经营许可基本信息"]
    archive = seeded.json("export")
    assert [(c["id"], c["sha256"], "content" in c) for c in archive["catalogues"]] == [(result["catalogue"], stored[1], False)]
    assert len(archive["catalogue_entries"]) == 2
    copy = tmp_path / "取回.txt"
    seeded("catalog", "file", str(result["catalogue"]), "--out", str(copy))
    assert copy.read_bytes() == SHARED_SEED.read_bytes()
    again = seeded.json("catalog", "accept", str(SHARED_SEED), "--unit", UNIT, "--item", ITEM, "--today", "2020-09-28")
    assert again["superseded"] == [result["catalogue"]]
    assert [r["entry"] for r in seeded.json("catalog", "list", "--unit", UNIT)] == [f"{ITEM}/{UNIT}/1", f"{ITEM}/{UNIT}/2"]


def test_template_round_trip_through_xlsx(seeded, tmp_path):
    template = tmp_path / "目录模板.xlsx"
    seeded("catalog", "template", "--out", str(template))
    book = load_workbook(template)
    sheet = book["公开事项标准目录"]
    assert [sheet.cell(2, c).value for c in range(1, 15)] == [
        "序号", "公开事项", None, "公开内容（要素）", "公开依据", "公开时限", "公开主体", "公开渠道和载体",
        "公开对象", None, "公开方式", None, "公开层级", None]
    assert [sheet.cell(3, c).value for c in (2, 3, 9, 10, 11, 12, 13, 14)] == [
        "一级事项", "二级事项", "全社会", "特定群体（请写明）", "主动", "依申请", "县级", "乡级"]
    merged = {str(r) for r in sheet.merged_cells.ranges}
    assert {"B2:C2", "I2:J2", "K2:L2", "M2:N2", "A2:A3", "H2:H3"} <= merged
    assert sheet["H4"].value.splitlines() == [f"□{c}" for c in CHANNELS]
    ticks = [v for v in sheet.data_validations.dataValidation if v.formula1 == '"√"']
    assert len(ticks) == 1 and ticks[0].type == "list" and ticks[0].showErrorMessage
    covered = str(ticks[0].sqref).split()
    assert covered == ["I4:I53", "K4:K53", "L4:L53", "M4:M53", "N4:N53"]
    assert [book["填写说明"].cell(r, 1).value for r in range(9, 9 + len(CHANNELS))] == list(CHANNELS)
    blank = seeded("catalog", "check", str(template), "--unit", UNIT, ok=False)
    assert blank.exit_code == 1 and "没有找到任何数据行" in blank.stdout

    for r, values in ((4, row("1", "行政审批", "食品生产经营许可服务指南", publisher=SEED_PUBLISHER)),
                      (5, row("2", "", "食品生产经营许可基本信息", channels=sheet["H5"].value.replace("□政府网站", "■政府网站"),
                              group="√ 食品生产经营者", public=""))):
        for c, value in enumerate(values, start=1):
            sheet.cell(r, c, value or None)
    sheet.merge_cells("B4:B5")  # the unit merged the 一级事项 of its two rows
    filled = tmp_path / "县市场监管局目录.xlsx"
    book.save(filled)
    data = seeded.json("catalog", "check", str(filled), "--unit", UNIT)
    assert data["ok"] and data["format"] == "xlsx" and data["summary"]["rows"] == 2
    first, second = data["rows"]
    assert first["place"] == "工作表“公开事项标准目录”第 4 行"
    assert second["level1"] == "行政审批" and not any("上一行" in n for n in second["notes"])  # merged, not inherited
    assert first["channels"] == ["政府网站", "政务服务中心"] and second["channels"] == ["政府网站"]
    assert second["audience"] == {"public": False, "group": "食品生产经营者"}
    accepted = seeded.json("catalog", "accept", str(filled), "--unit", UNIT, "--item", ITEM, "--today", "2020-09-25")
    assert accepted["file"] == "县市场监管局目录.xlsx" and accepted["rows"] == 2


def test_a_word_catalogue_with_merged_cells(seeded, tmp_path):
    import docx

    document = docx.Document()
    table = document.add_table(rows=4, cols=14)
    top = ["序号", "公开事项", "", "公开内容（要素）", "公开依据", "公开时限", "公开主体", "公开渠道和载体", "公开对象", "", "公开方式", "",
           "公开层级", ""]
    sub = ["", "一级事项", "二级事项", "", "", "", "", "", "全社会", "特定群体（请写明）", "主动", "依申请", "县级", "乡级"]
    for c, value in enumerate(top):
        if value:
            table.cell(0, c).text = value
    for c, value in enumerate(sub):
        if value:
            table.cell(1, c).text = value
    for c in (1, 8, 10, 12):
        table.cell(0, c).merge(table.cell(0, c + 1))
    for c in (0, 3, 4, 5, 6, 7):
        table.cell(0, c).merge(table.cell(1, c))
    for r, values in ((2, row("1", "行政审批", "食品生产经营许可服务指南", township="√")),
                      (3, row("2", "", "食品生产经营许可基本信息", channels="■政府网站  □政府公报\n■其他：村广播"))):
        for c, value in enumerate(values):
            if value:
                table.cell(r, c).text = value
    table.cell(2, 1).merge(table.cell(3, 1))
    path = tmp_path / "目录.docx"
    document.save(str(path))
    data = seeded.json("catalog", "check", str(path), "--unit", UNIT)
    assert data["ok"] and data["format"] == "docx"
    first, second = data["rows"]
    assert first["level"] == {"county": True, "township": True}
    assert second["level1"] == "行政审批" and not any("上一行" in n for n in second["notes"])
    assert second["channels"] == ["政府网站", "其他"] and second["other_channel"] == "村广播"


def test_a_file_in_another_layout_is_refused_not_misread(seeded, tmp_path):
    path = tmp_path / "别的表.txt"
    path.write_text(dump([row("1", "行政许可", "许可服务指南")]).replace("\t公开依据", "\t公开渠道"), "utf-8")
    refused = seeded("catalog", "check", str(path), ok=False)
    assert refused.exit_code == 1 and "表头与附件2格式不符" in refused.stderr and "第 5 列表头应为“公开依据”" in refused.stderr
    legacy = tmp_path / "目录.xls"
    legacy.write_bytes(b"\xd0\xcf\x11\xe0")
    assert "另存为" in seeded("catalog", "check", str(legacy), ok=False).stderr


@pytest.mark.parametrize("cell, ticked, other, unknown", [
    ("■政府网站       □政府公报\n□两微一端", ["政府网站"], None, []),
    ("□政府网站 ■其他        ", ["其他"], "", []),
    ("☑政府网站 ■其他（村广播）", ["政府网站", "其他"], "村广播", []),
    ("■微信群", [], None, ["微信群"]),
])
def test_channel_boxes(cell, ticked, other, unknown):
    assert parse_channels(cell) == (ticked, other, unknown)
