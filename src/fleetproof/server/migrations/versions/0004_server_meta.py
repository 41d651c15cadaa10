"""server_meta: facts about the store itself (when it was first set up)

Revision ID: 0004_server_meta
Revises: 0003_suspicious_policy
Create Date: 2026-12-05 08:40:00

``first_start`` is the earliest time an agent item may carry: nothing the server keeps
can predate it. A store upgraded to this revision takes its earliest enrollment or audit
entry (whichever is older) instead of the time of the upgrade, so that the backlog of
agents that were already reporting is not refused.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0004_server_meta"
down_revision = "0003_suspicious_policy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "server_meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    bind = op.get_bind()
    earliest = [
        bind.execute(sa.text("SELECT min(enrolled_at) FROM devices")).scalar(),
        bind.execute(sa.text("SELECT min(time) FROM audit_log")).scalar(),
        time.time(),
    ]
    first = min(float(t) for t in earliest if t is not None)
    bind.execute(sa.text("INSERT INTO server_meta (key, value) VALUES ('first_start', :v)"), {"v": first})


def downgrade() -> None:
    op.drop_table("server_meta")
