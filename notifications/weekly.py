"""Rendering the weekly report: an HTML page (also the e-mail's HTML part), plain text, and an .xlsx workbook."""

from __future__ import annotations

import datetime as dt

from markupsafe import Markup, escape

from notifications import xlsx
from notifications.render import LIGHT_COLORS, LIGHT_LABELS, build_message, templates
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


def _context(report: WeeklyReport, attached: bool) -> dict[str, object]:
    return {"r": report, "figures": figures(report), "light": _light_html, "change_labels": CHANGE_LABELS,
            "subject": subject(report), "attached": attached}


def render_html(report: WeeklyReport, *, attached: bool = False) -> str:
    """The report page; ``attached`` when it goes out with the workbook, so that only then it points at it."""
    return templates().get_template("weekly.html").render(_context(report, attached))


def render_text(report: WeeklyReport, *, attached: bool = False) -> str:
    return templates().get_template("weekly.txt").render(
        {**_context(report, attached), "light": lambda name: LIGHT_LABELS.get(name, name)})


_LEDGER_HEADERS = ["事项编号", "工作任务", "事项", "责任单位", "状态", "灯", "原定期限", "现期限", "完成日期", "逾期天数", "进度(%)", "备注", "佐证",
                   "计划"]
_LEDGER_WIDTHS = (14, 24, 36, 22, 10, 6, 12, 12, 12, 10, 9, 30, 24, 14)


def render_xlsx(report: WeeklyReport) -> bytes:
    """A summary sheet and the 台账 (one row per assignment): frozen header, filters, real dates, coloured lights."""
    lights = {name: xlsx.Styled(label, xlsx.FILL_STYLE[LIGHT_COLORS[name].lstrip("#").upper()])
              for name, label in LIGHT_LABELS.items()}
    summary = [[xlsx.Styled(report.title, xlsx.BOLD)], ["截至", report.as_of], []]
    summary += [[label, _number(report, key)] for key, label, _value, _color in figures(report)]
    summary += [[], [xlsx.Styled(h, xlsx.HEADER) for h in ("单位", "承担", "已完成", "按时完成", "逾期", "逾期天数合计")]]
    summary += [[u.unit, u.assigned, u.done, u.on_time, u.overdue, u.overdue_days] for u in report.units]
    if report.several:
        summary += [[], [xlsx.Styled(h, xlsx.HEADER) for h in ("计划", "代码", "事项", "任务分工", "已完成", "逾期", "红灯事项")]]
        summary += [[p.title or p.code, p.code, p.items, p.totals.assignments, p.totals.done, p.totals.overdue, p.red_items]
                    for p in report.plans]
    ledger: list[list[object]] = [[xlsx.Styled(h, xlsx.HEADER) for h in _LEDGER_HEADERS]]
    ledger += [[view.item.key + (f"（{a.occurrence}期）" if a.occurrence else ""), view.task_title, view.item.title, a.unit, DERIVED.get(a.status, a.status), lights[a.light],
                a.due, a.effective_due, a.completed_on, a.overdue_days, a.progress, a.note, a.evidence, view.plan]
               for view, a in report.ledger]
    return xlsx.workbook([
        xlsx.Sheet("汇总", summary, widths=(28,)),
        xlsx.Sheet("台账", ledger, widths=_LEDGER_WIDTHS, freeze_header=True, filter_columns=len(_LEDGER_HEADERS)),
    ])


def _number(report: WeeklyReport, key: str) -> object:
    """A figure as Excel should hold it: a count as a number, the rate as a fraction in percent format."""
    if key == "on_time_rate":
        rate = report.totals.on_time_rate
        return "—" if rate is None else xlsx.Styled(rate / 100, xlsx.PERCENT)
    return getattr(report.totals, key)


def render_weekly_message(
    report: WeeklyReport, *, recipient: str, to: list[str], sender: str, now: dt.datetime
) -> RenderedMessage:
    """The report as an e-mail: HTML with a plain-text part, and the workbook attached."""
    filename = f"工作进度台账_{report.as_of.isoformat()}.xlsx"
    return build_message(
        recipient=recipient, to=to, subject=subject(report), text=render_text(report, attached=True),
        html=render_html(report, attached=True),
        sender=sender, now=now, entries=[{"report": "weekly", "as_of": report.as_of.isoformat()}],
        attachments=[(filename, render_xlsx(report), XLSX_MIME)],
    )
