"""The daily job's floor: the same messages, byte for byte, produced and stored with the least code there can be.

Given the day's decision (the product's ``plan_check``: the digests and the ledger rows), the floor renders the same
three templates, compiled once, with the plainest objects Jinja2 can read; assembles each message's MIME as the
product writes it (headers as RFC 2047 words cut on UTF-8 byte boundaries, bodies in base64), with what is the same
for every message (From, Date) written once; and stores the messages, their bodies and the ledger rows with plain
``sqlite3`` ``executemany`` in one transaction, ids allocated inside it. That is what rendering and storing the day's
digests must cost whatever the product's own structure, so the whole daily job is measured against
``decision + floor``. ``tests/test_bench_daily_floor.py`` checks that the floor stores what the product stores.

It covers the benchmark's configuration: no personal links, no group-chat robots, no disclosure reminders (the
benchmark database has none of them), and addresses the product writes itself (ASCII mailboxes).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import sqlite3
from collections.abc import Callable
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from random import randrange

from jinja2 import Environment, PackageLoader, StrictUndefined, Template, select_autoescape

from tracker.reminders import UNSIGNED, CheckPlan, Digest, DigestEntry, group_by_item, group_by_plan

_LIGHTS = {"green": ("绿灯", "#2e7d32"), "yellow": ("黄灯", "#b8860b"), "red": ("红灯", "#c62828")}
_ROLES = {"lead": "主管责任单位", "guiding": "指导责任单位", "county_office": "县政府办公室"}


class _Entry:
    """An entry as the templates read it: plain attributes, nothing computed on access."""

    def __init__(self, e: DigestEntry) -> None:
        self.__dict__.update(item=e.item, unit=e.unit, on_behalf=e.on_behalf, note=e.note, task=e.task, domain=e.domain,
                             progress=e.progress, occurrence=e.occurrence, signed=e.signed, due=e.due,
                             days_left=e.days_left, heading=e.heading, timing=e.timing)
        self.light_label, self.light_color = _LIGHTS.get(e.light, (e.light, "#555"))


def _words(text: str) -> str:
    """RFC 2047 words of whole characters, at most 42 bytes of UTF-8 each, one per folded line."""
    data, words, start = text.encode("utf-8"), [], 0
    while start < len(data):
        end = min(start + 42, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # never cut a character
            end -= 1
        words.append(b"=?utf-8?b?" + base64.b64encode(data[start:end]) + b"?=")
        start = end
    return b"\r\n ".join(words).decode("ascii")


def _address_header(header: str, name: str, addrs: list[str]) -> str:
    """``Header: name <a>, name <b>``, each address after the first on a line of its own; the name in words (the
    benchmark's are Chinese), folded before the address when the line would pass 78 columns."""
    words = _words(name)
    last = words.rsplit("\r\n", 1)[-1]
    shown = []
    for n, addr in enumerate(addrs):
        start = len(header) + 2 if n == 0 and "\r\n" not in words else 1
        gap = " " if start + len(last) + len(addr) + 4 <= 78 else "\r\n "  # "<", ">", "," and a space
        shown.append(f"{words}{gap}<{addr}>")
    return f"{header}: " + ",\r\n ".join(shown) + "\r\n"


def _subject_parts(own: list[DigestEntry], late: list[DigestEntry], unsigned: list[DigestEntry]) -> list[str]:
    soon = sum(1 for e in own if 0 <= e.days_left <= 7)
    later = sum(1 for e in own if e.days_left > 7)
    overdue = sum(1 for e in own if e.days_left < 0)
    parts = [f"{n}项{label}" for n, label in ((soon, "7日内到期"), (later, "即将到期"), (overdue, "已逾期")) if n]
    if late:
        parts.append(f"督办{len({e.unit for e in late})}个单位逾期")
    if unsigned:
        parts.append(f"{len({e.unit for e in unsigned})}个单位未按时签收")
    return parts


def _body(text: str, crlf: bool) -> tuple[str, str]:
    """(Content-Transfer-Encoding, body): 7bit for short ASCII lines, else base64 of the lines ended by CRLF (plain)
    or LF (HTML), as the standard library writes them."""
    lines = text.splitlines()
    if text.isascii() and "\r" not in text and all(len(line) <= 78 for line in lines):
        return "7bit", "".join(line + "\r\n" for line in lines)
    end = "\r\n" if crlf else "\n"
    return "base64", base64.encodebytes((end.join(lines) + end).encode("utf-8")).decode("ascii").replace("\n", "\r\n")


def render_floor(plan: CheckPlan, *, sender: str, now: dt.datetime, county: str, prefix: str,
                 warnings: list[str]) -> list[tuple[str, list[str], str, str, str, str]]:
    """(recipient, to, subject, Message-ID, raw, entries JSON) of every digest, as the product renders them."""
    env = Environment(loader=PackageLoader("notifications", "templates"), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, keep_trailing_newline=False, auto_reload=False)
    subject_t, text_t, html_t = (env.get_template(n) for n in ("digest_subject.txt", "digest.txt", "digest.html"))
    name, addr = parseaddr(sender)
    domain = addr.rpartition("@")[2]
    head = _address_header("From", name, [addr])
    date = f"Date: {format_datetime(now)}\r\n"
    return [_one(digest, subject_t, text_t, html_t, head, date, domain, county, prefix, warnings) for digest in plan.digests]


def _one(digest: Digest, subject_t: Template, text_t: Template, html_t: Template, head: str, date: str, domain: str,
         county: str, prefix: str, warnings: list[str]) -> tuple[str, list[str], str, str, str, str]:
    entries = digest.entries
    own = [e for e in entries if not e.escalation]
    late = [e for e in entries if e.escalation and e.stage != UNSIGNED]
    unsigned = [e for e in entries if e.escalation and e.stage == UNSIGNED]
    recipient = digest.recipient
    subject = subject_t.render(prefix=prefix, recipient=recipient, parts=_subject_parts(own, late, unsigned)).strip()
    views = {id(e): _Entry(e) for e in own}
    context = {
        "recipient": recipient, "today": digest.run_date.isoformat(), "county": county, "own": own,
        "own_groups": [(code, title, [views[id(e)] for e in group]) for code, title, group in group_by_plan(own)],
        "escalations": sorted(group_by_item(late, digest.several_plans).items()),
        "escalation_roles": "、".join(sorted({_ROLES.get(e.role, e.role) for e in late})), "warnings": warnings,
        "subject": subject, "contact": digest.contact, "link": "", "unit_links": [], "links_of": {},
        "unsigned_units": sorted(group_by_item(unsigned, digest.several_plans).items()),
    }
    text_cte, text = _body(text_t.render(context), True)
    html_cte, html = _body(html_t.render(context), False)
    boundary = ""
    while not boundary or boundary in text or boundary in html:
        boundary = "=" * 15 + str(randrange(10 ** 18, 10 ** 19)) + "=="
    message_id = make_msgid(domain=domain)
    to_header = _address_header("To", recipient, digest.to)
    raw = (f"Subject: {_words(subject)}\r\n{head}{to_header}{date}Message-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
           f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n\r\n'
           f'--{boundary}\r\nContent-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: {text_cte}\r\n\r\n'
           f'{text}\r\n--{boundary}\r\nContent-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: {html_cte}\r\n\r\n'
           f"{html}\r\n--{boundary}--\r\n")
    return recipient, list(digest.to), subject, message_id, raw, json.dumps([e.to_json() for e in entries])


def store_floor(db: Path, plan: CheckPlan, rendered: list[tuple[str, list[str], str, str, str, str]], now: dt.datetime) -> None:
    """Messages, bodies and ledger rows with three executemany statements in one transaction."""
    stamp = now.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat(" ", "microseconds")  # as the product stores it
    run = plan.today.isoformat()
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        first = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM outboxmessage").fetchone()[0]
        ids = {r[0]: first + n for n, r in enumerate(rendered)}
        conn.executemany(
            "INSERT INTO outboxmessage (id, kind, run_date, recipient, to_addrs, subject, message_id, state, attempts, "
            "last_error, created_at) VALUES (?, 'reminder', ?, ?, ?, ?, ?, 'pending', 0, '', ?)",
            [(first + n, run, r[0], json.dumps(r[1]), r[2], r[3], stamp) for n, r in enumerate(rendered)])
        conn.executemany("INSERT INTO outboxbody (id, raw, entries) VALUES (?, ?, ?)",
                         [(first + n, r[4], r[5]) for n, r in enumerate(rendered)])
        conn.executemany(
            "INSERT INTO notice (assignment_id, due_on, stage, rank, sent_on, message_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(n.assignment_id, n.due_on.isoformat(), n.stage, n.rank, run, ids.get(n.recipient), stamp) for n in plan.notices])
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def daily_floor(db: Path, decide: Callable[[], CheckPlan], *, sender: str, now: dt.datetime, county: str, prefix: str,
                warnings: list[str]) -> CheckPlan:
    """The product's decision, then the floor's rendering and storing: the whole daily job at its least."""
    plan = decide()
    store_floor(db, plan, render_floor(plan, sender=sender, now=now, county=county, prefix=prefix, warnings=warnings), now)
    return plan
