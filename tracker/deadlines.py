"""Reading 完成时间 texts into deadline rules.

The text is kept as written; the rule beside it says what kind of deadline it is and holds the
numbers. Relative rules get a date only when what they wait for happens (an outside event, or
the completion of another item); see ``due_after``.
"""

from __future__ import annotations

import calendar as _stdcal
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any, Literal

from dateutil.relativedelta import relativedelta

from tracker.errors import DeadlineParseError
from tracker.names import normalize

Kind = Literal["fixed", "after_event", "after_item", "ongoing", "recurring"]

FORMS_HELP = (
    "可识别的写法例如：2020年9月底、2020年11月30日前、2021年上半年、2021年第三季度、年底前、"
    "持续推进、年内、每月25日前、每年4月30日前、每季度末、每半年、每周五前、每季度结束后10日内、批复后20日内、"
    "XX出台2个月内、自信息形成或变更之日起20个工作日内予以公开、第（3）项完成后1个月内。"
)


@dataclass(frozen=True)
class DeadlineRule:
    """A parsed deadline: its kind, its numbers, and the text it came from."""

    kind: Kind
    text: str
    due: dt.date | None = None
    months: int | None = None
    days: int | None = None
    working_days: int | None = None
    event: str | None = None
    item: str | None = None
    every: str | None = None
    month: int | None = None
    day: int | None = None
    weekday: int | None = None

    def to_json(self) -> dict[str, Any]:
        """Field by field rather than ``asdict``, whose deep copies dominate a long listing. The day of a recurring
        rule (month, day, weekday) is given only when set, so other kinds read as they always did. Worked out once
        per rule (a province's listing writes the same few rules for thousands of items) and copied."""
        return dict(_rule_json(self))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeadlineRule:
        values = dict(data)
        if values.get("due"):
            values["due"] = dt.date.fromisoformat(values["due"])
        return cls(**values)


_DAY_FIELDS = ("month", "day", "weekday")
_PLAIN_FIELDS = tuple(f.name for f in fields(DeadlineRule) if f.name not in ("kind", "due", *_DAY_FIELDS))


@lru_cache(maxsize=4096)
def _rule_json(rule: DeadlineRule) -> dict[str, Any]:
    """``DeadlineRule.to_json``'s dict, kept per rule: callers get a copy."""
    data = {"kind": rule.kind, "due": rule.due.isoformat() if rule.due else None,
            **{name: getattr(rule, name) for name in _PLAIN_FIELDS}}
    data.update((name, getattr(rule, name)) for name in _DAY_FIELDS if getattr(rule, name) is not None)
    return data


_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_NUM = r"(\d+|[零〇一二两三四五六七八九十百]+)"


def chinese_number(text: str) -> int:
    """Value of an Arabic or Chinese numeral up to 999 (二十, 十五, 两, 一百零五)."""
    if text.isdigit():
        return int(text)
    total, current = 0, 0
    for char in text:
        if char in _DIGITS:
            current = _DIGITS[char]
        elif char == "十":
            total += (current or 1) * 10
            current = 0
        elif char == "百":
            total += (current or 1) * 100
            current = 0
        else:
            raise ValueError(text)
    return total + current


def _end_of_month(year: int, month: int) -> dt.date:
    return dt.date(year, month, _stdcal.monthrange(year, month)[1])


