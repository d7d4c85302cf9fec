"""Records that the mailbox edge hands to the rest of the pipeline."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class MailboxKey:
    """Identifies one message in one mailbox folder, as the ledger keys it."""

    mailbox: str
    folder: str
    uidvalidity: int
    uid: int


@dataclass(frozen=True)
class RawMessage:
    """The bytes of one message exactly as fetched, with where they came from."""

    key: MailboxKey
    data: bytes
    received_at: datetime
    flags: tuple[str, ...] = ()
    sha256: str = field(default="")
    # A message too large to hold in memory was written to the blob store as it was
    # fetched: this is its size, and ``data`` holds only its header block.
    stored_size: int | None = None

    def __post_init__(self) -> None:
        if not self.sha256:
            object.__setattr__(self, "sha256", hashlib.sha256(self.data).hexdigest())

    @property
    def size(self) -> int:
        """The message's size in bytes."""
        return len(self.data) if self.stored_size is None else self.stored_size
