"""The overdue listing's one-pass read (issue 14, point 6) beside items whose due date the database cannot read from
the rule: an item waiting for an outside event, an item waiting for another item, both once what they wait for has
happened, with lead and guiding units, across three plans, with one plan archived and with ``--plan``.

The overdue listing must say exactly what the whole listing says about the same work (domain.md: open work whose
effective deadline has passed is overdue); the whole listing reads every row and is the reference.
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.test_listing_fast_path import _narrowed
from tests.test_many_plans import three  # noqa: F401  # the fixture: seed (zwgk2020), yshj2020, gzbg2020

DAYS = ("2020-10-26", "2020-11-20", "2020-12-21", "2021-03-15")


@pytest.fixture
def waited(three):  # noqa: F811
    """gzbg2020:2-2 waits for gzbg2020:1-1 (done 2020-09-25: due a month later), gzbg2020:3-3 and the seed's item 3
    wait for their plans' E1 (recorded: due two months later); one unit of the seed's item 3 has an extension."""
    three("status", "gzbg2020:1-1", "--unit", "县教育体育局", "--set", "done", "--on", "2020-09-25", "--today", "2020-09-28")
    three("event", "record", "E1", "--plan", "gzbg2020", "--on", "2020-10-20", "--today", "2020-10-21")
    three("event", "record", "E1", "--plan", "zwgk2020", "--on", "2020-09-15", "--today", "2020-09-21")
    three("status", "gzbg2020:2-2", "--unit", "狮山镇", "--progress", "50", "--today", "2020-10-21")
    return three


def _narrowed_to_overdue(whole: list[dict]) -> list[dict]:
    """The whole listing cut down by hand to overdue work; each item keeps its own light, counts and names."""
    return _narrowed(whole, lambda a: a["status"] == "overdue")


def _due(view: dict) -> dt.date | None:
    return dt.date.fromisoformat(view["due"]) if view["due"] else None


@pytest.mark.parametrize("day", DAYS)
def test_overdue_items_waiting_for_an_event_or_an_item_are_listed_as_the_whole_listing_says(waited, day):
    today = dt.date.fromisoformat(day)
    whole = waited.json("items", "list", "--today", day)
    overdue = waited.json("items", "list", "--overdue", "--today", day)
    assert overdue == _narrowed_to_overdue(whole)
    by_ref = {(i["plan"], i["key"]): i for i in whole}
    # the derived due dates, from the rules: a month after 2020-09-25, two months after each plan's own E1
    assert _due(by_ref[("gzbg2020", "2-2")]) == dt.date(2020, 10, 25)
    assert _due(by_ref[("gzbg2020", "3-3")]) == dt.date(2020, 12, 20)
    listed = {(i["plan"], i["key"]) for i in overdue}
    for ref in (("gzbg2020", "2-2"), ("gzbg2020", "3-3"), ("zwgk2020", "3")):
        due = _due(by_ref[ref])
        assert due is not None
        assert (ref in listed) == (due < today), (ref, due)
        if ref in listed:  # their lead units are named, as on the whole listing
            item = next(i for i in overdue if (i["plan"], i["key"]) == ref)
            assert item["lead"] and item["lead"] == by_ref[ref]["lead"] and item["guiding"] == by_ref[ref]["guiding"]


def test_a_listing_of_one_plan_or_without_an_archived_plan_is_the_whole_one_narrowed(waited):
    day = "2021-03-15"
    for code in ("zwgk2020", "gzbg2020", "yshj2020"):
        assert waited.json("items", "list", "--overdue", "--plan", code, "--today", day) == _narrowed_to_overdue(
            waited.json("items", "list", "--plan", code, "--today", day))
    waited("plans", "archive", "gzbg2020", "--today", day)
    overdue = waited.json("items", "list", "--overdue", "--today", day)
    assert overdue == _narrowed_to_overdue(waited.json("items", "list", "--today", day))
    assert {i["plan"] for i in overdue} == {"zwgk2020", "yshj2020"}
