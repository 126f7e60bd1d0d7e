"""Making text that people paste safe to store and to write into any file format.

Text pasted from Word carries control characters: ``\\x0b`` is Word's manual line break, ``\\x0c``
a page break, and stray ``\\x01``..``\\x1f`` come with copied fields. XML 1.0 (and so .xlsx, .docx
and HTML) forbids all C0 controls but TAB, LF and CR, and one of them makes a whole workbook
unreadable. So text is cleaned where it enters (status notes, unit names, imported plans) and again
where XML is written: line breaks become ``\\n`` and every other control character is dropped.
"""

from __future__ import annotations

import re

# CR LF, CR, VT, FF, the file/group/record separators, NEL and the Unicode line/paragraph separators
_BREAKS = re.compile("\r\n|[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
# every other C0 control but TAB and LF, DEL, lone surrogates (undecodable bytes in argv), and U+FFFE and U+FFFF,
# which are not characters and which XML 1.0 forbids as well
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1b\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_ANY_BREAK = re.compile("[\t\n]+")


def clean_text(text: str) -> str:
    """Multi-line text as a reader expects it: line breaks as ``\\n``, TAB kept, other control characters removed."""
    return _CONTROLS.sub("", _BREAKS.sub("\n", text))


def clean_line(text: str) -> str:
    """One-line text (a name, a phone number): line breaks and TABs become one space, then ``clean_text``."""
    return _ANY_BREAK.sub(" ", clean_text(text)).strip()


def has_controls(text: str) -> bool:
    """Whether ``clean_text`` would change ``text``."""
    return bool(_CONTROLS.search(text) or _BREAKS.search(text))
