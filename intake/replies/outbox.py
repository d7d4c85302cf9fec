"""Draining the durable outbox: each acknowledgement is handed over at most once.

A row is marked ``sending`` (committed) before the SMTP transaction and ``sent`` after it,
in the transaction that claims the next row (so one write a message, never more than one row
in ``sending``; the last row of a page is recorded on its own).
A row found in ``sending`` after a crash may or may not have left: it is marked ``sent`` when
the delivery can show it has it (the outbox Maildir holds its Message-ID), and otherwise
becomes ``uncertain``, never re-sent without a person's decision (``release_outgoing``).

One sender at a time (a lock dropped when its holder dies: on PostgreSQL an advisory lock
shared by every machine, so any instance may drain; on SQLite a file lock in the data
directory): so a row in ``sending`` seen by the lock holder belongs to a process that is
gone, never to one still talking to the relay. Should a holder lose its lock while alive
(its machine cut off from the database), the rule still holds: a row is claimed by a
compare-and-set to ``sending`` before any hand-over, and a ``sending`` row is never sent
again automatically, only settled as ``sent`` or ``uncertain``.

The copy of each acknowledgement for the IMAP Sent folder is made after the hand-over: it is
queued in a local Maildir (``sent-copies`` under the data directory) and the queue is
appended at the end of each page of a pass; when the mailbox server is away it waits there
for a later pass, never dropped.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import Session

from config.errors import DeliveryError, StorageError
from config.settings import Settings
from intake.failpoints import failpoint
from intake.logs import address_token
from intake.mailbox.connect import open_source
from intake.mailbox.locks import shared_lock
from intake.mailbox.maildir import scan, store_message
from intake.mailbox.sources import MailboxSource
from intake.replies.delivery import Delivery
from storage.db import Database, StorageConflict
from storage.events import add_event
from storage.models import Case, OutgoingMessage
from storage.outbox import (
    outbox_due,
    outbox_due_count,
    outbox_in_state,
    outbox_mark_failed,
    outbox_mark_retry,
    outbox_mark_sending,
    outbox_mark_sent,
    outbox_mark_uncertain,
    outbox_release,
    outbox_suppress,
)

log = logging.getLogger(__name__)


class Host(Protocol):
    """What draining needs of the running process (``intake.runtime.Runtime`` is one).

    Named here so that the replies do not import the process that runs them.
    """

    settings: Settings
    database: Database
    delivery: Delivery
    after_filing: Callable[[], None] | None

LOCK_FILE = "outbox-sender.lock"
PENDING_COPIES = "sent-copies"  # under data_dir: Sent-folder copies waiting for the server
DRAIN_PAGE = 100  # acknowledgements loaded at once, raw message included
APPEND_BATCH = 50  # Sent-folder copies appended in one command (a few hundred KB)


@dataclass
class DrainReport:
    """What one pass over the outbox did."""

    sent: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    uncertain: list[str] = field(default_factory=list)
    skipped_locked: bool = False

    def add(self, other: DrainReport) -> None:
        """Count a later pass in: each acknowledgement once, as the last pass that tried it left it.

        Whether the last pass found another sender at work is what the summary says.
        """
        again = {*other.sent, *other.retried, *other.failed, *other.uncertain}
        for mine, theirs in ((self.sent, other.sent), (self.retried, other.retried),
                             (self.failed, other.failed), (self.uncertain, other.uncertain)):
            mine[:] = [m for m in mine if m not in again] + theirs
        self.skipped_locked = other.skipped_locked and not self.sent

    def summary(self) -> str:
        """Return a one-line summary."""
        if self.skipped_locked:
            return "outbox: another process is sending; skipped"
        return (f"outbox: {len(self.sent)} sent, {len(self.retried)} to retry, "
                f"{len(self.failed)} failed, {len(self.uncertain)} uncertain")


def backoff(base_seconds: int, attempts: int) -> timedelta:
    """Return the wait before the next attempt: doubling, capped at six hours."""
    return timedelta(seconds=min(base_seconds * 2 ** max(attempts - 1, 0), 6 * 3600))


@contextmanager
def sender_lock(database: Database, data_dir: Path) -> Iterator[bool]:
    """Hold the outbox sender's lock; yield False at once if another process holds it."""
    # flock belongs to the open file: two threads of one process exclude each other too.
    with shared_lock(database, data_dir, "outbox-sender", LOCK_FILE, fcntl.flock) as held:
        yield held


def drain_outbox(rt: Host, now: datetime | None = None, *,
                 kept: SentCopies | None = None) -> DrainReport:
    """Settle rows a crash left in 'sending', then send every due acknowledgement once.

    ``kept``: the Sent-folder connection of a sender that drains again and again
    (``intake.replies.sender``); it and the SMTP session are then left open for its next pass.
    """
    report = DrainReport()
    with sender_lock(rt.database, rt.settings.general.data_dir) as held:
        if not held:
            report.skipped_locked = True
            return report
        _settle_interrupted(rt, report)
        copies = kept if kept is not None else SentCopies(rt)
        copies.retry_server()
        try:
            copies.keep_pending(earlier=True)
            for page in _due_pages(rt, now or datetime.now(UTC)):
                accepted: _Accepted | None = None
                for row in page:
                    accepted = _send_one(rt, row, report, copies, accepted)
                if accepted is not None:
                    _record_sent(rt, accepted, report, copies)
                copies.keep_pending()
        finally:
            if kept is None:
                copies.close()
                rt.delivery.close()
    return report