_ACTION = r"(?:予以|及时|并|向社会)?(?:公开|公布|发布|报送|上报|报备|提交|完成|办结|到位|落实|更新)"
_TRAILER = re.compile(rf"(?:以前|之前|前|以内|之内|内|为止|止|{_ACTION})+$")
_YEAR = r"(?:(\d{4})年)?"
_FIXED: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"^{_YEAR}年?(?:底|末|终)$"), "year_end"),
    (re.compile(r"^(\d{4})[.\-/](\d{1,2})[.\-/](\d{1,2})日?$"), "ymd_sep"),
    (re.compile(rf"^{_YEAR}{_NUM}月{_NUM}日$"), "ymd"),
    (re.compile(rf"^{_YEAR}{_NUM}月(?:底|末|份)?$"), "month_end"),
    (re.compile(rf"^{_YEAR}(上|下)半年(?:末|底)?$"), "half"),
    (re.compile(rf"^{_YEAR}第?{_NUM}季度(?:末|底)?$"), "quarter"),
]
_ONGOING_WORD = r"(?:持续|长期|常态化|经常性)"
_ONGOING = re.compile(rf"^{_ONGOING_WORD}")
_WITHIN_YEAR = re.compile(rf"^(?:(\d{{4}})年|本年|当年)?年?度?(?:以内|之内|内)(?:{_ACTION})*$")
_PERIOD = re.compile(r"^(?:于|在)?(?:每|按)个?(半年度|半年|年度|年|季度|季|月度|月|周|星期|旬|日|天)")
_EACH = re.compile(r"^(?:于|在)?每")
_PERIOD_ANYWHERE = re.compile(r"(?:每|按)个?(?:半年|年|季|月|周|星期|旬)")
_EVERY = {"半年度": "half_year", "半年": "half_year", "年度": "year", "年": "year", "季度": "quarter", "季": "quarter",
          "月度": "month", "月": "month", "周": "week", "星期": "week"}
_EVERY_LABEL = {"week": "周", "month": "月", "quarter": "季度", "half_year": "半年", "year": "年"}
_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "1": 0, "2": 1, "3": 2, "4": 3,
             "5": 4, "6": 5, "7": 6}
_PERIOD_END = re.compile(r"^(?:末|底|终|结束)?$")
_AFTER_END = re.compile(rf"^(?:(?:末|底|结束)(?:后|之后|以后)?|后|之后|以后){_NUM}个?(个工作日|工作日|日|天)$")
_MONTH_DAY = re.compile(rf"^{_NUM}[日号]$")
_YEAR_DAY = re.compile(rf"^{_NUM}月(?:{_NUM}[日号]|底|末)?$")
_WEEK_DAY = re.compile(r"^(?:周|星期)?([一二三四五六日天1-7])$")
_RELATIVE = re.compile(rf"^(.*?)(?:之日起|之日后|起|之后|以后|后)?{_NUM}个?(个月|月|年|个工作日|工作日|日|天|周|星期)$")
_ITEM_REF = re.compile(r"^(?:第|事项)?\((\d+)\)(?:项|事项)?(?:工作)?完成$|^第(\d+)项(?:工作)?完成$")
_DATEISH = re.compile(rf"{_YEAR}(?:{_NUM}月(?:{_NUM}日|底|末)?|年?底|(?:上|下)半年|第?{_NUM}季度末?)")
_FRAGMENT = re.compile(
    rf"^(?:(?:每|按)个?\S*|\d{{4}}年度?|{_YEAR}(?:{_NUM}月(?:{_NUM}[日号])?|年?[初底末]|(?:上|下)半年|第?{_NUM}季度[初末底]?)"
    rf"|{_NUM}[日号]|(?:本|当|次|上|下)(?:年度?|月|季度?|周)[初底末]?)$"
)
_FROM = re.compile(r"^(?:自|从)(?![然治主查行愿身动])")


def _year(found: str | None, plan_year: int | None, text: str) -> int:
    if found:
        return int(found)
    if plan_year is None:
        raise DeadlineParseError(
            f"完成时间“{text}”没有写年份。请写出年份（如 2020年底），或用 --plan-year 指定计划年度。"
        )
    return plan_year


