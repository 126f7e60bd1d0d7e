"""The unit directory: units, their aliases and groups, and resolving the names a plan uses.

A cell such as "各乡镇\\n各部门" or "县财政局、县税务局" is resolved to units and groups here; a
name that matches nothing is an error with the closest known names, never a new unit.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import String, cast
from sqlmodel import Session, select

from tracker.channels import RobotFields, store_directory_robots, validate_mobile
from tracker.errors import DirectoryError, UnknownNameError
from tracker.models import UNIT_KINDS, Unit, UnitGroup
from tracker.names import normalize, suggest
from tracker.text import clean_line

_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
_SEPARATORS = re.compile(r"[、，,；;／/]+")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _one_line(cls, value: object) -> object:
        """Names, contacts and phones are one line each; TOML escapes (\\u0001) can smuggle control characters in."""
        if isinstance(value, str):
            return clean_line(value)
        if isinstance(value, list):
            return [clean_line(v) if isinstance(v, str) else v for v in value]
        return value


class UnitEntry(RobotFields):
    name: str
    kind: Literal["county_government", "office", "department", "township", "village", "unclassified"]
    aliases: list[str] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)
    parent: str = ""
    via: str = ""
    contact: str = ""
    phone: str = ""
    mobiles: list[str] = Field(default_factory=list)


class GroupEntry(RobotFields):
    name: str
    kinds: list[Literal["county_government", "office", "department", "township", "village"]]
    aliases: list[str] = Field(default_factory=list)
    vague: bool = False


class DirectorySettings(_Strict):
    county: str = ""
    domain_row_principals: Literal["guiding", "all"] = "guiding"


class DirectoryFile(_Strict):
    directory: DirectorySettings = Field(default_factory=DirectorySettings)
    units: list[UnitEntry] = Field(default_factory=list)
    groups: list[GroupEntry] = Field(default_factory=list)


def bundled_directory_path() -> Path:
    return Path(str(resources.files("tracker.data").joinpath("wuding_units.toml")))


def validate_email(address: str, unit: str) -> str:
    """Refuse anything that is not one plain address: CR/LF or a second address could add headers."""
    if not _EMAIL.match(address):
        shown = address.encode("unicode_escape").decode("ascii") if any(ord(c) < 32 for c in address) else address
        raise DirectoryError(
            f"单位“{unit}”的邮箱“{shown}”格式不正确。请写成 name@example.org 这样的单个地址。"
        )
    return address


def read_directory_file(path: Path) -> DirectoryFile:
    """Read and check a directory file; every error names the unit and the field."""
    try:
        raw = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError as exc:
        raise DirectoryError(f"找不到单位名录文件 {path}。请检查 config.toml 中的 general.unit_directory。") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DirectoryError(f"单位名录文件 {path} 无法读取：{exc}。请保存为 UTF-8 编码的 TOML 后重试。") from exc
    except PermissionError as exc:
        raise DirectoryError(f"没有读取单位名录文件 {path} 的权限。请检查文件权限（ls -l）。") from exc
    except OSError as exc:
        raise DirectoryError(f"无法读取单位名录文件 {path}：{exc.strerror}。请检查 general.unit_directory 或 --units。") from exc
    try:
        parsed = DirectoryFile.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = list(err["loc"])
            where = ".".join(str(p) for p in loc)
            if len(loc) >= 2 and loc[0] in ("units", "groups") and isinstance(loc[1], int):
                entries = raw.get(loc[0], [])
                name = entries[loc[1]].get("name", "?") if loc[1] < len(entries) else "?"
                where = f"{loc[0]}[{name}]" + "".join(f".{p}" for p in loc[2:])
            lines.append(f"{where}：{err['msg']}")
        raise DirectoryError(f"单位名录文件 {path} 有 {len(lines)} 处问题：\n  " + "\n  ".join(lines)) from exc
    seen: dict[str, str] = {}
    for entry in [*parsed.units, *parsed.groups]:
        for name in [entry.name, *entry.aliases]:
            key = normalize(name)
            if key in seen:
                raise DirectoryError(f"单位名录文件 {path} 中名称“{name}”重复（已用于“{seen[key]}”）。每个名称和别名只能出现一次。")
            seen[key] = entry.name
    for unit in parsed.units:
        for ref in (unit.parent, unit.via):
            if ref and normalize(ref) not in seen:
                raise UnknownNameError("单位", ref, suggest(ref, seen), f"（见名录文件 {path} 中的“{unit.name}”）")
        for address in unit.emails:
            validate_email(address, unit.name)
        unit.mobiles = [validate_mobile(m, unit.name) for m in unit.mobiles]
    for entry in [*parsed.units, *parsed.groups]:
        entry.robots(entry.name)  # checked here, so that a bad key is refused before anything is stored
    return parsed


@dataclass
class Directory:
    """An in-memory view of the directory, for resolving names and expanding groups."""

    units: dict[int, Unit]
    groups: dict[int, UnitGroup]
    _names: dict[str, tuple[str, int]] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session) -> Directory:
        units = {u.id: u for u in session.exec(select(Unit).order_by(Unit.id)).all() if u.id is not None}
        groups = {g.id: g for g in session.exec(select(UnitGroup).order_by(UnitGroup.id)).all() if g.id is not None}
        directory = cls(units, groups)
        for unit in units.values():
            for name in [unit.name, *unit.aliases]:
                directory._names[normalize(name)] = ("unit", unit.id)  # type: ignore[assignment]
        for group in groups.values():
            for name in [group.name, *group.aliases]:
                directory._names[normalize(name)] = ("group", group.id)  # type: ignore[assignment]
        return directory

    def known_names(self) -> list[str]:
        return [u.name for u in self.units.values()] + [g.name for g in self.groups.values()]

    def suggestions(self, name: str, *, units_only: bool = False) -> list[str]:
        """The known names closest to ``name``, compared with every name and alias: "高侨镇" (one wrong
        character) is close to the alias 高桥镇, so 高桥镇人民政府 is suggested, as a shortened name is."""
        by_spelling: dict[str, str] = {}
        for unit in self.units.values():
            for spelling in [unit.name, *unit.aliases]:
                by_spelling.setdefault(spelling, unit.name)
        if not units_only:
            for group in self.groups.values():
                for spelling in [group.name, *group.aliases]:
                    by_spelling.setdefault(spelling, group.name)
        found = suggest(name, by_spelling)
        return list(dict.fromkeys(by_spelling[f] for f in found))

    def lookup(self, name: str) -> Unit | UnitGroup | None:
        found = self._names.get(normalize(name))
        if found is None:
            return None
        kind, ident = found
        return self.units[ident] if kind == "unit" else self.groups[ident]

    def unit(self, name: str) -> Unit:
        """A single unit by name or alias; a group name or an unknown one is an error."""
        found = self.lookup(name)
        if isinstance(found, Unit):
            return found
        if isinstance(found, UnitGroup):
            raise UnknownNameError("单位", name, hint=f"“{found.name}”是单位组，这里需要一个具体单位。")
        raise UnknownNameError("单位", name, self.suggestions(name, units_only=True))

    def resolve_cell(self, text: str) -> list[Unit | UnitGroup]:
        """The units and groups a role cell names, in order; raises UnknownNameError on the first unknown part."""
        whole = normalize(text)
        if not whole:
            return []
        direct = self.lookup(whole)
        if direct is not None:
            return [direct]
        found: list[Unit | UnitGroup] = []
        for part in filter(None, _SEPARATORS.split(whole)):
            found.extend(self._segment(part))
        return found

    def _segment(self, part: str) -> list[Unit | UnitGroup]:
        """Split run-together names ("县财政局县税务局") by longest known prefix."""
        direct = self.lookup(part)
        if direct is not None:
            return [direct]
        result: list[Unit | UnitGroup] = []
        rest = part
        while rest:
            for end in range(len(rest), 0, -1):
                found = self.lookup(rest[:end])
                if found is not None:
                    result.append(found)
                    rest = rest[end:]
                    break
            else:
                raise UnknownNameError("单位", part, self.suggestions(part))
        return result

    def members(self, group: UnitGroup) -> list[Unit]:
        kinds = set(group.kinds)
        return sorted((u for u in self.units.values() if u.kind in kinds), key=_unit_order)

    def expand(self, refs: Iterable[Unit | UnitGroup]) -> list[Unit]:
        """Units named directly or through groups, each once, in directory order."""
        seen: dict[int, Unit] = {}
        for ref in refs:
            for unit in self.members(ref) if isinstance(ref, UnitGroup) else [ref]:
                seen.setdefault(unit.id, unit)  # type: ignore[arg-type]
        return sorted(seen.values(), key=_unit_order)

    def children(self, unit: Unit) -> list[Unit]:
        return sorted((u for u in self.units.values() if u.parent_id == unit.id), key=_unit_order)


class Routable(Protocol):
    """What routing mail needs of a unit; both ``Unit`` and ``UnitRow`` have it."""

    @property
    def id(self) -> int | None: ...
    @property
    def name(self) -> str: ...
    @property
    def emails(self) -> list[str]: ...
    @property
    def parent_id(self) -> int | None: ...
    @property
    def via_id(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class UnitRow:
    """A unit as a plain row: the daily check of a province routes mail for tens of thousands of units,
    and ORM objects for all of them cost more than the decision itself."""

    id: int
    name: str
    kind: str
    parent_id: int | None
    via_id: int | None
    emails: list[str]


def unit_rows(session: Session, *where: Any) -> dict[int, UnitRow]:
    """Every unit (or those ``where`` selects) as a plain row; the addresses are read as text and decoded here, at a
    fraction of the ORM's cost."""
    emails = cast(Unit.emails, String)
    query = select(Unit.id, Unit.name, Unit.kind, Unit.parent_id, Unit.via_id, emails).where(*where)  # type: ignore[call-overload]
    rows = session.connection().execute(query).all()
    return {row[0]: UnitRow(*row[:5], json.loads(row[5]) if row[5] and row[5] != "[]" else []) for row in rows}


