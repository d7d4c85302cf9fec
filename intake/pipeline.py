"""One intake cycle of one mailbox: receive → parse → extract → thread → triage → file → touch.

Every message is kept (raw bytes and a ledger row, one transaction) before anything else
happens; its case is filed in a second transaction; only then is the mailbox changed. A
crash between any two steps is repaired by the next cycle from the ledger, so a message is
never lost, never filed twice and never acknowledged twice.

A backlog is kept and moved in groups (``GROUP``): the messages fetched together are kept in
one transaction, and filed messages leave the folder with one search, one MOVE and one
transaction, instead of each message's own. Nothing of a group is filed before the group is
kept; until its group is moved a message stays ``filed`` on the ledger, as after a crash at
that point, which the next cycle repairs. An acknowledgement does not wait for the move.

Faults that are not the message's own are never held against it: a worker lost while reading
a message counts one attempt on its ledger row and the message is tried again next cycle
(Needs-attention only after ``extraction.max_attempts``); a transient database fault is
retried with back-off, and when the database or the mailbox stays away the cycle stops
cleanly, leaving every message as it was for the next cycle.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import TypeVar

from config.errors import IntakeError, MailboxError, StorageUnavailable
from config.settings import MailboxSettings
from intake.failpoints import failpoint
from intake.filing import Filed, file_work, thread_hints
from intake.logs import address_token, log_context
from intake.mailbox.connect import open_source
from intake.mailbox.locks import mailbox_lock
from intake.mailbox.sources import MailboxSource
from intake.runtime import Runtime
from intake.stages import StageError, run_stages
from intake.takeover import refetch_missing_blobs
from intake.work import BlobRef, Work
from intake.workers import WorkerLost
from parsers.headers import raw_message_id
from storage.db import retry_transient
from storage.ledger import (
    cursor_get,
    cursor_set,
    ledger_key,
    ledger_note_attempt,
    ledger_raw,
    ledger_record,
    ledger_same_message,
    ledger_set_state,
    ledger_unfinished,
)
from storage.models import Ledger
from storage.records import MailboxKey, RawMessage
from triage.engine import triage_message

log = logging.getLogger(__name__)
T = TypeVar("T")
# Messages kept in one transaction, and filed ones moved out of the folder together (a
# cycle's last group when it ends): 16 takes most of the per-message cost off a backlog.
GROUP = 16


def thread_stage(rt: Runtime, work: Work) -> Work:
    """Look up which case, if any, the message refers to (read-only)."""
    assert work.parsed is not None and work.extraction is not None
    with rt.database.session() as s:
        hints = thread_hints(s, rt.profile(work.profile), work.parsed, work.extraction)
    return replace(work, hints=hints)


def triage_stage(rt: Runtime, work: Work) -> Work:
    """Decide kind, language, request type, regulation, urgency and the checklist."""
    assert work.parsed is not None and work.extraction is not None
    profile = rt.profile(work.profile)
    result = triage_message(work.parsed, work.extraction, profile.triage, profile.name,
                            work.hints)
    return replace(work, triage=replace(result, rules_version=profile.version))


# Run where the case is filed, in mailbox order, after the prepare stages (intake.stages).
DECIDE_STAGES: tuple[tuple[str, Callable[[Runtime, Work], Work]], ...] = (
    ("thread", thread_stage),
    ("triage", triage_stage),
)


@dataclass
class CycleReport:
    """What one cycle of one mailbox did, for the log and the command line."""

    mailbox: str
    filed: list[Filed] = field(default_factory=list)
    failed: list[tuple[MailboxKey, str]] = field(default_factory=list)
    retrying: list[tuple[MailboxKey, str]] = field(default_factory=list)
    duplicates: int = 0
    skipped_locked: bool = False
    interrupted: str | None = None  # why the cycle stopped early (mailbox or database away)

    def summary(self) -> str:
        """Return a one-line summary."""
        if self.skipped_locked:
            return f"{self.mailbox}: another poll holds the mailbox; skipped"
        kept = sum(1 for f in self.filed if f.case_ref is None)
        # A resubmission filed as a duplicate of a case counts as a duplicate, not as filed.
        again = sum(1 for f in self.filed if f.case_ref is not None and f.role == "duplicate")
        line = (f"{self.mailbox}: {len(self.filed) - kept - again} filed, {kept} kept without "
                f"a case, {self.duplicates + again} duplicate, {len(self.failed)} failed")
        if self.retrying:
            line += f", {len(self.retrying)} to try again"
        if self.interrupted:
            line += f"; cycle stopped, the rest waits for the next one: {self.interrupted}"
        return line


def poll_mailbox(rt: Runtime, mailbox: MailboxSettings,
                 stop: threading.Event | None = None) -> CycleReport:
    """Run one intake cycle of a mailbox, unless another process is already polling it."""
    report = CycleReport(mailbox.name)
    with mailbox_lock(rt.database, rt.settings.general.data_dir, mailbox.name) as held:
        if not held:
            report.skipped_locked = True
            return report
        source = open_source(mailbox, rt.settings.general.data_dir)
        try:
            refetch_missing_blobs(rt, mailbox.name, source)  # taken over from another machine
            with log_context(mailbox=mailbox.name):
                _cycle(rt, mailbox, source, report, stop)
        except (MailboxError, StorageUnavailable) as exc:
            # Not any message's fault: everything unfinished is on the ledger for next time.
            log.warning("%s: cycle stopped: %s", mailbox.name, exc)
            report.interrupted = str(exc)
        finally:
            source.close()
    return report


def _tx(what: str, work: Callable[[], T]) -> T:
    """Run one transaction, again with back-off after a transient database fault."""
    return retry_transient(work, what)


def _cycle(rt: Runtime, mailbox: MailboxSettings, source: MailboxSource,
           report: CycleReport, stop: threading.Event | None) -> None:
    """Finish what a crash left, then take the new messages in UID order.

    New messages are kept at once, a group at a time, and prepared (parsed, extracted) in
    the worker pool, a bounded window ahead; each is then filed strictly in order, and the
    filed ones are moved out of the folder in groups. A stop leaves the rest of a kept
    group on the ledger for the next cycle.
    """
    done: list[Ledger] = []  # filed, to be moved out of the folder together
    for row in _unfinished(rt, mailbox.name):
        _finish(rt, mailbox, source, row, None, report, done)
    window: deque[tuple[Ledger, Future[Work] | None]] = deque()
    for group in _batched(_new_messages(rt, mailbox, source), GROUP):
        for row in _record(rt, group):
            failpoint("after_record")
            if stop is not None and stop.is_set():
                break  # the rest of the group is kept: the next cycle takes it up
            prepared = rt.pool.submit(_work(rt, row, mailbox)) if row.state == "received" \
                else None
            window.append((row, prepared))
            if len(window) >= rt.pool.window:
                _finish(rt, mailbox, source, *window.popleft(), report, done)
        if stop is not None and stop.is_set():
            log.info("%s: stop requested; the rest waits for the next cycle", mailbox.name)
            break
    while window:
        _finish(rt, mailbox, source, *window.popleft(), report, done)
    _move_done(rt, source, done)


def _batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Yield lists of up to size consecutive items (itertools.batched, from Python 3.12)."""
    rest = iter(items)
    while group := list(islice(rest, size)):
        yield group


