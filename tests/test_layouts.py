"""Plans in the layouts other counties use: each imports to the keys, tasks, principals and deadlines it means, or is
refused with a message that names the header and the row. A table never imports with items reclassified or units lost."""

import datetime as dt

import pytest

from tests.conftest import SEED_ANNEX1
from tests.test_import import scratch_directory  # noqa: F401  (a fixture)
from tracker.errors import PlanImportError
from tracker.expansion import ItemSpec, expand_item
from tracker.importer import parse_plan

TOWNSHIPS = {"狮山镇人民政府", "高桥镇人民政府", "猫街镇人民政府", "插甸镇人民政府", "白路镇人民政府", "万德镇人民政府",
             "己衣镇人民政府", "田心乡人民政府", "发窝乡人民政府", "环州乡人民政府", "东坡傣族乡人民政府"}


def dump(title: str, *rows: list[str]) -> str:
    """A Word table saved as plain text: every cell a line starting with TAB, rows ended by an empty line."""
    return title + "\n\n" + "\n\n".join("\n".join("\t" + cell for cell in row) for row in rows) + "\n"


@pytest.fixture(scope="module")
def directory(scratch_directory):
    """The bundled Wuding directory in a scratch database (the importer tests' fixture)."""
    return scratch_directory


def principals(plan, directory, key):
    item = next(i for i in plan.items if i.key == key)
    spec = ItemSpec(key=item.key, domain=item.domain, texts=item.texts, is_parent=item.is_parent)
    lead_does_work = not plan.has_principal_column
    return {u.name for u, role in expand_item(spec, directory, domain_rule="guiding", lead_does_work=lead_does_work)
            if role == "principal"}


def test_the_seed_layout(directory):
    plan = parse_plan(SEED_ANNEX1.read_text("utf-8"), "seed.txt", directory)
    assert len(plan.tasks) == 9
    assert [i.key for i in plan.items if not i.domain][:3] == ["1", "2", "3"]
    assert sum(1 for i in plan.items if i.domain) == 18
    assert principals(plan, directory, "1.义务教育") == TOWNSHIPS | {"县教育体育局"}
    assert next(i for i in plan.items if i.key == "1.义务教育").rule.due == dt.date(2020, 9, 30)


def test_five_columns_with_units_joined_by_commas(directory):
    text = dump(
        "某县2021年政务公开重点工作任务分工",
        ["序号", "工作任务", "牵头单位", "责任单位", "时限要求"],
        ["1", "公开财政预决算", "县财政局", "县财政局、县税务局", "2021年6月底前"],
        ["2", "公开社会救助信息", "县民政局", "县民政局，县司法局", "每季度末"],
        ["3", "开展政务公开培训", "县政府办", "各乡镇", "年内完成"],
    )
    plan = parse_plan(text, "five.txt", directory)
    assert [i.key for i in plan.items] == ["1", "2", "3"]
    assert plan.tasks == {"1": "公开财政预决算", "2": "公开社会救助信息", "3": "开展政务公开培训"}
    assert principals(plan, directory, "1") == {"县财政局", "县税务局"}
    assert principals(plan, directory, "2") == {"县民政局", "县司法局"}
    assert principals(plan, directory, "3") == TOWNSHIPS
    rules = {i.key: i.rule for i in plan.items}
    assert rules["1"].due == dt.date(2021, 6, 30)
    assert (rules["2"].kind, rules["2"].every) == ("recurring", "quarter")
    assert rules["3"].due == dt.date(2021, 12, 31)  # 年内: the plan year's end


def test_number_in_the_second_column_beside_a_merged_task(directory):
    text = dump(
        "某县2021年政务公开工作要点任务分工",
        ["工作任务", "序号", "具体措施", "责任单位", "完成时限"],
        ["推进决策公开", "1", "制定重大行政决策事项目录", "县司法局", "2021年3月31日前"],
        ["", "2", "重大决策草案公开征求意见", "县发展和改革局", "自决策草案形成之日起10个工作日内予以公开"],
        ["", "3", "公开决策执行情况", "各部门", "每年12月20日前报送"],
        ["加强政策解读", "4", "主要负责人带头解读政策", "县政府办公室", "持续推进"],
        ["", "5", "解读材料与政策文件同步公开", "各乡镇", "文件印发后3个工作日内上报"],
    )
    plan = parse_plan(text, "merged.txt", directory)
    assert [i.key for i in plan.items] == ["1", "2", "3", "4", "5"]
    assert plan.tasks == {"1": "推进决策公开", "2": "加强政策解读"}
    assert [i.task for i in plan.items] == ["1", "1", "1", "2", "2"]
    assert [i.title for i in plan.items][:2] == ["制定重大行政决策事项目录", "重大决策草案公开征求意见"]
    assert principals(plan, directory, "1") == {"县司法局"}
    assert principals(plan, directory, "5") == TOWNSHIPS
    by_key = {i.key: i for i in plan.items}
    assert by_key["1"].rule.due == dt.date(2021, 3, 31)
    assert (by_key["2"].rule.kind, by_key["2"].event_name, by_key["2"].rule.working_days) == ("after_event", "决策草案形成", 10)
    assert (by_key["3"].rule.every, by_key["3"].rule.month, by_key["3"].rule.day) == ("year", 12, 20)
    assert by_key["4"].rule.kind == "ongoing"
    assert by_key["5"].event_name == "文件印发"


MISMATCHED_HEADER = ["序号", "工作任务", "具体要求", "责任单位", "完成时限"]  # 具体要求 spans the item numbers and texts


