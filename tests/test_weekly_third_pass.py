"""The weekly job's third pass (issue 17): the 台账 written from per-value cell XML, the bodies' long lists made in
Python, recipients routed from their own rows, the compressing thread given the interpreter often enough. Each must
produce exactly what the slower way produced: the workbook's cells as the rules say, the same sheet XML as the
row-by-row writer, the same body text as the templates' former loops."""

from __future__ import annotations

import base64
import datetime as dt
import io
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from openpyxl import load_workbook

from notifications import ledger_sheet, mime, weekly, xlsx
from notifications.render import LIGHT_COLORS, LIGHT_LABELS, templates
from tracker.deadlines import DeadlineRule
from tracker.queries import DERIVED, AssignmentView, ItemView
from tracker.report import ItemLine, Ledger, PlanSection, Totals, UnitLine, WeeklyReport

AS_OF = dt.date(2021, 3, 15)
DAY = dt.timedelta(days=1)


class _Item:
    def __init__(self, key: str, title: str) -> None:
        self.key, self.title = key, title


def _view(key: str, title: str, task: str, plan: str, principals: list[AssignmentView]) -> ItemView:
    return ItemView(item=_Item(key, title), task_title=task, rule=DeadlineRule(kind="ongoing", text="持续推进"),  # type: ignore[arg-type]
                    due=None, waiting_for=None, lead=[], guiding=[], principals=principals, plan=plan)


def _assignment(n: int, unit: str, unit_id: int, status: str, light: str, *, due: dt.date | None = None,
                effective: dt.date | None = None, completed: dt.date | None = None, days: int = 0, progress: int = 0,
                note: str = "", evidence: str = "", occurrence: str = "") -> AssignmentView:
    return AssignmentView(n, "", unit, unit_id, "principal", "in_progress", progress, completed, due, effective, False, status,
                          light, days, note, evidence, occurrence)


def _report() -> WeeklyReport:
    """Two plans' items, units that repeat and one whose name needs escaping, every status and light (and one this
    code does not know), dates and none, occurrences, notes with a line break and markup, evidence."""
    ledger = Ledger()
    units = ["县财政局", "甲 & <乙> \"丙\"", "狮山镇人民政府"]
    statuses = ["not_started", "in_progress", "done", "done_late", "na", "overdue", "waiting", "ongoing", "recurring", "someday"]
    lights = ["green", "yellow", "red"]
    n = 0
    for key, title, task, plan in (("1.义务教育", "义务教育", "编制目录", "zwgk2020"), ("2", "财政预决算 <公开>", "任务 & 二", "zwgk2020"),
                                   ("3", "第三项", "编制目录", "yshj2021")):
        principals = []
        for status in statuses:
            for u, unit in enumerate(units):
                n += 1
                due = AS_OF - n * DAY if n % 4 else None
                principals.append(_assignment(
                    n, unit, 10 + u, status, lights[n % 3], due=due, effective=due and due + (n % 2) * DAY,
                    completed=AS_OF - 2 * DAY if status in ("done", "done_late") else None, days=n % 5, progress=(n * 7) % 101,
                    note="第一行 & \"引号\"\n第二行 <x>" if n % 7 == 0 else "", evidence="武教发〔2020〕12号" if n % 5 == 0 else "",
                    occurrence="2021-03" if key == "3" and n % 2 else ""))
        ledger.add_view(_view(key, title, task, plan, principals))
    lines = [UnitLine(name, assigned=30, done=10, on_time=8, overdue=3 * u, overdue_days=7 * u, flagged=u) for u, name in enumerate(units)]
    items = [ItemLine("1.义务教育", "义务教育", "red", AS_OF, AS_OF.isoformat(), 2, 30, ["县财政局", "甲 & <乙> \"丙\""], "zwgk2020"),
             ItemLine("4", "逾期 <事项>", "red", AS_OF, AS_OF.isoformat(), 0, 30, ["狮山镇人民政府"], "yshj2021"),
             ItemLine("2", "财政预决算 <公开>", "yellow", None, "等待事件“验收 & 公示”", 0, 30, [], "zwgk2020"),
             ItemLine("3", "第三项", "green", None, "持续推进", 30, 30, [], "yshj2021")]
    return WeeklyReport(as_of=AS_OF, since=AS_OF - 7 * DAY, title="进度通报 <测试>", totals=Totals(assignments=90, done=20),
                        items=items, units=lines, changes=[], upcoming=[], undelivered=[], warnings=[], ledger=ledger,
                        plans=[PlanSection("zwgk2020", "政务公开 & 透明"), PlanSection("yshj2021", "营商环境")])