def _work(rt: Runtime, row: Ledger, mailbox: MailboxSettings) -> Work:
    """Return the Work record that starts a recorded message's way through the stages.

    A message kept in the blob store goes to the worker as a reference, not as bytes.
    """
    key = ledger_key(row)
    if rt.blobs.exists(row.sha256):
        return Work(ledger_id=row.id, key=key, profile=mailbox.profile, raw=b"",
                    raw_blob=BlobRef(rt.blobs.root, row.sha256))
    with rt.database.session() as s:  # kept in the database itself
        raw = ledger_raw(s, row, rt.blobs)
    return Work(ledger_id=row.id, key=key, profile=mailbox.profile, raw=raw)


def _unfinished(rt: Runtime, mailbox: str) -> list[Ledger]:
    """Return the ledger rows a previous cycle recorded but did not finish."""
    def read() -> list[Ledger]:
        with rt.database.session() as s:
            return ledger_unfinished(s, mailbox)
    return _tx("reading unfinished messages", read)


def _new_messages(rt: Runtime, mailbox: MailboxSettings,
                  source: MailboxSource) -> Iterator[RawMessage]:
    """Yield the mailbox's messages above the stored cursor."""
    def read() -> tuple[int, int] | None:
        with rt.database.session() as s:
            return cursor_get(s, mailbox.name, mailbox.folder)
    yield from source.fetch_new(_tx("reading the cursor", read))


