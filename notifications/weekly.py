"""Rendering the weekly report: an HTML page (also the e-mail's HTML part), plain text, and an .xlsx workbook."""

from __future__ import annotations

import datetime as dt
import io
from copy import copy
from typing import Any

from markupsafe import Markup, escape
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from notifications.render import LIGHT_COLORS, LIGHT_LABELS, _env, build_message
from tracker.outbox import RenderedMessage
from tracker.queries import DERIVED
from tracker.report import WeeklyReport

CHANGE_LABELS = {"completed": "完成", "overdue": "新逾期", "extension": "延期", "note": "备注"}
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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


def _context(report: WeeklyReport) -> dict[str, object]:
    return {"r": report, "figures": figures(report), "light": _light_html, "change_labels": CHANGE_LABELS,
            "subject": subject(report)}


def render_html(report: WeeklyReport) -> str:
    return _env.get_template("weekly.html").render(_context(report))


def render_text(report: WeeklyReport) -> str:
    return _env.get_template("weekly.txt").render({**_context(report), "light": lambda name: LIGHT_LABELS.get(name, name)})


_FILLS = {name: PatternFill("solid", fgColor=color.lstrip("#").upper()) for name, color in LIGHT_COLORS.items()}
_HEADER = PatternFill("solid", fgColor="DDDDDD")
_LEDGER_HEADERS = ["事项编号", "工作任务", "事项", "责任单位", "状态", "灯", "原定期限", "现期限", "完成日期", "逾期天数", "进度(%)", "备注", "佐证"]
_LEDGER_WIDTHS = (14, 24, 36, 22, 10, 6, 12, 12, 12, 10, 9, 30, 24)


def _cell(sheet: Any, value: object, **style: object) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=value)
    for name, setting in style.items():
        setattr(cell, name, setting)
    return cell


def render_xlsx(report: WeeklyReport) -> bytes:
    """A summary sheet and the 台账 (one row per assignment): frozen header, filters, real dates, coloured lights.

    Written in openpyxl's streaming mode: a province's ledger has hundreds of thousands of rows.
    """
    book = Workbook(write_only=True)
    summary = book.create_sheet("汇总")
    summary.column_dimensions["A"].width = 28
    summary.append([report.title])
    summary.append(["截至", _cell(summary, report.as_of, number_format="yyyy-mm-dd")])
    summary.append([])
    for _key, label, value, _color in figures(report):
        summary.append([label, value])
    summary.append([])
    summary.append(["单位", "承担", "已完成", "按时完成", "逾期", "逾期天数合计"])
    for unit in report.units:
        summary.append([unit.unit, unit.assigned, unit.done, unit.on_time, unit.overdue, unit.overdue_days])
    ledger = book.create_sheet("台账")
    ledger.freeze_panes = "A2"
    ledger.auto_filter.ref = f"A1:{get_column_letter(len(_LEDGER_HEADERS))}{len(report.ledger) + 1}"
    for column, width in enumerate(_LEDGER_WIDTHS, start=1):
        ledger.column_dimensions[get_column_letter(column)].width = width
    bold, white = Font(bold=True), Font(color="FFFFFF", bold=True)
    ledger.append([_cell(ledger, h, font=bold, fill=_HEADER, alignment=Alignment(horizontal="center")) for h in _LEDGER_HEADERS])
    # one styled prototype per light; each row's light cell takes a copy of its style (styling cells one by one is slow)
    lights = {name: _cell(ledger, label, fill=_FILLS[name], font=white) for name, label in LIGHT_LABELS.items()}
    for view, a in report.ledger:
        light = WriteOnlyCell(ledger, value=lights[a.light].value)
        light._style = copy(lights[a.light]._style)
        ledger.append([
            view.item.key, view.task_title, view.item.title, a.unit, DERIVED.get(a.status, a.status), light,
            a.due, a.effective_due, a.completed_on,  # openpyxl formats dates as yyyy-mm-dd by itself
            a.overdue_days, a.progress, a.note, a.evidence,
        ])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def render_weekly_message(
    report: WeeklyReport, *, recipient: str, to: list[str], sender: str, now: dt.datetime
) -> RenderedMessage:
    """The report as an e-mail: HTML with a plain-text part, and the workbook attached."""
    filename = f"工作进度台账_{report.as_of.isoformat()}.xlsx"
    return build_message(
        recipient=recipient, to=to, subject=subject(report), text=render_text(report), html=render_html(report),
        sender=sender, now=now, entries=[{"report": "weekly", "as_of": report.as_of.isoformat()}],
        attachments=[(filename, render_xlsx(report), XLSX_MIME)],
    )
