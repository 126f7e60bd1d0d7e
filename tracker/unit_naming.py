"""What kind of unit a name is, read from the name itself, and the short names people use for it.

A county's plan names its units the way Chinese administrative names are built: the county
government is "<county>人民政府", a town is "<name>镇" / "<name>乡" / "<name>街道", a county body
ends in 局 / 委 / 中心 / 公司 …, a village ends in 村 / 社区 / 居委会 and often starts with its
town. That is enough to build a directory from a plan, so another county needs no hand-written
TOML. A name that fits none of these forms is *not* guessed: it comes back unclassified and the
operator decides (``tracker units set 单位 --kind``).

The county prefix is interchangeable with "县": 某某县财政局 and 县财政局 are one unit, the first
being its name and the second its alias, whichever of the two the plan happens to use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tracker.names import normalize

UNCLASSIFIED = "unclassified"

_GOVERNMENT = ("县人民政府", "县政府")
_OFFICE = ("县人民政府办公室", "县政府办公室", "县政府办", "县府办")
_VILLAGE_ENDINGS = ("社区居民委员会", "村民委员会", "居民委员会", "村委会", "居委会", "社区", "村")
_DEPARTMENT_ENDINGS = (
    "委员会", "办公室", "分局", "中心", "公司", "集团", "局", "委", "办", "院", "队", "站", "所", "社", "会", "部",
    "馆", "台", "联", "协", "处", "行", "校", "厂", "场",
)
_TOWNSHIP = re.compile(r"^(?P<short>.+?(?:镇|乡|街道))(?:人民政府|街道办事处|办事处)?$")
_GROUP_WORDS = re.compile(r"^(各|有关|相关)|有关部门|有关单位|相关部门|相关单位|县级部门|县直部门")


@dataclass
class NamedUnit:
    """A unit as a plan or a contact list names it: its full name, kind, short names and (villages) town."""

    name: str
    kind: str
    aliases: list[str] = field(default_factory=list)
    township: str = ""


def is_group_reference(name: str) -> bool:
    """"各乡镇", "有关部门", "县级有关部门": words for several units, never a unit of their own."""
    return bool(_GROUP_WORDS.search(normalize(name)))


def county_short(county: str) -> str:
    """某某县 → 某某 (a county name without its 县 / 市 / 区 suffix), for names written as "某某财政局"."""
    county = normalize(county)
    return county[:-1] if len(county) > 2 and county[-1] in "县市区旗" else county


def _local_part(name: str, county: str) -> str | None:
    """The name after its county prefix, written with "县": 某某县财政局 → 县财政局; None when it has no such prefix."""
    if county and name.startswith(county) and len(name) > len(county):
        return "县" + name[len(county):]
    if name.startswith("县") and len(name) > 1:
        return name
    return None


def classify(name: str, county: str, townships: dict[str, str] | None = None) -> NamedUnit | None:
    """The unit a single name means, or None when its form does not say what kind it is.

    ``townships`` maps a town's short name (甲镇) to its unit name (甲镇人民政府); a village whose
    name starts with one of them is placed under that town.
    """
    flat = normalize(name)
    county = normalize(county)
    if not flat or is_group_reference(flat):
        return None
    local = _local_part(flat, county)
    if local in _GOVERNMENT:
        return NamedUnit(f"{county}人民政府", "county_government", _unique(["县人民政府", "县政府", f"{county}政府"]))
    if local in _OFFICE:
        return NamedUnit(f"{county}人民政府办公室", "office",
                         _unique(["县人民政府办公室", "县政府办公室", "县政府办", f"{county}政府办公室"]))
    rest = flat[len(county):] if county and flat.startswith(county) and len(flat) > len(county) else flat
    if rest.endswith(_VILLAGE_ENDINGS) and not rest.endswith(("办公室", "中心")):
        return _village(flat, townships or {})
    township = _TOWNSHIP.match(rest)
    if township:
        short = township.group("short")
        full = f"{short}办事处" if short.endswith("街道") else f"{short}人民政府"
        return NamedUnit(full, "township", _unique([short, *([flat] if flat not in (short, full) else [])]))
    if local and local.endswith(_DEPARTMENT_ENDINGS) and len(local) > 2:
        full = f"{county}{local[1:]}" if county else local
        return NamedUnit(full, "department", _unique([local] if local != full else []))
    if flat.endswith(_DEPARTMENT_ENDINGS) and len(flat) > 2 and not _starts_with_town(flat, townships or {}):
        return NamedUnit(flat, "department")
    return None


def _village(flat: str, townships: dict[str, str]) -> NamedUnit:
    town = _starts_with_town(flat, townships)
    return NamedUnit(flat, "village", township=townships[town] if town else "")


def _starts_with_town(flat: str, townships: dict[str, str]) -> str:
    """The longest town short name ``flat`` begins with (and is longer than), or ""."""
    found = [short for short in townships if flat.startswith(short) and len(flat) > len(short)]
    return max(found, key=len) if found else ""


def _unique(names: list[str]) -> list[str]:
    seen: list[str] = []
    for name in names:
        if name and name not in seen:
            seen.append(name)
    return seen


def split_names(cell: str, county: str = "") -> list[str]:
    """The single names in a unit cell: separated by 、，；/ or by line breaks.

    A line break is also how a long name wraps ("各乡镇\\n人民政府"), so a line is joined to the
    one before it unless each of the two can stand alone as a name.
    """
    county = normalize(county)
    marks = (*_LEVEL_MARKS, county) if county else _LEVEL_MARKS
    names: list[str] = []
    for part in re.split(r"[、，,；;／/]+", _RUN_TOGETHER.sub("、", cell)):
        lines = [normalize(line) for line in part.splitlines() if normalize(line)]
        buffer = ""
        for line in lines:
            if buffer and _stands_alone(buffer, county) and (_stands_alone(line, county) or line.startswith(marks)):
                names.append(buffer)
                buffer = line
            else:
                buffer += line
        if buffer:
            names.append(buffer)
    return [n for n in names if n not in ("—", "-", "无", "／")]


_RUN_TOGETHER = re.compile(r"(?<=[局委办院队站所社会部心司])(?=县)")  # 县财政局县税务局: two names, no separator
_LEVEL_MARKS = ("县", "州", "市", "省", "国", "中", "各", "有关", "相关")
_SUFFIX_ONLY = ("人民政府", "办公室", "办事处", "委员会", "居民委员会", "村民委员会", "分局", "中心", "公司")


def _stands_alone(text: str, county: str) -> bool:
    """Whether a line is a whole name rather than the wrapped end of one ("保障局" after "县人力资源和社会")."""
    if text.startswith(_SUFFIX_ONLY) or len(text) < 2:
        return False
    if is_group_reference(text):
        return True
    found = classify(text, county)
    marks = (*_LEVEL_MARKS, county) if county else _LEVEL_MARKS
    return found is not None and (found.kind in ("township", "village") or text.startswith(marks))
