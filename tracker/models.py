"""The database tables.

Units and groups form the directory; a plan has work tasks, a task has items, and an item is
expanded into assignments, one per (unit, role). Only principal assignments carry work status;
lead and guiding rows record who is escalated to. Rows that a later import drops are retired, not
deleted, so that the journal, which is never rewritten, always points at something real.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import ConfigDict
from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint, text
from sqlmodel import Field, SQLModel

UNIT_KINDS = {
    "county_government": "县政府",
    "office": "县政府办公室",
    "department": "县级部门",
    "township": "乡镇",
    "village": "村（居）委会",
    "unclassified": "未分类",  # named in a plan but its kind could not be told from the name; the operator sets it
}
ROLES = {"lead": "主管", "principal": "主体", "guiding": "指导", "cooperating": "配合"}
STATES = {"not_started": "未开始", "in_progress": "进行中", "done": "已完成", "na": "不适用"}
CLOSED_STATES = frozenset({"done", "na"})


class _Table(SQLModel):
    """The base of every table. Rows are read through SQLAlchemy, which never validates them, so pydantic's
    validator and serializer for a table are built only when something asks for them (``model_dump`` in
    `tracker export`): building them for all the tables at import took a large part of every command's start-up."""

    model_config = ConfigDict(defer_build=True)


