"""Calendar feeds: one all-day event per open assignment deadline, stable UIDs, alarms."""

from __future__ import annotations

import datetime as dt

from icalendar import Calendar

UNIT = "狮山镇人民政府"
TODAY = "2020-09-25"


def _events(path) -> dict[str, object]:
    calendar = Calendar.from_ical(path.read_bytes())
    return {str(e["uid"]): e for e in calendar.walk("VEVENT")}


def _by_item(events) -> dict[str, object]:
    return {str(e["summary"]).split("】")[0].lstrip("【"): e for e in events.values()}


def test_unit_feed_has_one_all_day_event_per_open_deadline(seeded, tmp_path):
    out = tmp_path / "狮山镇.ics"
    result = seeded.json("ical", "--unit", UNIT, "--out", str(out), "--today", TODAY)
    events = _events(out)
    listing = seeded.json("items", "list", "--unit", UNIT, "--today", TODAY)
    expected = {(i["key"], a["effective_due"]) for i in listing for a in i["assignments"]
                if a["effective_due"] and a["state"] in ("not_started", "in_progress")}
    by_item = _by_item(events)
    assert {(k, e.decoded("dtstart").isoformat()) for k, e in by_item.items()} == expected
    assert len(result["events"]) == len(events) == len(expected)
    assert "3" not in by_item and "4" not in by_item  # waiting for an event or another item: no date yet
    education = by_item["1.义务教育"]
    assert education.decoded("dtstart") == dt.date(2020, 9, 30)
    assert education.decoded("dtend") == dt.date(2020, 10, 1)  # all day: DTEND is the next day
    assert isinstance(education.decoded("dtstart"), dt.date) and not isinstance(education.decoded("dtstart"), dt.datetime)
    assert "编制政务公开事项目录" in str(education["summary"]) and "义务教育" in str(education["summary"])
    description = str(education["description"])
    assert "主管责任单位：县人民政府" in description and "指导责任单位：县教育体育局" in description
    alarm = education.walk("VALARM")[0]
    assert alarm.decoded("trigger") == dt.timedelta(days=-3) and str(alarm["action"]) == "DISPLAY"
    assert by_item["9"].decoded("dtstart") == dt.date(2021, 6, 30)


def test_second_export_is_identical_and_uids_follow_the_assignment(seeded, tmp_path):
    first, second = tmp_path / "a.ics", tmp_path / "b.ics"
    seeded("ical", "--unit", UNIT, "--out", str(first), "--today", TODAY, "--alarm-days", "7")
    seeded("ical", "--unit", UNIT, "--out", str(second), "--today", TODAY, "--alarm-days", "7")
    assert first.read_bytes() == second.read_bytes()
    before = _events(first)
    seeded("status", "2", "--unit", UNIT, "--set", "done", "--on", "2020-09-20", "--today", TODAY)
    seeded("extend", "1.义务教育", "--unit", UNIT, "--to", "2020-11-15", "--reason", "批复同意", "--today", TODAY)
    third = tmp_path / "c.ics"
    seeded("ical", "--unit", UNIT, "--out", str(third), "--today", TODAY, "--alarm-days", "7")
    after = _events(third)
    assert set(after) == set(before) - {uid for uid, e in before.items() if str(e["summary"]).startswith("【2】")}
    moved = _by_item(after)["1.义务教育"]
    assert str(moved["uid"]) == str(_by_item(before)["1.义务教育"]["uid"])
    assert moved.decoded("dtstart") == dt.date(2020, 11, 15) and "原定 2020-09-30" in str(moved["description"])


def test_whole_plan_feed_names_the_unit_and_uids_are_unique(seeded, tmp_path):
    out = tmp_path / "全部.ics"
    seeded("ical", "--out", str(out), "--today", TODAY, "--no-alarm")
    calendar = Calendar.from_ical(out.read_bytes())
    events = calendar.walk("VEVENT")
    uids = [str(e["uid"]) for e in events]
    assert len(uids) == len(set(uids)) > 216
    assert not calendar.walk("VALARM")
    assert any(str(e["summary"]).startswith("县教育体育局｜【1.义务教育】") for e in events)
    refused = seeded("ical", "--out", str(tmp_path / "x.txt"), ok=False)
    assert refused.exit_code == 1 and ".ics" in refused.stderr


def test_alarm_days_come_from_the_configuration(seeded, tmp_path):
    seeded.write_config("\n[reminders]\ncalendar_alarm_days = 10\n")
    out = tmp_path / "a.ics"
    seeded("ical", "--unit", UNIT, "--out", str(out), "--today", TODAY)
    triggers = {alarm.decoded("trigger") for event in _events(out).values() for alarm in event.walk("VALARM")}
    assert triggers == {dt.timedelta(days=-10)}
