"""One intake cycle of one mailbox: receive → parse → extract → thread → triage → file → touch.

Every message is kept (raw bytes and a ledger row, one transaction) before anything else
happens; its case is filed in a second transaction; only then is the mailbox changed. A
crash between any two steps is repaired by the next cycle from the ledger, so a message is
never lost, never filed twice and never acknowledged twice.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field, replace

from config.errors import IntakeError
from config.settings import MailboxSettings
from intake.failpoints import failpoint
from intake.filing import Filed, file_work, thread_hints
from intake.mailbox.connect import open_source
from intake.mailbox.locks import mailbox_lock
from intake.mailbox.sources import MailboxSource
from intake.runtime import Runtime
from intake.stages import run_stages
from intake.work import BlobRef, Work
from parsers.headers import raw_message_id
from storage.ledger import (
    cursor_set,
    ledger_find_twin,
    ledger_get,
    ledger_id_clash,
    ledger_note_clash,
    ledger_raw,
    ledger_record,
    ledger_set_state,
    ledger_unfinished,
)
from storage.models import Ledger
from storage.records import MailboxKey, RawMessage
from triage.engine import triage_message

log = logging.getLogger(__name__)


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
    duplicates: int = 0
    skipped_locked: bool = False

    def summary(self) -> str:
        """Return a one-line summary."""
        if self.skipped_locked:
            return f"{self.mailbox}: another poll holds the mailbox; skipped"
        kept = sum(1 for f in self.filed if f.case_ref is None)
        # A resubmission filed as a duplicate of a case counts as a duplicate, not as filed.
        again = sum(1 for f in self.filed if f.case_ref is not None and f.role == "duplicate")
        return (f"{self.mailbox}: {len(self.filed) - kept - again} filed, {kept} kept without "
                f"a case, {self.duplicates + again} duplicate, {len(self.failed)} failed")


def poll_mailbox(rt: Runtime, mailbox: MailboxSettings,
                 stop: threading.Event | None = None) -> CycleReport:
    """Run one intake cycle of a mailbox, unless another process is already polling it."""
    report = CycleReport(mailbox.name)
    with mailbox_lock(rt.settings.general.data_dir, mailbox.name) as held:
        if not held:
            report.skipped_locked = True
            return report
        source = open_source(mailbox, rt.settings.general.data_dir)
        try:
            _cycle(rt, mailbox, source, report, stop)
        finally:
            source.close()
    return report


def _cycle(rt: Runtime, mailbox: MailboxSettings, source: MailboxSource,
           report: CycleReport, stop: threading.Event | None) -> None:
    """Finish what a crash left, then take the new messages in UID order.

    New messages are kept at once and prepared (parsed, extracted) in the worker pool,
    a bounded window ahead; each is then filed and moved strictly in order.
    """
    for row in _unfinished(rt, mailbox.name):
        _finish(rt, mailbox, source, row, None, report)
    window: deque[tuple[Ledger, Future[Work] | None]] = deque()
    for raw in _new_messages(rt, mailbox, source):
        row = _record(rt, raw)
        failpoint("after_record")
        prepared = rt.pool.submit(_work(rt, row, mailbox)) if row.state == "received" \
            else None
        window.append((row, prepared))
        if len(window) >= rt.pool.window:
            _finish(rt, mailbox, source, *window.popleft(), report)
        if stop is not None and stop.is_set():
            log.info("%s: stop requested; the rest waits for the next cycle", mailbox.name)
            break
    while window:
        _finish(rt, mailbox, source, *window.popleft(), report)


def _work(rt: Runtime, row: Ledger, mailbox: MailboxSettings) -> Work:
    """Return the Work record that starts a recorded message's way through the stages.

    A message kept in the blob store goes to the worker as a reference, not as bytes.
    """
    key = MailboxKey(row.mailbox, row.folder, row.uidvalidity, row.uid)
    if rt.blobs.exists(row.sha256):
        return Work(ledger_id=row.id, key=key, profile=mailbox.profile, raw=b"",
                    raw_blob=BlobRef(rt.blobs.root, row.sha256))
    with rt.database.session() as s:  # kept in the database itself
        raw = ledger_raw(s, row, rt.blobs)
    return Work(ledger_id=row.id, key=key, profile=mailbox.profile, raw=raw)


def _unfinished(rt: Runtime, mailbox: str) -> list[Ledger]:
    """Return the ledger rows a previous cycle recorded but did not finish."""
    with rt.database.session() as s:
        return ledger_unfinished(s, mailbox)


def _new_messages(rt: Runtime, mailbox: MailboxSettings,
                  source: MailboxSource) -> Iterator[RawMessage]:
    """Yield the mailbox's messages above the stored cursor."""
    from storage.ledger import cursor_get

    with rt.database.session() as s:
        cursor = cursor_get(s, mailbox.name, mailbox.folder)
    yield from source.fetch_new(cursor)


