"""the outcomes of a case's earlier promises: how many were renegotiated, how many broke

A case's last promise ends kept or broken (`promise_kept`, as before). A promise moved before it
passed was renegotiated (the customer was told a new time); one moved after it passed had broken.
Both are counted on the case; existing cases start at zero.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("promise_renegotiations", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("promise_breaks", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_column("promise_breaks")
        batch_op.drop_column("promise_renegotiations")