def test_a_header_cell_over_two_columns_is_aligned_when_only_one_reading_fits(directory):
    text = dump(
        "某县2020年基层政务公开标准化规范化工作任务",
        MISMATCHED_HEADER,
        ["1", "编制公开事项目录", "（1）", "梳理本领域公开事项", "各乡镇、县教育体育局", "2020年9月底"],
        ["", "", "（2）", "编制县级目录", "县教育体育局", "2020年10月底"],
        ["2", "规范公开平台", "3", "整合政府网站专栏", "县政府办公室", "每半年"],
        ["", "", "4", "更新政务公开专栏", "各乡镇", "每月10日前更新"],
    )
    plan = parse_plan(text, "spanned.txt", directory)
    assert [(i.task, i.key, i.title, i.domain) for i in plan.items] == [
        ("1", "1", "梳理本领域公开事项", None), ("1", "2", "编制县级目录", None),
        ("2", "3", "整合政府网站专栏", None), ("2", "4", "更新政务公开专栏", None)]  # nothing reclassified as domain rows
    assert plan.tasks == {"1": "编制公开事项目录", "2": "规范公开平台"}
    assert principals(plan, directory, "1") == TOWNSHIPS | {"县教育体育局"}  # no unit lost
    assert principals(plan, directory, "2") == {"县教育体育局"}
    assert principals(plan, directory, "4") == TOWNSHIPS
    assert [i.rule.due for i in plan.items[:2]] == [dt.date(2020, 9, 30), dt.date(2020, 10, 31)]
    assert plan.items[2].rule.every == "half_year" and (plan.items[3].rule.every, plan.items[3].rule.day) == ("month", 10)


def test_a_header_that_cannot_be_aligned_is_refused_naming_header_and_row(directory):
    text = dump(
        "某县2020年工作任务",
        MISMATCHED_HEADER,
        ["1", "编制目录", "（1）", "梳理事项", "各乡镇", "2020年9月底", "已完成"],
    )
    with pytest.raises(PlanImportError) as refused:
        parse_plan(text, "bad.txt", directory)
    message = str(refused.value)
    assert "序号 | 工作任务 | 具体要求 | 责任单位 | 完成时限" in message  # the header
    assert "1 | 编制目录 | （1） | 梳理事项 | 各乡镇" in message  # the first data row
    assert "（第 3 行）" in message and "（第 9 行）" in message and "表头与每一行一一对应" in message  # where, and how to fix


def test_an_ambiguous_wider_row_is_refused_rather_than_guessed(directory):
    # without 序号 in the header, the extra cell could be the task numbers or the item numbers
    text = dump(
        "某县2020年工作任务",
        ["工作任务", "具体要求", "责任单位", "完成时限"],
        ["1", "编制目录", "梳理事项", "各乡镇", "2020年9月底"],
    )
    with pytest.raises(PlanImportError) as refused:
        parse_plan(text, "ambiguous.txt", directory)
    assert "工作任务 | 具体要求 | 责任单位 | 完成时限" in str(refused.value)


def test_header_words_are_found_inside_longer_header_cells(directory):
    text = dump(
        "某县2021年工作任务",
        ["序号", "重点任务", "责任单位（按职责分工）", "完成时限（2021年）"],
        ["1", "公开政府信息公开年报", "县政府办公室", "每年1月31日前"],
    )
    plan = parse_plan(text, "words.txt", directory)
    [item] = plan.items
    assert principals(plan, directory, "1") == {"县政府办公室"}
    assert (item.rule.every, item.rule.month, item.rule.day) == ("year", 1, 31)


def test_a_unit_cell_that_expands_to_no_principal_is_an_error(cli, tmp_path):
    plan = tmp_path / "lost.txt"
    plan.write_text(dump(
        "某县2020年工作任务",
        ["序号", "工作任务", "具体事项", "主管责任单位", "主体责任单位", "指导责任单位", "完成时间"],
        ["1", "编制目录", "（1）编制领域目录", "义务教育", "县人民政府", "各乡镇各部门", "县教育体育局", "2020年9月底"],
        ["", "", "", "财政预决算", "", "各部门", "县人民政府", ""],
    ), encoding="utf-8")
    result = cli("init", "--plan", str(plan), "--start", "2020-08-01", ok=False)
    # a domain row keeps only the departments that guide it, and 县人民政府 is none: every unit of 各部门 would be lost
    assert result.exit_code == 1
    assert "第 20 行" in result.stderr and "“各部门”" in result.stderr and "没有任何承担工作的单位" in result.stderr
    assert "领域行“财政预决算”" in result.stderr and "修改后重新导入" in result.stderr
    refused = cli("items", "list", ok=False)
    assert refused.exit_code == 1 and "tracker init" in refused.stderr  # nothing was written


def test_a_group_without_members_yet_is_a_warning_not_an_error(cli, tmp_path):
    plan = tmp_path / "villages.txt"
    plan.write_text(dump(
        "某县2020年工作任务",
        ["序号", "工作任务", "责任单位", "完成时限"],
        ["1", "村务公开", "各村（居）民委员会", "每季度末"],
        ["2", "乡镇公开", "各乡镇", "2020年12月底"],
    ), encoding="utf-8")
    data = cli.json("init", "--plan", str(plan), "--start", "2020-08-01")
    assert any("事项 1 目前没有主体责任单位" in w for w in data["warnings"])
    assert {a["item"] for a in data["added_assignments"] if a["role"] == "principal"} == {"2"}
