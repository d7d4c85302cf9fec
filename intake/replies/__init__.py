"""Replies: loop policy, composing, the outbox and delivery (the only code that speaks SMTP)."""
