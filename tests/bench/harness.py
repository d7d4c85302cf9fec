"""What the benchmark stands on: real servers, an installation per phase, measured children.

Dovecot and aiosmtpd are the classes of the test suite (``tests/servers.py``); each phase gets
a fresh Dovecot user and a fresh data directory. The application runs in child processes
(``tests.bench.child``), so that start-up, memory and the worker pool are those of a real
process; a sampler follows the child's whole process tree (the worker processes included).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imapclient import IMAPClient

from tests.intake.e2e import PASSWORD_ENV, write_settings
from tests.servers import DovecotServer, MailboxUser, SmtpServer, make_tls_files

REPO = Path(__file__).resolve().parents[2]
SAMPLE_SECONDS = 0.1
APPEND_TIMEOUT = 120


@dataclass
class Servers:
    """One Dovecot and one SMTP server for the whole run."""

    dovecot: DovecotServer
    smtp: SmtpServer


@contextlib.contextmanager
def servers(root: Path) -> Iterator[Servers]:
    """Start Dovecot (as root: its mail user is nobody) and an SMTP server on loopback."""
    binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
    if not Path(binary).exists():
        raise SystemExit("dovecot not installed: run make test-deps")
    if os.geteuid() != 0:
        raise SystemExit("the benchmark starts Dovecot as root (mail_uid nobody): run as root")
    dovecot = DovecotServer(binary)
    smtp = SmtpServer(make_tls_files(root / "tls"))
    try:
        dovecot.start()
        smtp.start()
        yield Servers(dovecot, smtp)
    finally:
        smtp.stop()
        dovecot.cleanup()


@dataclass(frozen=True)
class Install:
    """One installation of the application: settings file, data directory, mailbox user."""

    root: Path
    config: Path
    user: MailboxUser

    @property
    def data_dir(self) -> Path:
        """Where the database (SQLite by default) and the blobs live."""
        return self.root / "data"

    def env(self) -> dict[str, str]:
        """The environment of a child: the IMAP password, nothing from the caller's config."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEROGATION_INTAKE_")}
        env[PASSWORD_ENV] = self.user.password
        env["PYTHONPATH"] = str(REPO)
        return env


BENCH_DOMAIN_LIMIT = 100_000  # acknowledgements a domain an hour: none held back


def install(root: Path, servers: Servers, *, workers: int = 0, db_url: str = "",
            poll_interval: int = 3600, idle: bool = True) -> Install:
    """Write a settings file for a fresh Dovecot user, the SMTP server and a database."""
    root.mkdir(parents=True, exist_ok=True)
    user = servers.dovecot.add_user("bench")
    # The corpus's requests come from 16 applicant domains: the default limit of 30
    # acknowledgements a domain an hour would hold back most of a 1,000-message run's.
    config = write_settings(
        root, user, servers.smtp, db_url,
        extra=f"\n[extraction]\nworkers = {workers}\n\n[replies]\n"
              f"rate_limit_domain_count = {BENCH_DOMAIN_LIMIT}",
        mailbox_extra=f"poll_interval_seconds = {poll_interval}\n"
                      f"idle = {'true' if idle else 'false'}",
        smtp_timeout=30)
    return Install(root, config, user)


def append_all(user: MailboxUser, messages: Iterable[bytes], folder: str = "INBOX") -> float:
    """APPEND every message over one connection; return the seconds it took."""
    started = time.perf_counter()
    imap = IMAPClient(user.host, user.port, ssl=False, timeout=APPEND_TIMEOUT)
    try:
        imap.login(user.user, user.password)
        for data in messages:
            imap.append(folder, data)
    finally:
        with contextlib.suppress(Exception):
            imap.logout()
    return time.perf_counter() - started


# --- children ------------------------------------------------------------------------------

@dataclass
class Child:
    """What a child process reported, with its measured resources."""

    result: dict[str, Any]
    seconds: float
    tree_rss_mb: float  # peak of the summed RSS of the process and its workers (sampled)
    tree_pss_mb: float  # the same in PSS: pages shared after fork counted once
    returncode: int
    stderr_tail: str = ""


