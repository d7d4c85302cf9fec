"""Keep each reply's recipient domain, indexed with the time: the rate limits read one domain.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000
_OUTBOX = sa.table("outgoing_message", sa.column("id", sa.Integer),
                   sa.column("recipient", sa.Text), sa.column("recipient_domain", sa.Text))


def upgrade() -> None:
    """Add outgoing_message.recipient_domain, filled for the rows already kept, and index it
    with created_at in place of created_at alone. The reply policy read every row of the last
    hour for each acknowledgement: a backlog's thousands, 7 ms a message at 10,000."""
    with op.batch_alter_table("outgoing_message") as batch:
        batch.add_column(sa.Column("recipient_domain", sa.Text(), nullable=False,
                                   server_default=sa.text("''")))
    _fill_domains()
    op.create_index(op.f("ix_outgoing_message_recipient_domain_created_at"), "outgoing_message",
                    ["recipient_domain", "created_at"])
    op.drop_index(op.f("ix_outgoing_message_created_at"), table_name="outgoing_message")


def _fill_domains() -> None:
    """Set each kept row's domain as ``storage.outbox.recipient_domain`` does (frozen here)."""
    connection = op.get_bind()
    last = 0
    while True:
        rows = connection.execute(
            sa.select(_OUTBOX.c.id, _OUTBOX.c.recipient).where(_OUTBOX.c.id > last)
            .order_by(_OUTBOX.c.id).limit(_BATCH)).all()
        if not rows:
            return
        connection.execute(
            _OUTBOX.update().where(_OUTBOX.c.id == sa.bindparam("row_id"))
            .values(recipient_domain=sa.bindparam("domain")),
            [{"row_id": row.id, "domain": row.recipient.strip().lower().rpartition("@")[2]}
             for row in rows])
        last = rows[-1].id


def downgrade() -> None:
    """Index created_at alone again and drop recipient_domain."""
    op.create_index(op.f("ix_outgoing_message_created_at"), "outgoing_message", ["created_at"])
    op.drop_index(op.f("ix_outgoing_message_recipient_domain_created_at"),
                  table_name="outgoing_message")
    with op.batch_alter_table("outgoing_message") as batch:
        batch.drop_column("recipient_domain")
