"""evidence bundles: landmark position statements, signed mesh records, verdict bases

Revision ID: 0002_evidence
Revises: 0001
Create Date: 2026-12-05 08:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_evidence"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "landmark_statements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("landmark_id", sa.String(length=64), nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("public_key", sa.String(length=128), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("statement", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("landmark_statements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_landmark_statements_landmark_id"), ["landmark_id"], unique=False)
    with op.batch_alter_table("mesh_measurements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("record", sa.JSON(), nullable=True))
    with op.batch_alter_table("verdicts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("basis", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("verdicts", schema=None) as batch_op:
        batch_op.drop_column("basis")
    with op.batch_alter_table("mesh_measurements", schema=None) as batch_op:
        batch_op.drop_column("record")
    with op.batch_alter_table("landmark_statements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_landmark_statements_landmark_id"))
    op.drop_table("landmark_statements")
