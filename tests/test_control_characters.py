"""Issue 12 point 2: no character breaks a file we write.

Text enters through status notes, unit names and imported plans, cleaned where it enters; text
already in the database (written before the cleaning) is cleaned again where XML is written.
Every C0 control character and a note longer than Excel's cell limit go through status, the
weekly report and its mailed attachment, and openpyxl must read the workbook back.
"""

from __future__ import annotations

import email
import io
from email import policy

from openpyxl import load_workbook
from sqlalchemy import create_engine, text

from notifications.xlsx import CELL_LIMIT
from tracker.text import clean_line, clean_text

EVERY_C0 = "".join(chr(code) for code in range(32))


def _ledger_row(book, item: str, unit: str) -> list[object]:
    rows = [[c.value for c in row] for row in book["台账"].iter_rows()]
    [row] = [r for r in rows if r[0] == item and r[3] == unit]
    return row


def test_cleaning_keeps_line_breaks_and_drops_other_controls():
    assert clean_text("第一行\x0b第二行\r\n第三行\r第四行\x0c第五行") == "第一行\n第二行\n第三行\n第四行\n第五行"
    assert clean_text(EVERY_C0) == "\t" + "\n" * 7  # TAB kept; LF, VT, FF, CR, FS, GS, RS are line breaks
    assert clean_line("狮山镇\x01某某\n村民委员会\t") == "狮山镇某某 村民委员会"
    assert clean_text("a\x7fb\udcff") == "ab"  # DEL and an undecodable byte from the command line


def test_every_control_character_and_a_huge_note_survive_status_report_and_mail(seeded, tmp_path):
    note = f"甲{EVERY_C0}乙"
    seeded("status", "1.义务教育", "--unit", "县教育体育局", "--progress", "20", "--note", note, "--today", "2020-09-20")
    long_note = "长" * 40_000
    seeded("status", "2", "--unit", "县财政局", "--progress", "10", "--note", long_note, "--today", "2020-09-20")
    seeded("units", "add", "狮山镇\x01某某村民委员会", "--parent", "狮山镇人民政府")
    history = seeded.json("history", "1.义务教育", "--unit", "县教育体育局")
    assert history[-1]["note"] == "甲\t" + "\n" * 7 + "乙"  # cleaned where it entered: the journal holds no control character
    assert "狮山镇某某村民委员会" in [u["name"] for u in seeded.json("units", "list")]

    path = tmp_path / "台账.xlsx"
    seeded("report", "weekly", "--as-of", "2020-10-12", "--xlsx", str(path))
    book = load_workbook(path)
    assert _ledger_row(book, "1.义务教育", "县教育体育局")[11] == "甲\t" + "\n" * 7 + "乙"
    cut = _ledger_row(book, "2", "县财政局")[11]
    assert len(cut) <= CELL_LIMIT and cut.startswith("长" * 30_000) and cut.endswith("（内容过长，已截断；全文共 40000 字）")

    # the same workbook, attached to the mailed report
    seeded("report", "weekly", "--as-of", "2020-10-12", "--send")
    [eml] = [p for p in (seeded.home / "outbox").glob("*.eml") if "县政府办公室" in p.name]
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    [attachment] = [part for part in message.iter_attachments() if part.get_filename().endswith(".xlsx")]
    attached = load_workbook(io.BytesIO(attachment.get_content()))
    assert _ledger_row(attached, "1.义务教育", "县教育体育局")[11] == "甲\t" + "\n" * 7 + "乙"


def test_control_characters_already_in_the_database_are_cleaned_where_xml_is_written(seeded, tmp_path):
    """Rows written before the cleaning existed: a unit name with \\x01 (the summary sheet) and a note with \\x0b."""
    engine = create_engine(seeded.absolute_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE assignment SET note = :n, evidence = :e WHERE role = 'principal' "
                          "AND unit_id = (SELECT id FROM unit WHERE name = '县财政局')"),
                     {"n": "Word 的手动换行\x0b第二行\x1f", "e": "文号\x08"})
        conn.execute(text("UPDATE unit SET name = :n WHERE name = '县财政局'"), {"n": "县财\x01政局"})
    engine.dispose()
    path = tmp_path / "台账.xlsx"
    seeded("report", "weekly", "--as-of", "2020-10-12", "--xlsx", str(path))
    book = load_workbook(path)
    units = [row[0].value for row in book["汇总"].iter_rows() if row and row[0].value]
    assert "县财政局" in units
    notes = [row[11].value for row in book["台账"].iter_rows(min_row=2) if row[11].value]
    evidence = [row[12].value for row in book["台账"].iter_rows(min_row=2) if row[12].value]
    assert "Word 的手动换行\n第二行" in notes and "文号" in evidence
