"""Checks record the clock that dated them, and an outbox claim names the pass that holds it.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE: a batch rebuild would drop a table that notices and reports point at
    op.add_column("outboxmessage", sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.create_table(
        "checkrun",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("boot_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("uptime", sa.Float(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("checkrun", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_checkrun_day"), ["day"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("checkrun", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkrun_day"))
    op.drop_table("checkrun")
    op.execute("ALTER TABLE outboxmessage DROP COLUMN claimed_by")
