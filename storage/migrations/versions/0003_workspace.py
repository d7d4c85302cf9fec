"""The reviewers' workspace: accounts, tokens, sessions, login attempts, audit; case
assignments, internal notes and links between cases.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A migration is frozen history: it spells its types out rather than importing the models.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def checked(column: str, values: Sequence[str], name: str) -> sa.CheckConstraint:
    """Return a CHECK constraint limiting a column to a vocabulary."""
    listed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=op.f(name))


def create_account_tables() -> None:
    """Create accounts, their API tokens and login sessions."""
    op.create_table(
        "web_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("last_login_at", TIMESTAMP, nullable=True),
        checked("role", ("viewer", "reviewer", "administrator"), "ck_web_user_role"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_user")),
        sa.UniqueConstraint("name", name=op.f("uq_web_user_name")),
    )
    for table in ("web_token", "web_session"):
        op.create_table(
            table,
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("user_id", sa.Integer(), nullable=False),
            sa.Column("token_hash", sa.String(length=64), nullable=False),
            *([sa.Column("address", sa.Text(), nullable=False)] if table == "web_session"
              else []),
            sa.Column("created_at", TIMESTAMP, nullable=False),
            *([sa.Column("expires_at", TIMESTAMP, nullable=False),
               sa.Column("ended_at", TIMESTAMP, nullable=True)] if table == "web_session"
              else [sa.Column("revoked_at", TIMESTAMP, nullable=True)]),
            sa.ForeignKeyConstraint(["user_id"], ["web_user.id"],
                                    name=op.f(f"fk_{table}_user_id_web_user")),
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
            sa.UniqueConstraint("token_hash", name=op.f(f"uq_{table}_token_hash")),
        )
        op.create_index(op.f(f"ix_{table}_user_id"), table, ["user_id"])


def create_audit_tables() -> None:
    """Create the login attempts and the workspace's audit trail."""
    op.create_table(
        "login_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempt")),
    )
    op.create_index(op.f("ix_login_attempt_at"), "login_attempt", ["at"])
    op.create_table(
        "web_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("detail", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_audit")),
    )
    op.create_index(op.f("ix_web_audit_at"), "web_audit", ["at"])


def create_case_work_tables() -> None:
    """Create assignments, internal notes and links between cases."""
    op.create_table(
        "case_assignment",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("user_name", sa.Text(), nullable=False),
        sa.Column("assigned_at", TIMESTAMP, nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"],
                                name=op.f("fk_case_assignment_case_id_case")),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_assignment")),
    )
    op.create_table(
        "case_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"], name=op.f("fk_case_note_case_id_case")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_note")),
    )
    op.create_index(op.f("ix_case_note_case_id"), "case_note", ["case_id"])
    op.create_table(
        "case_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("other_case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("detail", JSON, nullable=False),
        sa.Column("removed_at", TIMESTAMP, nullable=True),
        sa.Column("removed_by", sa.Text(), nullable=True),
        checked("kind", ("related", "merged"), "ck_case_link_kind"),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"], name=op.f("fk_case_link_case_id_case")),
        sa.ForeignKeyConstraint(["other_case_id"], ["case.id"],
                                name=op.f("fk_case_link_other_case_id_case")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_link")),
    )
    op.create_index(op.f("ix_case_link_case_id"), "case_link", ["case_id"])
    op.create_index(op.f("ix_case_link_other_case_id"), "case_link", ["other_case_id"])


def upgrade() -> None:
    """Create the workspace's tables."""
    create_account_tables()
    create_audit_tables()
    create_case_work_tables()


def downgrade() -> None:
    """Drop the workspace's tables, dependants first."""
    for table in ("case_link", "case_note", "case_assignment", "web_audit", "login_attempt",
                  "web_session", "web_token", "web_user"):
        op.drop_table(table)
