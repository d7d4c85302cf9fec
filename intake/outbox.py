"""Draining the durable outbox: each acknowledgement is handed over at most once.

A row is marked ``sending`` (committed) before the SMTP transaction and ``sent`` after it.
A row found in ``sending`` after a crash may or may not have left: it is re-sent only when
the delivery can prove it did not (an outbox Maildir, or the IMAP Sent folder, lacks its
Message-ID); otherwise it becomes ``uncertain`` for a person to decide.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from config.errors import DeliveryError
from intake.failpoints import failpoint
from intake.runtime import Runtime
from storage.models import OutgoingMessage
from storage.outbox import (
    outbox_due,
    outbox_in_state,
    outbox_mark_failed,
    outbox_mark_retry,
    outbox_mark_sending,
    outbox_mark_sent,
    outbox_mark_uncertain,
)

log = logging.getLogger(__name__)


@dataclass
class DrainReport:
    """What one pass over the outbox did."""

    sent: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    uncertain: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """Return a one-line summary."""
        return (f"outbox: {len(self.sent)} sent, {len(self.retried)} to retry, "
                f"{len(self.failed)} failed, {len(self.uncertain)} uncertain")


def backoff(base_seconds: int, attempts: int) -> timedelta:
    """Return the wait before the next attempt: doubling, capped at six hours."""
    return timedelta(seconds=min(base_seconds * 2 ** max(attempts - 1, 0), 6 * 3600))


def drain_outbox(rt: Runtime, now: datetime | None = None) -> DrainReport:
    """Settle rows a crash left in 'sending', then send every due acknowledgement once."""
    report = DrainReport()
    _settle_interrupted(rt, report)
    with rt.database.session() as s:
        due = outbox_due(s, now or datetime.now(UTC))
    for row in due:
        _send_one(rt, row, report)
    return report


def _settle_interrupted(rt: Runtime, report: DrainReport) -> None:
    """Decide what happened to acknowledgements that were being sent during a crash."""
    with rt.database.session() as s:
        for row in outbox_in_state(s, "sending"):
            if rt.delivery.contains(row.message_id):
                outbox_mark_sent(s, row, "found in the outbox after a restart")
                report.sent.append(row.message_id)
            else:
                outbox_mark_uncertain(
                    s, row, "interrupted during hand-over; not re-sent automatically so that "
                            "the applicant never gets it twice")
                report.uncertain.append(row.message_id)


def _send_one(rt: Runtime, row: OutgoingMessage, report: DrainReport) -> None:
    """Hand one acknowledgement to the delivery and record the server's answer."""
    with rt.database.session() as s:
        row = outbox_mark_sending(s, row)
    try:
        reply = rt.delivery.send(row.raw, rt.settings.general.our_address, [row.recipient])
    except DeliveryError as exc:
        _record_failure(rt, row, exc, report)
        return
    failpoint("after_send")  # accepted by the server, not yet recorded: the risky window
    with rt.database.session() as s:
        outbox_mark_sent(s, row, reply)
    report.sent.append(row.message_id)
    log.info("sent %s to %s: %s", row.message_id, row.recipient, reply)
    _keep_sent_copy(rt, row.raw)


def _record_failure(rt: Runtime, row: OutgoingMessage, exc: DeliveryError,
                    report: DrainReport) -> None:
    """Schedule a retry after a temporary failure; give up on a permanent one."""
    replies = rt.settings.replies
    with rt.database.session() as s:
        attempts = row.attempts
        if exc.permanent or attempts >= replies.retry_max_attempts:
            outbox_mark_failed(s, row, str(exc))
            report.failed.append(row.message_id)
            log.warning("giving up on %s to %s: %s", row.message_id, row.recipient, exc)
            return
        later = datetime.now(UTC) + backoff(replies.retry_base_seconds, attempts)
        outbox_mark_retry(s, row, str(exc), later)
        report.retried.append(row.message_id)
        log.info("will retry %s at %s: %s", row.message_id, later.isoformat(), exc)


def _keep_sent_copy(rt: Runtime, raw: bytes) -> None:
    """Append a copy to the IMAP Sent folder of the first mailbox that names one."""
    from intake.sources import open_source

    for mailbox in rt.settings.mailboxes:
        if mailbox.type == "imap" and mailbox.sent_folder:
            source = open_source(mailbox, rt.settings.general.data_dir)
            try:
                source.append_sent(raw)
            except Exception as exc:  # the acknowledgement left; a missing copy is a warning
                log.warning("could not keep a copy in %s: %s", mailbox.sent_folder, exc)
            finally:
                source.close()
            return