def _json_list() -> Any:
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class Unit(_Table, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    kind: str
    parent_id: int | None = Field(default=None, foreign_key="unit.id")
    via_id: int | None = Field(default=None, foreign_key="unit.id")
    emails: list[str] = _json_list()
    aliases: list[str] = _json_list()
    contact: str = ""
    phone: str = ""
    mobiles: list[str] = _json_list()


class UnitGroup(_Table, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    kinds: list[str] = _json_list()
    aliases: list[str] = _json_list()
    vague: bool = False


PLAN_STATES = {"active": "进行中", "archived": "已归档"}


class Plan(_Table, table=True):
    """One work plan (one document's task table) and the directory rules that expand it.

    A database tracks many plans at once; each has a short ``code`` the operator chose, and its tasks,
    items and events belong to it alone (item keys are unique within a plan, not across plans). An
    archived plan keeps its rows and history but is left out of reminders, reports and listings.
    """

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(default="", unique=True, index=True)
    state: str = "active"
    title: str = ""
    source: str = ""
    checksum: str = ""
    plan_year: int | None = None
    county: str = ""
    domain_row_principals: str = "guiding"
    lead_does_work: bool = False
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None  # recurring duties get occurrences up to this day (see tracker.occurrences)
    imported_at: dt.datetime | None = None


class WorkTask(_Table, table=True):
    __table_args__ = (Index("ux_worktask_plan_number", "plan_id", "number", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int | None = None
    number: str = Field(index=True)
    title: str
    position: int = 0
    retired: bool = False


class Item(_Table, table=True):
    __table_args__ = (Index("ux_item_plan_key", "plan_id", "key", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int | None = None
    key: str = Field(index=True)
    task_id: int = Field(foreign_key="worktask.id", index=True)
    parent_key: str | None = None
    domain: str | None = None
    title: str
    deadline_text: str
    deadline: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    event_key: str | None = None
    depends_on: str | None = None
    lead_text: str = ""
    principal_text: str = ""
    guiding_text: str = ""
    cooperating_text: str = ""
    leader_text: str = ""  # 牵头领导: person names, not units
    contact_text: str = ""  # 责任人: person names, not units
    inherited: list[str] = _json_list()
    source_line: int = 0
    position: int = 0
    retired: bool = False
    listed_on: dt.date | None = None  # first imported: a recurring item added later has occurrences from then on


class Assignment(_Table, table=True):
    """One unit's part in an item; for a recurring item, one principal row per occurrence (``occurrence`` is its
    label, e.g. 2020-10, and ``occurrence_due`` its due date), so that each has its own state, ledger and light."""

    __table_args__ = (UniqueConstraint("item_id", "unit_id", "role", "occurrence"),)

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id", index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    role: str = Field(index=True)
    state: str = "not_started"
    progress: int = 0
    completed_on: dt.date | None = None
    note: str = ""
    evidence: str = ""
    na_reason: str = ""
    extended_due: dt.date | None = None
    occurrence: str = ""
    occurrence_due: dt.date | None = Field(default=None, index=True)
    retired: bool = False
    updated_at: dt.datetime | None = None
    acknowledged_at: dt.datetime | None = None  # 签收: the unit said it has the task (see tracker.cycle)
    acknowledged_by: str = ""


class Event(_Table, table=True):
    """An outside event that relative deadlines wait for (e.g. 国务院部门其他领域标准指引出台); its key (E1) is
    the plan's own, so two plans may each wait for an event of the same name and record it separately."""

    __table_args__ = (
        Index("ux_event_plan_key", "plan_id", "key", unique=True),
        Index("ux_event_plan_name", "plan_id", "name", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int | None = None
    key: str = Field(index=True)
    name: str
    occurred_on: dt.date | None = None
    recorded_at: dt.datetime | None = None


class JournalEntry(_Table, table=True):
    """One change, never rewritten: who, when, what from and to."""

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(index=True)
    actor: str = ""
    action: str
    item_key: str | None = Field(default=None, index=True)
    plan_id: int | None = Field(default=None, index=True)  # the plan of ``item_key`` (or of the event, or the import)
    unit_name: str | None = None
    assignment_id: int | None = Field(default=None, index=True)
    from_state: str | None = None
    to_state: str | None = None
    from_progress: int | None = None
    to_progress: int | None = None
    note: str = ""
    evidence: str = ""
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Notice(_Table, table=True):
    """The ledger: one row per (assignment, deadline, stage) ever notified, written with its message.

    The unique key is the claim: a second process that tries to notify the same stage fails to
    insert and sends nothing. An extension gives a new deadline and so a new schedule.
    """

    __table_args__ = (UniqueConstraint("assignment_id", "due_on", "stage"),)

    id: int | None = Field(default=None, primary_key=True)
    assignment_id: int = Field(foreign_key="assignment.id", index=True)
    due_on: dt.date
    stage: str
    rank: int
    sent_on: dt.date
    message_id: int | None = Field(default=None, foreign_key="outboxmessage.id")
    created_at: dt.datetime


class OutboxMessage(_Table, table=True):
    """A rendered message, stored before delivery; its state says how delivery went.

    The content is in ``OutboxBody``: claiming and recording rewrite this row once or twice per
    message, and SQLite rewrites a whole row, kilobytes of message included, on every update.
    """

    id: int | None = Field(default=None, primary_key=True)
    kind: str = "reminder"
    run_date: dt.date = Field(index=True)
    recipient: str
    to_addrs: list[str] = _json_list()
    subject: str
    message_id: str = Field(unique=True)
    state: str = Field(default="pending", index=True)
    attempts: int = 0
    next_attempt_at: dt.datetime | None = None
    claimed_at: dt.datetime | None = None
    claimed_by: str | None = None
    last_error: str = ""
    created_at: dt.datetime
    sent_at: dt.datetime | None = None
    channel_id: int | None = Field(default=None, foreign_key="robotchannel.id", index=True)


class RobotChannel(_Table, table=True):
    """A group-chat robot (WeCom, DingTalk, Feishu) that a unit's or a group's digests are posted to, beside e-mail.

    ``target`` is what identifies the robot (WeCom key, DingTalk access token, Feishu hook id) and
    ``secret`` signs its requests; both are credentials, shown masked. A channel whose messages
    fail permanently (bad key or signature) is marked broken until a message gets through again or
    the operator sets it anew, so that the county office's digest can name it. Removed channels
    are retired, not deleted: the outbox rows that went through them keep pointing at something.
    """

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    group_id: int | None = Field(default=None, foreign_key="unitgroup.id", index=True)
    platform: str
    target: str
    secret: str = ""
    retired: bool = False
    broken_since: dt.datetime | None = None
    broken_reason: str = ""
    created_at: dt.datetime


class OutboxBody(_Table, table=True):
    """What an outbox message says: the MIME text as sent, and the digest entries it was built from. Never updated."""

    id: int = Field(primary_key=True, foreign_key="outboxmessage.id")
    raw: str
    entries: list[dict[str, Any]] = _json_list()


class ReportRun(_Table, table=True):
    """One weekly report per ISO week; the unique week is the claim that keeps it from being sent twice."""

    id: int | None = Field(default=None, primary_key=True)
    week: str = Field(unique=True)
    as_of: dt.date
    message_id: int | None = Field(default=None, foreign_key="outboxmessage.id")
    created_at: dt.datetime


class Catalogue(_Table, table=True):
    """A unit's accepted standard catalogue (Annex 2) for one item-(1) domain, with the file as handed in.

    The file's bytes are kept in the database as the evidence, so a backup or a move of the database
    keeps them; a later acceptance for the same unit and item supersedes this one but never deletes it.
    """

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    item_key: str = Field(index=True)
    filename: str
    sha256: str
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    rows: int = 0
    accepted_on: dt.date
    accepted_at: dt.datetime
    accepted_by: str = ""
    superseded: bool = False


class CatalogueEntry(_Table, table=True):
    """One row of an accepted catalogue: a disclosure item with its deadline rule and ticked channels."""

    id: int | None = Field(default=None, primary_key=True)
    catalogue_id: int = Field(foreign_key="catalogue.id", index=True)
    number: str = ""
    level1: str
    level2: str
    content: str
    basis: str
    deadline_text: str
    deadline: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    publisher_text: str
    publisher_id: int = Field(foreign_key="unit.id")
    channels: list[str] = _json_list()
    other_channel: str = ""
    audience_public: bool = False
    audience_group: str = ""
    active: bool = False
    on_request: bool = False
    county_level: bool = False
    township_level: bool = False
    source_row: int = 0


class Disclosure(_Table, table=True):
    """A piece of information that came into being or changed on ``formed_on`` and must be disclosed by ``due_on``."""

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="catalogueentry.id", index=True)
    publisher_id: int = Field(foreign_key="unit.id", index=True)
    formed_on: dt.date
    due_on: dt.date = Field(index=True)
    rule_note: str = ""
    note: str = ""
    disclosed_on: dt.date | None = None
    recorded_at: dt.datetime
    recorded_by: str = ""


class DisclosureNotice(_Table, table=True):
    """The ledger of disclosure reminders: one row per (disclosure, deadline, stage), the claim like ``Notice``."""

    __table_args__ = (UniqueConstraint("disclosure_id", "due_on", "stage"),)

    id: int | None = Field(default=None, primary_key=True)
    disclosure_id: int = Field(foreign_key="disclosure.id", index=True)
    due_on: dt.date
    stage: str
    rank: int
    sent_on: dt.date
    message_id: int | None = Field(default=None, foreign_key="outboxmessage.id")
    created_at: dt.datetime


class CheckRun(_Table, table=True):
    """One daily check, or an operator's confirmation of the date, with the real clock that read it.

    A check acts on the date of its clock; if that clock jumped forward, it would claim stages of
    dates that have not come and silence their reminders for good. Each row keeps the wall clock and
    the time since the machine booted (which never jumps), so the next check can tell a clock that
    jumped from one that merely ran on; ``kind = 'confirm'`` records that an operator vouched for a date.
    """

    id: int | None = Field(default=None, primary_key=True)
    kind: str = "check"
    day: dt.date = Field(index=True)
    at: dt.datetime
    boot_id: str = ""
    uptime: float = 0.0
    actor: str = ""


class UnitReport(_Table, table=True):
    """A unit's own report on one assignment (办理/反馈): progress, or completion with evidence files.

    A completion report that needs the office's review is kept ``pending`` and changes nothing until it
    is approved (办结: the assignment is done on the date the unit reported) or returned (退回, with a
    reason the unit sees). Rows are never deleted: they are the history the unit and the office read.
    """

    # at most one review='pending' row per assignment, even when two requests race (PostgreSQL, two servers)
    __table_args__ = (Index("uq_unitreport_one_pending", "assignment_id", unique=True, sqlite_where=text("review = 'pending'"),
                            postgresql_where=text("review = 'pending'")),)

    id: int | None = Field(default=None, primary_key=True)
    assignment_id: int = Field(foreign_key="assignment.id", index=True)
    kind: str  # progress | done
    progress: int = 0
    completed_on: dt.date | None = None
    note: str = ""
    evidence: str = ""
    files: list[dict[str, Any]] = _json_list()  # [{name, sha256, size, ext}]: the bytes are in the upload folder
    submitted_at: dt.datetime
    submitted_by: str = ""
    review: str = Field(default="none", index=True)  # pending | approved | returned | none (no review needed)
    reviewed_at: dt.datetime | None = None
    reviewed_by: str = ""
    review_note: str = ""


class ExtensionRequest(_Table, table=True):
    """A unit's request for more time, made before its deadline; the office grants (a new effective deadline) or refuses."""

    # at most one decision='pending' row per assignment, even when two requests race (PostgreSQL, two servers)
    __table_args__ = (Index("uq_extensionrequest_one_pending", "assignment_id", unique=True, sqlite_where=text("decision = 'pending'"),
                            postgresql_where=text("decision = 'pending'")),)

    id: int | None = Field(default=None, primary_key=True)
    assignment_id: int = Field(foreign_key="assignment.id", index=True)
    current_due: dt.date
    proposed_due: dt.date
    reason: str
    requested_at: dt.datetime
    requested_by: str = ""
    decision: str = Field(default="pending", index=True)  # pending | granted | refused
    decided_at: dt.datetime | None = None
    decided_by: str = ""
    decision_note: str = ""


class UnitLink(_Table, table=True):
    """The generation of a unit's personal link: rotating it makes every link signed before useless."""

    unit_id: int = Field(primary_key=True, foreign_key="unit.id")
    generation: int = 1
    rotated_at: dt.datetime | None = None
    rotated_by: str = ""


class OfficeUser(_Table, table=True):
    """A county-office account for the web pages; the password is kept only as a scrypt hash."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    password_hash: str
    created_at: dt.datetime
    disabled: bool = False
    session_epoch: int = 0  # raised on logout and password reset: every session cookie signed before is refused