def _fixed_due(shape: str, groups: tuple[str | None, ...], plan_year: int | None, text: str) -> dt.date:
    if shape == "ymd_sep":
        year, month, day = (int(g) for g in groups if g is not None)
        return dt.date(year, month, day)
    year = _year(groups[0], plan_year, text)
    if shape == "year_end":
        return dt.date(year, 12, 31)
    if shape == "ymd":
        return dt.date(year, chinese_number(groups[1] or ""), chinese_number(groups[2] or ""))
    if shape == "month_end":
        return _end_of_month(year, chinese_number(groups[1] or ""))
    if shape == "half":
        return dt.date(year, 6, 30) if groups[1] == "上" else dt.date(year, 12, 31)
    quarter = chinese_number(groups[1] or "")
    if not 1 <= quarter <= 4:
        raise ValueError(quarter)
    return _end_of_month(year, quarter * 3)


def _relative(match: re.Match[str], text: str) -> DeadlineRule:
    anchor, count_text, unit = match.group(1), match.group(2), match.group(3)
    span = match.group(0)[len(anchor):]
    count = chinese_number(count_text)
    if not 0 < count <= 1000:
        raise DeadlineParseError(f"完成时间“{text}”中的期限“{span}”不合理：数量应在 1 到 1000 之间。")
    amounts: dict[str, int] = {}
    if unit in ("个月", "月"):
        amounts["months"] = count
    elif unit == "年":
        amounts["months"] = 12 * count
    elif unit in ("个工作日", "工作日"):
        amounts["working_days"] = count
    elif unit in ("周", "星期"):
        amounts["days"] = 7 * count
    else:
        amounts["days"] = count
    if "起" in span[:3] or re.search(r"(?:之日|之时)$", anchor):
        anchor = _FROM.sub("", anchor)
    anchor = re.sub(r"(?:之日|之时)$", "", anchor)
    if anchor and _FRAGMENT.match(anchor):
        raise DeadlineParseError(
            f"完成时间“{text}”中的起算点“{anchor}”只是日期或周期，不是一个事件，系统不会把它当作外部事件。"
            "固定日期请直接写截止日期（如“2020年11月30日前”），定期工作请写成“每月25日前”“每季度末”这样的写法。"
        )
    if not anchor:
        raise DeadlineParseError(
            f"完成时间“{text}”只写了期限“{span}”，没有写从什么时候起算。"
            f"请写明起算事件，例如“批复后{span}内”。"
        )
    ref = _ITEM_REF.match(anchor)
    if ref:
        return DeadlineRule(kind="after_item", text=text, item=ref.group(1) or ref.group(2), **amounts)
    if anchor.endswith("完成"):
        return DeadlineRule(kind="after_item", text=text, event=anchor, **amounts)
    return DeadlineRule(kind="after_event", text=text, event=anchor, **amounts)


def _unread_part(body: str) -> str:
    date = _DATEISH.search(body)
    if date and date.group(0):
        rest = (body[: date.start()] + body[date.end():]).strip()
        return rest or body
    return body


def parse_deadline(text: str, plan_year: int | None = None) -> DeadlineRule:
    """Parse one 完成时间 cell; raise DeadlineParseError saying which part could not be read.

    A text that starts with a period word (每/按 + 年/季/月/周) is a recurring duty or an error,
    never an event: "每月25日前" once became "25 days after an event called 每月".
    """
    original = text.strip()
    body = normalize(original)
    if not body:
        raise DeadlineParseError("完成时间为空。请填写完成时间，例如“2020年12月底”。")
    if _ONGOING.match(body) or ("年内" in body and re.search(_ONGOING_WORD, body)):
        return DeadlineRule(kind="ongoing", text=original)
    within = _WITHIN_YEAR.match(body)
    if within:
        return DeadlineRule(kind="fixed", text=original, due=dt.date(_year(within.group(1), plan_year, original), 12, 31))
    period = _PERIOD.match(body)
    if period or _PERIOD_ANYWHERE.search(body) or _EACH.match(body):
        return _recurring(body, period, original)
    core = _TRAILER.sub("", body)
    for pattern, shape in _FIXED:
        match = pattern.match(core)
        if match:
            try:
                return DeadlineRule(kind="fixed", text=original, due=_fixed_due(shape, match.groups(), plan_year, original))
            except ValueError as exc:
                raise DeadlineParseError(
                    f"完成时间“{original}”中的日期“{match.group(0)}”不存在。请检查年、月、日或季度。"
                ) from exc
    relative = _RELATIVE.match(core)
    if relative:
        return _relative(relative, original)
    raise DeadlineParseError(
        f"无法识别完成时间“{original}”：其中“{_unread_part(core) or original}”不是可识别的日期或期限。{FORMS_HELP}"
    )


