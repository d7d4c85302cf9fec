"""The rule files of every profile version that filed a message, kept by the version's hash.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A migration is frozen history: it spells its types out rather than importing the models.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create rule_version: version hash, profile, first use, files as {path: text}."""
    op.create_table(
        "rule_version",
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("profile", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("files", JSON, nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_rule_version")),
    )


def downgrade() -> None:
    """Drop rule_version (the kept rule files go with it)."""
    op.drop_table("rule_version")
