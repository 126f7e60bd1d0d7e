"""Expanding an item's unit cells into assignments, one per (unit, role).

Product rules (domain.md): in a domain row of item (1), a principal group that includes the
county departments means the townships plus that row's guiding department, unless the directory
says "all"; elsewhere a group means all its members. Without a principal column, the lead units
do the work.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tracker.directory import Directory
from tracker.models import Unit, UnitGroup

DEPARTMENT_KINDS = frozenset({"department", "office"})


@dataclass(frozen=True)
class ItemSpec:
    """What expansion needs of an item, whether it comes from a file or from the database."""

    key: str
    domain: str | None
    texts: Mapping[str, str]
    is_parent: bool = False


def expand_item(spec: ItemSpec, directory: Directory, *, domain_rule: str, lead_does_work: bool) -> list[tuple[Unit, str]]:
    """The (unit, role) pairs of one item, in directory order; a parent item has none."""
    if spec.is_parent:
        return []
    refs = {role: directory.resolve_cell(text) for role, text in spec.texts.items()}
    pairs: list[tuple[Unit, str]] = []
    for role in ("lead", "guiding", "cooperating"):
        pairs += [(unit, role) for unit in directory.expand(refs.get(role, []))]
    principal_refs = refs.get("principal") or (refs.get("lead", []) if lead_does_work else [])
    if spec.domain and domain_rule == "guiding":
        guiding = {unit.id for unit, role in pairs if role == "guiding"}
        principals = _narrowed(principal_refs, directory, guiding)
    else:
        principals = directory.expand(principal_refs)
    pairs += [(unit, "principal") for unit in principals]
    return pairs


def _narrowed(refs: Iterable[Unit | UnitGroup], directory: Directory, guiding: set[int | None]) -> list[Unit]:
    """Group members that are departments count only when they guide this row."""
    kept: list[Unit | UnitGroup] = []
    for ref in refs:
        if isinstance(ref, UnitGroup):
            kept += [u for u in directory.members(ref) if u.kind not in DEPARTMENT_KINDS or u.id in guiding]
        else:
            kept.append(ref)
    return directory.expand(kept)