_RECURRING_HELP = "定期工作请写成“每月25日前”“每年4月30日前”“每季度末”“每半年”“每周五前”“每季度结束后10日内”这样的写法。"


def _recurring(body: str, period: re.Match[str] | None, original: str) -> DeadlineRule:
    """A duty that repeats every period, due on a day in it (or a span after its end); anything else is refused."""
    word = period.group(1) if period else None
    every = _EVERY.get(word or "")
    if period is None or every is None:
        found = period or _PERIOD_ANYWHERE.search(body)
        shown = found.group(0) if found else body[:4]
        raise DeadlineParseError(
            f"完成时间“{original}”含有周期词“{shown}”，但无法确定是每年、每半年、每季度、每月还是每周。{_RECURRING_HELP}"
        )
    rest = _TRAILER.sub("", body[period.end():])
    rule = dict(kind="recurring", text=original, every=every)
    try:
        if _PERIOD_END.match(rest):
            return DeadlineRule(**rule)  # type: ignore[arg-type]
        after = _AFTER_END.match(rest)
        if after:
            count = chinese_number(after.group(1))
            if not 0 < count <= 366:
                raise ValueError(count)
            key = "working_days" if "工作日" in after.group(2) else "days"
            return DeadlineRule(**rule, **{key: count})  # type: ignore[arg-type]
        if every == "month" and (day := _MONTH_DAY.match(rest)):
            value = chinese_number(day.group(1))
            if not 1 <= value <= 31:
                raise ValueError(value)
            return DeadlineRule(**rule, day=value)  # type: ignore[arg-type]
        if every == "year" and (day := _YEAR_DAY.match(rest)):
            month = chinese_number(day.group(1))
            value = chinese_number(day.group(2)) if day.group(2) else None
            if not 1 <= month <= 12 or (value is not None and not 1 <= value <= _stdcal.monthrange(2020, month)[1]):
                raise ValueError(month)
            return DeadlineRule(**rule, month=month, day=value)  # type: ignore[arg-type]
        if every == "week" and (day := _WEEK_DAY.match(rest)):
            return DeadlineRule(**rule, weekday=_WEEKDAYS[day.group(1)])  # type: ignore[arg-type]
    except ValueError as exc:
        raise DeadlineParseError(
            f"完成时间“{original}”中的日期“{rest}”不存在（每{_EVERY_LABEL[every]}的哪一天？）。{_RECURRING_HELP}"
        ) from exc
    raise DeadlineParseError(
        f"完成时间“{original}”是每{_EVERY_LABEL[every]}一次的定期工作，但其中“{rest}”无法识别为每{_EVERY_LABEL[every]}的截止日。"
        f"{_RECURRING_HELP}"
    )


def due_after(rule: DeadlineRule, start: dt.date, add_working_days: Callable[[dt.date, int], dt.date]) -> dt.date:
    """The due date of a relative rule whose event happened (or whose item completed) on ``start``.

    Months are calendar months (Jan 31 + 1 month = Feb 28/29); working days follow the official
    calendar through ``add_working_days``.
    """
    if rule.months is not None:
        return start + relativedelta(months=rule.months)
    if rule.working_days is not None:
        return add_working_days(start, rule.working_days)
    if rule.days is not None:
        return start + dt.timedelta(days=rule.days)
    raise DeadlineParseError(f"完成时间“{rule.text}”不是相对期限，不能从某一天起算。")
