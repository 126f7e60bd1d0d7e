"""Status sheets: export for a unit, filled in, imported through the same rules as `tracker status`."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess

import openpyxl
import pytest

from tests.conftest import Cli

UNIT = "狮山镇人民政府"
TODAY = "2020-09-25"


def _export(cli, path, unit=UNIT):
    return cli.json("sheet", "export", "--unit", unit, "--out", str(path), "--today", TODAY)


def _rows(sheet) -> dict[str, int]:
    """Item key -> sheet row."""
    return {sheet[f"B{r}"].value: r for r in range(4, sheet.max_row + 1) if sheet[f"B{r}"].value}


def _filled(cli, path, edits: dict[tuple[str, str], object]) -> dict[str, int]:
    """Export the unit's sheet and type ``edits`` ((item key, column) -> value) into it, as a clerk would."""
    _export(cli, path)
    workbook = openpyxl.load_workbook(path)
    sheet = workbook["进度填报"]
    rows = _rows(sheet)
    for (key, column), value in edits.items():
        sheet[f"{column}{rows[key]}"] = value
    workbook.save(path)
    return rows


def test_exported_sheet_lists_open_work_with_locked_keys_and_validated_inputs(seeded, tmp_path):
    seeded("status", "14", "--unit", UNIT, "--set", "done", "--on", "2020-09-20", "--today", TODAY)
    path = tmp_path / "进度表.xlsx"
    result = _export(seeded, path)
    listing = seeded.json("items", "list", "--unit", UNIT, "--today", TODAY)
    open_keys = [i["key"] for i in listing for a in i["assignments"] if a["state"] in ("not_started", "in_progress")]
    assert result == [{"unit": UNIT, "file": str(path), "rows": len(open_keys)}]
    workbook = openpyxl.load_workbook(path)
    sheet = workbook["进度填报"]
    assert [sheet.cell(3, c).value for c in range(1, 13)] == [
        "编号", "事项编号", "工作任务", "具体事项", "完成期限", "当前状态", "当前进度（%）",
        "填报状态", "填报进度（%）", "完成日期", "佐证材料", "说明"]
    rows = _rows(sheet)
    assert list(rows) == open_keys and "14" not in rows
    education = rows["1.义务教育"]
    assert [sheet.cell(education, c).value for c in range(2, 9)] == [
        "1.义务教育", "编制政务公开事项目录", "义务教育", "2020-09-30", "未开始", 0, "未开始"]
    assert sheet[f"E{rows['3']}"].value.startswith("等待事件")
    assert sheet.column_dimensions["A"].hidden and isinstance(sheet[f"A{education}"].value, int)
    assert sheet.protection.sheet
    assert sheet[f"D{education}"].protection.locked and not sheet[f"H{education}"].protection.locked
    assert all(not sheet[f"{c}{education}"].protection.locked for c in "HIJKL")
    validations = {str(dv.sqref)[0]: dv for dv in sheet.data_validations.dataValidation}
    assert validations["H"].type == "list" and validations["H"].formula1 == '"未开始,进行中,已完成,不适用"'
    assert (validations["I"].type, validations["I"].formula1, validations["I"].formula2) == ("whole", "0", "100")
    assert validations["J"].type == "date"
    assert workbook["_tracker"].sheet_state == "veryHidden"


def test_filled_sheet_is_applied_with_journal_and_source(seeded, tmp_path):
    path = tmp_path / "狮山镇进度表.xlsx"
    _filled(seeded, path, {
        ("1.义务教育", "H"): "已完成", ("1.义务教育", "J"): dt.datetime(2020, 9, 20), ("1.义务教育", "K"): "武教发〔2020〕12号",
        ("2", "I"): 50, ("5", "H"): "不适用", ("5", "L"): "本镇无此项业务",
    })
    before = seeded.snapshot()
    preview = seeded.json("sheet", "import", str(path), "--dry-run", "--today", TODAY)
    assert seeded.snapshot() == before and preview["dry_run"] is True
    result = seeded.json("sheet", "import", str(path), "--by", "李四", "--today", TODAY)
    assert result["changes"] == preview["changes"]
    assert {(c["item"], c["to"], c["to_progress"], c["completed_on"]) for c in result["changes"]} == {
        ("1.义务教育", "done", 100, "2020-09-20"), ("2", "in_progress", 50, None), ("5", "na", 0, None)}
    shown = {a["unit"]: a for a in seeded.json("show", "1.义务教育", "--today", TODAY)["assignments"]}
    assert shown[UNIT]["state"] == "done" and shown[UNIT]["evidence"] == "武教发〔2020〕12号"
    history = seeded.json("history", "5", "--unit", UNIT)
    assert [(h["by"], h["to"], h["note"], h["details"]["source"]) for h in history] == [
        ("李四", "na", "本镇无此项业务", "狮山镇进度表.xlsx")]
    again = seeded.json("sheet", "import", str(path), "--today", TODAY)
    assert again["changes"] == []  # the same sheet twice changes nothing more


