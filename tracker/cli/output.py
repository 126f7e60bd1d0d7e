"""Printing for people (Chinese, aligned tables) and for scripts (JSON).

rich is imported when something is printed through it: a script reading `--json` from a pipe does not pay for it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text


@cache
def _consoles() -> tuple[Console, Console]:
    from rich.console import Console

    return (Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160),
            Console(stderr=True, highlight=False, soft_wrap=True))


def __getattr__(name: str) -> Any:
    """``output.console`` (stdout) and ``output.errors`` (stderr), made when first used."""
    if name == "console":
        return _consoles()[0]
    if name == "errors":
        return _consoles()[1]
    raise AttributeError(name)

LIGHT_STYLE = {"green": "green", "yellow": "yellow", "red": "bold red"}
LIGHT_LABEL = {"green": "● 绿", "yellow": "● 黄", "red": "● 红"}


def print_json(data: Any) -> None:
    """Indented for a person at a terminal; compact into a pipe or file, where Python's C encoder does the work
    (indenting falls back to the pure-Python one, several times slower on a province's listing)."""
    indent = 2 if sys.stdout.isatty() else None
    write_all(json.dumps(data, ensure_ascii=False, indent=indent, default=str) + "\n")


def write_all(text: str) -> None:
    """All of ``text`` on stdout, even when a write is cut short.

    A write into a full pipe that is stopped and continued (Ctrl-Z, then `fg`) returns after the part that fitted,
    and Python's buffered stdout reports that part as written and drops the rest (CPython 3.11: a 221 kB listing
    came out as 4 kB, exit code 0). A script reading --json would get a truncated document, so every part is
    written until none is left."""
    stream = sys.stdout
    buffer = getattr(stream, "buffer", None)
    if buffer is None:  # a replaced stdout without bytes underneath (a test's capture): it takes text whole
        stream.write(text)
        return
    stream.flush()
    data = memoryview(text.encode(stream.encoding or "utf-8", stream.errors or "strict"))
    while data:
        written = buffer.write(data)
        data = data[written if written else len(data):]


def table(title: str | None, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """An aligned table; rich measures CJK characters as two columns wide."""
    from rich.table import Table
    from rich.text import Text

    out = Table(title=title, show_lines=False, title_justify="left", header_style="bold")
    for header in headers:
        out.add_column(header, overflow="fold")
    for row in rows:
        out.add_row(*[cell if isinstance(cell, Text) else Text("" if cell is None else str(cell)) for cell in row])
    _consoles()[0].print(out)


def light(name: str) -> Text:
    from rich.text import Text

    return Text(LIGHT_LABEL.get(name, name), style=LIGHT_STYLE.get(name, ""))


def short(text: str, width: int = 28) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def say(message: str) -> None:
    _consoles()[0].print(message, markup=False)


_warned: set[str] = set()


def warn(message: str) -> None:
    from rich.text import Text

    _warned.add(message)
    _consoles()[1].print(Text("警告：" + message, style="yellow"))


_LEVELS = {"DEBUG": "调试", "INFO": "信息", "WARNING": "警告", "ERROR": "错误", "CRITICAL": "严重"}


class _LocalFormatter(logging.Formatter):
    """Log lines for the office: the time in the configured zone with its offset, the level in Chinese."""

    def __init__(self, tz: dt.tzinfo) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s")
        self.tz = tz

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 (logging's name)
        return dt.datetime.fromtimestamp(record.created, self.tz).isoformat(timespec="seconds")

    def format(self, record: logging.LogRecord) -> str:
        record.levelname = _LEVELS.get(record.levelname, record.levelname)
        return super().format(record)


def setup_logging(tz: dt.tzinfo, level: int) -> None:
    """Our lines at ``level``; APScheduler's own (English) lines only when something is wrong."""
    handler = logging.StreamHandler()
    handler.setFormatter(_LocalFormatter(tz))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def progress(message: str) -> None:
    """A note on stderr that long work is under way; stdout stays clean for --json."""
    _consoles()[1].print(message, markup=False)


def forget_warnings() -> None:
    """A new command starts (tests run many in one process)."""
    _warned.clear()


def warn_once(message: str) -> None:
    """A warning the command may already have shown (the holiday-data warning): shown only if it has not."""
    if message not in _warned:
        warn(message)
