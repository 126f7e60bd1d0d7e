"""Importing plans straight from Word, Excel and CSV files, and from old formats through LibreOffice."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import docx
import openpyxl
import pytest
from docx.oxml.ns import qn

from tests.conftest import SEED_ANNEX1
from tests.office_builders import build_csv, build_docx, build_xlsx

TODAY = "2020-09-25"


def _items(cli) -> list:
    return cli.json("items", "list", "--today", TODAY)


def _same_as_dump(cli, plan: Path) -> None:
    cli("init", "--force", "--start", "2020-08-01", "--plan", str(SEED_ANNEX1))
    from_dump = _items(cli)
    cli("init", "--force", "--start", "2020-08-01", "--plan", str(plan), "--plan-code", "zwgk2020")
    from_file = _items(cli)
    assert len(from_dump) == 34 and sum(len(i["assignments"]) for i in from_dump) > 216
    assert from_file == from_dump


def test_word_table_with_real_merges_imports_like_the_dump(cli, tmp_path):
    plan = build_docx(tmp_path / "通知.docx")
    body = docx.Document(plan).element.body
    first = body.find(qn("w:tbl"))
    assert first.findall(f".//{qn('w:gridSpan')}") and first.findall(f".//{qn('w:vMerge')}")  # real merges
    _same_as_dump(cli, plan)
    again = cli.json("import", str(plan))
    assert again["unchanged"] is True


def test_word_table_split_at_a_page_break_with_its_header_repeated_is_one_table(cli, tmp_path):
    plan = build_docx(tmp_path / "分页.docx", split_before=22)  # the second part starts at item (5)
    tables = docx.Document(plan).tables
    assert len(tables) == 3 and tables[1].cell(0, 0).text == "序号" and tables[1].cell(1, 2).text.startswith("（5）")
    _same_as_dump(cli, plan)
    bad = build_docx(tmp_path / "分页2.docx", split_before=22)
    document = docx.Document(bad)
    document.tables[1].cell(1, 4).text = "县不存在局"
    document.save(bad)
    message = cli("import", str(bad), ok=False).stderr
    assert "第 1 个表格（含续表） 第 24 行" in message  # row 2 of the second part: rows count on across the parts


def test_excel_sheet_with_merged_ranges_and_a_title_imports_like_the_dump(cli, tmp_path):
    plan = build_xlsx(tmp_path / "任务清单.xlsx")
    assert openpyxl.load_workbook(plan)["任务分工"].merged_cells.ranges
    _same_as_dump(cli, plan)


def test_csv_saved_from_excel_imports_like_the_dump(cli, tmp_path):
    _same_as_dump(cli, build_csv(tmp_path / "任务清单.csv"))
    _same_as_dump(cli, build_csv(tmp_path / "任务清单gbk.csv", encoding="gb18030"))


def test_several_task_tables_are_listed_and_one_is_picked_with_table(seeded, tmp_path):
    plan = build_docx(tmp_path / "通知.docx", extra_task_table=True)
    before = seeded.snapshot()
    refused = seeded("import", str(plan), ok=False)
    assert refused.exit_code == 1
    message = refused.stderr
    assert "有 2 个表格像任务分工表" in message and "1. 第 1 个表格" in message and "2. 第 2 个表格" in message
    assert "--table" in message and seeded.snapshot() == before
    preview = seeded.json("import", str(plan), "--table", "1", "--dry-run")
    assert preview["unchanged"] is True
    other = seeded.json("import", str(plan), "--table", "2", "--plan", "zwgk2020", "--dry-run")  # into the seed's plan
    assert "1.义务教育" in other["removed_items"] and "16" in other["removed_items"]
    assert [c["item"] for c in other["changed_items"]] == ["1"]
    not_a_plan = seeded("import", str(plan), "--table", "3", ok=False)
    assert "第 3 个表格" in not_a_plan.stderr and "找不到表头" in not_a_plan.stderr
    assert seeded.snapshot() == before


def test_document_without_a_task_table_lists_the_tables_it_has(seeded, tmp_path):
    document = docx.Document()
    document.add_paragraph("附件2：")
    table = document.add_table(rows=2, cols=3)
    for c, text in enumerate(("序号", "公开事项", "公开时限")):
        table.cell(0, c).text = text
    path = tmp_path / "目录.docx"
    document.save(path)
    before = seeded.snapshot()
    result = seeded("import", str(path), ok=False)
    assert result.exit_code == 1
    assert "没有像任务分工表的表格" in result.stderr and "第 1 个表格" in result.stderr and "序号、公开事项、公开时限" in result.stderr
    empty = tmp_path / "空.docx"
    docx.Document().save(empty)
    assert "没有任何表格" in seeded("import", str(empty), ok=False).stderr
    assert seeded.snapshot() == before


def test_bad_files_are_refused_and_change_nothing(seeded, tmp_path):
    before = seeded.snapshot()
    good = build_docx(tmp_path / "好.docx").read_bytes()
    corrupt = tmp_path / "坏.docx"
    corrupt.write_bytes(good[: len(good) // 2])
    assert "已损坏" in seeded("import", str(corrupt), ok=False).stderr
    renamed = tmp_path / "改名.xlsx"
    renamed.write_text("这不是表格", encoding="utf-8")
    assert "扩展名是 .xlsx，但内容不是" in seeded("import", str(renamed), ok=False).stderr
    # An encrypted Office file is an OLE container holding the encrypted package.
    encrypted = tmp_path / "加密.docx"
    encrypted.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + "EncryptedPackage".encode("utf-16-le") + b"\x00" * 64)
    refused = seeded("import", str(encrypted), ok=False)
    assert "设有打开密码" in refused.stderr and "LibreOffice" not in refused.stderr
    workbook = openpyxl.Workbook()
    workbook.active.append(["事项", "说明"])
    workbook.active.append(["1", "无表头"])
    headless = tmp_path / "无表头.xlsx"
    workbook.save(headless)
    message = seeded("import", str(headless), ok=False).stderr
    assert "没有像任务分工表的表格" in message and "工作表“Sheet”" in message
    assert seeded.snapshot() == before


def test_errors_name_the_table_and_its_row(seeded, tmp_path):
    document = docx.Document()
    table = document.add_table(rows=3, cols=4)
    for r, cells in enumerate((("序号", "工作任务", "责任单位", "完成时限"),
                               ("1", "开展培训", "县政府办公室", "2020年12月底"),
                               ("2", "编制目录", "县不存在局", "2020年12月底"))):
        for c, text in enumerate(cells):
            table.cell(r, c).text = text
    path = tmp_path / "计划.docx"
    document.save(path)
    result = seeded("import", str(path), ok=False)
    assert "计划.docx 第 1 个表格 第 3 行" in result.stderr and "县不存在局" in result.stderr


def test_word_numbering_paragraphs_and_repeated_header(cli, tmp_path):
    """Automatic list numbers are read as shown; a header repeated after a page break is not a row."""
    document = docx.Document()
    table = document.add_table(rows=5, cols=5)
    header = ("序号", "工作任务", "具体事项", "责任单位", "完成时限")
    for c, text in enumerate(header):
        table.cell(0, c).text = text
        table.cell(3, c).text = text  # the header typed again at the top of the next page
    rows = {1: ("1", "开展培训", "培训全体人员", "县政府办公室", "2020年12月底"),
            2: ("", "", "考核培训效果", "县政务服务管理局", "2021年6月底"),
            4: ("", "", "总结经验", "县政府办公室", "2021年12月底")}
    for r, cells in rows.items():
        for c, text in enumerate(cells):
            table.cell(r, c).text = text
    numbering = document.part.numbering_part.element
    abstract = numbering.makeelement(qn("w:abstractNum"), {qn("w:abstractNumId"): "90"})
    level = abstract.makeelement(qn("w:lvl"), {qn("w:ilvl"): "0"})
    for tag, value in (("w:start", "1"), ("w:numFmt", "decimal"), ("w:lvlText", "（%1）")):
        level.append(level.makeelement(qn(tag), {qn("w:val"): value}))
    abstract.append(level)
    numbering.insert(0, abstract)
    num = numbering.makeelement(qn("w:num"), {qn("w:numId"): "90"})
    num.append(num.makeelement(qn("w:abstractNumId"), {qn("w:val"): "90"}))
    numbering.append(num)
    for r in (1, 2, 4):
        paragraph = table.cell(r, 2).paragraphs[0]
        paragraph._p.get_or_add_pPr().get_or_add_numPr().get_or_add_numId().val = 90
        paragraph._p.get_or_add_pPr().get_or_add_numPr().get_or_add_ilvl().val = 0
    table.cell(1, 3).add_paragraph("县教育体育局")  # a second paragraph: a second unit
    path = tmp_path / "培训.docx"
    document.save(path)
    cli("init", "--plan", str(path))
    items = cli.json("items", "list", "--today", "2020-10-09")
    assert [(i["key"], i["title"], i["deadline_text"]) for i in items] == [
        ("1", "培训全体人员", "2020年12月底"), ("2", "考核培训效果", "2021年6月底"), ("3", "总结经验", "2021年12月底")]
    assert [[a["unit"] for a in i["assignments"]] for i in items] == [
        ["县政府办公室", "县教育体育局"], ["县政务服务管理局"], ["县政府办公室"]]


def test_excel_dates_are_fixed_deadlines(seeded, tmp_path):
    import datetime as dt

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["2021年重点任务清单"])
    sheet.append(["序号", "工作任务", "责任单位", "完成时限"])
    sheet.append([1, "开展培训", "县政府办公室", dt.datetime(2021, 3, 31)])
    sheet["D3"].number_format = "yyyy/m/d"
    path = tmp_path / "清单.xlsx"
    workbook.save(path)
    seeded("import", str(path))
    shown = seeded.json("show", "清单:1", "--today", "2021-01-04")  # a second plan beside the seed's
    assert shown["deadline"]["kind"] == "fixed" and shown["due"] == "2021-03-31"
    assert shown["deadline_text"] == "2021年3月31日"


def _soffice_convert(source: Path, target: str, out: Path) -> Path:
    profile = (out / "profile").as_uri()
    subprocess.run([shutil.which("soffice"), "--headless", f"-env:UserInstallation={profile}", "--convert-to", target,
                    "--outdir", str(out), str(source)], check=True, capture_output=True, timeout=300)
    return out / f"{source.stem}.{target}"


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed (.ci/run installs it)")
def test_old_word_and_wps_files_are_converted_by_libreoffice(cli, tmp_path):
    made = _soffice_convert(build_docx(tmp_path / "notice.docx", with_annex2=False), "doc", tmp_path)
    assert made.read_bytes().startswith(b"\xd0\xcf\x11\xe0")
    _same_as_dump(cli, made)
    wps = tmp_path / "通知.wps"
    shutil.copy(made, wps)
    result = cli("import", str(wps), "--json")
    assert json.loads(result.stdout)["unchanged"] is True and "正在用 LibreOffice 转换 通知.wps" in result.stderr


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed (.ci/run installs it)")
def test_old_excel_and_et_files_are_converted_by_libreoffice(cli, tmp_path):
    made = _soffice_convert(build_xlsx(tmp_path / "sheet.xlsx"), "xls", tmp_path)
    et = tmp_path / "任务清单.et"
    shutil.copy(made, et)
    _same_as_dump(cli, et)


def test_without_libreoffice_the_message_names_the_package(seeded, tmp_path, monkeypatch):
    old = tmp_path / "通知.doc"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + "WordDocument".encode("utf-16-le") + b"\x00" * 64)
    sheet = tmp_path / "清单.et"
    sheet.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + "Workbook".encode("utf-16-le") + b"\x00" * 64)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    before = seeded.snapshot()
    word = seeded("import", str(old), ok=False).stderr
    assert "正在用" not in word and "没有安装 LibreOffice" in word and "libreoffice-writer-nogui" in word and "另存为 .docx" in word
    excel = seeded("import", str(sheet), ok=False).stderr
    assert "libreoffice-calc-nogui" in excel
    assert seeded.snapshot() == before


def test_merges_are_told_by_the_cell_element_not_by_equal_text(tmp_path):
    from tracker.wordfile import read_word_tables

    document = docx.Document()
    table = document.add_table(rows=3, cols=3)
    for c, text in enumerate(("县政府办公室", "县政府办公室", "2020年12月底")):
        table.cell(0, c).text = text  # equal neighbours, not merged: two cells
    table.cell(1, 0).merge(table.cell(1, 1)).text = "县政府办公室"  # one cell spanning two columns
    table.cell(1, 2).text = "县财政局"
    table.cell(1, 2).merge(table.cell(2, 2))  # the row below continues it
    table.cell(2, 0).text = "县财政局"
    table.cell(2, 1).text = "县财政局"
    path = tmp_path / "t.docx"
    document.save(path)
    rows = [[c.text for c in row.cells] for row in read_word_tables(path.read_bytes(), str(path))[0].rows]
    assert rows == [["县政府办公室", "县政府办公室", "2020年12月底"], ["县政府办公室", "县财政局"], ["县财政局", "县财政局", ""]]
