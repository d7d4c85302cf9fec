"""Acknowledgements sent as soon as their case is committed, by a thread of their own.

Filing queues an acknowledgement in the outbox, in the case's transaction; the sender thread
is woken at once and drains the outbox (``drain_outbox``: claimed, handed over, recorded)
while the intake goes on with the mailbox and the next message. Wake-ups that arrive during
a pass are taken together by the next pass. The SMTP session stays open between passes
(checked with RSET before each message), and so does the connection that keeps the Sent-folder
copies; both are closed after a quiet spell.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from intake.replies.outbox import DrainReport, Host, SentCopies, drain_outbox

log = logging.getLogger(__name__)

# A relay drops an idle session after a few minutes anyway; closing it first is polite.
QUIET_SECONDS = 30.0


class AckSender:
    """A thread that drains the outbox each time it is woken, one pass at a time."""

    def __init__(self, rt: Host, on_pass: Callable[[DrainReport], None] | None = None) -> None:
        self._rt = rt
        self._on_pass = on_pass
        self._copies = SentCopies(rt)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._idle = threading.Condition()
        self._busy = False
        self._thread = threading.Thread(target=self._loop, name="ack-sender", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def wake(self) -> None:
        """Ask for a pass over the outbox (now, or right after the one under way)."""
        with self._idle:
            self._busy = True
            self._wake.set()

    def settle(self, timeout: float | None = None) -> bool:
        """Wait until every pass asked for so far is done; False when the time ran out."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._busy, timeout)

    def stop(self) -> None:
        """Finish the passes asked for, then end the thread and close the SMTP session."""
        self._stopping.set()
        self._wake.set()
        self._thread.join()

    def _loop(self) -> None:
        """Wait for a wake-up, drain, repeat; close the session when nothing comes."""
        while True:
            woken = self._wake.wait(QUIET_SECONDS)
            if self._stopping.is_set() and not woken:
                break
            if not woken:
                self._close()
                continue
            self._wake.clear()
            self._pass()
            with self._idle:
                if not self._wake.is_set():
                    self._busy = False
                    self._idle.notify_all()
            if self._stopping.is_set() and not self._wake.is_set():
                break
        self._close()

    def _close(self) -> None:
        """Close the SMTP session and the Sent-folder connection (opened again when needed)."""
        self._copies.close()
        self._rt.delivery.close()

    def _pass(self) -> None:
        """One drain; a fault is logged, never ends the thread (the outbox keeps the rows)."""
        try:
            report = drain_outbox(self._rt, kept=self._copies)
        except Exception:
            log.exception("outbox pass failed; the acknowledgements wait for the next one")
            return
        if self._on_pass is not None:
            self._on_pass(report)


@contextmanager
def acknowledging(rt: Host, on_pass: Callable[[DrainReport], None] | None = None
                  ) -> Iterator[AckSender]:
    """Run an AckSender for the block; it has drained what was asked of it when the block ends.

    ``rt.after_filing`` wakes it, so each acknowledgement leaves once its case is committed.
    """
    sender = AckSender(rt, on_pass)
    sender.start()
    previous, rt.after_filing = rt.after_filing, sender.wake
    try:
        yield sender
    finally:
        rt.after_filing = previous
        sender.stop()
