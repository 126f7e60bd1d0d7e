"""The weekly report reads a province's rows without a view object per row (``PlanContext.derived``), and must say
exactly what the CLI's views say (``tracker items list``), row for row: the figures per item, per unit and in total,
the week's new overdue work and the next 14 days, and every 台账 row's status, light, dates, occurrence, overdue days,
progress, note and evidence. The expectations are rebuilt from the listing by the rules of the report (domain.md)."""

from __future__ import annotations

import datetime as dt

import pytest
from openpyxl import load_workbook

from notifications.render import LIGHT_LABELS
from tests.test_recurring import PLAN as RECURRING
from tracker.queries import DERIVED

AS_OF = "2020-10-12"
DAY = dt.timedelta(days=1)


def _worked(cli, tmp_path) -> None:
    """Two plans, one with monthly, quarterly and yearly occurrences; done on time and late, in progress with
    progress, not applicable, an extension (effective due past the original), notes and evidence, beside the
    seed's not-started, overdue and ongoing work."""
    recurring = tmp_path / "recurring.txt"
    recurring.write_text(RECURRING, encoding="utf-8")
    cli("import", str(recurring), "--plan", "dsgk2020", "--today", "2020-08-03")
    today = "--today", "2020-10-09"
    cli("status", "zwgk2020:2", "--unit", "县财政局", "--set", "done", "--on", "2020-09-20", "--evidence", "武财发〔2020〕3号", *today)
    cli("status", "zwgk2020:1.义务教育", "--unit", "县教育体育局", "--set", "done", "--on", "2020-10-08", "--note", "已完成 & <公开>",
        *today)
    cli("status", "zwgk2020:5", "--unit", "县财政局", "--set", "in-progress", "--progress", "40", *today)
    cli("status", "zwgk2020:4", "--unit", "县财政局", "--set", "n/a", "--note", "本单位无此项工作", *today)
    cli("status", "dsgk2020:1", "--unit", "县财政局", "--period", "2020-09", "--set", "done", "--on", "2020-09-24", *today)
    cli("status", "dsgk2020:1", "--unit", "县税务局", "--period", "2020-08", "--set", "done", "--on", "2020-09-10", *today)
    cli("extend", "zwgk2020:5", "--unit", "县财政局", "--to", "2021-01-15", "--reason", "县政府办批复同意", *today)
    # overdue since 2020-09-30, extended to a day of the report's week: overdue again, new this week
    cli("extend", "zwgk2020:1.户籍管理", "--unit", "县公安局", "--to", "2020-10-09", "--reason", "县政府办批复同意", *today)
    cli("extend", "dsgk2020:1", "--unit", "县税务局", "--period", "2020-09", "--to", "2020-10-07", "--reason", "批复", *today)
    # due on the last of the next 14 days: in the report's list of what falls due
    cli("extend", "zwgk2020:1.户籍管理", "--unit", "狮山镇人民政府", "--to", "2020-10-26", "--reason", "县政府办批复同意", *today)


