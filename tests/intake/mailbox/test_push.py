"""Push intake against a real Dovecot: IDLE notices, reconnection after a drop, prompt stop."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from config.settings import MailboxSettings, Secret, load_settings
from intake.mailbox.push import (
    backoff_delay,
    one_at_a_time,
    push_intake,
    server_said_bye,
    watch_mailbox,
)
from intake.pipeline import poll_mailbox
from intake.replies.outbox import drain_outbox
from intake.runtime import Runtime, open_runtime
from tests.intake.e2e import PASSWORD_ENV, sample_messages, write_settings
from tests.intake.mailbox.test_imap import make_message
from tests.servers import HOST, MailboxUser, SmtpServer

# Generous bounds: they only keep a broken test from hanging, they time nothing.
WAIT = 30.0


class Calls:
    """Counts on_new calls and lets a test wait for the n-th."""

    def __init__(self) -> None:
        self.count = 0
        self.condition = threading.Condition()

    def __call__(self) -> None:
        with self.condition:
            self.count += 1
            self.condition.notify_all()

    def wait_for(self, count: int) -> None:
        """Wait until on_new was called at least ``count`` times, or fail."""
        with self.condition:
            ok = self.condition.wait_for(lambda: self.count >= count, WAIT)
        assert ok, f"on_new called {self.count} times, expected {count}"


class DroppingProxy:
    """A loopback TCP relay to Dovecot that can cut every connection, as a network drop does."""

    def __init__(self, port: int) -> None:
        self.upstream = port
        self.listener = socket.create_server((HOST, 0))
        self.port = int(self.listener.getsockname()[1])
        self.sockets: list[socket.socket] = []
        self.sent: list[bytearray] = []  # what each client wrote, to see its IDLE
        self.changed = threading.Condition()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                server = socket.create_connection((HOST, self.upstream))
                with self.changed:
                    self.sockets += [client, server]
                    self.sent.append(bytearray())
                    written = self.sent[-1]
                threading.Thread(target=self._pump, args=(client, server, written),
                                 daemon=True).start()
                threading.Thread(target=self._pump, args=(server, client, None),
                                 daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket,
              written: bytearray | None) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
                if written is not None:
                    with self.changed:
                        written += data
                        self.changed.notify_all()

    def wait_idle(self, connections: int) -> None:
        """Wait until the n-th connection has sent IDLE (the watcher listens from then on)."""
        def idling() -> bool:
            return len(self.sent) >= connections and b" IDLE\r\n" in self.sent[connections - 1]
        with self.changed:
            assert self.changed.wait_for(idling, WAIT), f"no IDLE on connection {connections}"

    def cut(self) -> None:
        """Shut every relayed socket down, without a BYE: the peer just sees the line die."""
        with self.changed:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self.sockets.clear()

    def close(self) -> None:
        """Stop listening and cut what is left."""
        self.listener.close()
        self.cut()


def mailbox_for(user: MailboxUser, port: int | None = None, **changes: object) -> MailboxSettings:
    """Mailbox settings for the test user's INBOX over plain IMAP on loopback."""
    base = MailboxSettings(name="famhp", type="imap", host=user.host, port=port or user.port,
                           security="plain", username=user.user,
                           password=Secret(user.password), timeout_seconds=10)
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """A runtime with no mailbox of its own: the watcher is given its mailbox."""
    root = tmp_path_factory.mktemp("push")
    config = root / "intake.toml"
    config.write_text(f'[general]\ndata_dir = "{root / "data"}"\n', encoding="utf-8")
    rt = open_runtime(load_settings(config, env={}))
    yield rt
    rt.close()


@contextlib.contextmanager
def watching(runtime: Runtime, mailbox: MailboxSettings,
             calls: Calls) -> Iterator[tuple[threading.Thread, threading.Event]]:
    """Run watch_mailbox in a thread for the block; stop it and wait for it afterwards."""
    stop = threading.Event()
    thread = threading.Thread(target=watch_mailbox, args=(mailbox, calls, stop),
                              daemon=True)
    thread.start()
    try:
        yield thread, stop
    finally:
        stop.set()
        thread.join(WAIT)


def test_new_mail_calls_on_new_and_stop_ends_the_watcher(mailbox_user: MailboxUser,
                                                          runtime: Runtime) -> None:
    proxy = DroppingProxy(mailbox_user.port)
    calls = Calls()
    try:
        with watching(runtime, mailbox_for(mailbox_user, proxy.port), calls) as (thread, stop):
            proxy.wait_idle(1)
            mailbox_user.append("INBOX", make_message(1))
            calls.wait_for(1)
            stop.set()
            thread.join(WAIT)
            assert not thread.is_alive()
    finally:
        proxy.close()
    assert calls.count == 1