@dataclass
class TreeSampler:
    """Samples the summed RSS and PSS of a process and its descendants until stopped."""

    pid: int
    peak_rss_kb: int = 0
    peak_pss_kb: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Start sampling in a thread."""
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            pids = [self.pid, *descendants(self.pid)]
            self.peak_rss_kb = max(self.peak_rss_kb, sum(status_kb(p, "VmRSS") for p in pids))
            self.peak_pss_kb = max(self.peak_pss_kb, sum(pss_kb(p) for p in pids))


def descendants(pid: int) -> list[int]:
    """Return the process's descendants (from /proc/PID/task/*/children)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                children = [int(c) for c in (task / "children").read_text().split()]
                found += children
                pending += children
    return found


def status_kb(pid: int, key: str) -> int:
    """Return a kB figure of /proc/PID/status (0 once the process is gone)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    return 0


def pss_kb(pid: int) -> int:
    """Return the process's proportional set size in kB (0 once it is gone)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def child_args(command: str, install: Install, out: Path, *extra: str) -> list[str]:
    """The command line of ``python -m tests.bench.child COMMAND`` for an installation."""
    return [sys.executable, "-m", "tests.bench.child", command, "--config",
            str(install.config), "--out", str(out), *extra]


def cli_args(install: Install, *args: str) -> list[str]:
    """The command line of ``derogation-intake --config FILE ARGS``."""
    return [sys.executable, "-m", "intake.commands.cli", "--config", str(install.config), *args]


def run_child(command: str, install: Install, out: Path, *extra: str,
              timeout: float = 4 * 3600) -> Child:
    """Run a bench child to its end and measure its time and memory."""
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    stderr = install.root / f"{command}.stderr"
    with stderr.open("wb") as errors:
        process = subprocess.Popen(child_args(command, install, out, *extra), cwd=REPO,
                                   env=install.env(), stdout=subprocess.DEVNULL, stderr=errors)
        sampler = TreeSampler(process.pid)
        sampler.start()
        status = _wait(process, timeout)
        sampler.stop()
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    tail = stderr.read_text(errors="replace")[-3000:]
    if code != 0 or not out.exists():
        raise RuntimeError(f"bench child {command} failed ({code}):\n{tail}")
    return Child(json.loads(out.read_text()), seconds, sampler.peak_rss_kb / 1024,
                 sampler.peak_pss_kb / 1024, code, tail)


def _wait(process: subprocess.Popen[bytes], timeout: float) -> int:
    """Wait for the child within a bound; return its wait status.

    The child reports its own peak RSS: the ru_maxrss that wait4 gives would include this
    process's size when it forked the child (Linux keeps the figure across exec).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid, status = os.waitpid(process.pid, os.WNOHANG)
        if pid == process.pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return status
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"bench child {process.args!r} still running after {timeout} s")


@contextlib.contextmanager
def background(args: list[str], install: Install,
               name: str) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """Run a long-lived process for the block (yield it and its log); SIGTERM it afterwards."""
    log = install.root / f"{name}.stderr"
    with log.open("wb") as errors:
        process = subprocess.Popen(args, cwd=REPO, env=install.env(),
                                   stdout=subprocess.DEVNULL, stderr=errors)
        try:
            yield process, log
        finally:
            process.terminate()
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for_log(log: Path, needles: Sequence[str], process: subprocess.Popen[bytes],
                 timeout: float) -> None:
    """Wait until a process's log holds every needle, or fail if it died or hung."""
    deadline = time.monotonic() + timeout
    while not all(n in log.read_text(errors="replace") for n in needles):
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}:\n"
                               f"{log.read_text(errors='replace')[-3000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{needles} not in {log} after {timeout} s")
        time.sleep(0.05)


# --- figures -------------------------------------------------------------------------------

def percentile(values: Sequence[float], fraction: float) -> float:
    """Return the value below which ``fraction`` of the values lie (nearest rank)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def load_average() -> list[float]:
    """Return the 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]
