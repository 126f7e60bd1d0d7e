"""Synthetic plans in the seed's shape, for N counties at once, with a realistic mix of states.

Each county has a government, an office, 18 departments, 11 townships and 135 village committees
(reached through their township). Its plan has 18 domain rows (12 principals each), 30 items for
every township and department (30 principals each) and 2 items for the village committees:
1,386 principal assignments and about 1.5k in all, like Annex 1 with its villages added. With ``plans`` > 1 every
county has that many plans of this shape in one database (a county office tracks several documents at once), over
the same units: plan 2 onward differ in their titles and their deadlines' order, not in size.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

DEPARTMENTS = ["发展和改革局", "教育体育局", "公安局", "民政局", "司法局", "财政局", "人力资源和社会保障局", "自然资源局",
               "生态环境分局", "住房城乡建设局", "农业农村局", "文化和旅游局", "卫生健康局", "应急局", "市场监管局", "扶贫办",
               "政务服务管理局", "税务局"]
DOMAINS = ["重大建设项目", "义务教育", "户籍管理", "社会救助", "公共法律服务", "财政预决算", "就业创业", "国土空间规划",
           "环境保护", "保障性住房", "涉农补贴", "公共文化服务", "医疗卫生", "安全生产", "食品药品监管", "扶贫", "公共资源交易",
           "税收管理"]
TOWNS = ["狮山", "高桥", "猫街", "插甸", "白路", "万德", "己衣", "田心", "发窝", "环州", "东坡"]
DEADLINES = ["2020年9月底", "2020年10月底", "2020年12月底", "2021年3月底", "2021年6月底", "2021年9月底", "2021年12月底",
             "2021年上半年", "2020年11月30日前", "持续推进"]

SCALES = {"county": 1, "prefecture": 10, "province": 129, "stress": 664}  # stress: about 1M assignments
PRINCIPALS_PER_COUNTY = 18 * 12 + 30 * 30 + 2 * 135


@dataclass(frozen=True)
class Generated:
    plan: Path
    directory: Path
    counties: int
    plans: tuple[Path, ...] = ()  # every plan file, ``plan`` first; one plan when empty

    @property
    def plan_files(self) -> tuple[Path, ...]:
        return self.plans or (self.plan,)


def county_name(index: int) -> str:
    return f"第{index + 1:03d}县"


def _villages(county: str) -> list[tuple[str, str]]:
    found = []
    for number in range(135):
        town = TOWNS[number % 11]
        found.append((f"{county}{town}镇第{number // 11 + 1}村民委员会", f"{county}{town}镇人民政府"))
    return found


def write_directory(path: Path, counties: int) -> None:
    lines = ['[directory]\ncounty = "基准测试"\ndomain_row_principals = "guiding"\n']
    for index in range(counties):
        county = county_name(index)
        code = f"c{index + 1:03d}"
        lines.append(f'[[units]]\nname = "{county}人民政府"\nkind = "county_government"\nemails = []\nvia = "{county}政府办公室"\n')
        lines.append(f'[[units]]\nname = "{county}政府办公室"\nkind = "office"\nemails = ["{code}-office@bench.example"]\n')
        for number, dept in enumerate(DEPARTMENTS):
            lines.append(f'[[units]]\nname = "{county}{dept}"\nkind = "department"\nemails = ["{code}-d{number}@bench.example"]\n')
        for number, town in enumerate(TOWNS):
            lines.append(f'[[units]]\nname = "{county}{town}镇人民政府"\nkind = "township"\nemails = ["{code}-t{number}@bench.example"]\n')
        for name, parent in _villages(county):
            lines.append(f'[[units]]\nname = "{name}"\nkind = "village"\nemails = []\nparent = "{parent}"\n')
    path.write_text("\n".join(lines), "utf-8")


def write_plan(path: Path, counties: int, variant: int = 0) -> None:
    """One table: per county a work task with a domain item, 30 ordinary items and 2 village items; ``variant`` > 0
    names another plan of the same shape, its deadlines in another order."""
    deadlines = DEADLINES[variant % len(DEADLINES):] + DEADLINES[:variant % len(DEADLINES)]
    title = "基准测试工作任务分工" + (f"（第{variant + 1}个计划）" if variant else "")
    out = [title, "", "\t序号", "\t工作任务", "\t具体事项", "\t主管责任单位", "\t主体责任单位", "\t指导责任单位", "\t完成时间", ""]
    number = 0
    for index in range(counties):
        county = county_name(index)
        towns = [f"{county}{t}镇人民政府" for t in TOWNS]
        depts = [f"{county}{d}" for d in DEPARTMENTS]
        number += 1
        for row, (domain, dept) in enumerate(zip(DOMAINS, depts)):
            first = row == 0
            out += [f"\t{index + 1}" if first else "\t", f"\t{county}编制政务公开事项目录" if first else "\t",
                    f"\t（{number}）编制本级政务公开标准目录" if first else "\t", f"\t{domain}", f"\t{county}人民政府",
                    "\t" + "、".join([*towns, dept]), f"\t{dept}", "\t2020年9月底", ""]
        for item in range(30):
            number += 1
            deadline = "国务院部门指引出台2个月内" if item < 2 else deadlines[item % len(deadlines)]
            out += ["\t", "\t", f"\t（{number}）第{item + 1}项工作", f"\t{county}人民政府",
                    "\t" + "、".join([*towns, f"{county}政府办公室", *depts]), f"\t{county}政府办公室", f"\t{deadline}", ""]
        for item in range(2):
            number += 1
            villages = [name for name, _ in _villages(county)]
            out += ["\t", "\t", f"\t（{number}）村务公开第{item + 1}项", "\t" + "、".join(towns), "\t" + "、".join(villages),
                    f"\t{county}政府办公室", "\t2021年12月底", ""]
    path.write_text("\n".join(out) + "\n", "utf-8")


def generate(folder: Path, counties: int, plans: int = 1) -> Generated:
    folder.mkdir(parents=True, exist_ok=True)
    files = tuple(folder / (f"plan-{counties}.txt" if n == 0 else f"plan-{counties}-{n + 1}.txt") for n in range(plans))
    directory = folder / f"units-{counties}.toml"
    for variant, plan in enumerate(files):
        if not plan.exists():
            write_plan(plan, counties, variant)
    if not directory.exists():
        write_directory(directory, counties)
    return Generated(files[0], directory, counties, files if plans > 1 else ())


def apply_state_mix(engine: Engine, as_of: dt.date, seed: int = 7) -> dict[str, int]:
    """Realistic progress as of a day: most past-due work done (some late), some overdue, future work under way."""
    rng = random.Random(seed)
    with engine.begin() as conn:
        rows = conn.execute(text(
            "SELECT a.id, i.deadline FROM assignment a JOIN item i ON i.id = a.item_id WHERE a.role = 'principal'"
        )).fetchall()
        done, late, progress = [], [], []
        for ident, deadline in rows:
            rule = deadline if isinstance(deadline, dict) else json.loads(deadline)
            due = dt.date.fromisoformat(rule["due"]) if rule.get("due") else None
            roll = rng.random()
            if due is not None and due < as_of:
                if roll < 0.6:
                    done.append({"i": ident, "d": due - dt.timedelta(days=rng.randint(0, 20))})
                elif roll < 0.75:
                    late.append({"i": ident, "d": min(as_of, due + dt.timedelta(days=rng.randint(1, 30)))})
                elif roll < 0.85:
                    progress.append({"i": ident, "p": rng.randint(10, 90)})
            elif roll < 0.2:
                done.append({"i": ident, "d": as_of - dt.timedelta(days=rng.randint(0, 30))})
            elif roll < 0.6:
                progress.append({"i": ident, "p": rng.randint(5, 95)})
        if done or late:
            conn.execute(text("UPDATE assignment SET state = 'done', progress = 100, completed_on = :d WHERE id = :i"), done + late)
        if progress:
            conn.execute(text("UPDATE assignment SET state = 'in_progress', progress = :p WHERE id = :i"), progress)
    return {"assignments": len(rows), "done_on_time": len(done), "done_late": len(late), "in_progress": len(progress)}
