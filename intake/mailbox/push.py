"""Push intake: one IMAP IDLE connection per mailbox starts a cycle as soon as mail arrives.

The scheduled polls stay as the safety net (a server without IDLE, a dropped connection, a
notice lost in between). A watcher never files anything itself: it only calls ``on_new``,
and a cycle runner thread runs the mailbox's cycle, one at a time, merging bursts of notices.

Wiring, in ``cmd_run``: wrap the poll function with ``one_at_a_time`` and run the scheduler
inside ``push_intake(settings.mailboxes, poll, stop)``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from config.errors import MailboxError
from config.settings import MailboxSettings
from intake.mailbox.imap import IDLE_RENEW_SECONDS, ImapSource

log = logging.getLogger(__name__)

# How often a waiting thread looks at the stop flag: the bound on how long stopping takes.
STOP_CHECK_SECONDS = 0.5
BACKOFF_START_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 300.0
# A connection that lived this long was healthy: the next drop starts the backoff again.
HEALTHY_SECONDS = 60.0
# Beyond the connection's own timeout, how long leaving waits for a watcher thread.
JOIN_MARGIN_SECONDS = 5.0


def push_possible(mailbox: MailboxSettings) -> bool:
    """Tell whether the settings allow push for this mailbox (IMAP, with idle = true)."""
    return mailbox.type == "imap" and mailbox.idle


def backoff_delay(failures: int, backoff_max: float = BACKOFF_MAX_SECONDS) -> float:
    """Return the wait before reconnecting after ``failures`` drops in a row: 1, 2, 4 ... s."""
    return float(min(BACKOFF_START_SECONDS * 2 ** max(failures - 1, 0), backoff_max))


def announces_new_mail(responses: Iterable[Any]) -> bool:
    """Tell whether responses announce new mail: EXISTS, or a RECENT count above zero.

    A message moved away by the polling connection brings "EXPUNGE" and "0 RECENT": no
    reason for another cycle.
    """
    return any(isinstance(r, tuple) and len(r) >= 2 and (
        r[1] == b"EXISTS" or (r[1] == b"RECENT" and isinstance(r[0], int) and r[0] > 0))
        for r in responses)


def server_said_bye(responses: Iterable[Any]) -> bool:
    """Tell whether IDLE responses include the server's BYE (it is closing the connection)."""
    return any(isinstance(r, tuple) and r and r[0] == b"BYE" for r in responses)


class IdleSource(ImapSource):
    """An IMAP folder held open in IDLE; unlike ``idle_wait`` it also ends at the stop flag."""

    def offers_idle(self) -> bool:
        """Log in, select the folder and tell whether the server offers IDLE."""
        with self._translating("select"):
            return bool(self._selected().has_capability("IDLE"))

    def idle_round(self, seconds: float, stop: threading.Event) -> bool:
        """NOOP, then one IDLE of at most ``seconds``; True when new mail was announced."""
        with self._translating("idle"):
            client = self._selected()
            # Dovecot does not report mail that came between SELECT (or DONE) and IDLE until
            # the next change: a NOOP first closes that gap.
            _text, responses = client.noop()
            if announces_new_mail(responses):
                return True
            client.idle()
            try:
                seen = _wait_in_idle(client, seconds, stop)
            finally:
                # On a dead connection DONE raises: the caller reconnects.
                _text, responses = client.idle_done()
            return seen or announces_new_mail(responses)


def _wait_in_idle(client: Any, seconds: float, stop: threading.Event) -> bool:
    """Read IDLE responses in short slices until new mail, the stop flag, a drop or the end."""
    deadline = time.monotonic() + seconds
    while not stop.is_set() and (remaining := deadline - time.monotonic()) > 0:
        wait = min(remaining, STOP_CHECK_SECONDS)
        started = time.monotonic()
        responses = client.idle_check(timeout=wait)
        if announces_new_mail(responses):
            return True
        # imapclient swallows EOF and returns nothing at once: a socket that woke without
        # a line is a dropped connection, which idle_done() then reports.
        woke_empty = not responses and time.monotonic() - started < wait / 2
        if woke_empty or server_said_bye(responses):
            return False
    return False


