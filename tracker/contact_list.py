"""The office's contact list (通讯录): units with contact person, phone and e-mail, in and out of Excel or CSV.

Offices keep this list as a spreadsheet, so the product reads it as it is: columns are found by
their header words wherever they stand, and the same layout is written back by the export, so
the office can fill it in and load it again. Loading is all or nothing: every bad row is listed
with its cell, and nothing is changed until the whole sheet is right. A blank cell leaves the
unit's value as it was (an unfilled form is not a request to erase).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session

from tracker.directory import _EMAIL, Directory
from tracker.errors import DirectoryError
from tracker.models import UNIT_KINDS, Unit, UnitGroup
from tracker.names import normalize, suggest
from tracker.unit_naming import classify

# Output order and header of each field; a header cell is matched by the first field whose words it contains.
FIELDS = ("name", "kind", "aliases", "parent", "contact", "phone", "email")
HEADERS = {"name": "单位名称", "kind": "类别", "aliases": "简称/别名", "parent": "上级单位", "contact": "联系人",
           "phone": "电话", "email": "邮箱"}
_HEADER_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("email", ("邮箱", "电子邮件", "邮件", "email", "e-mail", "mail")),
    ("phone", ("电话", "手机", "联系方式", "座机")),
    ("parent", ("上级", "所属乡镇", "所属单位", "隶属")),
    ("aliases", ("简称", "别名")),
    ("kind", ("类别", "类型", "性质")),
    ("contact", ("联系人", "姓名", "负责人")),
    ("name", ("单位", "名称")),
)
_KIND_WORDS = {
    **{label: kind for kind, label in UNIT_KINDS.items()}, **{kind: kind for kind in UNIT_KINDS},
    "县人民政府": "county_government", "政府办": "office", "县政府办": "office", "部门": "department",
    "单位": "department", "县直部门": "department", "乡镇（街道）": "township", "街道": "township", "乡": "township",
    "镇": "township", "村": "village", "社区": "village", "村（社区）": "village", "村委会": "village", "居委会": "village",
}
_KIND_BY_WORD = {normalize(word): kind for word, kind in _KIND_WORDS.items()}
_LIST = re.compile(r"[、，,；;\s]+")
_PHONE_LIST = re.compile(r"[、，,；;/／\n]+")
_MOBILE = re.compile(r"^(?:\+?86)?1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^(?:\(0\d{2,3}\)|0\d{2,3}-?)?[2-9]\d{6,7}(?:(?:-|转|ext\.?)\d{1,6})?$")
_CHANGED = {"emails": "邮箱", "phone": "电话", "contact": "联系人", "kind": "类别", "aliases": "简称/别名", "parent_id": "上级单位"}


def valid_phone(text: str) -> bool:
    """An 11-digit mobile number (+86 allowed) or a landline with optional area code and extension."""
    flat = normalize(text)
    return bool(_MOBILE.match(flat.replace("-", "")) or _LANDLINE.match(flat))


@dataclass
class ContactRow:
    line: int
    values: dict[str, str]
    cells: dict[str, str] = field(default_factory=dict)  # field → spreadsheet cell, e.g. "F7"


@dataclass
class ContactImport:
    """What loading a contact list did (or would do): units added, units changed and in which fields."""

    added: list[str] = field(default_factory=list)
    updated: list[tuple[str, list[str]]] = field(default_factory=list)
    unchanged: int = 0
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"added": self.added, "updated": [{"unit": u, "fields": f} for u, f in self.updated],
                "unchanged": self.unchanged, "warnings": self.warnings}


def units_without_email(directory: Directory) -> dict[str, object]:
    """Units with no address of their own: those reached through a parent or 'via' unit, and those not reached at all."""
    missing = [u for u in directory.expand(directory.units.values()) if not u.emails]
    reached = [u.name for u in missing if u.via_id or u.parent_id]
    return {"count": len(missing), "reached_through_other_unit": len(reached),
            "unreached": [u.name for u in missing if not (u.via_id or u.parent_id)]}


def column_of(header: str) -> str | None:
    text = normalize(header).lower()
    if not text:
        return None
    for name, words in _HEADER_WORDS:
        if any(word in text for word in words):
            return name
    return None


def read_contact_file(path: Path) -> list[ContactRow]:
    """The data rows of a contact list (.xlsx or .csv), keyed by field; the header is found by its words."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        grid = _xlsx_rows(path)
    elif suffix == ".csv":
        grid = _csv_rows(path)
    else:
        raise DirectoryError(f"{path}：不支持的通讯录格式“{suffix or '（无扩展名）'}”。请另存为 Excel 工作簿（.xlsx）或 CSV（.csv）后导入。")
    for index, cells in enumerate(grid[:10]):
        columns = [column_of(c) for c in cells]
        if "name" in columns and sum(1 for c in columns if c) >= 2:
            break
    else:
        raise DirectoryError(
            f"{path}：前 10 行里找不到表头。表头应含“单位名称”列和联系人、电话、邮箱等列中的至少一列。"
        )
    seen: dict[str, str] = {}
    for col, cell in zip(columns, cells):
        if col in seen:
            raise DirectoryError(f"{path} 第 {index + 1} 行：“{seen[col]}”和“{cell}”都是{HEADERS[col]}列，请删去或改名其中一列。")
        if col:
            seen[col] = cell
    from openpyxl.utils import get_column_letter

    rows = []
    for number, cells in enumerate(grid[index + 1:], start=index + 2):
        values = {col: cells[i].strip() if i < len(cells) else "" for i, col in enumerate(columns) if col}
        refs = {col: f"{get_column_letter(i + 1)}{number}" for i, col in enumerate(columns) if col}
        if any(values.values()):
            rows.append(ContactRow(number, values, refs))
    return rows


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a phone number typed into Excel as a number
    return str(value)


