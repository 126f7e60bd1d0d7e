"""Rendering the weekly report: an HTML page (also the e-mail's HTML part), plain text, and an .xlsx workbook."""

from __future__ import annotations

import datetime as dt
import io

from markupsafe import Markup, escape
from openpyxl import Workbook
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


def render_xlsx(report: WeeklyReport) -> bytes:
    """A summary sheet and the 台账 (one row per assignment): frozen header, filters, real dates, coloured lights."""
    book = Workbook()
    summary = book.active
    summary.title = "汇总"
    summary.append([report.title])
    summary.append(["截至", report.as_of])
    summary.cell(row=2, column=2).number_format = "yyyy-mm-dd"
    summary.append([])
    for _key, label, value, _color in figures(report):
        summary.append([label, value])
    summary.append([])
    summary.append(["单位", "承担", "已完成", "按时完成", "逾期", "逾期天数合计"])
    for unit in report.units:
        summary.append([unit.unit, unit.assigned, unit.done, unit.on_time, unit.overdue, unit.overdue_days])
    summary.column_dimensions["A"].width = 28
    ledger = book.create_sheet("台账")
    headers = ["事项编号", "工作任务", "事项", "责任单位", "状态", "灯", "原定期限", "现期限", "完成日期", "逾期天数", "进度(%)", "备注", "佐证"]
    ledger.append(headers)
    for view, a in report.ledger:
        ledger.append([
            view.item.key, view.task_title, view.item.title, a.unit, DERIVED.get(a.status, a.status),
            LIGHT_LABELS.get(a.light, a.light), a.due, a.effective_due, a.completed_on, a.overdue_days, a.progress,
            a.note, a.evidence,
        ])
        row = ledger.max_row
        ledger.cell(row=row, column=6).fill = _FILLS[a.light]
        ledger.cell(row=row, column=6).font = Font(color="FFFFFF", bold=True)
        for column in (7, 8, 9):
            ledger.cell(row=row, column=column).number_format = "yyyy-mm-dd"
    for column, _ in enumerate(headers, start=1):
        cell = ledger.cell(row=1, column=column)
        cell.font, cell.fill, cell.alignment = Font(bold=True), _HEADER, Alignment(horizontal="center")
    ledger.freeze_panes = "A2"
    ledger.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{ledger.max_row}"
    for column, width in zip("ABCDEFGHIJKLM", (14, 24, 36, 22, 10, 6, 12, 12, 12, 10, 9, 30, 24)):
        ledger.column_dimensions[column].width = width
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