@pytest.mark.clock
def test_the_report_and_its_ledger_say_what_the_listing_says(seeded, tmp_path):
    _worked(seeded, tmp_path)
    listing = [i for i in seeded.json("items", "list", "--today", AS_OF) if i["assignments"]]
    report = seeded.json("report", "weekly", "--as-of", AS_OF)
    as_of = dt.date.fromisoformat(AS_OF)
    principals = [(item, a) for item in listing for a in item["assignments"]]

    # per item: light, closed of all, late units, due and what stands in for it
    assert [(i["plan"], i["key"]) for i in report["items"]] == [(i["plan"], i["key"]) for i in listing]
    for line, item in zip(report["items"], listing):
        assert (line["light"], line["done"], line["total"]) == (item["light"], item["units_closed"], item["units_total"])
        assert line["late_units"] == [a["unit"] for a in item["assignments"] if a["status"] == "overdue"]
        assert (line["due"], line["due_text"]) == (item["due"], item["due"] or item["waiting_for"] or item["deadline_text"])

    # totals, by derived status
    count = {s: sum(1 for _, a in principals if a["status"] == s) for s in DERIVED}
    done = count["done"] + count["done_late"]
    assert report["totals"] == {
        "assignments": len(principals), "done": done, "done_on_time": count["done"], "done_late": count["done_late"],
        "overdue": count["overdue"], "waiting": count["waiting"], "in_progress": count["in_progress"],
        "not_started": count["not_started"], "ongoing": count["ongoing"] + count["recurring"], "not_applicable": count["na"],
        "on_time_rate": round(100 * count["done"] / done, 1), "done_rate": round(100 * done / (len(principals) - count["na"]), 1)}

    # per unit: what it carries, has done (on time), has overdue and by how many days
    units: dict[str, dict[str, int]] = {}
    for _, a in principals:
        u = units.setdefault(a["unit"], {"assigned": 0, "done": 0, "on_time": 0, "overdue": 0, "overdue_days": 0})
        u["assigned"] += 1
        u["done"] += a["status"] in ("done", "done_late")
        u["on_time"] += a["status"] == "done"
        u["overdue"] += a["status"] == "overdue"
        u["overdue_days"] += a["overdue_days"] if a["status"] == "overdue" else 0
    assert {u["unit"]: {k: u[k] for k in ("assigned", "done", "on_time", "overdue", "overdue_days")} for u in report["units"]} == units

    # the week's new overdue work, and what falls due in the next 14 days
    def day(a: dict) -> dt.date | None:
        return dt.date.fromisoformat(a["effective_due"]) if a["effective_due"] else None

    fell_due = sorted((str(day(a) + DAY), item["plan"], item["key"], a["occurrence"] or "", a["unit"]) for item, a in principals
                      if a["status"] == "overdue" and as_of - 7 * DAY <= day(a) < as_of)
    assert sorted((c["on"], c["plan"], c["item"], c.get("occurrence", ""), c["unit"]) for c in report["changes"]
                  if c["kind"] == "overdue") == fell_due and fell_due
    upcoming = sorted((a["effective_due"], item["plan"], item["key"], item["title"], a["unit"], a["occurrence"] or "")
                      for item, a in principals
                      if a["status"] in ("not_started", "in_progress") and day(a) and as_of < day(a) <= as_of + 14 * DAY)
    assert sorted((u["due"], u["plan"], u["item"], u["title"], u["unit"], u.get("occurrence", "")) for u in report["upcoming"]) == upcoming
    assert upcoming

    # the 台账: one row per principal assignment, in the listing's order, as the rules write it
    out = seeded.home / "台账.xlsx"
    seeded("report", "weekly", "--as-of", AS_OF, "--xlsx", str(out))
    rows = list(load_workbook(out)["台账"].iter_rows(min_row=2, values_only=True))
    assert [r[:14] for r in rows] == [_ledger_row(item, a) for item, a in principals]
    # none of that holds by having nothing to hold: each kind of row is there
    assert {r[4] for r in rows} >= {DERIVED[s] for s in ("done", "done_late", "na", "overdue", "not_started", "in_progress")}
    assert any("期）" in r[0] for r in rows) and any(r[6] != r[7] for r in rows if r[7])
    assert any(f[3] for f in fell_due) and any(u[0] == str(as_of + 14 * DAY) for u in upcoming)
    assert any(r[10] == 40 for r in rows) and any(r[11] == "已完成 & <公开>" for r in rows) and {r[13] for r in rows} == {
        "zwgk2020", "dsgk2020"}


def _day(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _ledger_row(item: dict, a: dict) -> tuple:
    """A 台账 row as the rules say it, from the listing's view of the assignment."""
    key = item["key"] + (f"（{a['occurrence']}期）" if a["occurrence"] else "")
    return (key, item["task"], item["title"], a["unit"], DERIVED.get(a["status"], a["status"]), LIGHT_LABELS[a["light"]],
            _day(a["due"]), _day(a["effective_due"]), _day(a["completed_on"]), a["overdue_days"], a["progress"],
            a["note"] or None, a["evidence"] or None, item["plan"])