def test_a_sheet_with_bad_rows_is_refused_whole_and_lists_every_cell(seeded, tmp_path):
    path = tmp_path / "进度表.xlsx"
    rows = _filled(seeded, path, {
        ("2", "I"): 50,  # a good row: not applied either
        ("1.义务教育", "H"): "完成了", ("1.户籍管理", "I"): 150, ("5", "D"): "改过的事项", ("6", "H"): "不适用",
        ("7", "H"): "已完成", ("7", "J"): dt.datetime(2020, 10, 20),  # after --today
        ("8", "J"): "九月",
    })
    before = seeded.snapshot()
    result = seeded("sheet", "import", str(path), "--today", TODAY, ok=False)
    assert result.exit_code == 1
    message = result.stderr
    for cell in (f"H{rows['1.义务教育']}", f"I{rows['1.户籍管理']}", f"D{rows['5']}", f"L{rows['6']}", f"J{rows['8']}"):
        assert f"{cell}：" in message, cell
    assert f"第 {rows['7']} 行" in message and "晚于今天" in message
    assert "有 6 处错误" in message and "整张表没有导入" in message
    assert seeded.snapshot() == before


def test_sheets_of_another_database_or_with_forged_identity_are_refused(seeded, tmp_path):
    path = tmp_path / "进度表.xlsx"
    _export(seeded, path)
    (tmp_path / "other").mkdir()
    other = Cli(tmp_path / "other", "sqlite:///tracker.db")
    other("init", "--start", "2020-08-01")
    refused = other("sheet", "import", str(path), "--today", TODAY, ok=False)
    assert "另一个数据库" in refused.stderr
    workbook = openpyxl.load_workbook(path)
    meta_sheet = workbook["_tracker"]
    meta = json.loads(meta_sheet["A1"].value)
    meta["unit"] = "高桥镇人民政府"
    meta_sheet["A1"] = json.dumps(meta, ensure_ascii=False)
    workbook.save(path)
    before = seeded.snapshot()
    forged = seeded("sheet", "import", str(path), "--today", TODAY, ok=False)
    assert "校验和不符" in forged.stderr and seeded.snapshot() == before
    plain = tmp_path / "随便.xlsx"
    openpyxl.Workbook().save(plain)
    assert "不是用 tracker sheet export 导出" in seeded("sheet", "import", str(plain), ok=False).stderr
    added = tmp_path / "加行.xlsx"
    _export(seeded, added)
    workbook = openpyxl.load_workbook(added)
    sheet = workbook["进度填报"]
    sheet.cell(sheet.max_row + 1, 2, "99")
    workbook.save(added)
    assert "表格不能增加行" in seeded("sheet", "import", str(added), "--today", TODAY, ok=False).stderr


def test_export_all_writes_one_sheet_per_unit_with_open_work(seeded, tmp_path):
    folder = tmp_path / "进度表"
    written = seeded.json("sheet", "export", "--all", "--out", str(folder), "--today", TODAY)
    units = {w["unit"] for w in written}
    assert {"狮山镇人民政府", "县教育体育局", "县政府办公室"} <= units
    assert len(written) == len(list(folder.glob("*.xlsx")))
    assert (folder / "狮山镇人民政府进度表.xlsx").exists()
    for entry in written:
        listing = seeded.json("items", "list", "--unit", entry["unit"], "--today", TODAY)
        assert entry["rows"] == sum(1 for i in listing for a in i["assignments"] if a["state"] in ("not_started", "in_progress"))


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed (.ci/run installs it)")
def test_a_sheet_filled_in_and_saved_by_an_office_suite_comes_back(seeded, tmp_path):
    """LibreOffice (as WPS or Excel would) re-saves the workbook: the identity, ids and validations survive."""
    path = tmp_path / "进度表.xlsx"
    _filled(seeded, path, {("2", "I"): 30})
    out = tmp_path / "saved"
    subprocess.run([shutil.which("soffice"), "--headless", f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}",
                    "--convert-to", "xlsx", "--outdir", str(out), str(path)], check=True, capture_output=True, timeout=300)
    saved = openpyxl.load_workbook(out / "进度表.xlsx")
    assert saved["_tracker"].sheet_state != "visible" and saved["进度填报"].protection.sheet
    result = seeded.json("sheet", "import", str(out / "进度表.xlsx"), "--today", TODAY)
    assert [(c["item"], c["to"], c["to_progress"]) for c in result["changes"]] == [("2", "in_progress", 30)]
