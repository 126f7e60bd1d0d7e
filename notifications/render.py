"""Building messages: subject, plain text and HTML from templates, then a MIME message.

Building is separate from sending, so a message can be stored and sent again byte for byte.
Every header value that comes from data (unit names, addresses) is flattened to one line, so a
name with CR/LF cannot add a header.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid, parseaddr
from typing import TYPE_CHECKING

from notifications import mime
from notifications.errors import TransportConfigError
from tracker.outbox import RenderedMessage
from tracker.reminders import Digest, DigestEntry, group_by_item, group_by_plan, timing_words

if TYPE_CHECKING:
    from jinja2 import Environment, Template


@functools.cache
def templates() -> Environment:
    """The Jinja2 environment, made (and Jinja2 imported) when the first message is rendered: the CLI's
    read-only commands start without it."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=PackageLoader("notifications", "templates"), autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined, keep_trailing_newline=False,
        auto_reload=False,  # compiled once per process: the templates ship with the package and do not change under it
    )


@functools.cache
def _template(name: str) -> Template:
    """One of the digest's templates, looked up once: the daily job renders three per message, and asking the
    environment each time (its cache is keyed by loader and name, checked per call) cost a few percent of rendering."""
    return templates().get_template(name)


LIGHT_COLORS = {"green": "#2e7d32", "yellow": "#b8860b", "red": "#c62828"}
LIGHT_LABELS = {"green": "绿灯", "yellow": "黄灯", "red": "红灯"}
ROLE_LABELS = {"lead": "主管责任单位", "guiding": "指导责任单位", "county_office": "县政府办公室"}
_BREAKS = re.compile(r"[\r\n\t\v\f\x00-\x1f]+")


def one_line(text: str) -> str:
    return _BREAKS.sub(" ", text).strip()


def _address(name: str, addr: str) -> Address:
    addr = addr.strip()
    if _BREAKS.search(addr) or "@" not in addr:
        raise TransportConfigError(f"邮箱地址“{addr!r}”无效（含换行或缺少 @）。请用 tracker units set 修正。")
    local, _, domain = addr.rpartition("@")
    return Address(display_name=one_line(name), username=local, domain=domain)


@functools.lru_cache(maxsize=16)
def sender_address(sender: str) -> Address:
    name, addr = parseaddr(sender)
    if "@" not in addr or _BREAKS.search(sender):
        raise TransportConfigError(f"配置项 mail.sender 的值“{sender}”不是有效的发件人，请写成 名称 <地址>。")
    return _address(name, addr)


_LIGHTS = {light: (label, LIGHT_COLORS[light]) for light, label in LIGHT_LABELS.items()}


class _EntryView:
    """An entry as the templates see it: the fields they read, what those derive (heading, timing) and the light's
    label and colour, all plain attributes set once. The templates read a dozen of them per entry, and a province's
    morning has about 50,000 entries: looking each up through ``__getattr__`` and recomputing the derived ones was a
    fifth of rendering, and copying every field of the entry through ``attrgetter`` (most of which no template reads)
    still took three times as long as these assignments. A template reading a field not set here fails loudly
    (the environment's undefined is strict): add it here."""

    def __init__(self, entry: DigestEntry) -> None:
        self.item, self.occurrence, self.unit, self.on_behalf = entry.item, entry.occurrence, entry.unit, entry.on_behalf
        self.task, self.domain, self.heading = entry.task, entry.domain, entry.heading
        self.progress, self.note, self.signed = entry.progress, entry.note, entry.signed
        self.due, self.days_left = entry.due, entry.days_left
        self.timing = timing_words(entry.due, entry.days_left)
        self.light_label, self.light_color = _LIGHTS.get(entry.light) or (entry.light, "#555")


def subject_parts(digest: Digest) -> list[str]:
    own = digest.own
    overdue = sum(1 for e in own if e.days_left < 0)
    soon = sum(1 for e in own if 0 <= e.days_left <= 7)
    later = sum(1 for e in own if e.days_left > 7)
    parts = [f"{n}项{label}" for n, label in ((soon, "7日内到期"), (later, "即将到期"), (overdue, "已逾期")) if n]
    late_units = {e.unit for e in digest.escalations}
    if late_units:
        parts.append(f"督办{len(late_units)}个单位逾期")
    unsigned = {e.unit for e in digest.unsigned}
    if unsigned:
        parts.append(f"{len(unsigned)}个单位未按时签收")
    return parts


