"""The mailbox edge: IMAP, Maildir, IDLE push, sources, locks (the only code that speaks IMAP)."""
