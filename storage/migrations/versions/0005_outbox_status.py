"""the outbox status as a column of its own, filled from the rows as they are

Before, a notice's state was `sent` plus the prefix of its error text ("unreachable: …"). Now
`status` says it: pending, retrying, sent, unreachable or failed (storage.states.OutboxStatus).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILL = """
    UPDATE outbox SET status = CASE
        WHEN error LIKE 'unreachable%' THEN 'unreachable'
        WHEN sent AND error IS NULL THEN 'sent'
        WHEN sent THEN 'failed'
        WHEN error IS NOT NULL THEN 'retrying'
        ELSE 'pending'
    END
"""


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "status",
                sqlmodel.sql.sqltypes.AutoString(length=12),
                nullable=False,
                server_default="pending",
            )
        )
    op.execute(FILL)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("status")
