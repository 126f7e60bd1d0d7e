"""Rendering the weekly report: an HTML page (also the e-mail's HTML part), plain text, and an .xlsx workbook."""

from __future__ import annotations

import datetime as dt
import functools
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from markupsafe import Markup, escape

from notifications import ledger_sheet, mime, xlsx
from notifications.render import LIGHT_COLORS, LIGHT_LABELS, build_message, templates
from notifications.workbook_process import WorkbookProcess
from tracker.bulk import batched
from tracker.outbox import RenderedMessage
from tracker.queries import DERIVED
from tracker.report import ItemLine, UnitLine, WeeklyReport

CHANGE_LABELS = {"completed": "完成", "overdue": "新逾期", "extension": "延期", "note": "备注"}
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@functools.cache  # three lights, thousands of lines: formatting Markup each time was a third of the page's time
def _light_html(name: str) -> Markup:
    """A light is a colour and a word, never colour alone."""
    color = LIGHT_COLORS.get(name, "#555")
    return Markup('<span class="light light-{0}" style="display:inline-block;padding:1px 6px;border-radius:3px;'
                  'background:{1};color:#fff;font-weight:bold;">{2}</span>').format(name, color, escape(LIGHT_LABELS.get(name, name)))


def figures(report: WeeklyReport) -> list[tuple[str, str, str, str]]:
    t = report.totals
    rate = "—" if t.on_time_rate is None else f"{t.on_time_rate}%"
    return [
        ("assignments", "任务分工", str(t.assignments), "#455a64"),
        ("done", "已完成", str(t.done), "#2e7d32"),
        ("on_time_rate", "按时完成率", rate, "#2e7d32"),
        ("in_progress", "进行中", str(t.in_progress), "#1565c0"),
        ("overdue", "已逾期", str(t.overdue), "#c62828"),
        ("waiting", "待触发", str(t.waiting), "#6d4c41"),
        ("ongoing", "持续推进", str(t.ongoing), "#546e7a"),
    ]


def subject(report: WeeklyReport) -> str:
    t = report.totals
    return f"【工作进度通报】截至{report.as_of}：完成{t.done}/{t.assignments}，逾期{t.overdue}"


@dataclass(frozen=True)
class LedgerFile:
    """Where this week's workbook goes: attached to the mail (``data``), or, when larger than mail servers accept,
    kept in the report folder (``kept_at``) and named in the mail instead."""

    filename: str
    size: int
    data: bytes | None = None
    kept_at: Path | None = None
    limit: int = 0


def ledger_filename(report: WeeklyReport) -> str:
    return f"工作进度台账_{report.as_of.isoformat()}.xlsx"


