import datetime as dt
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.calendar import WorkCalendar
from tracker.deadlines import DeadlineRule, chinese_number, due_after, parse_deadline
from tracker.errors import DeadlineParseError, TrackerError

D = dt.date


@pytest.mark.parametrize(
    ("text", "kind", "due", "extra"),
    [
        ("2020年9月底", "fixed", D(2020, 9, 30), {}),
        ("2020年10月底", "fixed", D(2020, 10, 31), {}),
        ("2020年12月底", "fixed", D(2020, 12, 31), {}),
        ("2021年6月底", "fixed", D(2021, 6, 30), {}),
        ("2020年底", "fixed", D(2020, 12, 31), {}),
        ("2020年年底前", "fixed", D(2020, 12, 31), {}),
        ("2021年6月底前", "fixed", D(2021, 6, 30), {}),
        ("2020年11月30日前", "fixed", D(2020, 11, 30), {}),
        ("2020年11月30日", "fixed", D(2020, 11, 30), {}),
        ("年底前", "fixed", D(2020, 12, 31), {}),
        ("2021年上半年", "fixed", D(2021, 6, 30), {}),
        ("2021年下半年", "fixed", D(2021, 12, 31), {}),
        ("2021年第三季度", "fixed", D(2021, 9, 30), {}),
        ("三季度末", "fixed", D(2020, 9, 30), {}),
        ("２０２０年９月底以前", "fixed", D(2020, 9, 30), {}),
        ("2020年2月底", "fixed", D(2020, 2, 29), {}),
        ("持续推进", "ongoing", None, {}),
        ("长期坚持", "ongoing", None, {}),
        ("按年公开", "recurring", None, {"every": "year"}),
        ("每季度", "recurring", None, {"every": "quarter"}),
        ("每月", "recurring", None, {"every": "month"}),
        ("国务院部门其他领域标准指引出台2个月内", "after_event", None,
         {"months": 2, "event": "国务院部门其他领域标准指引出台"}),
        ("国务院部门其他领域标准指引出台两个月内", "after_event", None, {"months": 2}),
        ("信息形成或变更之日起20个工作日内", "after_event", None, {"working_days": 20, "event": "信息形成或变更"}),
        ("信息形成或变更之日起二十个工作日内", "after_event", None, {"working_days": 20}),
        ("批复后20日内", "after_event", None, {"days": 20, "event": "批复"}),
        ("批复后２０日以内", "after_event", None, {"days": 20}),
        ("批复后十五日内", "after_event", None, {"days": 15, "event": "批复"}),  # 十 with no digit before it is ten
        ("信息形成或变更之日起十个工作日内", "after_event", None, {"working_days": 10}),
        ("出台十二个月内", "after_event", None, {"months": 12}),
        ("其他领域政务公开标准编制完成1个月内", "after_item", None, {"months": 1, "item": None}),
        ("第（3）项完成后1个月内", "after_item", None, {"months": 1, "item": "3"}),
        ("第(3)项完成后一个月内", "after_item", None, {"months": 1, "item": "3"}),
    ],
)
def test_every_form_in_the_domain_notes(text, kind, due, extra):
    rule = parse_deadline(text, plan_year=2020)
    assert rule.kind == kind
    assert rule.due == due
    assert rule.text == text
    for name, value in extra.items():
        assert getattr(rule, name) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [("十", 10), ("十五", 15), ("二十", 20), ("二十五", 25), ("两", 2), ("九十九", 99), ("一百", 100), ("百", 100),
     ("一百零五", 105), ("一百一十", 110), ("一百十五", 115), ("三百二十一", 321), ("15", 15)],
)
def test_chinese_numerals(text, value):
    assert chinese_number(text) == value


def test_a_chinese_numeral_reaches_the_due_date(cli):
    data = cli.json("deadline", "parse", "批复后十五日内")
    assert (data["kind"], data["days"], data["event"]) == ("after_event", 15, "批复")


def test_cli_prints_one_json_object(cli):
    data = cli.json("deadline", "parse", "国务院部门其他领域标准指引出台2个月内")
    assert data == {"kind": "after_event", "due": None, "text": "国务院部门其他领域标准指引出台2个月内", "months": 2,
                    "days": None, "working_days": None, "event": "国务院部门其他领域标准指引出台", "item": None, "every": None}
    fixed = cli.json("deadline", "parse", "年底前", "--plan-year", "2021")
    assert (fixed["kind"], fixed["due"]) == ("fixed", "2021-12-31")


def test_cli_says_which_part_it_could_not_read(cli):
    result = cli("deadline", "parse", "2020年9月底完成验收", "--json", ok=False)
    assert result.exit_code == 1
    assert "“完成验收”" in result.stderr
    missing_year = cli("deadline", "parse", "年底前", ok=False)
    assert missing_year.exit_code == 1 and "--plan-year" in missing_year.stderr


@pytest.mark.parametrize("text", ["下周", "20个工作日内", "2020年13月底", "2020年2月30日", "", "批复后0日内"])
def test_unreadable_texts_are_errors(text):
    with pytest.raises(DeadlineParseError):
        parse_deadline(text, plan_year=2020)


def test_months_are_calendar_months_and_working_days_follow_the_official_calendar():
    cal = WorkCalendar()
    months = parse_deadline("出台1个月内")
    assert due_after(months, D(2021, 1, 31), cal.add_working_days) == D(2021, 2, 28)
    assert due_after(months, D(2020, 1, 31), cal.add_working_days) == D(2020, 2, 29)
    working = parse_deadline("信息形成或变更之日起5个工作日内")
    # 2020-09-30 + 5 working days: Oct 1–8 is the National Day holiday; Fri 9 (1), make-up Sat 10 (2), Mon 12 (3), 13 (4), 14 (5)
    assert due_after(working, D(2020, 9, 30), cal.add_working_days) == D(2020, 10, 14)
    assert due_after(parse_deadline("批复后20日内"), D(2020, 9, 30), cal.add_working_days) == D(2020, 10, 20)


def test_round_trip_through_json():
    rule = parse_deadline("2020年9月底")
    assert DeadlineRule.from_json(json.loads(json.dumps(rule.to_json()))) == rule


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789０１２年月日底前内后起个工作季度上下半第一二两三十百持续每按完成项（）() \t\n")) , max_size=30) | st.text(max_size=30))
def test_parser_raises_nothing_but_its_own_error(text):
    try:
        parse_deadline(text, plan_year=2020)
    except TrackerError:
        pass
