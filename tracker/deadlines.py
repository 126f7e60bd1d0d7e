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
from typing import Any, Literal

from dateutil.relativedelta import relativedelta

from tracker.errors import DeadlineParseError
from tracker.names import normalize

Kind = Literal["fixed", "after_event", "after_item", "ongoing", "recurring"]

FORMS_HELP = (
    "可识别的写法例如：2020年9月底、2020年11月30日前、2021年上半年、2021年第三季度、年底前、"
    "持续推进、每季度、批复后20日内、XX出台2个月内、信息形成或变更之日起20个工作日内、第（3）项完成后1个月内。"
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

    def to_json(self) -> dict[str, Any]:
        """Field by field rather than ``asdict``, whose deep copies dominate a long listing."""
        return {"kind": self.kind, "due": self.due.isoformat() if self.due else None,
                **{f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("kind", "due")}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeadlineRule:
        values = dict(data)
        if values.get("due"):
            values["due"] = dt.date.fromisoformat(values["due"])
        return cls(**values)


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


_TRAILER = re.compile(r"(?:以前|之前|前|以内|之内|内|为止|止|完成)+$")
_YEAR = r"(?:(\d{4})年)?"
_FIXED: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"^{_YEAR}年?(?:底|末|终)$"), "year_end"),
    (re.compile(r"^(\d{4})[.\-/](\d{1,2})[.\-/](\d{1,2})日?$"), "ymd_sep"),
    (re.compile(rf"^{_YEAR}{_NUM}月{_NUM}日$"), "ymd"),
    (re.compile(rf"^{_YEAR}{_NUM}月(?:底|末|份)?$"), "month_end"),
    (re.compile(rf"^{_YEAR}(上|下)半年(?:末|底)?$"), "half"),
    (re.compile(rf"^{_YEAR}第?{_NUM}季度(?:末|底)?$"), "quarter"),
]
_ONGOING = re.compile(r"^(?:持续|长期|常态化|经常性)")
_RECURRING = re.compile(r"(?:每|按)(年度|年|季度|季|月|周|星期)")
_EVERY = {"年度": "year", "年": "year", "季度": "quarter", "季": "quarter", "月": "month", "周": "week", "星期": "week"}
_RELATIVE = re.compile(rf"^(.*?)(?:之日起|之日后|起|之后|以后|后)?{_NUM}个?(个月|月|年|个工作日|工作日|日|天|周|星期)$")
_ITEM_REF = re.compile(r"^(?:第|事项)?\((\d+)\)(?:项|事项)?(?:工作)?完成$|^第(\d+)项(?:工作)?完成$")
_DATEISH = re.compile(rf"{_YEAR}(?:{_NUM}月(?:{_NUM}日|底|末)?|年?底|(?:上|下)半年|第?{_NUM}季度末?)")


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
    anchor = re.sub(r"(?:之日|之时)$", "", anchor)
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
    """Parse one 完成时间 cell; raise DeadlineParseError saying which part could not be read."""
    original = text.strip()
    body = normalize(original)
    if not body:
        raise DeadlineParseError("完成时间为空。请填写完成时间，例如“2020年12月底”。")
    if _ONGOING.match(body):
        return DeadlineRule(kind="ongoing", text=original)
    recurring = _RECURRING.search(body)
    if recurring and not _RELATIVE.match(_TRAILER.sub("", body)):
        return DeadlineRule(kind="recurring", text=original, every=_EVERY[recurring.group(1)])
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
        f"无法识别完成时间“{original}”：其中“{_unread_part(core)}”不是可识别的日期或期限。{FORMS_HELP}"
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
