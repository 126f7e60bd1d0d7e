"""The weekly report reads a province's rows without a view object per row (``PlanContext.derived``), and must say
exactly what the CLI's views say (``tracker items list``), row for row: the figures per item and every 台账 row's
status, light, dates, overdue days, progress, note and evidence."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from notifications.render import LIGHT_LABELS
from tracker.queries import DERIVED

AS_OF = "2020-10-12"


def _worked(cli) -> None:
    """Done on time and late, in progress with progress, not applicable, notes and evidence, beside the seed's
    not-started, overdue and ongoing work: the states the report and the listing derive."""
    today = "--today", "2020-10-09"
    cli("status", "2", "--unit", "县财政局", "--set", "done", "--on", "2020-09-20", "--evidence", "武财发〔2020〕3号", *today)
    cli("status", "1.义务教育", "--unit", "县教育体育局", "--set", "done", "--on", "2020-10-08", "--note", "已完成 & <公开>", *today)
    cli("status", "3", "--unit", "县财政局", "--set", "in-progress", "--progress", "40", *today)
    cli("status", "4", "--unit", "县财政局", "--set", "n/a", "--note", "本单位无此项工作", *today)


@pytest.mark.clock
def test_the_report_and_its_ledger_say_what_the_listing_says(seeded):
    _worked(seeded)
    listing = seeded.json("items", "list", "--today", AS_OF)
    report = seeded.json("report", "weekly", "--as-of", AS_OF)
    by_key = {(i["plan"], i["key"]): i for i in listing if i["assignments"]}
    reported = {(i["plan"], i["key"]): i for i in report["items"]}
    assert reported.keys() == by_key.keys() and len(reported) > 20
    for ref, line in reported.items():
        item = by_key[ref]
        assert (line["light"], line["done"], line["total"]) == (item["light"], item["units_closed"], item["units_total"]), ref
        assert line["late_units"] == [a["unit"] for a in item["assignments"] if a["status"] == "overdue"], ref
        assert line["due"] == item["due"], ref
    statuses = {}
    for item in listing:
        for a in item["assignments"]:
            statuses[a["status"]] = statuses.get(a["status"], 0) + 1
    assert report["totals"]["overdue"] == statuses.get("overdue", 0) and report["totals"]["done"] == (
        statuses.get("done", 0) + statuses.get("done_late", 0))

    out = seeded.home / "台账.xlsx"
    seeded("report", "weekly", "--as-of", AS_OF, "--xlsx", str(out))
    rows = list(load_workbook(out)["台账"].iter_rows(min_row=2, values_only=True))
    expected = [_ledger_row(item, a) for item in listing for a in item["assignments"]]
    assert [r[:14] for r in rows] == expected
    assert {r[4] for r in rows} >= {DERIVED[s] for s in ("done", "done_late", "na", "overdue", "not_started")}
    assert any(r[10] == 40 for r in rows) and any(r[11] == "已完成 & <公开>" for r in rows)


def _day(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _ledger_row(item: dict, a: dict) -> tuple:
    """A 台账 row as the rules say it, from the listing's view of the assignment."""
    key = item["key"] + (f"（{a['occurrence']}期）" if a["occurrence"] else "")
    return (key, item["task"], item["title"], a["unit"], DERIVED.get(a["status"], a["status"]), LIGHT_LABELS[a["light"]],
            _day(a["due"]), _day(a["effective_due"]), _day(a["completed_on"]), a["overdue_days"], a["progress"],
            a["note"] or None, a["evidence"] or None, item["plan"])