def routing_rows(session: Session, names: Iterable[str]) -> dict[int, UnitRow]:
    """The units named ``names`` with every unit their mail may be routed through ('via' units and parents), as
    ``delivery_unit`` walks them: a few rows instead of a province's whole directory."""
    rows = unit_rows(session, Unit.name.in_(list(names)))  # type: ignore[attr-defined]
    while missing := {hop for row in list(rows.values()) for hop in (row.via_id, row.parent_id) if hop and hop not in rows}:
        found = unit_rows(session, Unit.id.in_(missing))  # type: ignore[union-attr]
        rows.update(found)
        if not found:  # a hop to a unit that is gone: delivery_unit stops there
            break
    return rows


def delivery_unit(unit: Routable, units: Mapping[int, Routable]) -> Routable | None:
    """The unit whose addresses receive ``unit``'s mail: itself, its 'via' unit, or its nearest parent with one."""
    seen: set[int | None] = set()
    current: Routable | None = unit
    while current is not None and current.id not in seen:
        if current.emails:
            return current
        seen.add(current.id)
        nxt = current.via_id or current.parent_id
        current = units.get(nxt) if nxt else None
    return None


_KIND_ORDER = {kind: index for index, kind in enumerate(UNIT_KINDS)}


def _unit_order(unit: Unit) -> tuple[int, int]:
    return (_KIND_ORDER.get(unit.kind, 99), unit.id or 0)


