"""Group-chat robots beside e-mail: a table of robot channels, mobiles to @-mention on units, and the outbox row's channel.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "robotchannel",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("target", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("secret", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("retired", sa.Boolean(), nullable=False),
        sa.Column("broken_since", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("broken_reason", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["unitgroup.id"]),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_robotchannel_unit_id"), "robotchannel", ["unit_id"], unique=False)
    op.create_index(op.f("ix_robotchannel_group_id"), "robotchannel", ["group_id"], unique=False)
    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mobiles", sa.JSON(), nullable=False, server_default="[]"))
    # plain ALTER TABLE on both back ends: a batch rebuild would drop a table that notices and reports point at
    op.execute("ALTER TABLE outboxmessage ADD COLUMN channel_id INTEGER REFERENCES robotchannel (id)")
    op.create_index(op.f("ix_outboxmessage_channel_id"), "outboxmessage", ["channel_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_outboxmessage_channel_id"), table_name="outboxmessage")
    op.execute("ALTER TABLE outboxmessage DROP COLUMN channel_id")
    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.drop_column("mobiles")
    op.drop_index(op.f("ix_robotchannel_group_id"), table_name="robotchannel")
    op.drop_index(op.f("ix_robotchannel_unit_id"), table_name="robotchannel")
    op.drop_table("robotchannel")
