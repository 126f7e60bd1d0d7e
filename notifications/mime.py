"""A digest's MIME message assembled directly as text: the same structure the standard library writes, at a fraction
of its cost.

`email.message.EmailMessage` parses every header back through its header registry and refolds it on output;
for a province's morning (about 4,000 digests) that was most of the daily job. A digest is always the same
shape: a few headers, a multipart/alternative with a plain-text and an HTML part. ``assemble`` writes that
shape: headers as RFC 2047 encoded words folded under 78 columns, bodies in base64 (or 7bit when plain ASCII
with short lines), CRLF line ends. Anything outside that shape (attachments, addresses that are not plain
ASCII) goes through the standard library instead (``simple_enough``); tests parse what this writes back
with `email` and compare it with the standard library's message.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import random
import re
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from email.headerregistry import Address
from typing import NamedTuple

from tracker.bulk import batched

_ATEXT = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]*")
_ENCODED_BYTES = 42  # bytes of UTF-8 per encoded word: 56 base64 characters, 68 with the =?utf-8?b?…?= around them
MAX_LINE = 78


def simple_enough(addresses: Sequence[Address]) -> bool:
    """Addresses this module writes as the standard library would: ASCII mailbox names (display names may be anything)."""
    return all(a.addr_spec.isascii() and "\"" not in a.addr_spec and " " not in a.addr_spec for a in addresses)


def _words(text: str) -> list[str]:
    """``text`` as RFC 2047 encoded words, each whole characters of at most 42 bytes of UTF-8 (a line of its own stays
    under 78 columns, also after ``Subject: ``): the UTF-8 is cut at the last character boundary (a byte that is not
    a continuation byte, 0b10xxxxxx) at or before 42 bytes."""
    data, words, start = text.encode("utf-8"), [], 0
    while start < len(data):
        end = start + _ENCODED_BYTES
        if end >= len(data):
            end = len(data)
        else:
            while data[end] & 0xC0 == 0x80:
                end -= 1
        words.append("=?utf-8?b?" + base64.b64encode(data[start:end]).decode("ascii") + "?=")
        start = end
    return words


def unstructured(name: str, value: str) -> str:
    """``Name: value`` for a free-text header (Subject): as is when short ASCII, else encoded words, one per line."""
    if value.isascii() and value.isprintable() and len(name) + 2 + len(value) <= MAX_LINE and value == value.strip():
        return f"{name}: {value}\r\n"
    return f"{name}: " + "\r\n ".join(_words(value)) + "\r\n"


def _phrase(display: str) -> str:
    if not display:
        return ""
    if display.isascii() and _ATEXT.fullmatch(display) and display == display.strip() and "  " not in display:
        return display
    if display.isascii() and display.isprintable():
        return '"' + display.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "\r\n ".join(_words(display))


def addresses(name: str, values: Sequence[Address]) -> str:
    """``Name: a, b`` for an address header, each address on its own line after the first."""
    shown = []
    for number, address in enumerate(values):
        phrase = _phrase(address.display_name)
        if not phrase:
            shown.append(address.addr_spec)
            continue
        last = phrase.rsplit("\r\n", 1)[-1]
        start = len(name) + 2 if number == 0 and "\r\n" not in phrase else 1
        gap = " " if start + len(last) + len(address.addr_spec) + 4 <= MAX_LINE else "\r\n "  # "<", ">", "," and a space
        shown.append(f"{phrase}{gap}<{address.addr_spec}>")
    return f"{name}: " + ",\r\n ".join(shown) + "\r\n"


def _body(text: str, subtype: str) -> tuple[str, str]:
    """(Content-Transfer-Encoding, encoded body) of one text part, ending in CRLF."""
    lines = text.splitlines()
    if text.isascii() and all(len(line) <= MAX_LINE for line in lines) and "\r" not in text:
        return "7bit", "".join(line + "\r\n" for line in lines)
    # the standard library ends the lines of a plain part with CRLF before encoding and an HTML part with LF
    joined = ("\r\n" if subtype == "plain" else "\n").join(lines) + ("\r\n" if subtype == "plain" else "\n")
    return "base64", base64_lines(joined.encode("utf-8"))


def base64_lines(data: bytes) -> str:
    """``base64.encodebytes`` (lines of 76 characters) with CRLF line ends: the data encoded in one call, then cut into
    lines, instead of one call per 57 bytes (a weekly mail is tens of megabytes)."""
    encoded = binascii.b2a_base64(data, newline=False).decode("ascii")
    size = len(encoded)
    if not size:
        return ""
    return "\r\n".join(map(encoded.__getitem__, map(slice, range(0, size, 76), range(76, size + 76, 76)))) + "\r\n"


def _boundary(parts: Sequence[str]) -> str:
    while True:
        token = "=" * 15 + str(random.randrange(10 ** 18, 10 ** 19)) + "=="
        if not any(token in part for part in parts):
            return token


def _attachment(filename: str, data: bytes, content_type: str) -> str:
    """An attachment part: the file name in RFC 2231 form (UTF-8, percent-encoded, continued over short lines)."""
    quoted = urllib.parse.quote(filename, safe="")
    pieces, rest = [], quoted
    while rest:
        cut = min(len(rest), 45)  # " filename*0*=utf-8''" and a piece stay under 78 columns
        while cut < len(rest) and "%" in rest[cut - 2:cut]:  # never split a %XX escape
            cut -= 1
        pieces.append(rest[:cut])
        rest = rest[cut:]
    names = ";\r\n ".join(f"filename*{n}*={'utf-8' + chr(39) * 2 if n == 0 else ''}{piece}" for n, piece in enumerate(pieces))
    body = base64_lines(data)
    return (f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: base64\r\n"
            f"Content-Disposition: attachment;\r\n {names}\r\n\r\n{body}")


class Encoded(NamedTuple):
    """A body already encoded as ``_body`` encodes it, in pieces (``encode_chunks``): a province's weekly report is tens
    of megabytes of text, and holding it whole, then encoded, then joined into the message, was most of the job's
    peak memory."""

    cte: str
    pieces: list[str]

    def text(self) -> str:
        """The text again, for the standard library's path (addresses this module does not write)."""
        data = "".join(self.pieces)
        return base64.b64decode(data).decode("utf-8") if self.cte == "base64" else data.replace("\r\n", "\n")


