"""devices.attestation: the evidence binding each device key, sent at enrollment

Revision ID: 0005_attestation
Revises: 0004_server_meta
Create Date: 2026-12-05 11:20:00

Nullable: devices enrolled before this revision, and agents that send no evidence,
have none; evidence bundles then say the key is a software key on the operator's word.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_attestation"
down_revision = "0004_server_meta"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("devices", sa.Column("attestation", sa.JSON(), nullable=True))


def downgrade() -> None:
    # Not in batch mode: on SQLite that copies the table and drops the old one, which the
    # store's foreign keys (accelerators, verdicts … → devices) refuse. SQLite 3.35 and later
    # drop a plain column in place, as PostgreSQL does.
    op.drop_column("devices", "attestation")