def _record(rt: Runtime, group: Sequence[RawMessage]) -> list[Ledger]:
    """Keep the raw messages and move the cursor past the last, in one transaction."""
    last = group[-1].key  # one fetch: one UIDVALIDITY, UIDs rising

    def record() -> list[Ledger]:
        with rt.database.session() as s:
            rows = [ledger_record(s, raw, raw_message_id(raw.data), rt.blobs) for raw in group]
            cursor_set(s, last.mailbox, last.folder, last.uidvalidity, last.uid)
        return rows
    return _tx(f"keeping uids {group[0].key.uid}-{last.uid}", record)


def _finish(rt: Runtime, mailbox: MailboxSettings, source: MailboxSource, row: Ledger,
            prepared: Future[Work] | None, report: CycleReport, done: list[Ledger]) -> None:
    """Bring one ledger row to its final state, whatever step it stopped at.

    A filed row joins ``done``, moved with its group (``_move_done``).
    """
    key = ledger_key(row)
    with log_context(mailbox=row.mailbox, folder=row.folder, uid=row.uid):
        _finish_row(rt, source, row, key, mailbox, prepared, report, done)
    if len(done) >= GROUP:
        _move_done(rt, source, done)


def _finish_row(rt: Runtime, source: MailboxSource, row: Ledger, key: MailboxKey,
                mailbox: MailboxSettings, prepared: Future[Work] | None,
                report: CycleReport, done: list[Ledger]) -> None:
    """Process and file one ledger row; move it if it failed, else queue its move."""
    if row.state == "received":
        row = _process(rt, mailbox, row, prepared, report)
        if row.state == "received":  # to be tried again next cycle; the mailbox waits
            return
        failpoint("after_file")
    if row.state == "failed":
        source.mark_failed(key, row.error or "unknown error")
        report.failed.append((key, row.error or ""))
        _set_state(rt, [row], "attention")
        return
    done.append(row)


def _move_done(rt: Runtime, source: MailboxSource, rows: list[Ledger]) -> None:
    """Move a group of filed messages out of the folder, then record them done; empty it."""
    if not rows:
        return
    source.mark_all_done([ledger_key(row) for row in rows])
    failpoint("after_move")
    _set_state(rt, rows, "done")
    rows.clear()


