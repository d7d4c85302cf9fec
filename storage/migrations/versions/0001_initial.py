"""Initial schema: ledger, raw messages, cases, fields, checklist, outbox, events.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A migration is frozen history: it spells its types out rather than importing the models.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)

APPEND_ONLY_SQLITE = [
    f"""CREATE TRIGGER case_event_no_{verb.lower()} BEFORE {verb} ON case_event
    BEGIN SELECT RAISE(ABORT, 'case_event is append-only'); END"""
    for verb in ("UPDATE", "DELETE")
]
APPEND_ONLY_POSTGRESQL = [
    """CREATE FUNCTION case_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'case_event is append-only'; END $$""",
    """CREATE TRIGGER case_event_append_only BEFORE UPDATE OR DELETE ON case_event
    FOR EACH ROW EXECUTE FUNCTION case_event_append_only()""",
]


def checked(column: str, values: Sequence[str], name: str) -> sa.CheckConstraint:
    """Return a CHECK constraint limiting a column to a vocabulary."""
    listed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=op.f(name))


def create_case_tables() -> None:
    """Create the case, its sequence, and the raw-message store."""
    op.create_table(
        "case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.Text(), nullable=False),
        sa.Column("authority", sa.Text(), nullable=False),
        sa.Column("request_type", sa.Text(), nullable=True),
        sa.Column("regulation", sa.String(length=8), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("urgent_reasons", JSON, nullable=False),
        sa.Column("applicant_email", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("rules_version", sa.Text(), nullable=False),
        sa.Column("triage", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        checked(
            "status",
            ("incomplete", "complete", "enquiry", "granted", "refused", "withdrawn", "closed"),
            "ck_case_status",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case")),
        sa.UniqueConstraint("ref", name=op.f("uq_case_ref")),
    )
    op.create_index(op.f("ix_case_status"), "case", ["status"])
    op.create_table(
        "case_sequence",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_case_sequence")),
    )
    op.create_table(
        "raw_message",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("stored_in", sa.String(length=8), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("stored_at", TIMESTAMP, nullable=False),
        checked("stored_in", ("file", "db"), "ck_raw_message_stored_in"),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_raw_message")),
    )


def create_mailbox_tables() -> None:
    """Create the idempotency ledger and the per-folder UID cursor."""
    op.create_table(
        "mailbox_cursor",
        sa.Column("mailbox", sa.Text(), nullable=False),
        sa.Column("folder", sa.Text(), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("mailbox", "folder", name=op.f("pk_mailbox_cursor")),
    )
    op.create_table(
        "mailbox_ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox", sa.Text(), nullable=False),
        sa.Column("folder", sa.Text(), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        checked(
            "state",
            ("received", "filed", "done", "failed", "attention", "duplicate", "ignored"),
            "ck_mailbox_ledger_state",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_mailbox_ledger_case_id_case")
        ),
        sa.ForeignKeyConstraint(
            ["sha256"],
            ["raw_message.sha256"],
            name=op.f("fk_mailbox_ledger_sha256_raw_message"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailbox_ledger")),
        sa.UniqueConstraint(
            "mailbox",
            "folder",
            "uidvalidity",
            "uid",
            name=op.f("uq_mailbox_ledger_mailbox_folder_uidvalidity_uid"),
        ),
    )
    op.create_index(op.f("ix_mailbox_ledger_case_id"), "mailbox_ledger", ["case_id"])
    op.create_index(op.f("ix_mailbox_ledger_mailbox_state"), "mailbox_ledger", ["mailbox", "state"])
    op.create_index(op.f("ix_mailbox_ledger_message_id"), "mailbox_ledger", ["message_id"])
    op.create_index(op.f("ix_mailbox_ledger_sha256"), "mailbox_ledger", ["sha256"])


def create_message_tables() -> None:
    """Create the messages filed under a case and their documents."""
    op.create_table(
        "case_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("ledger_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sender", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("sent_at", TIMESTAMP, nullable=True),
        sa.Column("in_reply_to", JSON, nullable=False),
        sa.Column("references", JSON, nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("triage", JSON, nullable=False),
        sa.Column("rules_version", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        checked(
            "role",
            ("request", "follow_up", "duplicate", "enquiry", "automated", "other"),
            "ck_case_message_role",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_case_message_case_id_case")
        ),
        sa.ForeignKeyConstraint(
            ["ledger_id"],
            ["mailbox_ledger.id"],
            name=op.f("fk_case_message_ledger_id_mailbox_ledger"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_message")),
        sa.UniqueConstraint("ledger_id", name=op.f("uq_case_message_ledger_id")),
    )
    op.create_index(op.f("ix_case_message_case_id"), "case_message", ["case_id"])
    op.create_index(op.f("ix_case_message_message_id"), "case_message", ["message_id"])
    op.create_table(
        "document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("case_message_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("content_type", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("kind_rule", sa.Text(), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.Column("signatures", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"], name=op.f("fk_document_case_id_case")),
        sa.ForeignKeyConstraint(
            ["case_message_id"],
            ["case_message.id"],
            name=op.f("fk_document_case_message_id_case_message"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document")),
    )
    op.create_index(op.f("ix_document_case_id"), "document", ["case_id"])
    op.create_index(op.f("ix_document_case_message_id"), "document", ["case_message_id"])
    op.create_index(op.f("ix_document_sha256"), "document", ["sha256"])


def create_field_tables() -> None:
    """Create the extracted field values and the completeness checklist."""
    op.create_table(
        "extracted_field",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("case_message_id", sa.Integer(), nullable=True),
        sa.Column("document_id", sa.Integer(), nullable=True),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("source", JSON, nullable=False),
        sa.Column("source_text", sa.Text(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.Text(), nullable=True),
        sa.Column("superseded_by", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        checked("origin", ("extracted", "reviewer"), "ck_extracted_field_origin"),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_extracted_field_case_id_case")
        ),
        sa.ForeignKeyConstraint(
            ["case_message_id"],
            ["case_message.id"],
            name=op.f("fk_extracted_field_case_message_id_case_message"),
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["document.id"],
            name=op.f("fk_extracted_field_document_id_document"),
        ),
        sa.ForeignKeyConstraint(
            ["superseded_by"],
            ["extracted_field.id"],
            name=op.f("fk_extracted_field_superseded_by_extracted_field"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extracted_field")),
    )
    op.create_index(op.f("ix_extracted_field_case_id_key"), "extracted_field", ["case_id", "key"])
    op.create_table(
        "checklist_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_checklist_item_case_id_case")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checklist_item")),
        sa.UniqueConstraint(
            "case_id", "item_id", name=op.f("uq_checklist_item_case_id_item_id")
        ),
    )


def create_outbox_table() -> None:
    """Create the durable outbox of replies."""
    op.create_table(
        "outgoing_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("case_message_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("smtp_reply", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("sent_at", TIMESTAMP, nullable=True),
        checked(
            "state",
            ("pending", "held", "sending", "sent", "failed", "uncertain", "suppressed"),
            "ck_outgoing_message_state",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_outgoing_message_case_id_case")
        ),
        sa.ForeignKeyConstraint(
            ["case_message_id"],
            ["case_message.id"],
            name=op.f("fk_outgoing_message_case_message_id_case_message"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outgoing_message")),
        sa.UniqueConstraint("message_id", name=op.f("uq_outgoing_message_message_id")),
    )
    op.create_index(op.f("ix_outgoing_message_case_id"), "outgoing_message", ["case_id"])
    op.create_index(
        op.f("ix_outgoing_message_state_next_attempt_at"),
        "outgoing_message",
        ["state", "next_attempt_at"],
    )


def create_event_table() -> None:
    """Create the append-only audit trail, guarded by triggers on both databases."""
    op.create_table(
        "case_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("detail", JSON, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"], name=op.f("fk_case_event_case_id_case")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_event")),
    )
    op.create_index(op.f("ix_case_event_case_id_at"), "case_event", ["case_id", "at"])
    dialect = op.get_context().dialect.name
    for statement in APPEND_ONLY_POSTGRESQL if dialect == "postgresql" else APPEND_ONLY_SQLITE:
        op.execute(statement)


def upgrade() -> None:
    """Apply this revision."""
    create_case_tables()
    create_mailbox_tables()
    create_message_tables()
    create_field_tables()
    create_outbox_table()
    create_event_table()


def downgrade() -> None:
    """Revert this revision."""
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER case_event_append_only ON case_event")
        op.execute("DROP FUNCTION case_event_append_only()")
    for table in (
        "case_event",
        "outgoing_message",
        "checklist_item",
        "extracted_field",
        "document",
        "case_message",
        "mailbox_ledger",
        "mailbox_cursor",
        "raw_message",
        "case_sequence",
        "case",
    ):
        op.drop_table(table)