def _size_text(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB" if size >= 1024 * 1024 else f"{size / 1024:.0f} KB"


def _context(report: WeeklyReport, attached: bool, kept: LedgerFile | None = None, units_max: int | None = None) -> dict[str, object]:
    units, left_out = listed_units(report, units_max)
    where = "附件 Excel 台账" if attached else f"Excel 台账（已保存在 {kept.kept_at}）" if kept and kept.kept_at else "Excel 台账"
    return {"r": report, "figures": figures(report), "light": _light_html, "change_labels": CHANGE_LABELS,
            "subject": subject(report), "attached": attached,
            "kept_at": str(kept.kept_at) if kept and kept.kept_at else "", "kept_size": _size_text(kept.size) if kept else "",
            "attachment_limit": _size_text(kept.limit) if kept else "",
            "units": units, "units_left_out": left_out, "unit_rows": _unit_rows_html, "item_rows": _item_rows_html,
            "red_rows": functools.partial(_red_rows_html, report),
            "left_out_text": (f"另有 {left_out} 个单位没有逾期、黄灯或红灯的任务分工，正文未列出；"
                              f"全部 {len(report.units)} 个单位的完成情况见{where}的“汇总”表。") if left_out else ""}


def _plain(context: dict[str, object]) -> dict[str, object]:
    """The context for the plain-text body: a light is its word."""
    return {**context, "light": lambda name: LIGHT_LABELS.get(name, name), "unit_rows": _unit_rows_text, "item_rows": _item_rows_text,
            "red_rows": functools.partial(_red_rows_text, context["r"])}


# The long lists of the bodies, one row per unit, per item and per red item, are made here rather than in the
# templates: a province's mail lists about 17,000 units, 6,000 items and 3,500 red items, and a template spent about
# 20 µs on each row (an escape and an attribute look-up per value, a call per light), half the time of the HTML body.
# Each format is the text the template's loop wrote, character for character (tests/test_weekly_third_pass.py renders
# the bodies with the former loops and compares).
_UNIT_ROW_HTML = ('\n  <tr data-unit="{0}"><td align="center">{1}</td><td>{2}{0}</td><td align="center">{3}</td>\n'
                  '  <td align="center">{4}</td><td align="center">{5}</td><td align="center">{6}</td><td align="center">{7}</td>'
                  '</tr>\n  ')
_ITEM_ROW_HTML = ('\n  <tr><td>{0}{1}</td><td align="center">{2}</td><td align="center">{3}</td><td align="center">{4}/{5}</td>'
                  '</tr>\n  ')
_RED_ROW_HTML = ('\n  <tr data-item="{0}"><td>{1} {0}{2}</td><td align="center" style="white-space:nowrap;">{3}</td>\n'
                 '  <td align="center">{4}/{5}</td><td>{6} 个：{7}</td></tr>\n  ')
_RED_ROW_TEXT = "  [红灯] 事项 {0} {1}（期限 {2}，完成 {3}/{4}）\n      逾期单位：{5}\n"
_UNIT_ROW_TEXT = "  {0}. {1}：承担 {2}，完成 {3}，按时 {4}，逾期 {5}\n"
_ITEM_ROW_TEXT = "  [{0}] 事项 {1}{2}（期限 {3}，完成 {4}/{5}）\n"
_ROWS_AT_ONCE = 50  # rows joined into one piece of the body (about 12,000 characters): the list is never held whole


def _pieces(rows: Iterator[str], markup: bool) -> Iterator[str]:
    for batch in batched(rows, _ROWS_AT_ONCE):
        yield Markup("".join(batch)) if markup else "".join(batch)


def _unit_rows_html(units: list[tuple[int, UnitLine]]) -> Iterator[str]:
    row, red = _UNIT_ROW_HTML.format, f"{_light_html('red')} "
    return _pieces((row(escape(u.unit), rank, red if u.overdue else "", u.assigned, u.done, u.on_time, u.overdue, u.overdue_days)
                    for rank, u in units), markup=True)


def _item_rows_html(lines: list[ItemLine]) -> Iterator[str]:
    row = _ITEM_ROW_HTML.format
    return _pieces((row(escape(i.key), "" if i.key.endswith(i.title) else f"　{escape(i.title)}", _light_html(i.light),
                        escape(i.due_text), i.done, i.total) for i in lines), markup=True)


def _red_rows_html(report: WeeklyReport, lines: list[ItemLine]) -> Iterator[str]:
    row = _RED_ROW_HTML.format
    return _pieces((row(escape(report.ref(i.plan, i.key)), _light_html(i.light), "" if i.key.endswith(i.title) else f"　{escape(i.title)}",
                        escape(i.due_text), i.done, i.total, len(i.late_units), escape("、".join(i.late_units))) for i in lines),
                   markup=True)


def _red_rows_text(report: WeeklyReport, lines: list[ItemLine]) -> Iterator[str]:
    row = _RED_ROW_TEXT.format
    return _pieces((row(report.ref(i.plan, i.key), i.title, i.due_text, i.done, i.total, "、".join(i.late_units)) for i in lines),
                   markup=False)


def _unit_rows_text(units: list[tuple[int, UnitLine]]) -> Iterator[str]:
    row = _UNIT_ROW_TEXT.format
    return _pieces((row(rank, u.unit, u.assigned, u.done, u.on_time, u.overdue) for rank, u in units), markup=False)


def _item_rows_text(lines: list[ItemLine]) -> Iterator[str]:
    row, word = _ITEM_ROW_TEXT.format, LIGHT_LABELS.get
    return _pieces((row(word(i.light, i.light), i.key, "" if i.key.endswith(i.title) else f" {i.title}", i.due_text, i.done, i.total)
                    for i in lines), markup=False)


def listed_units(report: WeeklyReport, units_max: int | None) -> tuple[list[tuple[int, UnitLine]], int]:
    """The units the message lists, each with its rank among all units, and how many on-track units it leaves out.

    Up to ``units_max`` units (or without a limit) every unit is listed; above it, a province's mail would list tens of
    thousands of units that need nothing, so only those with overdue, yellow or red work are, and the message says how
    many others there are and where the full list is."""
    ranked = list(enumerate(report.units, start=1))
    if units_max is None or len(ranked) <= units_max:
        return ranked, 0
    listed = [(rank, u) for rank, u in ranked if u.overdue or u.flagged]
    return listed, len(ranked) - len(listed)


def render_html(report: WeeklyReport, *, attached: bool = False, kept: LedgerFile | None = None,
                units_max: int | None = None) -> str:
    """The report page; ``attached`` when it goes out with the workbook, so that only then it points at it; ``kept``
    when the workbook was too large to mail, so that the page says where it is; ``units_max``: see ``listed_units``."""
    return templates().get_template("weekly.html").render(_context(report, attached, kept, units_max))


def render_text(report: WeeklyReport, *, attached: bool = False, kept: LedgerFile | None = None,
                units_max: int | None = None) -> str:
    return templates().get_template("weekly.txt").render(
        _plain(_context(report, attached, kept, units_max)))


def render_xlsx(report: WeeklyReport) -> bytes:
    """The workbook's bytes (``write_xlsx`` into memory)."""
    buffer = io.BytesIO()
    write_xlsx(report, buffer)
    return buffer.getvalue()


def write_xlsx(report: WeeklyReport, target: BinaryIO) -> None:
    """A summary sheet and the 台账 (one row per assignment): frozen header, filters, real dates, coloured lights.
    The ledger's rows are made as they are written, so memory does not grow with the number of assignments."""
    xlsx.write_workbook(ledger_sheet.sheets(summary_rows(report), report.ledger.blocks(), light_cells(), DERIVED),
                        target, order=ledger_sheet.WRITE_ORDER)


def light_cells() -> dict[str, xlsx.Styled]:
    """Each light's cell in the 台账: its word on its colour."""
    return {name: xlsx.Styled(label, xlsx.FILL_STYLE[LIGHT_COLORS[name].lstrip("#").upper()]) for name, label in LIGHT_LABELS.items()}


def summary_rows(report: WeeklyReport) -> list[list[object]]:
    """The 汇总 sheet: the figures, every unit's line in rank order, and with several plans, one line per plan."""
    summary: list[list[object]] = [[xlsx.Styled(report.title, xlsx.BOLD)], ["截至", report.as_of], []]
    summary += [[label, _number(report, key)] for key, label, _value, _color in figures(report)]
    summary += [[], [xlsx.Styled(h, xlsx.HEADER) for h in ("单位", "承担", "已完成", "按时完成", "逾期", "逾期天数合计")]]
    summary += [[u.unit, u.assigned, u.done, u.on_time, u.overdue, u.overdue_days] for u in report.units]
    if report.several:
        summary += [[], [xlsx.Styled(h, xlsx.HEADER) for h in ("计划", "代码", "事项", "任务分工", "已完成", "逾期", "红灯事项")]]
        summary += [[p.title or p.code, p.code, p.items, p.totals.assignments, p.totals.done, p.totals.overdue, p.red_items]
                    for p in report.plans]
    return summary


def ledger_file(report: WeeklyReport, folder: Path, limit: int) -> LedgerFile:
    """Write the week's workbook once, streamed; attach it when it is at most ``limit`` bytes (it is held in memory
    only up to that size), otherwise keep it in ``folder`` (replacing that week's earlier file) for the mail to point at."""
    with tempfile.SpooledTemporaryFile(max_size=limit + 1) as spool:  # past the limit it spills to a temporary file
        write_xlsx(report, spool)  # type: ignore[arg-type]
        return place_ledger(spool, ledger_filename(report), folder, limit)  # type: ignore[arg-type]


def place_ledger(written: BinaryIO, filename: str, folder: Path, limit: int) -> LedgerFile:
    """The workbook just written into ``written`` (its position at the end), attached when it is at most ``limit``
    bytes, otherwise copied into ``folder`` as ``filename``, replacing that week's earlier file."""
    size = written.tell()
    written.seek(0)
    if size <= limit:
        return LedgerFile(filename, size, data=written.read(), limit=limit)
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".weekly-", suffix=".xlsx", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            shutil.copyfileobj(written, out)
        kept = folder.resolve() / filename
        os.replace(temporary, kept)  # whole or not at all: a reader never sees half a workbook
    finally:
        Path(temporary).unlink(missing_ok=True)
    return LedgerFile(filename, size, kept_at=kept, limit=limit)


def _number(report: WeeklyReport, key: str) -> object:
    """A figure as Excel should hold it: a count as a number, the rate as a fraction in percent format."""
    if key == "on_time_rate":
        rate = report.totals.on_time_rate
        return "—" if rate is None else xlsx.Styled(rate / 100, xlsx.PERCENT)
    return getattr(report.totals, key)


@dataclass(frozen=True)
class WeeklyParts:
    """The parts of the weekly mail that are the same for every recipient, rendered once; the bodies already encoded
    for the mail, made as the templates write them (a province's bodies are tens of megabytes: never held whole)."""

    subject: str
    text: mime.Encoded
    html: mime.Encoded
    attachments: list[tuple[str, bytes, str]]


def weekly_parts(report: WeeklyReport, ledger: LedgerFile | None = None, *, units_max: int | None = None) -> WeeklyParts:
    """Subject, text, HTML and attachment of the weekly mail; without ``ledger`` the workbook is made in memory;
    ``units_max``: above this many units the bodies list only those needing attention (``listed_units``)."""
    if ledger is None:
        data = render_xlsx(report)
        ledger = LedgerFile(ledger_filename(report), len(data), data=data)
    attached = ledger.data is not None
    text, html = _bodies(report, None if attached else ledger, units_max)
    return WeeklyParts(subject(report), text, html, [(ledger.filename, ledger.data, XLSX_MIME)] if attached else [])


def written_parts(writer: WorkbookProcess, report: WeeklyReport, folder: Path, limit: int, *,
                  units_max: int | None = None) -> WeeklyParts:
    """``weekly_parts`` for the weekly job, whose workbook a writer process made as the report was built: the writer
    is sent the 汇总 and completes the file while the bodies are rendered as for an attached workbook, which is what a
    file under ``limit`` gets; they are rendered again, saying where the file is kept, only if it turns out larger
    (not at all when it is past the limit already)."""
    filename = ledger_filename(report)
    writer.complete(summary_rows(report))
    early = _bodies(report, None, units_max) if writer.written_bytes() <= limit else None
    ledger = place_ledger(writer.wait(), filename, folder, limit)
    attached = ledger.data is not None
    text, html = early if early is not None and attached else _bodies(report, None if attached else ledger, units_max)
    return WeeklyParts(subject(report), text, html, [(filename, ledger.data, XLSX_MIME)] if attached else [])


def _bodies(report: WeeklyReport, kept: LedgerFile | None, units_max: int | None) -> tuple[mime.Encoded, mime.Encoded]:
    """The text and HTML bodies, encoded as they are made: for the workbook attached (``kept`` None), or kept in the
    report folder, which they then name."""
    context = _context(report, kept is None, kept, units_max)
    text = templates().get_template("weekly.txt").generate(_plain(context))
    html = templates().get_template("weekly.html").generate(context)
    return mime.encode_chunks(text, "plain"), mime.encode_chunks(html, "html")


def render_weekly_message(
    report: WeeklyReport, *, recipient: str, to: list[str], sender: str, now: dt.datetime, parts: WeeklyParts | None = None,
) -> RenderedMessage:
    """The report as an e-mail: HTML with a plain-text part, and the workbook attached (or where it is kept)."""
    parts = parts or weekly_parts(report)
    return build_message(
        recipient=recipient, to=to, subject=parts.subject, text=parts.text, html=parts.html,
        sender=sender, now=now, entries=[{"report": "weekly", "as_of": report.as_of.isoformat()}],
        attachments=parts.attachments,
    )
