"""A unit directory built from the names a plan uses, for a county that has no directory file yet.

Every name in the plan's unit columns is classified by its form (``unit_naming``); names that
mean several units (各乡镇, 各部门 …) are the usual groups, defined from the kinds. The result
is a list of new units and groups: for a fresh database it becomes a ``DirectoryFile``; for an
existing one only the names the directory does not know yet are added. Names whose kind cannot
be told are still created, as "unclassified" (so the plan imports and they get the items that
name them), and listed with their line so the operator can set their kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session

from tracker.directory import Directory, DirectoryFile, DirectorySettings, GroupEntry, UnitEntry
from tracker.errors import DirectoryError
from tracker.importer import looks_like_header, shape, shaped_table, unit_cells
from tracker.officefile import read_office_table
from tracker.models import Unit, UnitGroup
from tracker.names import normalize
from tracker.tablefile import read_file
from tracker.unit_naming import UNCLASSIFIED, NamedUnit, classify, is_group_reference, split_names

# The usual groups of a county plan, from the kinds: (name, kinds, aliases, vague).
USUAL_GROUPS: tuple[tuple[str, list[str], list[str], bool], ...] = (
    ("各乡镇（街道）", ["township"], [
        "各乡镇", "各乡镇人民政府", "各乡（镇）人民政府", "各乡（镇）", "各乡镇街道", "各乡镇（街道办事处）",
        "各乡镇人民政府（街道办事处）", "各乡镇（街道）人民政府", "各镇（街道）", "各街道", "各镇", "各乡",
    ], False),
    ("各部门", ["department", "office"], ["县级各部门", "县直各部门", "各县级部门", "县直各单位", "县级各单位"], False),
    ("各乡镇（街道）各部门", ["township", "department", "office"], [
        "各乡镇各部门", "各乡镇、各部门", "各部门各乡镇", "各乡镇（街道）、各部门", "各乡镇（街道）、县直各部门",
        "各乡镇（街道）、县级各部门", "县直各部门、各乡镇（街道）",
    ], False),
    ("各村（社区）", ["village"], [
        "各村（居）民委员会", "各村（居）委会", "各村民委员会", "各村", "各社区", "各村（社区）居委会", "各村（社区）委员会",
    ], False),
    ("县级有关部门", ["department", "office"], ["有关部门", "相关部门", "各有关部门", "县直有关部门", "县级相关部门"], True),
)


@dataclass
class PlanUnits:
    """What a plan adds to the directory: new units, new groups, and the names left for the operator."""

    county: str
    units: list[NamedUnit] = field(default_factory=list)
    groups: list[GroupEntry] = field(default_factory=list)
    unclassified: list[tuple[str, int]] = field(default_factory=list)  # (name, line)
    unknown_groups: list[tuple[str, int]] = field(default_factory=list)
    empty_groups: list[str] = field(default_factory=list)  # groups the plan names that no unit belongs to yet
    new_aliases: list[tuple[str, str]] = field(default_factory=list)  # (known unit, the plan's other name for it)
    known: int = 0  # names the directory already had

    def check_groups(self) -> None:
        """Refuse group words the usual groups do not cover: the plan could not be expanded without guessing."""
        if self.unknown_groups:
            listed = "；".join(f"第 {line} 行“{name}”" for name, line in self.unknown_groups)
            usual = "、".join(name for name, *_rest in USUAL_GROUPS)
            raise DirectoryError(
                f"计划表中有不认识的单位组：{listed}。请在计划表中改为常用的单位组（{usual}）或写出具体单位后重试。"
            )

    def to_json(self) -> dict[str, object]:
        return {
            "county": self.county,
            "added_units": [{"name": u.name, "kind": u.kind, "aliases": u.aliases, "parent": u.township or None}
                            for u in self.units],
            "added_groups": [g.name for g in self.groups],
            "unclassified": [{"name": n, "line": line} for n, line in self.unclassified],
            "unknown_groups": [{"name": n, "line": line} for n, line in self.unknown_groups],
            "empty_groups": self.empty_groups,
            "added_aliases": [{"unit": u, "alias": a} for u, a in self.new_aliases],
            "already_known": self.known,
        }


def plan_names(path: Path, county: str = "") -> list[tuple[str, int]]:
    """Every single unit name in a plan's unit columns, each once, with the line it first appears on; the plan is
    read as an import reads it (a text dump, or a Word, Excel or CSV file)."""
    office = read_office_table(path, looks_like_header, None)
    if office is not None:
        where = office.where
        table, columns = shape(office.table, where)
    else:
        where = str(path)
        table, columns = shaped_table(read_file(path)[0], where)
    seen: dict[str, tuple[str, int]] = {}
    for _role, cell, line in unit_cells(table, columns, where):
        lines = [normalize(text) for text in cell.splitlines()]
        for name in split_names(cell, county):
            offset = next((i for i, text in enumerate(lines) if text and (name in text or name.startswith(text))), 0)
            seen.setdefault(normalize(name), (name, line + offset))
    return list(seen.values())


def units_from_names(names: list[tuple[str, int]], county: str, directory: Directory | None = None) -> PlanUnits:
    """Classify the names a plan uses; with ``directory``, leave out what it already knows."""
    county = normalize(county)
    if not county:
        raise DirectoryError("需要县名才能从计划表生成单位名录：请用 --county 指定，例如 --county 某某县。")
    result = PlanUnits(county=county)
    taken: set[str] = set()
    if directory is not None:
        taken = {normalize(n) for u in directory.units.values() for n in [u.name, *u.aliases]}
        taken |= {normalize(n) for g in directory.groups.values() for n in [g.name, *g.aliases]}
    result.groups = _usual_groups(taken, list(directory.groups.values()) if directory is not None else [])
    group_names = taken | {normalize(n) for g in result.groups for n in [g.name, *g.aliases]}

    group_kinds = {normalize(n): (g.name, set(g.kinds)) for g in result.groups for n in [g.name, *g.aliases]}
    if directory is not None:
        group_kinds |= {normalize(n): (g.name, set(g.kinds)) for g in directory.groups.values() for n in [g.name, *g.aliases]}
    named_groups: dict[str, set[str]] = {}
    pending: list[tuple[str, int]] = []
    for name, line in names:
        key = normalize(name)
        if key in group_kinds:
            named_groups.setdefault(*group_kinds[key])
        if directory is not None and directory.lookup(key) is not None:
            result.known += 1
        elif is_group_reference(key):
            if key not in group_names:
                result.unknown_groups.append((name, line))
        else:
            pending.append((name, line))

    townships = _known_townships(directory)
    for name, _line in pending:
        found = classify(name, county)
        if found is not None and found.kind == "township":
            townships.setdefault(found.aliases[0], found.name)

    by_name: dict[str, NamedUnit] = {}
    for name, line in [*pending, (f"{county}人民政府", 0), (f"{county}人民政府办公室", 0)]:
        found = classify(name, county, townships)
        if found is None:
            result.unclassified.append((name, line))
            found = NamedUnit(normalize(name), UNCLASSIFIED)
        known = _known_unit(directory, found)
        if known is not None:  # 某某县财政局 in the plan, 县财政局 in the directory: the plan's name becomes an alias
            if line and (known.name, normalize(name)) not in result.new_aliases:
                result.new_aliases.append((known.name, normalize(name)))
            continue
        merged = by_name.setdefault(normalize(found.name), found)
        if merged is not found:
            merged.aliases += [a for a in found.aliases if a not in merged.aliases]
        if normalize(name) != normalize(merged.name) and name not in merged.aliases:
            merged.aliases.append(normalize(name))
    used = taken | group_names | {normalize(u.name) for u in by_name.values()}
    for unit in by_name.values():
        kept = []
        for alias in unit.aliases:
            if normalize(alias) not in used:
                used.add(normalize(alias))
                kept.append(alias)
        unit.aliases = kept
    result.units = sorted(by_name.values(), key=_order)
    present = {u.kind for u in result.units} | ({u.kind for u in directory.units.values()} if directory else set())
    result.empty_groups = [name for name, kinds in named_groups.items() if not kinds & present]
    return result


def _known_unit(directory: Directory | None, found: NamedUnit) -> Unit | None:
    if directory is None:
        return None
    for name in [found.name, *found.aliases]:
        known = directory.lookup(name)
        if isinstance(known, Unit):
            return known
    return None


_KINDS = ("county_government", "office", "department", "township", "village", UNCLASSIFIED)


def _order(unit: NamedUnit) -> int:
    return _KINDS.index(unit.kind)  # a stable sort keeps the plan's order within a kind


def _known_townships(directory: Directory | None) -> dict[str, str]:
    if directory is None:
        return {}
    found: dict[str, str] = {}
    for unit in directory.units.values():
        if unit.kind == "township":
            for name in [unit.name, *unit.aliases]:
                named = classify(name, "")
                if named is not None and named.kind == "township":
                    found.setdefault(named.aliases[0], unit.name)
    return found


def _usual_groups(taken: set[str], existing: list[UnitGroup]) -> list[GroupEntry]:
    """The usual groups a directory lacks; a group covering the same kinds under another name counts as there."""
    have = {(frozenset(g.kinds), g.vague) for g in existing}
    groups = []
    for name, kinds, aliases, vague in USUAL_GROUPS:
        if normalize(name) in taken or (frozenset(kinds), vague) in have:
            continue
        free = [a for a in aliases if normalize(a) not in taken]
        groups.append(GroupEntry(name=name, kinds=kinds, aliases=free, vague=vague))  # type: ignore[arg-type]
    return groups


def directory_file(found: PlanUnits) -> DirectoryFile:
    """The directory of a fresh database: the plan's units and the usual groups."""
    units = []
    for unit in found.units:
        via = f"{found.county}人民政府办公室" if unit.kind == "county_government" else ""
        units.append(UnitEntry(name=unit.name, kind=unit.kind, aliases=unit.aliases, parent=unit.township, via=via))  # type: ignore[arg-type]
    return DirectoryFile(directory=DirectorySettings(county=found.county), units=units, groups=found.groups)


def add_plan_units(session: Session, directory: Directory, found: PlanUnits) -> None:
    """Insert the new units and groups into an existing directory (parents may be old or new units)."""
    added: dict[str, Unit] = {}
    for named in found.units:
        unit = Unit(name=named.name, kind=named.kind, aliases=named.aliases, emails=[])
        session.add(unit)
        added[named.name] = unit
    session.flush()
    office = next((u for u in [*added.values(), *directory.units.values()] if u.kind == "office"), None)
    for named in found.units:
        unit = added[named.name]
        if named.township:
            parent = added.get(named.township) or directory.lookup(named.township)
            unit.parent_id = parent.id if isinstance(parent, Unit) else None
        if named.kind == "county_government" and office is not None:
            unit.via_id = office.id
        session.add(unit)
    for name, alias in found.new_aliases:
        unit = directory.unit(name)
        unit.aliases = [*unit.aliases, alias]
        session.add(unit)
    for group in found.groups:
        session.add(UnitGroup(name=group.name, kinds=list(group.kinds), aliases=group.aliases, vague=group.vague))
    session.flush()
