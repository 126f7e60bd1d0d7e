import datetime as dt

import chinese_calendar
import pytest

from tracker.calendar import WorkCalendar

D = dt.date
UNKNOWN = 2028  # a year the package is made not to know, below: whichever release is installed, these tests hold


@pytest.fixture
def package_without_unknown_year(monkeypatch):
    """chinese-calendar as it behaves for a year it has no data for (it raises NotImplementedError), by construction.

    A new release of the package that learns 2028 must not turn the fallback tests green for the wrong reason
    or red for no reason; every other year is still answered by the real package.
    """
    real = chinese_calendar.is_workday

    def is_workday(day: dt.date) -> bool:
        if day.year >= UNKNOWN:
            raise NotImplementedError(f"no available data for year {day.year}")
        return real(day)

    monkeypatch.setattr(chinese_calendar, "is_workday", is_workday)


def test_official_holidays_and_make_up_days():
    cal = WorkCalendar()
    assert cal.is_workday(D(2020, 9, 27)) and cal.is_workday(D(2020, 10, 10))  # make-up Sunday and Saturday
    assert not any(cal.is_workday(D(2020, 10, day)) for day in range(1, 9))
    assert cal.previous_workday(D(2020, 10, 4)) == D(2020, 9, 30)
    assert cal.next_workday(D(2020, 10, 1)) == D(2020, 10, 9)
    assert cal.warnings == []


def test_operator_years_from_config(tmp_path):
    cal = WorkCalendar({2027: ([D(2027, 1, 1)], [D(2027, 2, 20)])})
    assert not cal.is_workday(D(2027, 1, 1))
    assert cal.is_workday(D(2027, 2, 20))  # a Saturday made a working day
    assert cal.is_workday(D(2027, 1, 4)) and not cal.is_workday(D(2027, 1, 9))
    assert cal.warnings == []


def test_unknown_year_falls_back_to_monday_to_friday_and_says_so(package_without_unknown_year, caplog):
    cal = WorkCalendar()
    assert not cal.is_workday(D(2020, 10, 1)) and cal.warnings == []  # known years still come from the package
    assert cal.is_workday(D(2028, 1, 3)) and not cal.is_workday(D(2028, 1, 8))
    assert len(cal.warnings) == 1 and "2028" in cal.warnings[0] and "[calendar.years.2028]" in cal.warnings[0]
    assert any("2028" in r.message for r in caplog.records)


def test_the_warning_reaches_the_cli_and_the_messages(package_without_unknown_year, cli, tmp_path):
    plan = tmp_path / "plan.txt"
    plan.write_text("\t序号\n\t工作任务\n\t责任单位\n\t时限要求\n\n\t1\n\t制定工作要点\n\t县财政局\n\t2028年3月底前\n", "utf-8")
    cli("init", "--plan", str(plan))
    listing = cli("remind", "--dry-run", "--today", "2028-03-01")
    assert "2028 年的法定节假日和调休安排未知" in listing.stderr
    result = cli.json("run", "--once", "--today", "2028-03-01", "--drill", "--out", str(cli.home / "outbox"))  # a future date: a drill
    assert any("2028" in w for w in result["check"]["warnings"])
    [eml] = (cli.home / "outbox").glob("*.eml")
    import email
    from email import policy
    body = email.message_from_bytes(eml.read_bytes(), policy=policy.default).get_body(("plain",)).get_content()
    assert "2028 年的法定节假日和调休安排未知" in body
    cli.config.write_text(cli.config.read_text() + "\n[calendar.years.2028]\nholidays = [2028-01-01]\nworkdays = []\n", "utf-8")
    assert "2028 年" not in cli("remind", "--dry-run", "--today", "2028-03-02").stderr
