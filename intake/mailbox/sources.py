"""The one interface every mailbox offers the pipeline, whatever the server behind it.

Cursor semantics (the same for IMAP and Maildir): a cursor is ``(uidvalidity, last_uid)``.
``fetch_new`` returns the messages whose UID is above ``last_uid`` when the folder's
UIDVALIDITY still equals the cursor's; when it changed (or there is no cursor) it returns
every message in the folder, and the ledger drops the ones it already holds by Message-ID or
content hash. A message leaves the folder only through ``mark_done`` (``mark_all_done``) or
``mark_failed``, which the pipeline calls after the message's outcome is committed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from storage.records import MailboxKey, RawMessage

Cursor = tuple[int, int]


class MailboxSource(Protocol):
    """A mailbox folder the pipeline reads from and files messages out of."""

    @property
    def name(self) -> str:
        """The mailbox name from the settings (the ledger's mailbox key)."""
        ...

    def fetch_new(self, cursor: Cursor | None) -> Iterator[RawMessage]:
        """Yield the messages above the cursor in UID order, without marking them read."""
        ...

    def current_uidvalidity(self) -> int:
        """Return the folder's UIDVALIDITY as it is now."""
        ...

    def mark_done(self, key: MailboxKey) -> None:
        """File a committed message (move it to processed_folder, or flag it)."""
        ...

    def mark_all_done(self, keys: Sequence[MailboxKey]) -> None:
        """File committed messages together (``mark_done`` of each, in fewer round trips)."""
        ...

    def mark_failed(self, key: MailboxKey, reason: str) -> None:
        """Move a message that needs a person to attention_folder."""
        ...

    def append_sent(self, raws: Sequence[bytes]) -> None:
        """Keep copies of sent messages in sent_folder, when one is configured."""
        ...

    def close(self) -> None:
        """Release the connection or files; the source cannot be used afterwards."""
        ...


def uids_above(uids: list[int], cursor: Cursor | None, uidvalidity: int) -> list[int]:
    """Return the UIDs a fetch must return for the cursor, sorted."""
    if cursor is None or cursor[0] != uidvalidity:
        return sorted(uids)
    return sorted(uid for uid in uids if uid > cursor[1])