def store_directory(session: Session, parsed: DirectoryFile, *, now: dt.datetime) -> None:
    """Insert the units and groups of a directory file into an empty database."""
    by_name: dict[str, Unit] = {}
    for entry in parsed.units:
        unit = Unit(
            name=entry.name.strip(), kind=entry.kind, aliases=entry.aliases, emails=entry.emails,
            contact=entry.contact, phone=entry.phone, mobiles=entry.mobiles,
        )
        session.add(unit)
        by_name[normalize(entry.name)] = unit
        for alias in entry.aliases:
            by_name[normalize(alias)] = unit
    session.flush()
    for entry in parsed.units:
        unit = by_name[normalize(entry.name)]
        if entry.parent:
            unit.parent_id = by_name[normalize(entry.parent)].id
        if entry.via:
            unit.via_id = by_name[normalize(entry.via)].id
    for group in parsed.groups:
        session.add(UnitGroup(name=group.name, kinds=list(group.kinds), aliases=group.aliases, vague=group.vague))
    session.flush()
    store_directory_robots(session, parsed, {normalize(u.name): u for u in by_name.values()}, now=now)


def check_new_name(directory: Directory, names: Sequence[str]) -> None:
    """Refuse a name or alias that is already taken by another unit or group."""
    for name in names:
        taken = directory.lookup(name)
        if taken is not None:
            raise DirectoryError(f"名称“{name}”已被“{taken.name}”使用。请换一个名称或别名。")