def _parts(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_the_ledger_sheet_holds_every_assignment_as_the_rules_say():
    report = _report()
    expected = list(report.ledger)  # the ledger's rows as values (Ledger.__iter__), not the writer's numbers
    book = load_workbook(io.BytesIO(weekly.render_xlsx(report)))
    sheet = book["台账"]
    rows = list(sheet.iter_rows(min_row=2))
    assert len(rows) == len(expected) == 90
    for row, cells in zip(expected, rows):
        values = [c.value for c in cells]
        assert values[:6] == [row.item + f"（{row.occurrence}期）" if row.occurrence else row.item, row.task, row.title, row.unit,
                              DERIVED.get(row.status, row.status), LIGHT_LABELS[row.light]]
        for cell, day in zip(cells[6:9], (row.due, row.effective_due, row.completed_on)):
            assert (cell.value.date() if cell.value else None) == day
            assert day is None or cell.number_format == "yyyy-mm-dd"
        assert values[9:] == [row.overdue_days, row.progress, row.note or None, row.evidence or None, row.plan]
        assert cells[5].fill.fgColor.rgb == "FF" + LIGHT_COLORS[row.light].lstrip("#").upper()
    assert {r.status for r in expected} >= {"someday", "na", "overdue"} and any(r.occurrence for r in expected)
    assert any("\n" in (r.note or "") for r in expected)


def test_the_ledger_rows_are_the_xml_the_row_by_row_writer_makes():
    """The per-value writer against the generic one (every cell through ``Cells.row``): every part of the file, the
    sheets' XML and the shared strings' numbering included, is the same byte for byte."""
    report = _report()
    fast = _parts(weekly.render_xlsx(report))
    lights = {name: xlsx.Styled(label, xlsx.FILL_STYLE[LIGHT_COLORS[name].lstrip("#").upper()]) for name, label in LIGHT_LABELS.items()}

    def row_by_row(cells: xlsx.Cells):
        yield cells.row(xlsx.Styled(h, xlsx.HEADER) for h in ledger_sheet.LEDGER_HEADERS)
        for r in report.ledger:
            yield cells.row([r.item + f"（{r.occurrence}期）" if r.occurrence else r.item, r.task, r.title, r.unit,
                             DERIVED.get(r.status, r.status), lights[r.light], r.due, r.effective_due, r.completed_on,
                             r.overdue_days, r.progress, r.note, r.evidence, r.plan])

    original = ledger_sheet.ledger_rows
    try:
        ledger_sheet.ledger_rows = lambda _blocks, _lights, _labels, cells: row_by_row(cells)  # type: ignore[assignment]
        slow = _parts(weekly.render_xlsx(report))
    finally:
        ledger_sheet.ledger_rows = original
    assert fast.keys() == slow.keys()
    for name in fast:
        assert fast[name] == slow[name], name


# The templates' loops as they were before the rows were made in Python: the bodies must not change by a character.
_LOOPS = {
    "weekly.html": [
        ("""  {% for rows in red_rows(r.red_items) %}{{ rows }}{% endfor %}""",
         """  {% for i in r.red_items %}
  <tr data-item="{{ r.ref(i.plan, i.key) }}"><td>{{ light(i.light) }} {{ r.ref(i.plan, i.key) }}{% if not i.key.endswith(i.title) %}　{{ i.title }}{% endif %}</td><td align="center" style="white-space:nowrap;">{{ i.due_text }}</td>
  <td align="center">{{ i.done }}/{{ i.total }}</td><td>{{ i.late_units | length }} 个：{{ i.late_units | join("、") }}</td></tr>
  {% endfor %}"""),
        ("""  {% for rows in unit_rows(units) %}{{ rows }}{% endfor %}""",
         """  {% for rank, u in units %}
  <tr data-unit="{{ u.unit }}"><td align="center">{{ rank }}</td><td>{% if u.overdue %}{{ light("red") }} {% endif %}{{ u.unit }}</td><td align="center">{{ u.assigned }}</td>
  <td align="center">{{ u.done }}</td><td align="center">{{ u.on_time }}</td><td align="center">{{ u.overdue }}</td><td align="center">{{ u.overdue_days }}</td></tr>
  {% endfor %}"""),
        ("""  {% for rows in item_rows(lines) %}{{ rows }}{% endfor %}{% endfor %}""",
         """  {% for i in lines %}
  <tr><td>{{ i.key }}{% if not i.key.endswith(i.title) %}　{{ i.title }}{% endif %}</td><td align="center">{{ light(i.light) }}</td><td align="center">{{ i.due_text }}</td><td align="center">{{ i.done }}/{{ i.total }}</td></tr>
  {% endfor %}{% endfor %}"""),
    ],
    "weekly.txt": [
        ("""{% for rows in red_rows(r.red_items) %}{{ rows }}{% else %}""",
         """{% for i in r.red_items %}  [红灯] 事项 {{ r.ref(i.plan, i.key) }} {{ i.title }}（期限 {{ i.due_text }}，完成 {{ i.done }}/{{ i.total }}）
      逾期单位：{{ i.late_units | join("、") }}
{% else %}"""),
        ("""{% for rows in unit_rows(units) %}{{ rows }}{% endfor %}""",
         """{% for rank, u in units %}  {{ rank }}. {{ u.unit }}：承担 {{ u.assigned }}，完成 {{ u.done }}，按时 {{ u.on_time }}，逾期 {{ u.overdue }}
{% endfor %}"""),
        ("""{% for rows in item_rows(lines) %}{{ rows }}{% endfor %}""",
         """{% for i in lines %}  [{{ light(i.light) }}] 事项 {{ i.key }}{% if not i.key.endswith(i.title) %} {{ i.title }}{% endif %}（期限 {{ i.due_text }}，完成 {{ i.done }}/{{ i.total }}）
{% endfor %}"""),
    ],
}


def _former(name: str):
    source = (Path(weekly.__file__).parent / "templates" / name).read_text("utf-8")
    for now, before in _LOOPS[name]:
        assert source.count(now) == 1, now
        source = source.replace(now, before)
    return templates().overlay(autoescape=name.endswith(".html")).from_string(source)


@pytest.mark.parametrize("units_max", [None, 1])
def test_the_bodies_lists_are_what_the_templates_loops_wrote(units_max, monkeypatch):
    monkeypatch.setattr(weekly, "_ROWS_AT_ONCE", 2)  # several pieces, and a piece that is not full
    report = _report()
    quiet = _report()
    quiet.items = [i for i in quiet.items if i.light != "red"]  # no red item: the lists' "none" lines
    for report, attached in ((report, True), (report, False), (quiet, True)):
        context = weekly._context(report, attached, None, units_max)
        html = weekly.render_html(report, attached=attached, units_max=units_max)
        assert html == _former("weekly.html").render(context)
        assert weekly.render_text(report, attached=attached, units_max=units_max) == _former("weekly.txt").render(weekly._plain(context))
    html = weekly.render_html(_report(), units_max=units_max)
    assert '<tr data-item="yshj2021:4"><td>' in html and "<td>2 个：县财政局、甲 &amp; &lt;乙&gt; &#34;丙&#34;</td>" in html
    assert '<tr data-unit="甲 &amp; &lt;乙&gt; &#34;丙&#34;">' in html and "<td>2　财政预决算 &lt;公开&gt;</td>" in html
    assert "<td>1.义务教育</td>" in html  # a key that ends with its title is not followed by it


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400))
def test_base64_lines_are_the_standard_librarys(data):
    assert mime.base64_lines(data) == base64.encodebytes(data).decode("ascii").replace("\n", "\r\n")


