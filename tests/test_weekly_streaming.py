"""The weekly workbook is written as its rows come, once per job, and a workbook too large to mail stays in the
report folder with the mail saying where (issue 17)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io

import pytest
from openpyxl import load_workbook

from notifications import xlsx
from tests.conftest import use_smtp

AS_OF = "2020-10-12"


class _Recording(io.BytesIO):
    """A target that notes how many bytes had been written each time the row source is asked for a row."""


def test_rows_reach_the_file_before_the_last_row_is_made():
    target = _Recording()
    written_while_making: list[int] = []

    def rows():
        for number in range(30_000):
            if number % 5_000 == 0:
                written_while_making.append(target.tell())
            yield [f"第 {number} 行", number, dt.date(2021, 3, 15)]

    xlsx.write_workbook([xlsx.Sheet("台账", rows(), filter_columns=3)], target)
    # the zip's compressed stream grows while rows are still being made: the sheet is never one string in memory
    assert written_while_making[-1] > written_while_making[1] > 0
    sheet = load_workbook(io.BytesIO(target.getvalue()), read_only=True)["台账"]
    values = list(sheet.iter_rows(values_only=True))
    assert len(values) == 30_000
    assert values[0][:2] == ("第 0 行", 0) and values[-1][:2] == ("第 29999 行", 29999)
    assert values[-1][2].date() == dt.date(2021, 3, 15)


def test_the_in_memory_workbook_is_the_streamed_one():
    sheets = [xlsx.Sheet("汇总", [["a", 1]]), xlsx.Sheet("台账", [["x", dt.date(2020, 1, 2)]] * 3, filter_columns=2)]
    target = io.BytesIO()
    xlsx.write_workbook(sheets, target)
    streamed, whole = load_workbook(target), load_workbook(io.BytesIO(xlsx.workbook(sheets)))
    for name in ("汇总", "台账"):
        assert [[c.value for c in r] for r in streamed[name].rows] == [[c.value for c in r] for r in whole[name].rows]
    assert streamed["台账"].auto_filter.ref == "A1:B3"


def _parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.SMTP)  # type: ignore[return-value]


@pytest.mark.clock
def test_a_workbook_over_the_limit_is_kept_in_the_report_folder_and_the_mail_says_where(seeded, smtp_server):
    use_smtp(seeded, smtp_server.port)
    seeded.config.write_text(seeded.config.read_text("utf-8") + '\n[report]\nattachment_max_mb = 0.01\nfolder = "通报台账"\n',
                             "utf-8")
    result = seeded.json("report", "weekly", "--as-of", AS_OF, "--send")
    assert result["delivery"]["sent"] == 1
    [message] = smtp_server.recorder.messages
    message = _parse(message.as_bytes())
    assert list(message.iter_attachments()) == []
    kept = (seeded.home / "通报台账" / f"工作进度台账_{AS_OF}.xlsx").resolve()
    assert kept.stat().st_size > 0.01 * 1024 * 1024
    for part in ("plain", "html"):
        body = message.get_body((part,)).get_content()
        assert f"已保存在 {kept}" in body and "超过邮件附件上限（10 KB）" in body and "见附件" not in body
    book = load_workbook(kept)
    assert book["台账"].max_row == 1 + result["totals"]["assignments"]
    assert [p.name for p in kept.parent.iterdir()] == [kept.name]  # no temporary file left beside it


@pytest.mark.clock
def test_a_workbook_under_the_limit_is_attached_and_nothing_is_written_to_disk(seeded, smtp_server):
    use_smtp(seeded, smtp_server.port)
    result = seeded.json("report", "weekly", "--as-of", AS_OF, "--send")
    [message] = smtp_server.recorder.messages
    message = _parse(message.as_bytes())
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == f"工作进度台账_{AS_OF}.xlsx"
    book = load_workbook(io.BytesIO(attachment.get_content()))
    assert book["台账"].max_row == 1 + result["totals"]["assignments"]
    assert "详细台账见附件 Excel" in message.get_body(("plain",)).get_content()
    assert not (seeded.home / "reports").exists()


@pytest.mark.clock
def test_every_recipient_gets_the_same_report_rendered_once(seeded, smtp_server, monkeypatch):
    """Two recipients: one workbook is written for the job, and both mails carry it."""
    import notifications.weekly as weekly

    use_smtp(seeded, smtp_server.port)
    seeded.config.write_text(seeded.config.read_text("utf-8") + '\n[report]\nrecipients = ["县政府办公室", "县教育体育局"]\n',
                             "utf-8")
    seeded("units", "set", "县教育体育局", "--email", "jyj@wuding.example")
    written = []
    original = weekly.write_xlsx
    monkeypatch.setattr(weekly, "write_xlsx", lambda report, target: (written.append(1), original(report, target))[1])
    seeded.json("report", "weekly", "--as-of", AS_OF, "--send")
    assert len(written) == 1
    messages = [_parse(m.as_bytes()) for m in smtp_server.recorder.messages]
    assert sorted(m["To"].addresses[0].addr_spec for m in messages) == ["jyj@wuding.example", "xzfb@wuding.example"]
    contents = {next(m.iter_attachments()).get_content() for m in messages}
    assert len(contents) == 1


def test_the_limit_must_be_positive(seeded):
    seeded.config.write_text(seeded.config.read_text("utf-8") + "\n[report]\nattachment_max_mb = 0\n", "utf-8")
    result = seeded("report", "weekly", "--as-of", AS_OF, ok=False)
    assert result.exit_code == 1
    assert "attachment_max_mb" in result.stderr
