"""The daily job's messages are assembled directly (notifications.mime) and stored in bulk (issue 17): every message
must parse back with the standard library into exactly what the standard library's own message says, and the
ledger must link each stage to the message that carried it."""

from __future__ import annotations

import datetime as dt
import email
import email.policy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from notifications import mime
from notifications.render import build_message

NOW = dt.datetime(2021, 3, 15, 8, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def _parsed(raw: str) -> email.message.EmailMessage:
    message = email.message_from_bytes(raw.encode("utf-8"), policy=email.policy.SMTP)
    assert not message.defects
    for part in message.walk():
        assert not part.defects, part.defects
    return message  # type: ignore[return-value]


def _meaning(raw: str) -> dict[str, object]:
    """What a mail program shows of a message: headers decoded, bodies decoded with their line ends normalised."""
    message = _parsed(raw)
    return {
        "subject": str(message["Subject"]), "date": str(message["Date"]), "message_id": str(message["Message-ID"]),
        "from": [(a.display_name, a.addr_spec) for a in message["From"].addresses],
        "to": [(a.display_name, a.addr_spec) for a in message["To"].addresses],
        "type": message.get_content_type(),
        "parts": [(p.get_content_type(), p.get_content_charset(), p.get_filename(), p.get_content_disposition(),
                   p.get_content().replace("\r\n", "\n") if p.get_content_maintype() == "text" else p.get_content())
                  for p in message.walk() if not p.is_multipart()],
        "structure": [p.get_content_type() for p in message.walk()],
    }


def _both(monkeypatch, **fields: object) -> tuple[dict[str, object], dict[str, object], str]:
    fields.setdefault("sender", "县政府办公室 <tracker@wuding.example>")
    fast = build_message(now=NOW, entries=[], **fields)  # type: ignore[arg-type]
    with monkeypatch.context() as patch:
        patch.setattr(mime, "simple_enough", lambda addresses: False)
        slow = build_message(now=NOW, entries=[], **fields)  # type: ignore[arg-type]
    ours, theirs = _meaning(fast.raw), _meaning(slow.raw)
    theirs["message_id"] = ours["message_id"]  # a new Message-ID per message, by design
    assert fast.subject == slow.subject
    return ours, theirs, fast.raw


def test_a_digest_reads_the_same_as_the_standard_librarys(monkeypatch):
    ours, theirs, raw = _both(
        monkeypatch, recipient="县教育体育局", to=["jyj@wuding.example", "jyj2@wuding.example"],
        subject="政务公开任务提醒：县教育体育局 3项7日内到期、1项已逾期、督办2个单位逾期，请及时处理，" * 2,
        text="您好：\n\n" + "事项（12）政务公开目录编制，期限 2020-09-30，已逾期 5 天。\n" * 30,
        html="<p>" + "很长的一行" * 200 + "</p>\n<p>短</p>\n")
    assert ours == theirs
    assert all(len(line) <= 78 for line in raw.split("\r\n"))
    assert "\n" not in raw.replace("\r\n", "")  # CRLF line ends only


def test_ascii_names_that_need_quoting_and_plain_ascii_bodies(monkeypatch):
    ours, theirs, raw = _both(
        monkeypatch, recipient='Office "A", county\\x', to=["a@b.example"], subject="Reminder: 3 items due",
        text="Hello,\n\nshort ASCII lines only.\n", html="<p>ok</p>\n", sender="Tracker Bot <bot@b.example>")
    assert ours == theirs
    assert "Content-Transfer-Encoding: 7bit" in raw


def test_a_body_that_contains_the_boundary_text_is_not_cut(monkeypatch):
    trap = "\n".join(f"--{'=' * 15}{n}==" for n in range(5)) + "\n"
    ours, theirs, _raw = _both(monkeypatch, recipient="单位", to=["a@b.example"], subject="主题", text=trap, html=trap)
    assert ours == theirs


def test_the_weekly_mail_with_its_workbook_reads_the_same_as_the_standard_librarys(monkeypatch):
    workbook = bytes(range(256)) * 4000  # a megabyte of every byte value
    ours, theirs, raw = _both(
        monkeypatch, recipient="县政府办公室", to=["xzfb@wuding.example"], subject="【工作进度通报】截至2021-03-15：完成12/606，逾期204",
        text="本通报由系统根据各单位登记的进度自动生成，详细台账见附件 Excel。\n", html="<p>" + "表格" * 100 + "</p>\n",
        attachments=[("工作进度台账_2021-03-15.xlsx", workbook, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")])
    assert ours == theirs
    assert ours["structure"][:2] == ["multipart/mixed", "multipart/alternative"]
    # the MIME type's name is one token of 80 columns, as the standard library writes it; every other line is short
    assert all(len(line) <= 78 for line in raw.split("\r\n") if not line.startswith("Content-Type: application/"))


_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=300)


@settings(max_examples=60, deadline=None)
@given(subject=st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=120).filter(str.strip),
       name=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40), body=_TEXT, html=_TEXT)
def test_any_text_parses_back_unchanged(subject, name, body, html):
    """What the standard library's own parser reads from an assembled message is what was put in."""
    message = build_message(recipient=name, to=["x@y.example"], subject=subject, text=body, html=html,
                            sender="县政府办公室 <tracker@wuding.example>", now=NOW, entries=[])
    parsed = _parsed(message.raw)
    assert str(parsed["Subject"]) == message.subject
    [address] = parsed["To"].addresses
    assert address.addr_spec == "x@y.example"
    plain, rich = [p.get_content().replace("\r\n", "\n") for p in parsed.walk() if not p.is_multipart()]
    assert plain == "".join(line + "\n" for line in body.splitlines())
    assert rich == "".join(line + "\n" for line in html.splitlines())


@pytest.mark.clock
def test_the_ledger_links_every_stage_to_the_message_for_its_recipient(seeded):
    seeded("units", "set", "县教育体育局", "--email", "jyj@wuding.example")
    first = seeded.json("run", "--once", "--today", "2020-10-09")
    assert first["check"]["messages"] > 1
    engine = create_engine(seeded.absolute_url)
    with engine.connect() as conn:
        messages = conn.execute(text("SELECT m.id, m.recipient, m.message_id, b.raw FROM outboxmessage m "
                                     "JOIN outboxbody b ON b.id = m.id WHERE m.kind = 'reminder'")).all()
        notices = conn.execute(text("SELECT message_id, COUNT(*) FROM notice GROUP BY message_id")).all()
    engine.dispose()
    assert len(messages) == first["check"]["messages"]
    for ident, recipient, message_id, raw in messages:
        parsed = _parsed(raw)
        assert str(parsed["Message-ID"]) == message_id
        assert parsed["To"].addresses[0].display_name == recipient
    assert sum(count for _m, count in notices) == first["check"]["notices"]
    assert {m for m, _count in notices} <= {ident for ident, *_ in messages}
    again = seeded.json("run", "--once", "--today", "2020-10-09")
    assert again["check"]["messages"] == 0  # the stages are claimed: a second run the same day sends nothing new
