"""Options that several commands share, written once."""

from __future__ import annotations

from typing import Annotated

import typer

from tracker.errors import TrackerError
from tracker.models import UNIT_KINDS

Json = Annotated[bool, typer.Option("--json", help="输出 JSON，供脚本使用")]
Today = Annotated[str | None, typer.Option("--today", help="按哪一天计算（YYYY-MM-DD，默认今天，北京时间）")]
By = Annotated[str | None, typer.Option("--by", help="操作人或报告人姓名（默认当前登录用户）")]
PlanYear = Annotated[int | None, typer.Option("--plan-year", help="计划年度（用于“年底前”等没写年份的期限）")]
Occurrence = Annotated[str | None, typer.Option("--occurrence", help="定期工作的期次，如 2020-10、2020-Q4、2020-H2、2021、2020-W41")]
Period = Annotated[str | None, typer.Option("--period", help="定期工作：该期中的月份或日期，如 2020-10（按月、季度等换算为期次）")]


def choose(value: str, option: str, choices: dict[str, str], what: str = "") -> str:
    """The code an option's value stands for: the English code or the Chinese word a clerk reads in listings
    (``--set 已完成``, ``--light 红``); anything else is refused with the accepted values."""
    found = choices.get(value.strip())
    if found is None:
        accepted = "、".join(dict.fromkeys(choices))
        problem = f"未知的{what}“{value}”（{option}）" if what else f"{option} 的值“{value}”无效"
        raise TrackerError(f"{problem}。可用：{accepted}。")
    return found


def _with_words(codes: dict[str, str], words: dict[str, str]) -> dict[str, str]:
    return {**codes, **{word: codes[code] for word, code in words.items()}}


SET_STATES = _with_words(
    {"not-started": "not_started", "in-progress": "in_progress", "done": "done", "n/a": "na"},
    {"未开始": "not-started", "进行中": "in-progress", "已完成": "done", "完成": "done", "不适用": "n/a"},
)
FILTER_STATES = _with_words(
    {"not-started": "not_started", "in-progress": "in_progress", "done": "done", "n/a": "na", "na": "na",
     "overdue": "overdue", "waiting": "waiting", "done-late": "done_late", "ongoing": "ongoing"},
    {"未开始": "not-started", "进行中": "in-progress", "已完成": "done", "完成": "done", "不适用": "n/a",
     "已逾期": "overdue", "逾期": "overdue", "待触发": "waiting", "逾期完成": "done-late", "持续推进": "ongoing"},
)
LIGHTS = _with_words({"green": "green", "yellow": "yellow", "red": "red"},
                     {"绿": "green", "绿灯": "green", "黄": "yellow", "黄灯": "yellow", "红": "red", "红灯": "red"})
UNIT_KIND_CHOICES = _with_words(
    {code: code for code in UNIT_KINDS},
    {**{label: code for code, label in UNIT_KINDS.items()}, "部门": "department", "村": "village", "村委会": "village",
     "居委会": "village", "社区": "village", "县人民政府": "county_government", "政府办": "office"},
)


TableNumber = Annotated[int | None, typer.Option(
    "--table", min=1, help="Word/Excel 文件中有多个任务表时，导入第几个（导入时会列出编号）")]

Drill = Annotated[bool, typer.Option("--drill", help="演练：在数据库的临时副本上运行（可用将来的日期），真实数据库不变、不发邮件")]
PlanCode = Annotated[str | None, typer.Option("--plan", help="计划代码，如 zwgk2020：只看这一个计划（默认全部进行中的计划；tracker plans list 查看代码）")]
