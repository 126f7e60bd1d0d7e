"""Recurring duties get occurrences: one principal assignment per period, with its label and due date.

The assignment's unique key gains the occurrence (empty for one-off deadlines, so every existing row keeps
its meaning and its status); the plan gains the day occurrences are made up to, and an item the day it was
first listed. Existing rows keep all their data; the next import (or unit change) adds the occurrences.

Revision ID: 0006
Revises: 0004
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


_NAMES = {"uq": "uq_%(table_name)s_%(column_0_N_name)s"}  # names SQLite's unnamed UNIQUE constraints for batch mode


def upgrade() -> None:
    op.add_column("plan", sa.Column("ends_on", sa.Date(), nullable=True))
    op.add_column("item", sa.Column("listed_on", sa.Date(), nullable=True))
    op.add_column("assignment", sa.Column("occurrence", sqlmodel.sql.sqltypes.AutoString(), nullable=False,
                                          server_default=""))
    op.add_column("assignment", sa.Column("occurrence_due", sa.Date(), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        # an unnamed UNIQUE of SQLite cannot be dropped: the table is rebuilt from what it holds now, so columns other
        # revisions added are kept (tracker.db turns foreign keys off for the rebuild and checks them after)
        with op.batch_alter_table("assignment", recreate="always", naming_convention=_NAMES) as batch_op:
            batch_op.drop_constraint("uq_assignment_item_id_unit_id_role", type_="unique")
            batch_op.create_unique_constraint("uq_assignment_item_id_unit_id_role_occurrence",
                                              ["item_id", "unit_id", "role", "occurrence"])
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
        with op.batch_alter_table("assignment", recreate="always", naming_convention=_NAMES) as batch_op:
            batch_op.drop_constraint("uq_assignment_item_id_unit_id_role_occurrence", type_="unique")
            batch_op.drop_column("occurrence_due")
            batch_op.drop_column("occurrence")
            batch_op.create_unique_constraint("uq_assignment_item_id_unit_id_role", ["item_id", "unit_id", "role"])
    else:
        op.drop_constraint("assignment_item_id_unit_id_role_occurrence_key", "assignment", type_="unique")
        op.drop_column("assignment", "occurrence_due")
        op.drop_column("assignment", "occurrence")
        op.create_unique_constraint("assignment_item_id_unit_id_role_key", "assignment", ["item_id", "unit_id", "role"])
    op.drop_column("item", "listed_on")
    op.drop_column("plan", "ends_on")