def _due_pages(rt: Host, now: datetime) -> Iterator[list[OutgoingMessage]]:
    """Yield the due acknowledgements a page at a time, so a backlog's drain stays small.

    Each row sent or failed leaves the due set (a retry is due later than ``now``); a row
    another sender took stays, so the pages stop after as many rows as were due at first.
    """
    with rt.database.session() as s:  # the count and the first page: one transaction
        remaining = outbox_due_count(s, now)
        page = outbox_due(s, now, limit=min(DRAIN_PAGE, remaining)) if remaining else []
    while page:
        remaining -= len(page)
        yield page
        if remaining <= 0:
            return
        with rt.database.session() as s:
            page = outbox_due(s, now, limit=min(DRAIN_PAGE, remaining))


def _settle_interrupted(rt: Host, report: DrainReport) -> None:
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
                log.warning("acknowledgement %s to %s may or may not have left: uncertain",
                            row.message_id, address_token(row.recipient))


@dataclass(frozen=True)
class _Accepted:
    """An acknowledgement the server took, its answer not yet recorded on its row."""

    row: OutgoingMessage
    reply: str


def _send_one(rt: Host, row: OutgoingMessage, report: DrainReport, copies: SentCopies,
              accepted: _Accepted | None) -> _Accepted | None:
    """Hand one acknowledgement to the delivery; return it once the server took it.

    The previous acknowledgement's answer is recorded in the transaction that claims this
    one: one write a message instead of two, the same one row at most ``sending`` at a time.
    """
    claimed = _claim(rt, row, accepted)
    if accepted is not None:
        _after_sent(accepted, report, copies)
    if claimed is None:
        return None
    try:
        reply = rt.delivery.send(claimed.raw, rt.settings.general.our_address,
                                 [claimed.recipient])
    except DeliveryError as exc:
        _record_failure(rt, claimed, exc, report)
        return None
    failpoint("after_send")  # accepted by the server, not yet recorded: the risky window
    return _Accepted(claimed, reply)


def _record_sent(rt: Host, accepted: _Accepted, report: DrainReport,
                 copies: SentCopies) -> None:
    """Record the server's answer to the last acknowledgement of a page on its own."""
    with rt.database.session() as s:
        outbox_mark_sent(s, accepted.row, accepted.reply)
    _after_sent(accepted, report, copies)


def _after_sent(accepted: _Accepted, report: DrainReport, copies: SentCopies) -> None:
    """Report, log and keep a copy of an acknowledgement whose sending is recorded."""
    row = accepted.row
    report.sent.append(row.message_id)
    log.info("sent %s to %s: %s", row.message_id, address_token(row.recipient),
             accepted.reply)
    copies.keep(row.raw)


def _claim(rt: Host, row: OutgoingMessage,
           accepted: _Accepted | None) -> OutgoingMessage | None:
    """Mark a row 'sending' (committed) after recording ``accepted`` as sent; None when
    someone else changed the row in between (``accepted`` is recorded all the same)."""
    with rt.database.session() as s:
        if accepted is not None:
            outbox_mark_sent(s, accepted.row, accepted.reply)
        try:
            return outbox_mark_sending(s, row)
        except StorageConflict as exc:
            # Released, suppressed or taken by a sender on another host: not ours to send.
            # The compare-and-set changed nothing: the session still commits ``accepted``.
            log.info("not sending %s: %s", row.message_id, exc)
            return None


def _record_failure(rt: Host, row: OutgoingMessage, exc: DeliveryError,
                    report: DrainReport) -> None:
    """Schedule a retry after a temporary failure; give up on a permanent one."""
    replies = rt.settings.replies
    with rt.database.session() as s:
        attempts = row.attempts
        if exc.permanent or attempts >= replies.retry_max_attempts:
            outbox_mark_failed(s, row, str(exc))
            report.failed.append(row.message_id)
            log.warning("giving up on %s to %s: %s", row.message_id,
                        address_token(row.recipient), exc)
            return
        later = datetime.now(UTC) + backoff(replies.retry_base_seconds, attempts)
        outbox_mark_retry(s, row, str(exc), later)
        report.retried.append(row.message_id)
        log.info("will retry %s at %s: %s", row.message_id, later.isoformat(), exc)


