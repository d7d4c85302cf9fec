"""Opening a mailbox's source from its settings: IMAP or a local Maildir."""

from __future__ import annotations

from pathlib import Path

from config.settings import MailboxSettings
from intake.mailbox.sources import MailboxSource
from storage.blobs import blob_store_in


def open_source(settings: MailboxSettings, data_dir: Path) -> MailboxSource:
    """Return the source for a mailbox's settings (IMAP or Maildir)."""
    # Imported here so that a Maildir-only installation never loads the IMAP stack.
    if settings.type == "imap":
        from intake.mailbox.imap import ImapSource
        return ImapSource(settings, blobs=blob_store_in(data_dir))
    from intake.mailbox.maildir import MaildirSource
    return MaildirSource(settings, data_dir)
