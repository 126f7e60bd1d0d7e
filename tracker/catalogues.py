"""Accepting a unit's catalogue as the deliverable of its item-(1) assignment, and finding its entries again.

Acceptance is all or nothing, in the caller's transaction: the file is read and checked again here
(never trusted from an earlier `check`), then the rows and the file's bytes are stored and the
assignment is set done through ``update_status``, so the same status rules and the same journal
apply as for any other completion. A later acceptance for the same unit and item supersedes the
earlier catalogue (kept, with its disclosures) rather than editing it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from tracker.catalogue_check import CheckResult, ShortDeadlines, check_catalogue
from tracker.catalogue_read import read_catalogue_bytes
from tracker.directory import Directory
from tracker.errors import CatalogueError
from tracker.models import Catalogue, CatalogueEntry, Item, Unit
from tracker.names import normalize
from tracker.status import ChangeRecord, StatusChange, find_item, principal_rows, update_status

CATALOGUE_ITEM = "1"  # item (1): compile the standard catalogue of each domain


@dataclass
class Accepted:
    catalogue: Catalogue
    check: CheckResult
    status: list[ChangeRecord]
    superseded: list[int]

    def to_json(self) -> dict[str, Any]:
        c = self.catalogue
        return {"catalogue": c.id, "unit": self.check.unit, "item": c.item_key, "file": c.filename, "sha256": c.sha256,
                "rows": c.rows, "superseded": self.superseded, "evidence": evidence_text(c),
                "status": [r.to_json() for r in self.status]}


def evidence_text(catalogue: Catalogue) -> str:
    """The evidence reference written on the assignment: which stored catalogue, which file, which bytes."""
    return f"附件2目录 #{catalogue.id}：{catalogue.filename}（{catalogue.rows} 项，sha256 {catalogue.sha256[:12]}）"


def catalogue_item(session: Session, key: str) -> Item:
    """An item-(1) domain row; anything else has no catalogue to hand in."""
    item = find_item(session, key)
    if item.parent_key != CATALOGUE_ITEM:
        domains = session.exec(select(Item.key).where(Item.parent_key == CATALOGUE_ITEM, Item.retired == False)).all()  # noqa: E712
        example = f"，例如 {domains[0]}" if domains else ""
        raise CatalogueError(
            f"事项 {item.key} 不是第（1）项的领域事项，没有标准目录可以验收。请用 --item 指定第（1）项下的领域{example}。"
        )
    return item


def accept_catalogue(
    session: Session, directory: Directory, data: bytes, filename: str, *, unit_name: str, item_key: str,
    short: ShortDeadlines, by: str, on: dt.date | None, today: dt.date, now: dt.datetime,
) -> Accepted:
    """Check ``data`` again, store it and its rows, and record the unit's assignment on the item as done."""
    unit = directory.unit(unit_name)
    item = catalogue_item(session, item_key)
    principal_rows(session, item, directory, [unit.name])  # refuses a unit with no assignment on this item
    check = check_catalogue(read_catalogue_bytes(data, filename), directory, unit, short)
    if not check.ok:
        first = [f"{r.label}：{r.problems[0].message}" for r in check.failed[:3]]
        more = f"等 {len(check.failed)} 行" if len(check.failed) > 3 else ""
        raise CatalogueError(
            f"目录未通过检查，未验收，未做任何改动。{check.summary}\n  " + "\n  ".join(first)
            + (f"\n  {more}" if more else "") + f"\n完整清单：tracker catalog check {filename} --unit {unit.name}"
            if check.rows else f"目录未通过检查，未验收。{check.summary}"
        )
    previous = session.exec(select(Catalogue).where(
        Catalogue.unit_id == unit.id, Catalogue.item_key == item.key, Catalogue.superseded == False)).all()  # noqa: E712
    for old in previous:
        old.superseded = True
        session.add(old)
    catalogue = Catalogue(
        unit_id=unit.id, item_key=item.key, filename=filename, sha256=hashlib.sha256(data).hexdigest(), content=data,  # type: ignore[arg-type]
        rows=len(check.rows), accepted_on=on or today, accepted_at=now, accepted_by=by,
    )
    session.add(catalogue)
    session.flush()
    for result in check.rows:
        row = result.row
        session.add(CatalogueEntry(
            catalogue_id=catalogue.id, number=row.number, level1=row.level1, level2=row.level2,  # type: ignore[arg-type]
            content=row.content, basis=row.basis, deadline_text=row.deadline_text,
            deadline=result.deadline.to_json() if result.deadline else {}, publisher_text=row.publisher_text,
            publisher_id=result.publisher.id, channels=row.channels, other_channel=row.other_channel or "",  # type: ignore[union-attr]
            audience_public=row.audience_public, audience_group=row.audience_group if row.audience_group_ticked else "",
            active=row.active, on_request=row.on_request, county_level=row.county_level, township_level=row.township_level,
            source_row=_row_number(row.place),
        ))
    session.flush()
    change = StatusChange(state="done", on=on, by=by, evidence=evidence_text(catalogue),
                          note=f"政务公开事项标准目录通过检查并验收（{len(check.rows)} 项）")
    records = update_status(session, directory, item.key, [unit.name], change, today=today, now=now)
    return Accepted(catalogue, check, records, [c.id for c in previous])  # type: ignore[misc]


