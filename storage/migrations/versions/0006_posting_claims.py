"""a card or request post being made in Slack is claimed in a column of its own

Before, the claim was `pending:<epoch>` written into the message or thread column it was about
to fill, so every reader of those columns had to tell a claim from a Slack timestamp. Now
`posting_since` holds the claim's time, and the columns hold only what Slack returned.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("case", "request"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("posting_since", storage.types.UTCDateTime(timezone=True), nullable=True)
            )
    # A claim left in the text was a post under way or one that crashed: either way nothing
    # was posted yet, and the next sync posts it.
    op.execute("UPDATE \"case\" SET message = NULL WHERE message LIKE 'pending:%'")
    op.execute("UPDATE \"case\" SET thread = NULL WHERE thread LIKE 'pending:%'")
    op.execute("UPDATE request SET thread = NULL WHERE thread LIKE 'pending:%'")


def downgrade() -> None:
    for table in ("case", "request"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("posting_since")
