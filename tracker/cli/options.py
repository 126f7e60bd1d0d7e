"""Options that several commands share, written once."""

from __future__ import annotations

from typing import Annotated

import typer

Json = Annotated[bool, typer.Option("--json", help="输出 JSON，供脚本使用")]
Today = Annotated[str | None, typer.Option("--today", help="按哪一天计算（YYYY-MM-DD，默认今天，北京时间）")]
By = Annotated[str | None, typer.Option("--by", help="操作人或报告人姓名（默认当前登录用户）")]
PlanYear = Annotated[int | None, typer.Option("--plan-year", help="计划年度（用于“年底前”等没写年份的期限）")]
Drill = Annotated[bool, typer.Option("--drill", help="演练：在数据库的临时副本上运行（可用将来的日期），真实数据库不变、不发邮件")]
