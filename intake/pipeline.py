"""One intake cycle of one mailbox: receive → parse → extract → thread → triage → file → touch.

Every message is kept (raw bytes and a ledger row, one transaction) before anything else
happens; its case is filed in a second transaction; only then is the mailbox changed. A
crash between any two steps is repaired by the next cycle from the ledger, so a message is
never lost, never filed twice and never acknowledged twice.

A backlog is kept, filed and moved in groups (``GROUP``): the messages fetched together are
kept in one transaction; the messages that the workers have already prepared when their turn
comes are filed in one transaction (one that fails is recorded on its own, and the others
filed again without it); and filed messages leave the folder with one search, one MOVE
and one transaction, instead of each message's own. Nothing of a group is filed before the
group is kept, and a crash before a filing group commits leaves all of it ``received``;
until its group is moved a message stays ``filed`` on the ledger, as after a crash at that
point, which the next cycle repairs. An acknowledgement does not wait for the move. A
message that arrives alone is filed alone, at once.

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

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from config.errors import IntakeError, MailboxError, StorageUnavailable
from config.profiles import Profile
from config.settings import MailboxSettings
from intake.failpoints import failpoint
from intake.filing import Filed, file_in, thread_hints
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
from storage.db import retry_transient, translate_error
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
Entry = tuple[Ledger, "Future[Work] | None"]  # a kept message and its preparation, if started
# Messages kept in one transaction, and filed ones moved out of the folder together (a
# cycle's last group when it ends): 16 takes most of the per-message cost off a backlog.
GROUP = 16


@dataclass(frozen=True)
class Deciding:
    """What the decide stages use: the runtime, and the session the message is filed in.

    Hints are read in the filing's own transaction, so that a message sees the cases that
    the messages filed before it in the same group opened.
    """

    rt: Runtime
    session: Session

    def profile(self, name: str) -> Profile:
        """Return a loaded authority profile."""
        return self.rt.profile(name)


def thread_stage(ctx: Deciding, work: Work) -> Work:
    """Look up which case, if any, the message refers to (read-only)."""
    assert work.parsed is not None and work.extraction is not None
    hints = thread_hints(ctx.session, ctx.profile(work.profile), work.parsed, work.extraction)
    return replace(work, hints=hints)


def triage_stage(ctx: Deciding, work: Work) -> Work:
    """Decide kind, language, request type, regulation, urgency and the checklist."""
    assert work.parsed is not None and work.extraction is not None
    profile = ctx.profile(work.profile)
    result = triage_message(work.parsed, work.extraction, profile.triage, profile.name,
                            work.hints)
    return replace(work, triage=replace(result, rules_version=profile.version))


# Run where the case is filed, in mailbox order, after the prepare stages (intake.stages).
DECIDE_STAGES: tuple[tuple[str, Callable[[Deciding, Work], Work]], ...] = (
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
    the worker pool, a bounded window ahead; they are then filed strictly in order (those
    already prepared together: ``_take_run``), and the filed ones are moved out of the
    folder in groups. A stop leaves the rest of a kept group on the ledger for the next
    cycle.
    """
    done: list[Ledger] = []  # filed, to be moved out of the folder together
    for row in _unfinished(rt, mailbox.name):
        _finish(rt, mailbox, source, [(row, None)], report, done)
    window: deque[Entry] = deque()
    for group in _batched(_new_messages(rt, mailbox, source), GROUP):
        for row in _record(rt, group):
            failpoint("after_record")
            if stop is not None and stop.is_set():
                break  # the rest of the group is kept: the next cycle takes it up
            prepared = rt.pool.submit(_work(rt, row, mailbox)) if row.state == "received" \
                else None
            window.append((row, prepared))
            if len(window) >= rt.pool.window:
                _finish(rt, mailbox, source, _take_run(window), report, done)
        if stop is not None and stop.is_set():
            log.info("%s: stop requested; the rest waits for the next cycle", mailbox.name)
            break
    while window:
        _finish(rt, mailbox, source, _take_run(window), report, done)
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


def _take_run(window: deque[Entry]) -> list[Entry]:
    """Take the window's first message and the prepared ones that follow it (up to GROUP).

    A backlog's messages are filed in one transaction when their workers have already
    prepared them; a message that arrives alone is filed alone, at once.
    """
    run = [window.popleft()]
    if _ready(*run[0], wait=True):
        while window and len(run) < GROUP and _ready(*window[0], wait=False):
            run.append(window.popleft())
    return run


