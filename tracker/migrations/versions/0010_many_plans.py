"""Many plans in one database: plans get a code and a state, and tasks, items, events and journal entries name
their plan.

Item keys, task numbers and event keys were unique in the whole database; now they are unique within a plan.
The plan already in the database gets the code ``zwgk2020`` if it is the bundled Wuding plan and ``plan1``
otherwise, and every task, item, event and plan-related journal entry is given its id. No status, journal
content, ledger row or outbox message changes. Downgrading is possible only while the database holds one plan.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BUNDLED_SOURCE = "wuding_plan.txt"
BUNDLED_CODE = "zwgk2020"


def _rebuild_event_sqlite(*, unique_name: bool) -> None:
    """SQLite cannot drop or add a table's UNIQUE constraint: the event table (which no table points at) is copied."""
    unique = ", UNIQUE (name)" if unique_name else ""
    plan = ", plan_id INTEGER" if not unique_name else ""
    op.execute(
        "CREATE TABLE _event_new (id INTEGER NOT NULL, \"key\" VARCHAR NOT NULL, name VARCHAR NOT NULL, "
        f"occurred_on DATE, recorded_at DATETIME{plan}, PRIMARY KEY (id){unique})"
    )
    columns = "id, \"key\", name, occurred_on, recorded_at"
    op.execute(f"INSERT INTO _event_new ({columns}) SELECT {columns} FROM event")
    op.execute("DROP INDEX IF EXISTS ix_event_key")
    op.execute("DROP TABLE event")
    op.execute("ALTER TABLE _event_new RENAME TO event")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.add_column("plan", sa.Column("code", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=""))
    op.add_column("plan", sa.Column("state", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default="active"))
    op.execute(
        f"UPDATE plan SET code = CASE WHEN source LIKE '%{BUNDLED_SOURCE}' THEN '{BUNDLED_CODE}' "
        "ELSE 'plan' || CAST(id AS VARCHAR) END"
    )
    op.create_index("ix_plan_code", "plan", ["code"], unique=True)

    if sqlite:
        _rebuild_event_sqlite(unique_name=False)
    else:
        op.drop_constraint("event_name_key", "event", type_="unique")
        op.drop_index("ix_event_key", table_name="event")
        op.add_column("event", sa.Column("plan_id", sa.Integer(), nullable=True))
    for table in ("worktask", "item"):
        op.add_column(table, sa.Column("plan_id", sa.Integer(), nullable=True))
    op.add_column("journalentry", sa.Column("plan_id", sa.Integer(), nullable=True))
    first = "(SELECT min(id) FROM plan)"
    for table in ("worktask", "item", "event"):
        op.execute(f"UPDATE {table} SET plan_id = {first}")
    op.execute(f"UPDATE journalentry SET plan_id = {first} "
               "WHERE item_key IS NOT NULL OR action IN ('event', 'import')")

    op.drop_index("ix_worktask_number", table_name="worktask")
    op.create_index("ix_worktask_number", "worktask", ["number"], unique=False)
    op.create_index("ux_worktask_plan_number", "worktask", ["plan_id", "number"], unique=True)
    op.drop_index("ix_item_key", table_name="item")
    op.create_index("ix_item_key", "item", ["key"], unique=False)
    op.create_index("ux_item_plan_key", "item", ["plan_id", "key"], unique=True)
    op.create_index("ix_event_key", "event", ["key"], unique=False)
    op.create_index("ux_event_plan_key", "event", ["plan_id", "key"], unique=True)
    op.create_index("ux_event_plan_name", "event", ["plan_id", "name"], unique=True)
    op.create_index("ix_journalentry_plan_id", "journalentry", ["plan_id"], unique=False)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.drop_index("ix_journalentry_plan_id", table_name="journalentry")
    op.execute("ALTER TABLE journalentry DROP COLUMN plan_id")
    for name, table in (("ux_event_plan_name", "event"), ("ux_event_plan_key", "event"), ("ix_event_key", "event"),
                        ("ux_item_plan_key", "item"), ("ix_item_key", "item"),
                        ("ux_worktask_plan_number", "worktask"), ("ix_worktask_number", "worktask")):
        op.drop_index(name, table_name=table)
    op.create_index("ix_item_key", "item", ["key"], unique=True)
    op.create_index("ix_worktask_number", "worktask", ["number"], unique=True)
    for table in ("item", "worktask"):
        op.execute(f"ALTER TABLE {table} DROP COLUMN plan_id")
    if sqlite:
        _rebuild_event_sqlite(unique_name=True)
    else:
        op.execute("ALTER TABLE event DROP COLUMN plan_id")
        op.create_unique_constraint("event_name_key", "event", ["name"])
    op.create_index("ix_event_key", "event", ["key"], unique=True)
    op.drop_index("ix_plan_code", table_name="plan")
    op.execute("ALTER TABLE plan DROP COLUMN state")
    op.execute("ALTER TABLE plan DROP COLUMN code")
