"""Many plans in one database: plan codes, and turning what an operator types into one item of one plan.

A county office tracks many documents at once; each plan has a short code (``zwgk2020``) and item keys are
unique only within a plan. An item is written ``CODE:KEY`` (``zwgk2020:1.义务教育``); a bare key is accepted
while exactly one active plan has it, because a silent pick between two plans' items would change the wrong
unit's work. ``resolve_item`` is the one place that decides this; the CLI and the web pages both call it.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from pathlib import Path

from sqlmodel import Session, select

from tracker.errors import PlanError, UnknownNameError
from tracker.models import Item, JournalEntry, Plan
from tracker.names import normalize, suggest

BUNDLED_PLAN_FILE = "wuding_plan.txt"
BUNDLED_PLAN_CODE = "zwgk2020"  # the bundled Wuding notice on 政务公开 (2020); the migration gives it this code too
CODE_MAX = 32
_CODE = re.compile(r"^[0-9A-Za-z\u4e00-\u9fff][0-9A-Za-z_\-\u4e00-\u9fff]*$")
_NOT_CODE = re.compile(r"[^0-9A-Za-z_\-\u4e00-\u9fff]+")


def qualified(code: str, key: str) -> str:
    """How an item is written when plans must be told apart: ``CODE:KEY``."""
    return f"{code}:{key}"


def derive_code(path: Path | str) -> str:
    """The default code of a plan imported from ``path``: its file name without extension, reduced to letters,
    digits and Chinese characters (``2021年 重点任务.docx`` → ``2021年重点任务``); the bundled plan's is fixed."""
    name = Path(path).name
    if name == BUNDLED_PLAN_FILE:
        return BUNDLED_PLAN_CODE
    stem = unicodedata.normalize("NFKC", Path(name).stem)
    code = _NOT_CODE.sub("", stem).lstrip("_-")[:CODE_MAX]
    return code or "plan"


def check_code(code: str) -> str:
    """A code the operator typed, cleaned, or a PlanError saying what a code may contain."""
    cleaned = normalize(code)
    if not cleaned or len(cleaned) > CODE_MAX or not _CODE.match(cleaned):
        raise PlanError(
            f"计划代码“{code}”不可用：代码只能由字母、数字、汉字、下划线和连字符组成（不能含冒号或空格），"
            f"以字母、数字或汉字开头，最长 {CODE_MAX} 个字符。例：--plan zwgk2020"
        )
    return cleaned


def all_plans(session: Session) -> list[Plan]:
    """Every plan, in the order they were created."""
    return list(session.exec(select(Plan).order_by(Plan.id)).all())  # type: ignore[arg-type]


def active_plan_ids(session: Session) -> list[int]:
    return [p.id for p in all_plans(session) if p.state == "active"]  # type: ignore[misc]


def find_plan(session: Session, code: str) -> Plan:
    """The plan of a code (case and width folded), or an error listing the codes there are."""
    plans = all_plans(session)
    wanted = normalize(code).casefold()
    for plan in plans:
        if plan.code.casefold() == wanted:
            return plan
    codes = [p.code for p in plans]
    raise UnknownNameError("计划代码", code, suggest(code, codes),
                           f"现有计划：{'、'.join(codes) or '（无）'}。可用 tracker plans list 查看。")


def plan_ids(session: Session, code: str | None) -> list[int] | None:
    """The ids of the plan a ``--plan`` option names, or None (every active plan) when it names none."""
    return None if not code else [find_plan(session, code).id]  # type: ignore[list-item]


def split_ref(session: Session, ref: str) -> tuple[Plan | None, str]:
    """``CODE:KEY`` → (that plan, KEY); anything else (a key that has no known code before a colon) → (None, ref)."""
    flat = normalize(ref)
    if ":" in flat:
        code, key = flat.split(":", 1)
        for plan in all_plans(session):
            if plan.code.casefold() == code.casefold():
                return plan, key
        if re.fullmatch(r"[0-9A-Za-z_\-]+", code):  # looks like a code: an unknown one is an error, not a key
            find_plan(session, code)
    return None, ref


def resolve_item(session: Session, ref: str, *, plan: str | None = None) -> Item:
    """The one item an operator (or a web form) means by ``ref``; every command that takes an item calls this.

    ``ref`` is ``CODE:KEY`` (any plan, archived ones included, so that their history stays readable) or a
    bare ``KEY``, which must belong to exactly one active plan; ``plan`` (a ``--plan`` option) narrows a bare
    key to that plan. Keys are compared with width folded and white space and brackets around them ignored
    (（3） = (3) = 3). Two active plans with the key is a PlanError that lists the candidates as ``CODE:KEY``
    with their titles; no plan with it is an UnknownNameError with the closest keys.
    """
    named, key = split_ref(session, ref)
    if plan:
        given = find_plan(session, plan)
        if named is not None and named.id != given.id:
            raise PlanError(f"“{ref}”写的是计划 {named.code}，而 --plan 是 {given.code}。请只用一种写法，或让两者一致。")
        named = given
    plans = {p.id: p for p in all_plans(session)}
    query = select(Item).where(Item.retired == False)  # noqa: E712
    if named is not None:
        query = query.where(Item.plan_id == named.id)
    items = list(session.exec(query).all())
    wanted = normalize(key).strip("()")
    matches = [i for i in items if normalize(i.key) == wanted or normalize(i.key).strip("()") == wanted]
    exact = [i for i in matches if normalize(i.key) == wanted]
    matches = exact or matches
    if named is None:
        live = [i for i in matches if plans[i.plan_id].state == "active"]  # type: ignore[index]
        if not live and matches:
            found = "、".join(qualified(plans[i.plan_id].code, i.key) for i in matches)  # type: ignore[index]
            raise PlanError(f"事项“{ref}”只在已归档的计划中：{found}。查看已归档计划的事项请写明计划代码，如 {found.split('、')[0]}。")
        matches = live
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        listed = "；".join(f"{qualified(plans[i.plan_id].code, i.key)}（《{plans[i.plan_id].title or plans[i.plan_id].code}》：{i.title[:20]}）"  # type: ignore[index]
                          for i in sorted(matches, key=lambda i: i.plan_id or 0))
        first = qualified(plans[matches[0].plan_id].code, matches[0].key)  # type: ignore[index]
        raise PlanError(f"事项编号“{ref}”在 {len(matches)} 个计划中都有：{listed}。请写成 计划代码:编号，如 {first}"
                        "（或用 --plan 指定计划）。")
    shown = [qualified(plans[i.plan_id].code, i.key) if len(plans) > 1 else i.key for i in items]  # type: ignore[index]
    where = f"计划 {named.code} 中" if named is not None else ""
    raise UnknownNameError(f"{where}事项", ref, suggest(key, shown), "可用 tracker items list 查看全部事项编号。")


