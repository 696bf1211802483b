"""the inbox: deliveries acknowledged and not yet handled

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 18:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("taken_by", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("taken_until", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbox_key"), ["key"], unique=True)
        batch_op.create_index(batch_op.f("ix_inbox_taken_by"), ["taken_by"], unique=False)
        batch_op.create_index(batch_op.f("ix_inbox_taken_until"), ["taken_until"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbox_taken_until"))
        batch_op.drop_index(batch_op.f("ix_inbox_taken_by"))
        batch_op.drop_index(batch_op.f("ix_inbox_key"))
    op.drop_table("inbox")