def _xlsx_rows(path: Path) -> list[list[str]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except FileNotFoundError as exc:
        raise DirectoryError(f"找不到通讯录文件 {path}。请检查路径和文件名。") from exc
    except (InvalidFileException, zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise DirectoryError(f"{path} 不是有效的 Excel 工作簿（.xlsx）：{exc}。请用 Excel 或 WPS 另存为 .xlsx 后重试。") from exc
    try:
        sheet = book.worksheets[0]
        return [[_cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()


def _csv_rows(path: Path) -> list[list[str]]:
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise DirectoryError(f"找不到通讯录文件 {path}。请检查路径和文件名。") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise DirectoryError(f"{path} 既不是 UTF-8 也不是 GBK 编码。请用 Excel 另存为“CSV UTF-8”后重试。") from exc
    return [row for row in csv.reader(io.StringIO(text))]


def import_contacts(session: Session, directory: Directory, rows: list[ContactRow], county: str, path: str) -> ContactImport:
    """Add or update the units of a contact list; refuse the whole list, naming every bad cell, when any row is wrong."""
    problems: list[str] = []
    result = ContactImport()
    in_file = {normalize(r.values.get("name", "")): r for r in rows if r.values.get("name")}
    townships = {a: u.name for u in directory.units.values() if u.kind == "township" for a in [u.name, *u.aliases]}
    for row in rows:  # towns new in this sheet: their villages below (or above) them go under them too
        named = classify(row.values.get("name", ""), county) if directory.lookup(row.values.get("name", "")) is None else None
        if named is not None:
            if named.kind == "township":
                townships.update({a: named.name for a in [named.name, *named.aliases]})
            in_file.update({normalize(n): row for n in [named.name, *named.aliases]})

    def bad(row: ContactRow, field_name: str, reason: str) -> None:
        cell = row.cells.get(field_name, "")
        where = f"第 {row.line} 行 {cell + ' ' if cell else ''}{HEADERS[field_name]}"
        problems.append(f"{where}“{row.values.get(field_name, '')}”：{reason}")

    known = [n for u in directory.units.values() for n in [u.name, *u.aliases]]
    seen: dict[str, int] = {}
    plans: list[tuple[ContactRow, Unit | None, dict[str, object]]] = []
    for row in rows:
        values = row.values
        name = values.get("name", "")
        if not name:
            bad(row, "name", "单位名称为空。请填写单位全称，或删去这一行。")
            continue
        key = normalize(name)
        if any(ch in name for ch in "\r\n\t<>\"@"):
            bad(row, "name", "单位名称不能含换行、制表符或 < > \" @。")
            continue
        if key in seen:
            bad(row, "name", f"与第 {seen[key]} 行重复。每个单位只写一行。")
            continue
        seen[key] = row.line
        found = directory.lookup(name)
        named = classify(name, county, townships) if found is None else None
        same = next((u for n in [named.name, *named.aliases] if isinstance(u := directory.lookup(n), Unit)), None) \
            if named is not None else None
        if same is not None:  # 县财政局 for the known 某某县财政局, or the other way round
            found, named = same, None
        if named is not None and normalize(named.name) != key:
            if normalize(named.name) in seen:
                bad(row, "name", f"与第 {seen[normalize(named.name)]} 行是同一单位（{named.name}）。每个单位只写一行。")
                continue
            seen[normalize(named.name)] = row.line
        if isinstance(found, UnitGroup):
            bad(row, "name", f"这是单位组“{found.name}”，不是单位。请写具体单位。")
            continue
        change: dict[str, object] = {}
        emails = [e for e in _LIST.split(values.get("email", "")) if e]
        wrong = [e for e in emails if not _EMAIL.match(e)]
        if wrong:
            bad(row, "email", f"“{wrong[0]}”不是有效的邮箱地址。请写成 name@example.org，多个地址用顿号分隔。")
        elif emails:
            change["emails"] = emails
        phones = [p.strip() for p in _PHONE_LIST.split(values.get("phone", "")) if p.strip()]
        wrong = [p for p in phones if not valid_phone(p)]
        if wrong:
            bad(row, "phone", f"“{wrong[0]}”不是有效的电话号码。请写 11 位手机号，或带区号的座机号，如 0878-8123456。")
        elif phones:
            change["phone"] = "、".join(phones)
        if values.get("contact"):
            change["contact"] = values["contact"]
        kind_text = values.get("kind", "")
        if kind_text:
            kind = _KIND_BY_WORD.get(normalize(kind_text))
            if kind is None:
                bad(row, "kind", f"不认识的类别。可用：{'、'.join(UNIT_KINDS.values())}。")
            else:
                change["kind"] = kind
        aliases = [a for a in _LIST.split(values.get("aliases", "")) if a]
        for alias in aliases:
            owner = directory.lookup(alias)
            other = in_file.get(normalize(alias))
            if (owner is not None and owner is not found) or (other is not None and other is not row):
                bad(row, "aliases", f"别名“{alias}”已被“{owner.name if owner else other.values['name']}”使用。")  # type: ignore[union-attr]
        if aliases:
            change["aliases"] = aliases
        parent_text = values.get("parent", "")
        if parent_text:
            parent = directory.lookup(parent_text)
            if not isinstance(parent, Unit) and normalize(parent_text) not in in_file:
                bad(row, "parent", "上级单位不在名录中，也不在本表中。请写名录中已有单位的全称或简称。")
            else:
                change["parent"] = parent_text
        if found is None:
            close = [c for c in suggest(name, known, limit=1) if _similar(name, c)]
            if close:
                result.warnings.append(f"第 {row.line} 行的新单位“{name}”与已有的“{close[0]}”很像。"
                                       "如是同一单位，请改用已有名称，或把这个名称写在“简称/别名”列。")
        if found is None and named is not None:  # a new unit is named as a plan would name it: 县文旅局 → 某某县文旅局
            change["name"] = named.name
            change.setdefault("kind", named.kind)
            short = [a for a in [*named.aliases, normalize(name)] if normalize(a) != normalize(named.name)]
            change["aliases"] = list(dict.fromkeys([*short, *aliases]))
            if named.township and "parent" not in change:
                change["parent"] = named.township
        elif found is None and "kind" not in change:
            bad(row, "kind", f"新单位“{name}”无法从名称判断类别。请在“类别”列填写：{'、'.join(UNIT_KINDS.values())}。")
        plans.append((row, found, change))
    if problems:
        raise DirectoryError(f"{path}：通讯录有 {len(problems)} 处问题，未做任何改动：\n  " + "\n  ".join(problems))
    _apply(session, plans, result)
    return result


def _similar(a: str, b: str) -> bool:
    """Close enough to be a typo of one another (县财政厅 / 县财政局), not merely the same kind (县财政局 / 县税务局)."""
    import difflib

    return difflib.SequenceMatcher(None, normalize(a), normalize(b)).ratio() >= 0.75


def _apply(session: Session, plans: list[tuple[ContactRow, Unit | None, dict[str, object]]], result: ContactImport) -> None:
    """Write the checked rows: new units first (so parents in the same sheet exist), then every field."""
    units: dict[str, Unit] = {}
    for row, found, change in plans:
        name = str(change.pop("name", row.values["name"].strip()))
        unit = found or Unit(name=name, kind=str(change["kind"]), emails=[], aliases=[])
        session.add(unit)
        units[normalize(row.values["name"])] = unit
    session.flush()
    lookup = Directory.load(session)
    for row, found, change in plans:
        unit = units[normalize(row.values["name"])]
        changed: list[str] = []
        for name, value in change.items():
            if name == "parent":
                parent = lookup.lookup(str(value))
                value = parent.id if isinstance(parent, Unit) else None
                name = "parent_id"
            elif name == "aliases":
                value = [*unit.aliases, *(a for a in value if a not in unit.aliases and a != unit.name)]  # type: ignore[attr-defined]
            if getattr(unit, name) != value:
                setattr(unit, name, value)
                changed.append(_CHANGED[name])
        session.add(unit)
        if found is None:
            result.added.append(unit.name)
        elif changed:
            result.updated.append((unit.name, changed))
        else:
            result.unchanged += 1
    session.flush()


def contact_rows(directory: Directory) -> list[list[str]]:
    """The directory in the contact-list layout, header first, units in directory order."""
    rows = [[HEADERS[f] for f in FIELDS]]
    for unit in directory.expand(directory.units.values()):
        parent = directory.units.get(unit.parent_id) if unit.parent_id else None
        rows.append([unit.name, UNIT_KINDS.get(unit.kind, unit.kind), "、".join(unit.aliases), parent.name if parent else "",
                     unit.contact, unit.phone, "、".join(unit.emails)])
    return rows


def write_contact_file(path: Path, rows: list[list[str]]) -> None:
    """Write the contact list as .xlsx (header bold, first row frozen) or .csv (UTF-8 with BOM, which Excel opens)."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise DirectoryError(f"不支持导出为“{suffix or '（无扩展名）'}”。请用 .xlsx 或 .csv 作为文件扩展名。")
    try:
        _write(path, suffix, rows)
    except OSError as exc:
        raise DirectoryError(f"无法写入 {path}：{exc.strerror or exc}。请检查文件夹是否存在、文件是否正被 Excel 打开。") from exc


def _write(path: Path, suffix: str, rows: list[list[str]]) -> None:
    if suffix == ".csv":
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            csv.writer(handle).writerows(rows)
        return
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "通讯录"
    for row in rows:
        sheet.append(row)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for letter, width in zip("ABCDEFG", (30, 14, 24, 24, 12, 18, 32)):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            cell.number_format = "@"  # phones stay text, never 1.38E+10
    book.save(path)