def archive_plan(session: Session, code: str, *, now: dt.datetime, actor: str) -> tuple[Plan, bool]:
    """Archive a plan: its rows and history stay, it sends nothing and leaves listings and reports. Returns the
    plan and whether it changed (archiving an archived plan is no change)."""
    plan = find_plan(session, code)
    if plan.state == "archived":
        return plan, False
    plan.state = "archived"
    session.add(plan)
    session.add(JournalEntry(at=now, actor=actor, action="archive", plan_id=plan.id,
                             note=f"归档计划 {plan.code}《{plan.title}》"))
    session.flush()
    return plan, True


def plan_code(session: Session, item: Item) -> str:
    """The code of the plan an item belongs to ("" for an item without one): rules that find an item again by plan
    and key, and JSON that names the plan, take it from here."""
    plan = session.get(Plan, item.plan_id)
    return plan.code if plan else ""


def several_plans(session: Session) -> bool:
    """Whether the database holds more than one plan, so that items must be shown as ``CODE:KEY``."""
    return len(all_plans(session)) > 1


def shown_key(code: str, key: str, several: bool) -> str:
    """An item as listings show it: ``CODE:KEY`` with several plans, the bare key (as before) with one."""
    return qualified(code, key) if several and code else key


def plan_summaries(session: Session, today: dt.date, calendar: object, lights: object,
                   codes: list[str] | None = None) -> list[dict[str, object]]:
    """Each plan (or those ``codes`` names) with its figures as of ``today``: items, principal assignments, how many
    are closed and overdue, and its items by light; archived plans are counted too, so their history stays visible."""
    from tracker.queries import CLOSED_STATUSES, load_views  # queries reads plans' rows; imported here, not at start

    plans = [find_plan(session, c) for c in codes] if codes else all_plans(session)
    views = load_views(session, today, calendar, lights, plan_ids=[p.id for p in plans])  # type: ignore[arg-type,misc]
    found = []
    for plan in plans:
        mine = [v for v in views if v.plan == plan.code]
        work = [a for v in mine for a in v.principals]
        found.append({
            "plan": plan.code, "title": plan.title, "state": plan.state, "plan_year": plan.plan_year,
            "starts_on": plan.starts_on.isoformat() if plan.starts_on else None, "source": plan.source,
            "items": len(mine), "assignments": len(work),
            "closed": sum(1 for a in work if a.status in CLOSED_STATUSES),
            "overdue": sum(1 for a in work if a.status == "overdue"),
            "lights": {light: sum(1 for v in mine if v.closed_and_total[1] and v.light == light)
                       for light in ("red", "yellow", "green")},
        })
    return found


def import_target(
    session: Session, path: Path | str, items: list[tuple[str, str]], code: str | None,
) -> tuple[str, str]:
    """The code a plan file (its items as (key, title)) is imported into, and why: the ``--plan`` given; else the
    code made from the file name if a plan has it; else a new plan under that code. A file that shares at least
    half of its items (same key and text) with a plan of another code may be an edited copy of that plan (a second
    plan would remind every unit twice) or next year's plan of the same shape (a re-import would retire the old
    one). While the database holds that one plan only, it is re-imported, as every import was before plans had
    codes (operators' scripts rely on it); once there are several plans, only the operator knows, and the import
    is refused without ``--plan``. The reason is ``given``, ``file``, ``same_items`` or ``new``; the CLI shows it,
    so that the operator sees which plan changes (and ``--dry-run`` shows it before anything does)."""
    if code:
        return check_code(code), "given"
    derived = derive_code(path)
    plans = all_plans(session)
    if any(p.code == derived for p in plans):
        return derived, "file"
    wanted = {(normalize(k), normalize(t)) for k, t in items}
    best: tuple[int, Plan | None] = (0, None)
    for plan in plans:
        held = session.exec(select(Item.key, Item.title).where(Item.plan_id == plan.id, Item.retired == False)).all()  # noqa: E712
        shared = len(wanted & {(normalize(k), normalize(t)) for k, t in held})
        if shared > best[0]:
            best = (shared, plan)
    if best[1] is not None and wanted and best[0] * 2 >= len(wanted):
        other = best[1].code
        if len(plans) == 1:
            return other, "same_items"
        raise PlanError(f"文件“{Path(path).name}”的 {len(wanted)} 项中有 {best[0]} 项与已有计划 {other} 的事项相同，"
                        f"无法判断是更新计划 {other} 还是导入一个新计划。如要更新它（保留进度和历史），请加 --plan {other}；"
                        f"如要作为新计划导入，请加 --plan 新代码（例如 --plan {derived}）。数据库没有改动。")
    return derived, "new"
