"""A mailbox taken over from an instance on another machine: fetch its kept messages again.

Each machine keeps raw messages in the blob store of its own data directory; the database
only says that a message was kept and what its bytes hash to. A message that an instance
recorded but had not yet filed when it died is still in the mailbox folder (the folder is
changed only after filing), so the instance that takes the mailbox over fetches it again
from there, checks it against the recorded hash, and keeps it in its own blob store.
"""

from __future__ import annotations

import logging

from intake.mailbox.sources import MailboxSource
from intake.runtime import Runtime
from storage.ledger import ledger_unfinished
from storage.models import Ledger, RawMessageRow

log = logging.getLogger(__name__)


def refetch_missing_blobs(rt: Runtime, mailbox: str, source: MailboxSource) -> int:
    """Fetch again the unfiled messages whose blob this machine lacks; return how many."""
    missing = {row.uid: row for row in _missing(rt, mailbox)
               if row.uidvalidity == source.current_uidvalidity()}
    if not missing:
        return 0
    found = 0
    # The folder is read from just below the lowest missing UID, in UID order.
    for raw in source.fetch_new((source.current_uidvalidity(), min(missing) - 1)):
        row = missing.get(raw.key.uid)
        if row is not None and raw.sha256 == row.sha256:
            if raw.stored_size is None:  # else written to the blob store as it was fetched
                rt.blobs.put(raw.data)
            found += 1
        if raw.key.uid >= max(missing):
            break
    log.info("%s: %d of %d message(s) kept on another machine fetched again", mailbox, found,
             len(missing))
    return found


def _missing(rt: Runtime, mailbox: str) -> list[Ledger]:
    """Return the mailbox's unfiled rows kept in a blob store that is not this machine's."""
    with rt.database.session() as s:
        rows = [row for row in ledger_unfinished(s, mailbox) if row.state == "received"]
        return [row for row in rows if not rt.blobs.exists(row.sha256)
                and _stored_in(s.get(RawMessageRow, row.sha256)) == "file"]


def _stored_in(stored: RawMessageRow | None) -> str | None:
    """Return where the raw bytes were kept ('file' or 'db'), None when not recorded."""
    return stored.stored_in if stored is not None else None
