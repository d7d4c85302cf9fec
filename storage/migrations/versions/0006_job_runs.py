"""One row per scheduled job and day, so that instances sharing the database run it once.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-12
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A migration is frozen history: it spells its types out rather than importing the models.
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create job_run: job name and day (the key), when and where it started."""
    op.create_table(
        "job_run",
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("host", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("job", "day", name=op.f("pk_job_run")),
    )


def downgrade() -> None:
    """Drop job_run (a job may then run again on a day it already ran)."""
    op.drop_table("job_run")