def _record(rt: Runtime, raw: RawMessage) -> Ledger:
    """Keep the raw message and move the cursor past it, in one transaction."""
    with rt.database.session() as s:
        row = ledger_record(s, raw, raw_message_id(raw.data), rt.blobs)
        cursor_set(s, raw.key.mailbox, raw.key.folder, raw.key.uidvalidity, raw.key.uid)
    return row


def _finish(rt: Runtime, mailbox: MailboxSettings, source: MailboxSource, row: Ledger,
            prepared: Future[Work] | None, report: CycleReport) -> None:
    """Bring one ledger row to its final state, whatever step it stopped at."""
    key = MailboxKey(row.mailbox, row.folder, row.uidvalidity, row.uid)
    if row.state == "received":
        row = _process(rt, mailbox, row, prepared, report)
        failpoint("after_file")
    if row.state == "failed":
        source.mark_failed(key, row.error or "unknown error")
        report.failed.append((key, row.error or ""))
        _set_state(rt, row, "attention")
        return
    source.mark_done(key)
    failpoint("after_move")
    _set_state(rt, row, "done")


def _process(rt: Runtime, mailbox: MailboxSettings, row: Ledger,
             prepared: Future[Work] | None, report: CycleReport) -> Ledger:
    """Triage and file a recorded message; a failure is kept on the ledger row."""
    with rt.database.session() as s:
        twin = ledger_find_twin(s, row.message_id, row.sha256, row.id, rt.blobs)
        if twin is not None:
            report.duplicates += 1
            return ledger_set_state(s, row, "duplicate", case_id=twin.case_id,
                                    outcome=f"same message as ledger row {twin.id}")
        clash = ledger_id_clash(s, row.message_id, row.id)  # another message, same Message-ID
    if prepared is None:  # resumed after a crash: prepare the kept message again
        prepared = rt.pool.submit(_work(rt, row, mailbox))
    try:
        work = run_stages(rt, prepared.result(), DECIDE_STAGES)
        filed = file_work(rt, work)
    except IntakeError as exc:
        log.warning("%s uid %s: %s", row.mailbox, row.uid, exc)
        return _fail(rt, row, str(exc))
    report.filed.append(filed)
    log.info("%s", filed.log_line())
    with rt.database.session() as s:
        fresh = ledger_get(s, work.key)
        if clash is not None and fresh is not None:
            log.warning("%s uid %s reuses the Message-ID of ledger row %s", row.mailbox, row.uid,
                        clash.id)
            fresh = ledger_note_clash(s, fresh, clash)
    assert fresh is not None
    return fresh


def _fail(rt: Runtime, row: Ledger, error: str) -> Ledger:
    """Record a message that could not be filed; it will go to Needs-attention."""
    with rt.database.session() as s:
        return ledger_set_state(s, row, "failed", outcome="needs attention",
                                error=error[:2000])


def _set_state(rt: Runtime, row: Ledger, state: str) -> None:
    """Record the final state once the mailbox has been changed."""
    with rt.database.session() as s:
        ledger_set_state(s, row, state, error=row.error)
