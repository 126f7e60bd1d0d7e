"""The whole weekly job at scale (issue 17): the report is built a block of items at a time and keeps its ledger
compactly, the workbook shares repeated text, and above ``[report] mail_units_max`` units the mail lists only the
units that need attention, saying how many it leaves out and where the full list is."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io

import pytest
from openpyxl import load_workbook

from notifications import xlsx
from tests.conftest import use_smtp
from tracker import report as report_module

AS_OF = "2020-10-12"


def _parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.SMTP)  # type: ignore[return-value]


def _body(message: email.message.EmailMessage, part: str) -> str:
    return message.get_body((part,)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]


def _attention(cli) -> set[str]:
    """Units with overdue, yellow or red principal work as of AS_OF, from the listing (not from the report)."""
    items = cli.json("items", "list", "--today", AS_OF)
    return {a["unit"] for item in items for a in item["assignments"] if a["light"] in ("yellow", "red") or a["status"] == "overdue"}


ON_TRACK = {"县教育体育局": "1.义务教育", "县公安局": "1.户籍管理", "县司法局": "1.公共法律服务", "县财政局": "1.财政预决算"}


def _prepare(cli, smtp_server) -> None:
    """Lights only for overdue work (no yellow), and four departments that finished their one overdue item: they are
    on track, the other units are not."""
    use_smtp(cli, smtp_server.port)
    cli.config.write_text(cli.config.read_text("utf-8") + "\n[lights]\nyellow_within_days = 0\nbehind_by_percent = 100\n", "utf-8")
    for unit, item in ON_TRACK.items():
        cli("status", item, "--unit", unit, "--set", "done", "--on", "2020-10-01", "--today", "2020-10-09")


def _send(cli, smtp_server, extra: str) -> tuple[dict, email.message.EmailMessage]:
    cli.config.write_text(cli.config.read_text("utf-8") + "\n[report]\n" + extra, "utf-8")
    result = cli.json("report", "weekly", "--as-of", AS_OF, "--send")
    [message] = smtp_server.recorder.messages
    return result, _parse(message.as_bytes())


def _unit_lines(text: str) -> list[str]:
    section = text.split("二、各单位完成情况（按落后程度排序）\n", 1)[1].split("\n三、全部事项", 1)[0]
    return [line for line in section.splitlines() if line.strip()]


@pytest.mark.clock
def test_above_the_limit_the_mail_lists_the_units_needing_attention_and_says_how_many_are_left_out(seeded, smtp_server):
    _prepare(seeded, smtp_server)
    attention = _attention(seeded)
    result, message = _send(seeded, smtp_server, "mail_units_max = 5\n")
    everyone = [u["unit"] for u in result["units"]]
    assert len(everyone) > 5 and attention.isdisjoint(ON_TRACK) and 5 < len(attention) < len(everyone) - len(ON_TRACK) + 1
    left_out = len(everyone) - len(attention)
    text = _body(message, "plain")
    lines = _unit_lines(text)
    listed = [line for line in lines if "：承担" in line]
    # every unit needing attention, under its rank among all units, and no other
    expected = [f"  {rank}. {name}：" for rank, name in enumerate(everyone, start=1) if name in attention]
    assert [line.split("承担")[0] for line in listed] == expected
    sentence = (f"另有 {left_out} 个单位没有逾期、黄灯或红灯的任务分工，正文未列出；"
                f"全部 {len(everyone)} 个单位的完成情况见附件 Excel 台账的“汇总”表。")
    assert lines[-1].strip() == sentence
    html = _body(message, "html")
    assert html.count('<tr data-unit="') == len(attention)
    assert f'<p id="units-left-out" data-count="{left_out}">{sentence}</p>' in html
    # the full list is where the mail says it is
    [attachment] = list(message.iter_attachments())
    summary = load_workbook(io.BytesIO(attachment.get_content()))["汇总"]
    names = {row[0] for row in summary.iter_rows(values_only=True)}
    assert set(everyone) <= names
    # the ledger still lists every assignment, and the other sections are whole
    assert load_workbook(io.BytesIO(attachment.get_content()))["台账"].max_row == 1 + result["totals"]["assignments"]
    every_item = text.split("三、全部事项\n", 1)[1].split("\n四、", 1)[0]
    assert every_item.count("] 事项 ") == len(result["items"])


@pytest.mark.clock
def test_at_or_below_the_limit_every_unit_is_listed(seeded, smtp_server):
    _prepare(seeded, smtp_server)
    everyone = [u["unit"] for u in seeded.json("report", "weekly", "--as-of", AS_OF)["units"]]
    result, message = _send(seeded, smtp_server, f"mail_units_max = {len(everyone)}\n")
    text = _body(message, "plain")
    assert [line.split("：承担")[0] for line in _unit_lines(text)] == [f"  {n}. {name}" for n, name in enumerate(everyone, 1)]
    assert "正文未列出" not in text
    html = _body(message, "html")
    assert html.count('<tr data-unit="') == len(everyone) and "units-left-out" not in html


@pytest.mark.clock
def test_the_default_limit_leaves_a_county_whole_and_the_screen_is_never_shortened(seeded, smtp_server):
    _prepare(seeded, smtp_server)
    everyone = [u["unit"] for u in seeded.json("report", "weekly", "--as-of", AS_OF, "--send")["units"]]
    text = _body(_parse(smtp_server.recorder.messages[0].as_bytes()), "plain")
    assert len(_unit_lines(text)) == len(everyone) and "正文未列出" not in text  # 500 by default; a county has ~170
    full = seeded("report", "weekly", "--as-of", AS_OF).stdout
    seeded.config.write_text(seeded.config.read_text("utf-8") + "\n[report]\nmail_units_max = 1\n", "utf-8")
    assert seeded("report", "weekly", "--as-of", AS_OF).stdout == full  # the screen is not a mail


@pytest.mark.clock
def test_when_the_workbook_is_kept_the_left_out_units_point_at_the_kept_file(seeded, smtp_server):
    _prepare(seeded, smtp_server)
    _, message = _send(seeded, smtp_server, 'mail_units_max = 5\nattachment_max_mb = 0.01\nfolder = "台账"\n')
    kept = (seeded.home / "台账" / f"工作进度台账_{AS_OF}.xlsx").resolve()
    for part in ("plain", "html"):
        body = _body(message, part)
        assert f"的完成情况见Excel 台账（已保存在 {kept}）的“汇总”表。" in body
    assert list(message.iter_attachments()) == []


def test_the_limit_must_be_positive(seeded):
    seeded.config.write_text(seeded.config.read_text("utf-8") + "\n[report]\nmail_units_max = 0\n", "utf-8")
    result = seeded("report", "weekly", "--as-of", AS_OF, ok=False)
    assert result.exit_code == 1 and "mail_units_max" in result.stderr


def test_building_a_block_of_items_at_a_time_changes_nothing(seeded, monkeypatch):
    """The report read one item at a time is the report read in one block: same figures, same ledger rows."""
    seeded("status", "2", "--unit", "县财政局", "--set", "done", "--on", "2020-10-01", "--note", "已完成 & 公开", "--today", "2020-10-09")
    whole = seeded.json("report", "weekly", "--as-of", AS_OF)
    book = load_workbook(io.BytesIO(_workbook(seeded)))
    monkeypatch.setattr(report_module, "_ITEMS_AT_ONCE", 1)
    assert seeded.json("report", "weekly", "--as-of", AS_OF) == whole
    blockwise = load_workbook(io.BytesIO(_workbook(seeded)))
    for name in ("汇总", "台账"):
        assert list(book[name].iter_rows(values_only=True)) == list(blockwise[name].iter_rows(values_only=True))
    rows = list(book["台账"].iter_rows(values_only=True))
    assert any(r[3] == "县财政局" and r[11] == "已完成 & 公开" and r[8] is not None for r in rows)


def _workbook(cli) -> bytes:
    out = cli.home / f"台账-{len(list(cli.home.glob('台账-*.xlsx')))}.xlsx"
    cli("report", "weekly", "--as-of", AS_OF, "--xlsx", str(out))
    return out.read_bytes()


def test_the_ledger_keeps_every_field_and_any_status_or_light():
    ledger = report_module.Ledger()
    item = ledger.add_item(_view())
    day = dt.date(2021, 3, 15)
    rows = [
        report_module.AssignmentView(1, "（1）", "甲单位", 1, "principal", "done", 100, day, day, day, False, "done", "green", 0,
                                     "备注", "佐证", "2020-Q4", "p1"),
        report_module.AssignmentView(2, "（1）", "乙单位", 2, "principal", "in_progress", 40, None, None, None, False,
                                     "someday", "violet", 3, "", "", "", "p1"),
    ]
    for a in rows:
        ledger.add(item, a)
    assert len(ledger) == 2
    first, second = list(ledger)
    assert first == report_module.LedgerRow("（1）", "2020-Q4", "任务", "事项", "p1", "甲单位", "done", "green", day, day, day, 0, 100,
                                            "备注", "佐证")
    assert (second.status, second.light, second.due, second.progress, second.overdue_days) == ("someday", "violet", None, 40, 3)


def _view():
    from tracker.deadlines import DeadlineRule
    from tracker.queries import ItemView

    class _Item:
        key, title = "（1）", "事项"

    return ItemView(item=_Item(), task_title="任务", rule=DeadlineRule(kind="ongoing", text="持续推进"), due=None, waiting_for=None, lead=[],
                    guiding=[], plan="p1")  # type: ignore[arg-type]


def test_text_past_the_shared_strings_room_is_written_in_its_cell(monkeypatch):
    monkeypatch.setattr(xlsx, "SHARED_MAX_CHARS", 10)
    rows = [["甲乙丙", "甲乙丙", f"第 {n} 条说明 <b>&", n, dt.date(2021, 1, n)] for n in range(1, 20)]
    target = io.BytesIO()
    xlsx.write_workbook([xlsx.Sheet("台账", rows)], target)
    values = list(load_workbook(io.BytesIO(target.getvalue()))["台账"].iter_rows(values_only=True))
    assert [list(v[:4]) for v in values] == [r[:4] for r in rows]
    assert [v[4].date() for v in values] == [r[4] for r in rows]


def test_an_error_while_compressing_is_raised_not_lost():
    class Full(io.BytesIO):
        def write(self, data):  # type: ignore[override]
            if self.tell() > 2000:
                raise OSError("磁盘已满")
            return super().write(data)

    rows = ([f"第 {n} 行 " * 5, n] for n in range(50_000))
    with pytest.raises(OSError, match="磁盘已满"):
        xlsx.write_workbook([xlsx.Sheet("台账", rows)], Full())