def stored_file(session: Session, catalogue_id: int) -> Catalogue:
    """An accepted catalogue with the bytes of the file as it was handed in."""
    catalogue = session.get(Catalogue, catalogue_id)
    if catalogue is None:
        raise CatalogueError(f"没有编号为 #{catalogue_id} 的已验收目录。任务的佐证中写有目录编号，也可用 tracker catalog list 查看。")
    return catalogue


def _row_number(place: str) -> int:
    digits = "".join(ch if ch.isdigit() else " " for ch in place.rsplit("第", 1)[-1]).split()
    return int(digits[0]) if digits else 0


@dataclass
class EntryRef:
    entry: CatalogueEntry
    catalogue: Catalogue
    unit: Unit

    @property
    def ref(self) -> str:
        return entry_ref(self.catalogue, self.unit, self.entry)


def entry_ref(catalogue: Catalogue, unit: Unit, entry: CatalogueEntry) -> str:
    return f"{catalogue.item_key}/{unit.name}/{entry.number or entry.level2}"


def current_entries(session: Session, directory: Directory, unit: Unit | None = None) -> list[EntryRef]:
    """The entries of the catalogues in force (not superseded), in unit, item and row order."""
    query = select(Catalogue).where(Catalogue.superseded == False)  # noqa: E712
    if unit is not None:
        query = query.where(Catalogue.unit_id == unit.id)
    catalogues = {c.id: c for c in session.exec(query).all()}
    if not catalogues:
        return []
    entries = session.exec(select(CatalogueEntry).where(CatalogueEntry.catalogue_id.in_(list(catalogues)))  # type: ignore[attr-defined]
                           .order_by(CatalogueEntry.id)).all()
    found = [EntryRef(e, catalogues[e.catalogue_id], directory.units[catalogues[e.catalogue_id].unit_id]) for e in entries]
    return sorted(found, key=lambda r: (r.unit.name, r.catalogue.item_key, r.entry.id or 0))


def find_entry(session: Session, directory: Directory, text: str) -> EntryRef:
    """An entry by "领域事项/单位/序号或二级事项", or "单位/序号" when the unit has one catalogue in force, or "#编号"."""
    wanted = normalize(text)
    if wanted.startswith("#") and wanted[1:].isdigit():
        entry = session.get(CatalogueEntry, int(wanted[1:]))
        catalogue = session.get(Catalogue, entry.catalogue_id) if entry else None
        if entry is None or catalogue is None:
            raise CatalogueError(f"没有编号为 {text} 的目录条目。可用 tracker catalog list 查看。")
        return EntryRef(entry, catalogue, directory.units[catalogue.unit_id])
    parts = [p for p in wanted.split("/") if p]
    if len(parts) < 2:
        raise CatalogueError(
            f"目录条目“{text}”写法不对。请写成“领域事项/单位/序号”（如 1.市场监管/县市场监管局/2），"
            "单位只有一份目录时可省略领域事项（县市场监管局/2）。可用 tracker catalog list 查看。"
        )
    *scope, which = parts
    unit = directory.unit(scope[-1])
    item = catalogue_item(session, scope[0]).key if len(scope) > 1 else None
    candidates = [r for r in current_entries(session, directory, unit) if item is None or r.catalogue.item_key == item]
    matched = [r for r in candidates if which in (normalize(r.entry.number), normalize(r.entry.level2))]
    if len(matched) == 1:
        return matched[0]
    if not candidates:
        raise CatalogueError(f"{unit.name} 还没有已验收的目录{f'（{item}）' if item else ''}。请先用 tracker catalog accept 验收。")
    if not matched:
        raise CatalogueError(f"{unit.name} 的目录中没有序号或二级事项为“{which}”的条目。可用 tracker catalog list --unit {unit.name} 查看。")
    options = "、".join(r.ref for r in matched[:5])
    raise CatalogueError(f"“{text}”对应多个条目：{options}。请写出领域事项，例如“{matched[0].ref}”。")