def as_text(body: str | Encoded) -> str:
    """A body as text, whether it came as text or already encoded."""
    return body.text() if isinstance(body, Encoded) else body


# str.splitlines' line boundaries, which ``_body`` turns into one line end
_BOUNDARIES = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_OTHER_BOUNDARY = re.compile("[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")  # the boundaries but "\n"
_BLOCK = 57 * 1024  # bytes of UTF-8 per base64 piece: whole 76-column lines


def _batches(chunks: Iterable[str], count: int = 256) -> Iterator[str]:
    """The chunks joined ``count`` at a time: a template yields one chunk per value it writes, a province's report
    about 800,000 of them, and taking them in C (``islice``) instead of one Python step each halves the encoding. A
    batch is at most ``count`` chunks, not a size: a writer of long chunks keeps them short (``weekly._ROWS_AT_ONCE``),
    or a batch of them would be held whole (at 1M, 256 pieces of a thousand rows were the whole unit list)."""
    for batch in batched(chunks, count):
        yield "".join(batch)


def encode_chunks(chunks: Iterable[str], subtype: str) -> Encoded:
    """What ``_body`` makes of the text the chunks join into, made as they come (a template's ``generate``): the text,
    its UTF-8 and its base64 are never held whole, only the encoded pieces."""
    end = "\r\n" if subtype == "plain" else "\n"
    pieces: list[str] = []
    kept: list[str] = []  # the text while it is plain ASCII, in case it is sent as 7bit after all
    pending, carry = b"", ""
    ascii_only, has_cr, line, longest, ended = True, False, 0, 0, True
    for chunk in itertools.chain(_batches(chunks), [None]):  # None: the end, where a held-back "\r" is let out
        if chunk is None:
            text, carry = carry, ""
        else:
            text, carry = carry + chunk, ""
            if text.endswith("\r"):  # it may be the first half of CRLF: wait for the next chunk
                text, carry = text[:-1], "\r"
        if not text:
            continue
        has_cr = has_cr or "\r" in text
        # nearly every batch has no line boundary but "\n": one scan to find that out, not a substitution
        normalised = _BOUNDARIES.sub(end, text) if _OTHER_BOUNDARY.search(text) else text.replace("\n", end) if end != "\n" else text
        ended = _BOUNDARIES.fullmatch(text[-1]) is not None
        if ascii_only:
            ascii_only = text.isascii()
            if ascii_only:
                for n, part in enumerate(_BOUNDARIES.split(text)):
                    line = len(part) if n else line + len(part)
                    longest = max(longest, line)
                kept.append(text)
            else:
                kept.clear()
        pending += normalised.encode("utf-8")
        if len(pending) >= _BLOCK:
            cut = len(pending) // 57 * 57
            pieces.append(base64_lines(pending[:cut]))
            pending = pending[cut:]
    if not ended:
        pending += end.encode("ascii")
    if ascii_only and longest <= MAX_LINE and not has_cr:
        return Encoded(*_body("".join(kept), subtype))  # plain ASCII with short lines: as ``_body``, 7bit
    if pending:
        pieces.append(base64_lines(pending))
    return Encoded("base64", pieces)


def _encoded(text: str | Encoded, subtype: str) -> tuple[str, list[str]]:
    if isinstance(text, Encoded):
        return text.cte, text.pieces
    cte, body = _body(text, subtype)
    return cte, [body]


def assemble(*, headers: str, text: str | Encoded, html: str | Encoded | None,
             attachments: Sequence[tuple[str, bytes, str]] = ()) -> str:
    """A whole message: ``headers`` (already folded, each ending in CRLF) and a plain-text part, with an HTML
    alternative when ``html`` is given, and ``attachments`` (file name, content, MIME type) after them. The message is
    joined once from its pieces: a weekly report with its workbook is tens of megabytes."""
    cte, body = _encoded(text, "plain")
    plain = f'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n'
    if html is None:
        content = [f"{plain}\r\n", *body]
    else:
        html_cte, html_body = _encoded(html, "html")
        boundary = _boundary((*body, *html_body))
        content = [f"Content-Type: multipart/alternative;\r\n boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\n{plain}\r\n", *body,
                   f"\r\n--{boundary}\r\nContent-Type: text/html; charset=\"utf-8\"\r\nContent-Transfer-Encoding: {html_cte}\r\n\r\n",
                   *html_body, f"\r\n--{boundary}--\r\n"]
    if not attachments:
        return "".join([headers, "MIME-Version: 1.0\r\n", *content])
    parts = [content, *([_attachment(*attachment)] for attachment in attachments)]
    outer = _boundary([piece for part in parts for piece in part])
    pieces = [headers, f"MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n boundary=\"{outer}\"\r\n\r\n"]
    for part in parts:
        pieces += (f"--{outer}\r\n", *part, "\r\n")
    pieces.append(f"--{outer}--\r\n")
    return "".join(pieces)
