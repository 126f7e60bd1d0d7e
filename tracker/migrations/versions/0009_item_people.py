"""Items keep the people a plan names for them: the leader (牵头领导) and the contact (责任人).

Tables from online office suites carry these columns; they are names of persons, so they are kept
as text beside the item and never resolved against the unit directory.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE ADD COLUMN: a batch rebuild would drop a table that assignments point at
    op.add_column("item", sa.Column("leader_text", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=""))
    op.add_column("item", sa.Column("contact_text", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=""))


def downgrade() -> None:
    op.execute("ALTER TABLE item DROP COLUMN contact_text")
    op.execute("ALTER TABLE item DROP COLUMN leader_text")
