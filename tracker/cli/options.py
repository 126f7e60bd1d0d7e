"""Options that several commands share, written once."""

from __future__ import annotations

from typing import Annotated

import typer

Json = Annotated[bool, typer.Option("--json", help="输出 JSON，供脚本使用")]
Today = Annotated[str | None, typer.Option("--today", help="按哪一天计算（YYYY-MM-DD，默认今天，北京时间）")]
By = Annotated[str | None, typer.Option("--by", help="操作人或报告人姓名（默认当前登录用户）")]
PlanYear = Annotated[int | None, typer.Option("--plan-year", help="计划年度（用于“年底前”等没写年份的期限）")]
Occurrence = Annotated[str | None, typer.Option("--occurrence", help="定期工作的期次，如 2020-10、2020-Q4、2020-H2、2021、2020-W41")]
Period = Annotated[str | None, typer.Option("--period", help="定期工作：该期中的月份或日期，如 2020-10（按月、季度等换算为期次）")]
