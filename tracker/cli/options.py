"""Options that several commands share, written once."""

from __future__ import annotations

from typing import Annotated

import typer

Json = Annotated[bool, typer.Option("--json", help="输出 JSON，供脚本使用")]
Today = Annotated[str | None, typer.Option("--today", help="按哪一天计算（YYYY-MM-DD，默认今天，北京时间）")]
By = Annotated[str | None, typer.Option("--by", help="操作人或报告人姓名（默认当前登录用户）")]
PlanYear = Annotated[int | None, typer.Option("--plan-year", help="计划年度（用于“年底前”等没写年份的期限）")]
TableNumber = Annotated[int | None, typer.Option(
    "--table", min=1, help="Word/Excel 文件中有多个任务表时，导入第几个（导入时会列出编号）")]
