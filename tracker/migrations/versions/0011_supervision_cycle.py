"""The supervision cycle (督查督办): units sign for their assignments, report with evidence and ask for more
time; the office reviews, returns and grants. Office accounts and the generation of each unit's link.

Revision ID: 0011
Revises: 0009
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_text = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    # plain ALTER TABLE ADD COLUMN: a batch rebuild would drop a table that notices and the journal point at
    op.add_column("assignment", sa.Column("acknowledged_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.add_column("assignment", sa.Column("acknowledged_by", _text(), nullable=False, server_default=""))
    op.create_table(
        "unitreport",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("kind", _text(), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("completed_on", sa.Date(), nullable=True),
        sa.Column("note", _text(), nullable=False),
        sa.Column("evidence", _text(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("submitted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("submitted_by", _text(), nullable=False),
        sa.Column("review", _text(), nullable=False),
        sa.Column("reviewed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("reviewed_by", _text(), nullable=False),
        sa.Column("review_note", _text(), nullable=False),
        sa.ForeignKeyConstraint(["assignment_id"], ["assignment.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_unitreport_assignment_id"), "unitreport", ["assignment_id"])
    op.create_index(op.f("ix_unitreport_review"), "unitreport", ["review"])
    op.create_index("uq_unitreport_one_pending", "unitreport", ["assignment_id"], unique=True,
                    sqlite_where=sa.text("review = 'pending'"), postgresql_where=sa.text("review = 'pending'"))
    op.create_table(
        "extensionrequest",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("current_due", sa.Date(), nullable=False),
        sa.Column("proposed_due", sa.Date(), nullable=False),
        sa.Column("reason", _text(), nullable=False),
        sa.Column("requested_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("requested_by", _text(), nullable=False),
        sa.Column("decision", _text(), nullable=False),
        sa.Column("decided_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("decided_by", _text(), nullable=False),
        sa.Column("decision_note", _text(), nullable=False),
        sa.ForeignKeyConstraint(["assignment_id"], ["assignment.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_extensionrequest_assignment_id"), "extensionrequest", ["assignment_id"])
    op.create_index(op.f("ix_extensionrequest_decision"), "extensionrequest", ["decision"])
    op.create_index("uq_extensionrequest_one_pending", "extensionrequest", ["assignment_id"], unique=True,
                    sqlite_where=sa.text("decision = 'pending'"), postgresql_where=sa.text("decision = 'pending'"))
    op.create_table(
        "unitlink",
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("rotated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("rotated_by", _text(), nullable=False),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"]),
        sa.PrimaryKeyConstraint("unit_id"),
    )
    op.create_table(
        "officeuser",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _text(), nullable=False),
        sa.Column("password_hash", _text(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("session_epoch", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_officeuser_name"), "officeuser", ["name"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_officeuser_name"), table_name="officeuser")
    op.drop_table("officeuser")
    op.drop_table("unitlink")
    op.drop_index("uq_extensionrequest_one_pending", table_name="extensionrequest")
    op.drop_index(op.f("ix_extensionrequest_decision"), table_name="extensionrequest")
    op.drop_index(op.f("ix_extensionrequest_assignment_id"), table_name="extensionrequest")
    op.drop_table("extensionrequest")
    op.drop_index("uq_unitreport_one_pending", table_name="unitreport")
    op.drop_index(op.f("ix_unitreport_review"), table_name="unitreport")
    op.drop_index(op.f("ix_unitreport_assignment_id"), table_name="unitreport")
    op.drop_table("unitreport")
    op.execute("ALTER TABLE assignment DROP COLUMN acknowledged_by")
    op.execute("ALTER TABLE assignment DROP COLUMN acknowledged_at")
