"""an index for breach prediction: the requests a person answered, newest first

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 23:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("request", schema=None) as batch_op:
        batch_op.create_index(
            "ix_request_answered_by_opened", ["answered_by_id", "opened_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("request", schema=None) as batch_op:
        batch_op.drop_index("ix_request_answered_by_opened")