def _ready(row: Ledger, prepared: Future[Work] | None, *, wait: bool) -> bool:
    """Whether a message is still to be filed and was prepared without error."""
    if row.state != "received" or prepared is None or not (wait or prepared.done()):
        return False
    return not prepared.cancelled() and prepared.exception() is None


def _finish(rt: Runtime, mailbox: MailboxSettings, source: MailboxSource,
            entries: Sequence[Entry], report: CycleReport, done: list[Ledger]) -> None:
    """Bring ledger rows to their final state, whatever step each stopped at.

    Several entries are messages prepared already, filed in one transaction. A filed row
    joins ``done``, moved with its group (``_move_done``).
    """
    for row, filed_now in _file_all(rt, mailbox, entries, report):
        with log_context(mailbox=row.mailbox, folder=row.folder, uid=row.uid):
            if filed_now and row.state != "received":
                failpoint("after_file")
            _finish_row(rt, source, row, ledger_key(row), report, done)
        if len(done) >= GROUP:
            _move_done(rt, source, done)


def _file_all(rt: Runtime, mailbox: MailboxSettings, entries: Sequence[Entry],
              report: CycleReport) -> list[tuple[Ledger, bool]]:
    """File the entries' messages; return each row as left, and whether it was processed."""
    row, prepared = entries[0]
    if len(entries) > 1:
        return [(fresh, True) for fresh in _file_run(rt, entries, report)]
    if row.state != "received":  # filed or failed before a crash: only the mailbox is left
        return [(row, False)]
    with log_context(mailbox=row.mailbox, folder=row.folder, uid=row.uid):
        return [(_process(rt, mailbox, row, prepared, report), True)]


def _finish_row(rt: Runtime, source: MailboxSource, row: Ledger, key: MailboxKey,
                report: CycleReport, done: list[Ledger]) -> None:
    """Move a processed ledger row out of the folder if it failed, else queue its move."""
    if row.state == "received":  # to be tried again next cycle; the mailbox waits
        return
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
    """Triage and file one recorded message; a failure is kept on the ledger row."""
    if prepared is None:  # resumed after a crash: prepare the kept message again
        prepared = rt.pool.submit(_work(rt, row, mailbox))
    if _ready(row, prepared, wait=True):
        return _file_run(rt, [(row, prepared)], report)[0]

    def find_twin() -> Ledger | None:
        with rt.database.session() as s:
            twin, _ = ledger_same_message(s, row.message_id, row.sha256, row.id, rt.blobs)
            return None if twin is None else _duplicate(s, row, twin)
    # A copy of a filed message is a duplicate, whatever happened to its reading.
    duplicate = _tx(f"uid {row.uid}: looking for a twin", find_twin)
    if duplicate is not None:
        report.duplicates += 1
        return duplicate
    try:
        prepared.result()
    except WorkerLost as exc:
        return _worker_lost(rt, row, exc, report)
    except IntakeError as exc:
        _log_failure(row, exc)
        return _fail(rt, row, str(exc))
    raise AssertionError("a message prepared without error is filed above")


@dataclass(frozen=True)
class _Outcome:
    """What filing did to one message, reported once its transaction is committed."""

    row: Ledger  # as the transaction left it
    filed: Filed | None = None
    clash: Ledger | None = None  # another sender's message with the same Message-ID
    duplicate: bool = False
    error: IntakeError | None = None  # the message's own fault: it goes to Needs-attention


def _file_run(rt: Runtime, entries: Sequence[Entry], report: CycleReport) -> list[Ledger]:
    """Thread, triage and file prepared messages in one transaction, in order; report them."""
    prepared = []
    for row, future in entries:
        assert future is not None  # a run's messages are all prepared (_ready)
        prepared.append((row, future.result()))
    outcomes = _file_prepared(rt, prepared)
    for (row, _), outcome in zip(prepared, outcomes, strict=True):
        with log_context(mailbox=row.mailbox, folder=row.folder, uid=row.uid):
            _report(row, outcome, report)
    if rt.after_filing is not None and any(
            o.filed is not None and o.filed.acknowledgement == "queued" for o in outcomes):
        rt.after_filing()  # the cases and their acknowledgements are committed: send them now
    return [outcome.row for outcome in outcomes]


