"""Indexes for the look-ups by sender: a sender's open cases, a repeated submission.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Index the sender of filed messages and the applicant of cases."""
    op.create_index(op.f("ix_case_message_sender"), "case_message", ["sender"])
    op.create_index(op.f("ix_case_applicant_email"), "case", ["applicant_email"])


def downgrade() -> None:
    """Drop the two indexes."""
    op.drop_index(op.f("ix_case_applicant_email"), table_name="case")
    op.drop_index(op.f("ix_case_message_sender"), table_name="case_message")
