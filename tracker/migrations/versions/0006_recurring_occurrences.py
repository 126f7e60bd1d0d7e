"""Recurring duties get occurrences: one principal assignment per period, with its label and due date.

The assignment's unique key gains the occurrence (empty for one-off deadlines, so every existing row keeps
its meaning and its status); the plan gains the day occurrences are made up to, and an item the day it was
first listed. Existing rows keep all their data; the next import (or unit change) adds the occurrences.

Revision ID: 0006
Revises: 0003
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0003"
branch_labels = None
depends_on = None


def _assignment(occurrence: bool) -> sa.Table:
    """The assignment table as it stands after (``occurrence``) or before this revision, for SQLite's rebuild."""
    extra = [sa.Column("occurrence", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=""),
             sa.Column("occurrence_due", sa.Date(), nullable=True)] if occurrence else []
    return sa.Table(
        "assignment", sa.MetaData(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("completed_on", sa.Date(), nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("evidence", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("na_reason", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("extended_due", sa.Date(), nullable=True),
        *extra,
        sa.Column("retired", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"]),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("item_id", "unit_id", "role", *(["occurrence"] if occurrence else [])),
        sa.Index("ix_assignment_item_id", "item_id"),
        sa.Index("ix_assignment_role", "role"),
        sa.Index("ix_assignment_unit_id", "unit_id"),
    )


def upgrade() -> None:
    op.add_column("plan", sa.Column("ends_on", sa.Date(), nullable=True))
    op.add_column("item", sa.Column("listed_on", sa.Date(), nullable=True))
    op.add_column("assignment", sa.Column("occurrence", sqlmodel.sql.sqltypes.AutoString(), nullable=False,
                                          server_default=""))
    op.add_column("assignment", sa.Column("occurrence_due", sa.Date(), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        # an unnamed UNIQUE of SQLite cannot be dropped: the table is rebuilt (tracker.db turns keys off for it)
        with op.batch_alter_table("assignment", copy_from=_assignment(True), recreate="always"):
            pass
    else:
        op.drop_constraint("assignment_item_id_unit_id_role_key", "assignment", type_="unique")
        op.create_unique_constraint("assignment_item_id_unit_id_role_occurrence_key", "assignment",
                                    ["item_id", "unit_id", "role", "occurrence"])
    op.create_index("ix_assignment_occurrence_due", "assignment", ["occurrence_due"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_assignment_occurrence_due", table_name="assignment")
    op.execute("DELETE FROM notice WHERE assignment_id IN (SELECT id FROM assignment WHERE occurrence <> '')")
    op.execute("DELETE FROM assignment WHERE occurrence <> ''")
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("assignment", copy_from=_assignment(False), recreate="always"):
            pass  # the columns this revision added are not in the copy: the rebuilt table drops them
    else:
        op.drop_constraint("assignment_item_id_unit_id_role_occurrence_key", "assignment", type_="unique")
        op.drop_column("assignment", "occurrence_due")
        op.drop_column("assignment", "occurrence")
        op.create_unique_constraint("assignment_item_id_unit_id_role_key", "assignment", ["item_id", "unit_id", "role"])
    op.drop_column("item", "listed_on")
    op.drop_column("plan", "ends_on")