class _MessageFailed(Exception):
    """A message of a filing group failed on its own account: the transaction rolls back."""

    def __init__(self, index: int, error: IntakeError) -> None:
        self.index = index
        self.error = error
        super().__init__(str(error))


def _file_prepared(rt: Runtime, prepared: Sequence[tuple[Ledger, Work]]) -> list[_Outcome]:
    """File prepared messages in one transaction, retried whole after a transient fault.

    A message that fails rolls the transaction back; it is recorded as failed on its own and
    the others are filed again without it (rare: no savepoint is paid on every message). A
    commit whose answer was lost may have happened: a retry finds those messages no longer
    ``received`` and files nothing again.
    """
    first, last = prepared[0][0].uid, prepared[-1][0].uid
    what = f"uid {first}: filing" if first == last else f"uids {first}-{last}: filing together"
    try:
        return _tx(what, lambda: _file_together(rt, prepared))
    except _MessageFailed as failed:
        at = failed.index
        before = _file_prepared(rt, prepared[:at]) if at else []
        row = prepared[at][0]
        with log_context(mailbox=row.mailbox, folder=row.folder, uid=row.uid):
            outcome = _Outcome(_fail(rt, row, str(failed.error)), error=failed.error)
        after = _file_prepared(rt, prepared[at + 1:]) if at + 1 < len(prepared) else []
        return [*before, outcome, *after]


def _file_together(rt: Runtime, prepared: Sequence[tuple[Ledger, Work]]) -> list[_Outcome]:
    """File each message in one transaction (``_MessageFailed`` when one fails)."""
    outcomes = []
    with rt.database.session() as s:
        for index, (row, work) in enumerate(prepared):
            with log_context(mailbox=row.mailbox, folder=row.folder, uid=row.uid):
                try:
                    outcomes.append(_file_one(s, rt, row, work))
                except StorageUnavailable:
                    raise  # the database is away, not the message at fault: all of it waits
                except IntakeError as exc:
                    raise _MessageFailed(index, exc) from exc
                except SQLAlchemyError as exc:
                    error = translate_error(exc)
                    if isinstance(error, StorageUnavailable):
                        raise error from exc
                    raise _MessageFailed(index, error) from exc
            if len(prepared) > 1:
                failpoint("filing_together")  # tests: a kill before the group's commit
    return outcomes


def _file_one(s: Session, rt: Runtime, row: Ledger, work: Work) -> _Outcome:
    """File one prepared message in the session: a twin of a filed one, or its case."""
    # A clash, another message with the same Message-ID, is filed on its own, noted.
    twin, clash = ledger_same_message(s, row.message_id, row.sha256, row.id, rt.blobs)
    if twin is not None:
        return _Outcome(_duplicate(s, row, twin), duplicate=True)
    filed, fresh = file_in(s, rt, run_stages(Deciding(rt, s), work, DECIDE_STAGES), clash)
    assert fresh is not None
    return _Outcome(fresh, filed, clash if filed is not None else None)


def _duplicate(s: Session, row: Ledger, twin: Ledger) -> Ledger:
    """Record a message as a copy of one already filed (its twin on the ledger)."""
    return ledger_set_state(s, row, "duplicate", case_id=twin.case_id,
                            outcome=f"same message as ledger row {twin.id}")


def _report(row: Ledger, outcome: _Outcome, report: CycleReport) -> None:
    """Count and log what filing did to a message (its transaction is committed)."""
    if outcome.duplicate:
        report.duplicates += 1
    elif outcome.error is not None:
        _log_failure(row, outcome.error)
    elif (filed := outcome.filed) is not None:
        if outcome.clash is not None:  # noted on the row by the filing
            log.warning("%s uid %s reuses the Message-ID of ledger row %s", row.mailbox,
                        row.uid, outcome.clash.id)
        report.filed.append(filed)
        log.info("%s", filed.log_line(), extra={"case_ref": filed.case_ref, "stage": "file",
                                                "role": filed.role,
                                                "sender": address_token(filed.sender)})
        log.debug("%s uid %s: sender %s", row.mailbox, row.uid, filed.sender)


def _log_failure(row: Ledger, exc: IntakeError) -> None:
    """Log why a message could not be filed (it goes to Needs-attention)."""
    log.warning("%s uid %s: %s", row.mailbox, row.uid, exc,
                extra={"stage": exc.stage if isinstance(exc, StageError) else "file"})


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
