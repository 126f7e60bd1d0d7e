"""Weekly reports: the outbox says what kind each message is, and one report run is kept per ISO week.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outboxmessage", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default="reminder"))
    op.create_table(
        "reportrun",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("week", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["outboxmessage.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("week"),
    )


def downgrade() -> None:
    op.drop_table("reportrun")
    with op.batch_alter_table("outboxmessage", schema=None) as batch_op:
        batch_op.drop_column("kind")