class _Watcher:
    """The reconnect loop of one mailbox's IDLE connection."""

    def __init__(self, source: IdleSource, on_new: Callable[[], None], stop: threading.Event,
                 idle_timeout: float, backoff_max: float) -> None:
        self.source = source
        self.on_new = on_new
        self.stop = stop
        self.idle_timeout = idle_timeout
        self.backoff_max = backoff_max
        self.failures = 0

    @property
    def name(self) -> str:
        """The mailbox's name, for the log."""
        return self.source.name

    def run(self) -> None:
        """Keep an IDLE session until stop; after a drop, reconnect with a growing wait."""
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                if not self._session():
                    return
            except MailboxError as exc:
                self._after_drop(started, str(exc))
            except Exception as exc:  # a bug must not end push for good: log, back off, retry
                log.exception("%s: push watcher failed", self.name)
                self._after_drop(started, f"{type(exc).__name__}: {exc}")

    def _session(self) -> bool:
        """Connect, catch up after a drop, then IDLE until stop; False: the server has no IDLE."""
        if not self.source.offers_idle():
            log.warning("%s: the server does not offer IDLE; the scheduled polls alone read "
                        "this mailbox", self.name)
            return False
        if self.failures:
            log.info("%s: push connection restored", self.name)
            self._notify()  # mail that came while we were away raised no notice
        else:
            log.info("%s: push connection open (IDLE)", self.name)
        while not self.stop.is_set():
            if self.source.idle_round(self.idle_timeout, self.stop):
                self._notify()
        return True

    def _after_drop(self, started: float, reason: str) -> None:
        """Drop the connection and wait before the next attempt (stop ends the wait)."""
        self.source.close()
        if time.monotonic() - started >= HEALTHY_SECONDS:
            self.failures = 0
        self.failures += 1
        delay = backoff_delay(self.failures, self.backoff_max)
        log.warning("%s: push connection lost (%s); reconnecting in %.0f s", self.name, reason,
                    delay)
        self.stop.wait(delay)

    def _notify(self) -> None:
        """Call on_new; its failure is logged and never ends the watcher."""
        try:
            self.on_new()
        except Exception:
            log.exception("%s: the new-mail callback failed", self.name)


def watch_mailbox(mailbox: MailboxSettings, on_new: Callable[[], None],
                  stop: threading.Event, *, idle_timeout: float = IDLE_RENEW_SECONDS,
                  backoff_max: float = BACKOFF_MAX_SECONDS) -> None:
    """Call ``on_new`` whenever the server announces new mail, until ``stop`` is set.

    Returns at once when push is off for the mailbox, and when the server has no IDLE. The
    watcher needs only its own connection (never the polling one, never the database).
    """
    if not push_possible(mailbox):
        log.info("%s: push off (idle = false or not IMAP); scheduled polls only", mailbox.name)
        return
    watcher = _Watcher(IdleSource(mailbox), on_new, stop, idle_timeout, backoff_max)
    try:
        watcher.run()
    finally:
        watcher.source.close()


def run_when_kicked(name: str, cycle: Callable[[str], None], kicked: threading.Event,
                    stop: threading.Event) -> None:
    """Run ``cycle(name)`` after each kick until stop; kicks during a cycle make one more."""
    while not stop.is_set():
        if not kicked.wait(STOP_CHECK_SECONDS) or stop.is_set():
            continue
        kicked.clear()  # before the cycle: mail announced during it triggers the next one
        try:
            cycle(name)
        except Exception:
            log.exception("%s: push-triggered cycle failed", name)


def one_at_a_time(cycle: Callable[[str], None]) -> Callable[[str], None]:
    """Wrap a cycle so that calls for one mailbox wait for each other instead of overlapping.

    The pipeline's file lock would make a push-triggered cycle that meets a scheduled one
    skip, and the mail that caused the notice would wait for the next interval; waiting
    here makes it run right after.
    """
    locks: dict[str, threading.Lock] = {}
    guard = threading.Lock()

    def serialised(name: str) -> None:
        with guard:
            lock = locks.setdefault(name, threading.Lock())
        with lock:
            cycle(name)

    return serialised


@contextmanager
def push_intake(mailboxes: Sequence[MailboxSettings], cycle: Callable[[str], None],
                stop: threading.Event) -> Iterator[list[str]]:
    """Watch every push mailbox in threads and run ``cycle(name)`` soon after its new mail.

    Yields the names of the mailboxes watched. Leaving sets ``stop``, lets a cycle in hand
    finish its message, and waits for the watchers at most their connection timeout.
    """
    mailboxes = [m for m in mailboxes if push_possible(m)]
    cycles: list[threading.Thread] = []
    watchers: list[tuple[threading.Thread, float]] = []
    for mailbox in mailboxes:
        kicked = threading.Event()
        cycles.append(_start(f"push-cycle-{mailbox.name}", run_when_kicked,
                             mailbox.name, cycle, kicked, stop))
        watchers.append((_start(f"push-watch-{mailbox.name}", watch_mailbox,
                                mailbox, kicked.set, stop),
                         mailbox.timeout_seconds + JOIN_MARGIN_SECONDS))
    try:
        yield [m.name for m in mailboxes]
    finally:
        stop.set()
        for thread in cycles:
            thread.join()  # like the scheduler: the message in hand is finished
        for thread, seconds in watchers:
            thread.join(seconds)


def _start(name: str, target: Callable[..., None], *args: Any) -> threading.Thread:
    """Start a daemon thread (a hung connection never keeps the process alive)."""
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    thread.start()
    return thread
