"""Commands that change or explain status: status, history, extend, event record, events list."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlmodel import select

from tracker.cli import output
from tracker.cli.app import app
from tracker.cli.context import Context, actor, parse_date
from tracker.cli.options import SET_STATES, By, Drill, Json, Occurrence, Period, PlanCode, Today, choose
from tracker.db import read_session, write_session
from tracker.cycle import CYCLE_ACTIONS
from tracker.directory import Directory
from tracker.models import STATES, Event, Item, Plan
from tracker.plans import find_plan, several_plans, shown_key
from tracker.queries import item_dues
from tracker.times import local_iso, local_text
from tracker.status import StatusChange, extend, find_item, history, record_event, update_status

event_app = typer.Typer(help="外部事件：登记发生日期。", no_args_is_help=True)
events_app = typer.Typer(help="外部事件：查看。", no_args_is_help=True)
app.add_typer(event_app, name="event", rich_help_panel="计划")
app.add_typer(events_app, name="events", rich_help_panel="计划")

Units = Annotated[list[str], typer.Option("--unit", help="单位或单位组（可重复，如 各乡镇）")]


@app.command("status", rich_help_panel="状态")
def status_command(
    ctx: typer.Context,
    item: Annotated[str, typer.Argument(help="事项编号，如 12 或 1.义务教育；有多个计划时可写 计划代码:编号")],
    unit: Units,
    set_state: Annotated[str | None, typer.Option("--set", help="状态：not-started、in-progress、done、n/a，或中文：未开始、进行中、已完成、不适用")] = None,
    progress: Annotated[int | None, typer.Option("--progress", help="进度百分比 0–100")] = None,
    note: Annotated[str, typer.Option("--note", help="说明（设为 n/a 时必填，写明原因）")] = "",
    on: Annotated[str | None, typer.Option("--on", help="完成日期 YYYY-MM-DD（默认今天）")] = None,
    evidence: Annotated[str, typer.Option("--evidence", help="佐证：文件路径、文号或网址")] = "",
    force: Annotated[bool, typer.Option("--force", help="允许修改已完成事项的完成日期")] = False,
    occurrence: Occurrence = None,
    period: Period = None,
    plan: PlanCode = None,
    by: By = None,
    today: Today = None,
    drill: Drill = False,
    as_json: Json = False,
) -> None:
    """更新单位在某事项上的状态，并记入历史。定期工作（如每月25日前）每期单独登记。

    例：tracker status 1.义务教育 --unit 县教育体育局 --set done --on 2020-09-20 --evidence 武教发〔2020〕12号
        tracker status 17 --unit 狮山镇 --period 2020-10 --set done --on 2020-10-23
    """
    context: Context = ctx.obj
    day = context.writing_day(today, drill=drill)
    change = StatusChange(
        state=choose(set_state, "--set", SET_STATES) if set_state else None, progress=progress, note=note,
        on=parse_date(on, "--on") if on else None, by=actor(by), evidence=evidence, force=force,
    )
    with write_session(context.ready_engine()) as session:
        records = update_status(session, Directory.load(session), item, unit, change, today=day, now=context.now(today),
                                occurrence=occurrence, period=period, plan=plan)
        several = several_plans(session)
    if as_json:
        output.print_json([r.to_json() for r in records])
        return
    for r in records:
        label = f"事项 {shown_key(r.plan, r.item, several)}" + (f"（{r.occurrence}期）" if r.occurrence else "")
        if not r.changed:
            output.say(f"{label}  {r.unit}：无变化（{STATES[r.to_state]}，{r.to_progress}%）")
            continue
        done = f"，完成日期 {r.completed_on}" if r.completed_on else ""
        output.say(f"{label}  {r.unit}：{STATES[r.from_state]} {r.from_progress}% → {STATES[r.to_state]} {r.to_progress}%{done}")
    output.say(f"共更新 {sum(r.changed for r in records)} 个单位。")
    _drill_note(context)


def _drill_note(context: Context) -> None:
    if context.drilling:
        output.say("这是演练：以上在数据库副本上完成，真实数据库没有改动。")


@app.command("history", rich_help_panel="状态")
def history_command(
    ctx: typer.Context,
    item: Annotated[str, typer.Argument(help="事项编号；有多个计划时可写 计划代码:编号")],
    unit: Annotated[str | None, typer.Option("--unit", help="只看某单位")] = None,
    plan: PlanCode = None,
    as_json: Json = False,
) -> None:
    """查看事项的全部变更记录（谁、何时、从什么改成什么）。

    例：tracker history 1.义务教育 --unit 县教育体育局
    """
    context: Context = ctx.obj
    with read_session(context.ready_engine()) as session:
        found = find_item(session, item, plan)
        unit_row = Directory.load(session).unit(unit) if unit else None
        entries = history(session, found, unit_row)
        owner = session.get(Plan, found.plan_id)
        code, several = (owner.code if owner else ""), several_plans(session)
    tz = context.config.tz
    if as_json:
        output.print_json([{
            "at": local_iso(e.at, tz), "by": e.actor, "action": e.action, "plan": code, "item": e.item_key, "unit": e.unit_name,
            "from": e.from_state, "to": e.to_state, "from_progress": e.from_progress, "to_progress": e.to_progress,
            "note": e.note, "evidence": e.evidence, "details": e.details, "via": via,
        } for e, via in entries])
        return
    actions = {"status": "状态", "extend": "延期", "retire": "移出计划", "restore": "恢复", "event": "事件", "rewind": "撤销台账",
               **CYCLE_ACTIONS}
    rows = []
    for e, via in entries:
        if via == "event":
            change = f"事件 {e.details.get('event')}（{e.note}）发生于 {e.details.get('to')}" + (
                f"（原登记 {e.details['from']}）" if e.details.get("from") else "") + "，期限随之确定"
        elif via == "dependency":
            done = e.to_state == "done"
            change = f"所依赖的事项 {e.item_key}：{e.unit_name}" + (f"完成（{e.details.get('completed_on')}）" if done else "重新打开")
        elif e.action == "extend":
            change = f"期限 {e.details.get('from_due')} → {e.details.get('to_due')}"
        else:
            change = f"{STATES.get(e.from_state or '', '')} {e.from_progress if e.from_progress is not None else ''}"
            change += f" → {STATES.get(e.to_state or '', '')} {e.to_progress if e.to_progress is not None else ''}"
            if e.details.get("completed_on"):
                change += f"（完成 {e.details['completed_on']}）"
        kind = {"event": "外部事件", "dependency": "依赖事项"}.get(via or "", actions.get(e.action, e.action))
        occurrence = f"（{e.details['occurrence']}期）" if e.details.get("occurrence") else ""
        rows.append([local_text(e.at, tz), e.actor, kind,
                     (e.item_key or "") + occurrence, e.unit_name or "", change, output.short(e.note, 24), e.evidence])
    output.table(f"事项 {shown_key(code, found.key, several)} 的变更记录", ["时间", "操作人", "类型", "事项", "单位", "变化", "说明", "佐证"], rows)
    if not rows:
        output.say("暂无变更记录。")


@app.command("extend", rich_help_panel="状态")
def extend_command(
    ctx: typer.Context,
    item: Annotated[str, typer.Argument(help="事项编号；有多个计划时可写 计划代码:编号")],
    unit: Units,
    to: Annotated[str, typer.Option("--to", help="批准延期到的日期 YYYY-MM-DD")],
    reason: Annotated[str, typer.Option("--reason", help="延期原因或批准文号")],
    occurrence: Occurrence = None,
    period: Period = None,
    plan: PlanCode = None,
    by: By = None,
    today: Today = None,
    drill: Drill = False,
    as_json: Json = False,
) -> None:
    """登记经批准的延期：单位获得新的期限，原期限保留。

    例：tracker extend 9 --unit 环州乡人民政府 --to 2021-08-31 --reason "县政府办批复同意"
    """
    context: Context = ctx.obj
    context.writing_day(today, drill=drill)
    with write_session(context.ready_engine()) as session:
        results = extend(session, Directory.load(session), item, unit, parse_date(to, "--to"), reason,
                         by=actor(by), calendar=context.calendar, now=context.now(today), occurrence=occurrence,
                         period=period, plan=plan)
        several = several_plans(session)
    if as_json:
        output.print_json(results)
        return
    for r in results:
        output.say(f"事项 {shown_key(str(r['plan']), str(r['item']), several)}  {r['unit']}：期限 {r['from_due']} → {r['to_due']}（原定 {r['original_due']}）")
    _drill_note(context)


@event_app.command("record")
def event_record(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="事件编号（如 E1）或名称")],
    on: Annotated[str, typer.Option("--on", help="事件发生日期 YYYY-MM-DD")],
    plan: Annotated[str | None, typer.Option("--plan", help="事件所属计划的代码（多个计划都有这个事件编号或名称时必填）")] = None,
    by: By = None,
    today: Today = None,
    drill: Drill = False,
    as_json: Json = False,
) -> None:
    """登记外部事件的发生日期；等待它的事项由此得到期限。

    例：tracker event record E1 --on 2021-03-15
        tracker event record E1 --plan zwgk2020 --on 2021-03-15
    """
    context: Context = ctx.obj
    day = context.writing_day(today, drill=drill)
    with write_session(context.ready_engine()) as session:
        result = record_event(session, name, parse_date(on, "--on"), by=actor(by), today=day, now=context.now(today),
                              plan=plan)
        owner = find_plan(session, str(result["plan"]))
        waiting = session.exec(select(Item).where(Item.plan_id == owner.id, Item.event_key == result["key"],
                                                  Item.retired == False).order_by(Item.position)).all()  # noqa: E712
        by_id = item_dues(session, waiting, context.calendar)
        dues = {shown_key(owner.code, i.key, several_plans(session)): by_id[i.id] for i in waiting}  # type: ignore[index]
        keys = {shown_key(owner.code, i.key, several_plans(session)): i.key for i in waiting}
    if as_json:
        output.print_json({**result, "items": [{"plan": result["plan"], "item": keys[k], "due": d.isoformat() if d else None}
                                               for k, (d, _w) in dues.items()]})
        return
    if not result["changed"]:
        output.say(f"事件 {result['key']}（{result['name']}）已登记为 {result['to']}，无变化。")
        return
    moved = f"（原登记 {result['from']}）" if result["from"] else ""
    output.say(f"已登记事件 {result['key']}：{result['name']}，发生于 {result['to']}{moved}")
    for key, (due, _waiting) in dues.items():
        output.say(f"  事项 {key} 的期限：{due}")
    _drill_note(context)


@events_app.command("list")
def events_list(ctx: typer.Context, plan: PlanCode = None, as_json: Json = False) -> None:
    """列出计划中的外部事件、发生日期和等待它们的事项。事件编号（如 E1）是各计划自己的。

    例：tracker events list --plan zwgk2020
    """
    context: Context = ctx.obj
    with read_session(context.ready_engine()) as session:
        plans = {p.id: p for p in session.exec(select(Plan)).all()}
        wanted = [find_plan(session, plan).id] if plan else [i for i, p in plans.items() if p.state == "active"]
        events = session.exec(select(Event).where(Event.plan_id.in_(wanted)).order_by(Event.id)).all()  # type: ignore[union-attr]
        items = session.exec(select(Item).where(Item.event_key != None, Item.retired == False).order_by(Item.position)).all()  # noqa: E711,E712
    data = [{"plan": plans[e.plan_id].code, "key": e.key, "name": e.name,  # type: ignore[index]
             "occurred_on": e.occurred_on.isoformat() if e.occurred_on else None,
             "items": [i.key for i in items if i.event_key == e.key and i.plan_id == e.plan_id]} for e in events]
    if as_json:
        output.print_json(data)
        return
    several = len(plans) > 1
    output.table("外部事件", [*(["计划"] if several else []), "编号", "事件", "发生日期", "等待的事项"],
                 [[*([d["plan"]] if several else []), d["key"], d["name"], d["occurred_on"] or "未发生", "、".join(d["items"])]  # type: ignore[arg-type]
                  for d in data])