class SentCopies:
    """Keeps a copy of each acknowledgement in the IMAP Sent folder.

    Each copy is first queued on disk (a local Maildir, synced), then the queue goes to the
    server in one MULTIAPPEND at the end of each page of a pass; a copy the server could not
    take stays queued for a later pass. A crash loses no copy (at worst one goes twice).
    """

    def __init__(self, rt: Host) -> None:
        self.mailbox = next((m for m in rt.settings.mailboxes
                             if m.type == "imap" and m.sent_folder), None)
        self.data_dir = rt.settings.general.data_dir
        self.pending_dir = self.data_dir / PENDING_COPIES
        self._source: MailboxSource | None = None
        self._server_down = False  # after one failure, this pass queues without trying

    def keep(self, raw: bytes) -> None:
        """Queue a copy for the server (``keep_pending`` appends it); at once if the disk
        cannot take it."""
        if self.mailbox is None:
            return
        try:
            store_message(self.pending_dir, raw)
        except OSError as exc:
            if self._server_down or not self._append([raw]):
                log.error("could not queue the copy for %s in %s: %s", self.mailbox.sent_folder,
                          self.pending_dir, exc)

    def keep_pending(self, *, earlier: bool = False) -> int:
        """Append the queued copies, oldest first, a batch at a time; return how many went.

        ``earlier``: they are what earlier passes could not append (logged: the server is
        back), not this pass's own.
        """
        if self.mailbox is None:
            return 0
        kept = 0
        queued = [path for _key, path in sorted(scan(self.pending_dir).items())]
        for start in range(0, len(queued), APPEND_BATCH):
            batch = queued[start:start + APPEND_BATCH]
            if self._server_down or not self._append([path.read_bytes() for path in batch]):
                break
            for path in batch:
                path.unlink()  # a crash just before this leaves a second copy, never none
            kept += len(batch)
        if kept:
            log.log(logging.INFO if earlier else logging.DEBUG, "%d queued cop%s appended to %s",
                    kept, "y" if kept == 1 else "ies", self.mailbox.sent_folder)
        return kept

    def _append(self, raws: Sequence[bytes]) -> bool:
        """Append copies; False (and a warning) when the server does not take them."""
        assert self.mailbox is not None
        try:
            if self._source is None:
                self._source = open_source(self.mailbox, self.data_dir)
            self._source.append_sent(raws)
            return True
        except Exception as exc:  # the acknowledgements already left: never fail the pass
            log.warning("could not keep copies in %s now (queued for a later pass): %s",
                        self.mailbox.sent_folder, exc)
            self._server_down = True
            self.close()  # the next pass connects afresh
            return False

    def retry_server(self) -> None:
        """Start a pass: try the server again, even if it failed during the last one."""
        self._server_down = False

    def close(self) -> None:
        """Close the connection, if one was opened."""
        if self._source is not None:
            source, self._source = self._source, None
            try:
                source.close()
            except Exception as exc:  # a connection already broken: nothing left to close
                log.debug("closing the Sent-folder connection: %s", exc)


# --- a person's decisions (for `outbox release` / `outbox cancel`) ---------------------------

def release_outgoing(database: Database, ids: Sequence[int], *, actor: str,
                     note: str = "") -> list[OutgoingMessage]:
    """Let held, uncertain or failed acknowledgements go at the next pass; record who decided.

    Releasing an ``uncertain`` one may send it a second time: a person does it after checking
    that the applicant did not receive it.
    """
    return [_decide(database, outgoing_id, actor, "acknowledgement_released", note,
                    outbox_release) for outgoing_id in ids]


def release_held(database: Database, *, actor: str, note: str = "") -> list[OutgoingMessage]:
    """Let every held acknowledgement go at the next pass (hold mode is over)."""
    with database.session() as s:
        held = [row.id for row in outbox_in_state(s, "held")]
    return release_outgoing(database, held, actor=actor, note=note)


def cancel_outgoing(database: Database, ids: Sequence[int], *, actor: str,
                    note: str) -> list[OutgoingMessage]:
    """Decide that acknowledgements which have not left will never be sent; record why."""
    reason = f"cancelled by {actor}: {note}"
    return [_decide(database, outgoing_id, actor, "acknowledgement_cancelled", note,
                    lambda s, row: outbox_suppress(s, row, reason)) for outgoing_id in ids]


def _decide(database: Database, outgoing_id: int, actor: str, action: str, note: str,
            move: Callable[[Session, OutgoingMessage], OutgoingMessage]) -> OutgoingMessage:
    """Move one row as a person decided, with an event on its case, in one transaction."""
    with database.session() as s:
        row = s.get(OutgoingMessage, outgoing_id)
        if row is None:
            raise StorageError(f"no outgoing message {outgoing_id}")
        before = row.state
        row = move(s, row)  # refuses, with the row's state, a move the outbox forbids
        case = s.get(Case, row.case_id) if row.case_id is not None else None
        if case is not None:
            add_event(s, case, actor, action, {"message_id": row.message_id, "from": before,
                                               "to": row.state, "note": note})
        log.info("%s %s (%s -> %s) by %s", action, row.message_id, before, row.state, actor)
        return row