def _process(rt: Runtime, mailbox: MailboxSettings, row: Ledger,
             prepared: Future[Work] | None, report: CycleReport) -> Ledger:
    """Triage and file a recorded message; a failure is kept on the ledger row."""
    def find_twin() -> tuple[Ledger | None, Ledger | None]:
        with rt.database.session() as s:
            # A clash, another message with the same Message-ID, is filed on its own, noted.
            twin, clash = ledger_same_message(s, row.message_id, row.sha256, row.id, rt.blobs)
            if twin is not None:
                return ledger_set_state(s, row, "duplicate", case_id=twin.case_id,
                                        outcome=f"same message as ledger row {twin.id}"), None
            return None, clash
    duplicate, clash = _tx(f"uid {row.uid}: looking for a twin", find_twin)
    if duplicate is not None:
        report.duplicates += 1
        return duplicate
    if prepared is None:  # resumed after a crash: prepare the kept message again
        prepared = rt.pool.submit(_work(rt, row, mailbox))
    try:
        filed, fresh = _decide_and_file(rt, prepared.result(), clash)
    except WorkerLost as exc:
        return _worker_lost(rt, row, exc, report)
    except StorageUnavailable:
        raise  # the database is away, not the message at fault: stop the cycle
    except IntakeError as exc:
        log.warning("%s uid %s: %s", row.mailbox, row.uid, exc,
                    extra={"stage": exc.stage if isinstance(exc, StageError) else "file"})
        return _fail(rt, row, str(exc))
    if filed is not None:
        if clash is not None:  # noted on the row by the filing
            log.warning("%s uid %s reuses the Message-ID of ledger row %s", row.mailbox,
                        row.uid, clash.id)
        if filed.acknowledgement == "queued" and rt.after_filing is not None:
            rt.after_filing()  # the case and its acknowledgement are committed: send it now
        report.filed.append(filed)
        log.info("%s", filed.log_line(), extra={"case_ref": filed.case_ref, "stage": "file",
                                                "role": filed.role,
                                                "sender": address_token(filed.sender)})
        log.debug("%s uid %s: sender %s", row.mailbox, row.uid, filed.sender)
    assert fresh is not None
    return fresh


def _decide_and_file(rt: Runtime, prepared: Work,
                     clash: Ledger | None) -> tuple[Filed | None, Ledger | None]:
    """Thread, triage and file a prepared message; retried whole after a transient fault.

    Returns what was filed and the ledger row as filing left it. A commit whose answer was
    lost may have happened: a retry that finds the message no longer ``received`` files
    nothing again (None) and returns the row as it stands.
    """
    def once() -> tuple[Filed | None, Ledger | None]:
        # file_work checks, in its transaction, that the message is still to be filed.
        return file_work(rt, run_stages(rt, prepared, DECIDE_STAGES), clash)
    return _tx(f"ledger row {prepared.ledger_id}: filing", once)


def _worker_lost(rt: Runtime, row: Ledger, exc: WorkerLost, report: CycleReport) -> Ledger:
    """Count the lost attempt; Needs-attention once they run out, else try again next cycle."""
    key = ledger_key(row)

    def note() -> int:
        with rt.database.session() as s:
            return ledger_note_attempt(s, row, exc.reason)
    attempts = _tx(f"uid {row.uid}: counting an attempt", note)
    allowed = rt.settings.extraction.max_attempts
    if attempts >= allowed:
        log.warning("%s uid %s: %s; giving up after %d attempts", row.mailbox, row.uid,
                    exc.reason, attempts)
        return _fail(rt, row, f"{exc.reason} (gave up after {attempts} attempts)")
    log.warning("%s uid %s: %s; attempt %d of %d, trying again next cycle", row.mailbox,
                row.uid, exc.reason, attempts, allowed)
    report.retrying.append((key, exc.reason))
    return row


def _fail(rt: Runtime, row: Ledger, error: str) -> Ledger:
    """Record a message that could not be filed; it will go to Needs-attention."""
    def fail() -> Ledger:
        with rt.database.session() as s:
            return ledger_set_state(s, row, "failed", outcome="needs attention",
                                    error=error[:2000])
    return _tx(f"uid {row.uid}: recording the failure", fail)


def _set_state(rt: Runtime, rows: Sequence[Ledger], state: str) -> None:
    """Record the final state of rows once the mailbox has been changed (one transaction)."""
    def move() -> None:
        with rt.database.session() as s:
            for row in rows:
                ledger_set_state(s, row, state, error=row.error)
    uids = f"{rows[0].uid}-{rows[-1].uid}" if len(rows) > 1 else str(rows[0].uid)
    _tx(f"uid {uids}: recording {state}", move)
