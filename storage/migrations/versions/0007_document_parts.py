"""The documents one file holds (Part 1 and Part 2, a mandate after them), kept with the file.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A migration is frozen history: it spells its types out rather than importing the models.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Add document.parts ({kind, kind_rule, where, first_page, last_page} per part), empty
    for old rows (a file read before parts were kept counts as its one kind, as it did)."""
    with op.batch_alter_table("document") as batch:
        batch.add_column(sa.Column("parts", JSON, nullable=False, server_default=sa.text("'[]'")))


def downgrade() -> None:
    """Drop document.parts."""
    with op.batch_alter_table("document") as batch:
        batch.drop_column("parts")