def render_subject(digest: Digest, prefix: str) -> str:
    return one_line(_template("digest_subject.txt").render(
        {"prefix": prefix, "recipient": one_line(digest.recipient), "parts": subject_parts(digest)}))


def render_digest(
    digest: Digest, *, sender: str, now: dt.datetime, county: str, prefix: str, warnings: list[str], link: str = "",
    unit_links: dict[str, str] | None = None,
) -> RenderedMessage:
    """One digest as a multipart/alternative message (plain text and HTML), with its own Message-ID.

    ``link`` is the recipient unit's own link; ``unit_links`` the links of units whose mail it receives (代收), one
    per such unit with work in this digest, since each unit signs and reports through its own link."""
    late = digest.escalations
    subject = render_subject(digest, prefix)
    own = digest.own
    views = {id(e): _EntryView(e) for e in own}  # one view per entry, shared by the flat list and the plan groups
    context = {
        "recipient": one_line(digest.recipient), "today": digest.run_date.isoformat(), "county": county,
        "own": own,
        "own_groups": [(code, title, [views[id(e)] for e in group]) for code, title, group in group_by_plan(own)],
        "escalations": sorted(group_by_item(late, digest.several_plans).items()),
        "escalation_roles": "、".join(sorted({ROLE_LABELS.get(e.role, e.role) for e in late})), "warnings": warnings,
        "subject": subject, "contact": digest.contact, "link": link,
        "unit_links": sorted((unit_links or {}).items()),
        "links_of": {**(unit_links or {}), **({digest.recipient: link} if link else {})},
        "unsigned_units": sorted(group_by_item(digest.unsigned, digest.several_plans).items()),
    }
    text = _template("digest.txt").render(context)
    html = _template("digest.html").render(context)
    return build_message(
        recipient=digest.recipient, to=digest.to, subject=subject, text=text, html=html, sender=sender, now=now,
        entries=[e.to_json() for e in digest.entries],
    )


def _date_header(now: dt.datetime) -> str:
    """The Date header, written once for the job's moment rather than once per message (keyed by the offset too: the
    same moment in another zone is equal, and hashes alike, but is written differently)."""
    return _date_line(now, now.utcoffset())


@functools.lru_cache(maxsize=4)
def _date_line(now: dt.datetime, _offset: dt.timedelta | None) -> str:
    return f"Date: {format_datetime(now)}\r\n"


def build_message(
    *, recipient: str, to: list[str], subject: str, text: str | mime.Encoded, html: str | mime.Encoded | None, sender: str,
    now: dt.datetime,
    entries: list[dict[str, object]], attachments: list[tuple[str, bytes, str]] = (),  # type: ignore[assignment]
) -> RenderedMessage:
    from_address = sender_address(sender)
    recipients = [_address(recipient, addr) for addr in to]
    if mime.simple_enough([from_address, *recipients]):
        message_id = make_msgid(domain=from_address.domain)
        headers = (mime.unstructured("Subject", one_line(subject)) + mime.addresses("From", [from_address])
                   + mime.addresses("To", recipients) + f"{_date_header(now)}Message-ID: {message_id}\r\n")
        return RenderedMessage(recipient=recipient, to=list(to), subject=one_line(subject), message_id=message_id,
                               raw=mime.assemble(headers=headers, text=text, html=html, attachments=attachments),
                               entries=entries)
    message = EmailMessage(policy=SMTP)
    message["Subject"] = one_line(subject)
    message["From"] = from_address
    message["To"] = recipients
    message["Date"] = format_datetime(now)
    message_id = make_msgid(domain=from_address.domain)
    message["Message-ID"] = message_id
    message.set_content(mime.as_text(text), subtype="plain", charset="utf-8")
    if html is not None:
        message.add_alternative(mime.as_text(html), subtype="html", charset="utf-8")
    for filename, data, content_type in attachments:
        maintype, _, subtype = content_type.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return RenderedMessage(recipient=recipient, to=list(to), subject=message["Subject"], message_id=message_id,
                           raw=message.as_string(), entries=entries)
