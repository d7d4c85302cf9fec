"""The pages of a document that OCR could not read, or not well (scanned forms).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A migration is frozen history: it spells its types out rather than importing the models.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Add document.page_problems ({page, reason, detail} per page), empty for old rows."""
    with op.batch_alter_table("document") as batch:
        batch.add_column(sa.Column("page_problems", JSON, nullable=False,
                                   server_default=sa.text("'[]'")))


def downgrade() -> None:
    """Drop document.page_problems."""
    with op.batch_alter_table("document") as batch:
        batch.drop_column("page_problems")