def test_a_dropped_connection_comes_back_and_sees_the_next_message(
        mailbox_user: MailboxUser, runtime: Runtime) -> None:
    proxy = DroppingProxy(mailbox_user.port)
    calls = Calls()
    try:
        with watching(runtime, mailbox_for(mailbox_user, proxy.port), calls):
            proxy.wait_idle(1)
            proxy.cut()
            calls.wait_for(1)  # reconnected: one catch-up call for mail missed meanwhile
            proxy.wait_idle(2)
            mailbox_user.append("INBOX", make_message(2))
            calls.wait_for(2)
    finally:
        proxy.close()
    assert len(proxy.sent) == 2  # one reconnection, no storm


def test_mail_that_came_between_two_idles_is_not_missed(mailbox_user: MailboxUser,
                                                        runtime: Runtime) -> None:
    proxy = DroppingProxy(mailbox_user.port)
    calls = Calls()
    # IDLE renewed every second: appends keep landing near the gap between DONE and IDLE.
    stop = threading.Event()
    thread = threading.Thread(target=watch_mailbox,
                              args=(mailbox_for(mailbox_user, proxy.port), calls, stop),
                              kwargs={"idle_timeout": 1.0}, daemon=True)
    thread.start()
    try:
        proxy.wait_idle(1)
        for number in range(1, 5):
            mailbox_user.append("INBOX", make_message(number))
            calls.wait_for(number)
    finally:
        stop.set()
        thread.join(WAIT)
        proxy.close()
    assert not thread.is_alive()


def test_push_off_returns_at_once_without_connecting(mailbox_user: MailboxUser,
                                                     runtime: Runtime) -> None:
    proxy = DroppingProxy(mailbox_user.port)
    try:
        watch_mailbox(mailbox_for(mailbox_user, proxy.port, idle=False), Calls(),
                      threading.Event())
        watch_mailbox(mailbox_for(mailbox_user, proxy.port, type="maildir"), Calls(),
                      threading.Event())
    finally:
        proxy.close()
    assert proxy.sent == []


def test_an_unreachable_server_is_retried_until_stop(mailbox_user: MailboxUser,
                                                     runtime: Runtime) -> None:
    proxy = DroppingProxy(mailbox_user.port)
    proxy.listener.close()  # nothing listens: every attempt is refused
    calls = Calls()
    with watching(runtime, mailbox_for(mailbox_user, proxy.port), calls) as (thread, stop):
        stop.wait(2.5)  # attempts at 0, 1 and 3 s: the backoff keeps them few
        stop.set()
        thread.join(WAIT)
        assert not thread.is_alive()
    assert calls.count == 0


def test_push_files_and_acknowledges_without_waiting_for_the_interval(
        tmp_path: Path, mailbox_user: MailboxUser, smtp_server: SmtpServer,
        tmp_db_url: str) -> None:
    proxy = DroppingProxy(mailbox_user.port)  # only to see when the watcher listens
    config = write_settings(tmp_path, replace(mailbox_user, port=proxy.port), smtp_server,
                            tmp_db_url, extra="[extraction]\nworkers = 1\n")
    settings = load_settings(config, env={PASSWORD_ENV: mailbox_user.password})
    rt = open_runtime(settings)
    stop = threading.Event()

    @one_at_a_time
    def cycle(name: str) -> None:
        poll_mailbox(rt, settings.mailbox(name), stop)
        drain_outbox(rt)

    try:
        with push_intake(rt.settings.mailboxes, cycle, stop) as watched:
            assert watched == ["famhp"]
            proxy.wait_idle(1)
            mailbox_user.append("INBOX", sample_messages()[0])
            acknowledgement = smtp_server.wait_for(1, timeout=WAIT)[0]
    finally:
        rt.close()
        proxy.close()
    assert b"DRG-" in acknowledgement.data
    assert mailbox_user.folder_uids("INBOX") == []  # filed and moved to Processed
    assert len(mailbox_user.folder_uids("Processed")) == 1


@pytest.fixture
def tmp_db_url(tmp_path: Path) -> str:
    """A SQLite database in the test's directory (push does not depend on the backend)."""
    return f"sqlite:///{tmp_path / 'intake.sqlite3'}"


def test_one_at_a_time_serialises_cycles_of_one_mailbox() -> None:
    running: dict[str, int] = {"famhp": 0, "ansm": 0}
    overlaps: list[str] = []

    def cycle(name: str) -> None:
        running[name] += 1
        if running[name] > 1:
            overlaps.append(name)
        time.sleep(0.05)
        running[name] -= 1

    serial = one_at_a_time(cycle)
    threads = [threading.Thread(target=serial, args=(name,))
               for name in ("famhp", "famhp", "famhp", "ansm", "ansm")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert overlaps == []


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff_delay(n, 10) for n in (1, 2, 3, 4, 5, 6)] == [1, 2, 4, 8, 10, 10]


def test_bye_is_recognised() -> None:
    assert server_said_bye([(b"BYE", b"Server", b"shutting", b"down.")])
    assert not server_said_bye([(3, b"EXISTS"), (b"OK", b"Still", b"here")])
