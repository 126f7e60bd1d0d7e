"""The overdue and due-soon listings read only the work they can list (issue 14, point 6): what they print must be
exactly what the whole listing says about the same work, on a database that holds every kind of case.

The database: the seed (zwgk2020), a plan of recurring duties (dqgz2020) and the business-environment plan
(yshj2020), with work done on time, done late, extended past the day and extended to a day already gone, and
recurring occurrences done, late and open.
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.test_many_plans import BUSINESS
from tests.test_recurring import PLAN as RECURRING

DAYS = ("2020-10-20", "2020-12-15", "2021-03-15")


@pytest.fixture
def mixed(seeded, tmp_path):
    recurring, business = tmp_path / "定期工作.txt", tmp_path / "营商环境.txt"
    recurring.write_text(RECURRING, encoding="utf-8")
    business.write_text(BUSINESS, encoding="utf-8")
    seeded("import", str(recurring), "--plan", "dqgz2020", "--today", "2020-08-03")
    seeded("import", str(business), "--plan", "yshj2020", "--today", "2020-08-03")
    seeded("status", "zwgk2020:2", "--unit", "县财政局", "--set", "done", "--on", "2020-10-01", "--today", "2020-10-09")
    seeded("status", "zwgk2020:1.义务教育", "--unit", "县教育体育局", "--set", "done", "--on", "2020-10-05", "--today", "2020-10-09")
    seeded("status", "yshj2020:1", "--unit", "县财政局", "--set", "done", "--on", "2020-10-09", "--today", "2020-10-09")  # late
    seeded("status", "yshj2020:2", "--unit", "县教育体育局", "--set", "in-progress", "--progress", "40", "--today", "2020-10-09")
    seeded("extend", "zwgk2020:9", "--unit", "环州乡", "--to", "2021-08-31", "--reason", "县政府办批复同意", "--today", "2020-09-21")
    seeded("extend", "yshj2020:1", "--unit", "县市场监管局", "--to", "2020-10-15", "--reason", "县政府办批复", "--today", "2020-09-21")
    seeded("status", "dqgz2020:1", "--unit", "县财政局", "--period", "2020-08", "--set", "done", "--on", "2020-08-20", "--today", "2020-10-20")
    seeded("status", "dqgz2020:1", "--unit", "县税务局", "--period", "2020-09", "--set", "done", "--on", "2020-10-09", "--today", "2020-10-20")
    seeded("extend", "dqgz2020:2", "--unit", "县司法局", "--period", "2020-11", "--to", "2021-01-15", "--reason", "县政府办批复",
           "--today", "2020-10-20")
    return seeded


def _narrowed(whole: list[dict], keep) -> list[dict]:
    """The whole listing cut down by hand: the assignments ``keep`` accepts, the items that still have one; an item
    keeps its own light and counts (a filter selects what is listed, it does not change how the item stands)."""
    result = []
    for item in whole:
        kept = [a for a in item["assignments"] if keep(a)]
        if kept:
            result.append({**item, "assignments": kept})
    return result


def _same(listed: list[dict], expected: list[dict]) -> None:
    """Equal in every field: a filter selects what is listed; each item keeps its own light and counts."""
    assert listed == expected


def _effective(a: dict) -> dt.date | None:
    return dt.date.fromisoformat(a["effective_due"]) if a["effective_due"] else None


@pytest.mark.parametrize("day", DAYS)
def test_overdue_listing_is_the_whole_listing_narrowed_by_the_rule(mixed, day):
    today = dt.date.fromisoformat(day)
    whole = mixed.json("items", "list", "--today", day)
    # the rule (domain.md): open work whose deadline (the extended one when extended) has passed is overdue by the days since
    for item in whole:
        for a in item["assignments"]:
            due = _effective(a)
            late = a["state"] in ("not_started", "in_progress") and due is not None and due < today
            assert (a["status"] == "overdue") == late and a["overdue_days"] == ((today - due).days if late else a["overdue_days"])
    expected = _narrowed(whole, lambda a: a["status"] == "overdue")
    _same(mixed.json("items", "list", "--overdue", "--today", day), expected)
    _same(mixed.json("items", "list", "--state", "overdue", "--today", day), expected)
    _same(mixed.json("items", "list", "--overdue", "--unit", "县财政局", "--today", day), _narrowed(
        whole, lambda a: a["status"] == "overdue" and a["unit"] == "县财政局"))
    table = mixed("items", "list", "--overdue", "--today", day).stdout
    assert f"共 {len(expected)} 个事项" in table


@pytest.mark.parametrize("day", DAYS)
def test_due_soon_listing_is_the_whole_listing_narrowed_by_the_rule(mixed, day):
    today = dt.date.fromisoformat(day)
    whole = mixed.json("items", "list", "--today", day)

    def due_within(days: int):
        def keep(a: dict) -> bool:
            due = _effective(a)
            return a["state"] in ("not_started", "in_progress") and due is not None and 0 <= (due - today).days <= days
        return keep

    for days in (0, 14, 60):
        _same(mixed.json("items", "list", "--due-within", str(days), "--today", day), _narrowed(whole, due_within(days)))
    both = mixed.json("items", "list", "--overdue", "--due-within", "60", "--today", day)
    assert both == []  # overdue work is due before today, due-soon work today or later: nothing is both


def test_the_mixed_database_holds_every_case(mixed):
    """The comparisons above mean something only if the listing holds each kind of case."""
    whole = mixed.json("items", "list", "--today", "2020-10-20")
    statuses = {(i["plan"], i["key"], a["unit"], a["occurrence"]): a for i in whole for a in i["assignments"]}
    assert statuses[("yshj2020", "1", "县财政局", None)]["status"] == "done_late"
    assert statuses[("zwgk2020", "9", "环州乡人民政府", None)]["extended"] and statuses[("zwgk2020", "9", "环州乡人民政府", None)]["status"] != "overdue"
    extended_late = statuses[("yshj2020", "1", "县市场监管局", None)]
    assert (extended_late["effective_due"], extended_late["status"], extended_late["overdue_days"]) == ("2020-10-15", "overdue", 5)
    assert statuses[("dqgz2020", "1", "县财政局", "2020-08")]["status"] == "done"
    assert statuses[("dqgz2020", "1", "县税务局", "2020-09")]["status"] == "done_late"
    assert statuses[("dqgz2020", "1", "县财政局", "2020-09")]["status"] == "overdue"
    assert {i["plan"] for i in mixed.json("items", "list", "--overdue", "--today", "2020-10-20")} == {"zwgk2020", "dqgz2020", "yshj2020"}


def test_a_narrowed_listing_counts_only_begun_occurrences(mixed):
    """domain.md: a later period's occurrence is not listed, counted or reported before it begins."""
    whole = {i["key"]: i for i in mixed.json("items", "list", "--today", "2020-10-20") if i["plan"] == "dqgz2020"}
    overdue = {i["key"]: i for i in mixed.json("items", "list", "--overdue", "--today", "2020-10-20") if i["plan"] == "dqgz2020"}
    assert (overdue["1"]["units_closed"], overdue["1"]["units_total"]) == (whole["1"]["units_closed"], whole["1"]["units_total"])


def test_a_due_soon_listing_keeps_the_items_own_light(mixed):
    """filter_views: a filter selects what is listed, it does not change how the item stands."""
    whole = {(i["plan"], i["key"]): i["light"] for i in mixed.json("items", "list", "--today", "2020-10-20")}
    soon = mixed.json("items", "list", "--due-within", "14", "--today", "2020-10-20")
    assert [whole[(i["plan"], i["key"])] for i in soon] == [i["light"] for i in soon]
