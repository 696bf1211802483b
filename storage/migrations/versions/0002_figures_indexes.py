"""indexes for managers' figures, digests and breach prediction

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 15:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("request", "ix_request_answered_by_at", ["answered_by_id", "answered_at"]),
    ("request", "ix_request_assignee_opened", ["assignee_id", "opened_at"]),
    ("request", "ix_request_team_opened", ["team_id", "opened_at"]),
    ("case", "ix_case_owner_opened", ["owner_id", "opened_at"]),
    ("case", "ix_case_owner_resolved", ["owner_id", "resolved_at"]),
)


def upgrade() -> None:
    for table, name, columns in _INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    for table, name, _columns in reversed(_INDEXES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