def test_a_run_of_empty_chunks_does_not_end_a_body():
    chunks = [""] * 10_000 + ["第二行\n", "x" * 100]
    assert mime.encode_chunks(iter(chunks), "plain") == mime.encode_chunks(iter(["".join(chunks)]), "plain")
    assert mime.encode_chunks(iter(chunks), "plain").text() == "第二行\r\n" + "x" * 100 + "\r\n"  # a plain part: CRLF


def test_the_switch_interval_is_given_back_even_when_the_writing_fails():
    before = sys.getswitchinterval()

    def rows():
        yield ["甲", 1]
        assert sys.getswitchinterval() <= xlsx.SWITCH_INTERVAL  # short while a sheet is written
        raise ValueError("坏行")

    with pytest.raises(ValueError, match="坏行"):
        xlsx.write_workbook([xlsx.Sheet("台账", rows())], io.BytesIO())
    assert sys.getswitchinterval() == before


def test_two_workbooks_written_at_once_give_the_switch_interval_back():
    import threading

    before = sys.getswitchinterval()
    inside = threading.Barrier(2)

    def rows():
        yield ["甲", 1]
        inside.wait(timeout=10)  # both sheets are being written now
        yield ["乙", 2]

    threads = [threading.Thread(target=xlsx.write_workbook, args=([xlsx.Sheet("台账", rows())], io.BytesIO())) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sys.getswitchinterval() == before


def test_a_recipient_without_an_address_is_reached_through_its_township(seeded):
    """The recipients are routed from their own rows and those of the units above them, as the whole directory
    routes them."""
    from schedules.jobs import report_recipients
    from tracker.db import make_engine, read_session
    from tracker.directory import delivery_unit, unit_rows

    seeded("units", "set", "狮山镇人民政府", "--email", "ss@wuding.example")
    seeded("units", "add", "狮山镇某某村民委员会", "--kind", "village", "--parent", "狮山镇人民政府")
    engine = make_engine(seeded.absolute_url)
    try:
        with read_session(engine) as session:
            found = report_recipients(session, ("狮山镇某某村民委员会", "县政府办公室"))
            every = unit_rows(session)
            by_name = {row.name: row for row in every.values()}
            whole = [delivery_unit(by_name[name], every) for name in ("狮山镇某某村民委员会", "县政府办公室")]
    finally:
        engine.dispose()
    assert found[0] == ("狮山镇人民政府", ["ss@wuding.example"])
    assert found == [(unit.name, list(unit.emails)) for unit in whole]  # type: ignore[union-attr]


def test_the_bodies_lists_come_in_short_pieces():
    """The lists are made in Python, but still a few rows at a time: the encoder joins a fixed number of pieces, so a
    long piece would make it hold the whole list (at 1M, tens of megabytes)."""
    report = _report()
    report.units = [UnitLine(f"单位{n:05d}", assigned=3, done=1, on_time=1, overdue=n % 2, overdue_days=n % 9) for n in range(3000)]
    report.items = report.items * 1000
    context = weekly._context(report, True, None, None)
    for name, ctx in (("weekly.html", context), ("weekly.txt", weekly._plain(context))):
        chunks = list(templates().get_template(name).generate(ctx))
        assert sum(len(c) for c in chunks) > 200_000
        assert max(len(c) for c in chunks) <= 20_000, name
