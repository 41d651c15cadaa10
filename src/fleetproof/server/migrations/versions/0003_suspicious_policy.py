"""zones: their own persistence policy for the suspicious flag

Revision ID: 0003_suspicious_policy
Revises: 0002_evidence
Create Date: 2026-12-05 08:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_suspicious_policy"
down_revision = "0002_evidence"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("zones", schema=None) as batch_op:
        batch_op.add_column(sa.Column("suspicious_min_rounds", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("suspicious_window_rounds", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("zones", schema=None) as batch_op:
        batch_op.drop_column("suspicious_window_rounds")
        batch_op.drop_column("suspicious_min_rounds")
