"""What an operator's monitoring asks a running intake: is it alive, is it ready, how is it doing.

``run`` serves three paths on ``observability.port`` (off when 0):

- ``/healthz``: liveness, 200 while the scheduler loop turns (it beats every second);
- ``/readyz``: readiness, 200 when the database answers, every mailbox was polled
  successfully not long ago (three poll intervals, at least two minutes) and its server is
  reachable; 503 with the reasons otherwise;
- ``/metrics``: Prometheus counters and gauges of messages, outbox rows and polls.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Histogram, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import text

from config.errors import StorageError
from config.settings import Settings
from intake.pipeline import CycleReport
from storage.db import Database
from storage.monitoring import oldest_unfiled_seconds, outbox_counts

READY_MIN_AGE_SECONDS = 120.0
LIVENESS_SECONDS = 30.0  # a loop that has not beaten for this long is stuck
REACH_TIMEOUT_SECONDS = 3.0  # a mailbox server that does not accept a connection by then

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


@dataclass
class Health:
    """The running process's own account of itself, updated by the loop and the cycles."""

    poll_intervals: Mapping[str, float]
    started: float = field(default_factory=time.monotonic)
    last_beat: float = field(default_factory=time.monotonic)
    last_success: dict[str, float] = field(default_factory=dict)
    last_error: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def beat(self) -> None:
        """Record that the scheduler loop turned."""
        self.last_beat = time.monotonic()

    def polled(self, mailbox: str, error: str | None = None) -> None:
        """Record the end of a poll of a mailbox, with the error that stopped it if any."""
        with self.lock:
            if error is None:
                self.last_success[mailbox] = time.monotonic()
                self.last_error.pop(mailbox, None)
            else:
                self.last_error[mailbox] = error

    def alive(self) -> bool:
        """True while the loop beats."""
        return time.monotonic() - self.last_beat < LIVENESS_SECONDS

    def stale_mailboxes(self) -> list[str]:
        """Reasons for mailboxes not polled successfully within their allowed age."""
        now = time.monotonic()
        reasons = []
        with self.lock:
            for name, interval in self.poll_intervals.items():
                allowed = max(READY_MIN_AGE_SECONDS, 3 * interval)
                since = now - self.last_success.get(name, self.started)
                if since > allowed or (name not in self.last_success and name in self.last_error):
                    error = self.last_error.get(name, "no successful poll yet")
                    reasons.append(f"mailbox {name}: {error}")
        return reasons


class Metrics:
    """The counters a cycle moves; gauges read from the database at each scrape."""

    def __init__(self, gauges: Callable[[], Iterable[GaugeMetricFamily]]) -> None:
        self.registry = CollectorRegistry()
        self.received = Counter("intake_messages_received", "Messages taken from a mailbox",
                                ["mailbox"], registry=self.registry)
        self.filed = Counter("intake_messages_filed", "Messages filed, by kind",
                             ["mailbox", "kind"], registry=self.registry)
        self.failed = Counter("intake_messages_failed", "Messages sent to Needs-attention",
                              ["mailbox"], registry=self.registry)
        self.duplicates = Counter("intake_messages_duplicate", "Messages already on file",
                                  ["mailbox"], registry=self.registry)
        self.poll_seconds = Histogram("intake_poll_duration_seconds", "Duration of one cycle",
                                      ["mailbox"], registry=self.registry)
        self.poll_errors = Counter("intake_poll_errors", "Cycles stopped by an error",
                                   ["mailbox"], registry=self.registry)
        self.registry.register(_GaugeCollector(gauges))


class _GaugeCollector(Collector):
    def __init__(self, gauges: Callable[[], Iterable[GaugeMetricFamily]]) -> None:
        self.gauges = gauges

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self.gauges()


ReadinessCheck = Callable[[], list[str]]


def observability_app(health: Health, metrics: Metrics,
                      checks: Iterable[ReadinessCheck]) -> Callable[..., Iterable[bytes]]:
    """Return the WSGI application of /healthz, /readyz and /metrics."""
    metrics_app = make_wsgi_app(metrics.registry)
    checks = tuple(checks)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return metrics_app(environ, start_response)  # type: ignore[no-any-return]
        if path == "/healthz":
            alive = health.alive()
            return _answer(start_response, alive, ["alive" if alive else "loop stuck"])
        if path == "/readyz":
            reasons = [*health.stale_mailboxes()]
            for check in checks:
                reasons.extend(check())
            return _answer(start_response, not reasons, reasons or ["ready"])
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found\n"]

    return app


def _answer(start_response: StartResponse, ok: bool, reasons: list[str]) -> list[bytes]:
    status = "200 OK" if ok else "503 Service Unavailable"
    body = json.dumps({"ok": ok, "reasons": reasons}).encode() + b"\n"
    start_response(status, [("Content-Type", "application/json"),
                            ("Cache-Control", "no-store")])
    return [body]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would flood the log."""


class ObservabilityServer:
    """The HTTP server of /healthz, /readyz and /metrics, on a thread of its own."""

    def __init__(self, host: str, port: int, app: Callable[..., Iterable[bytes]]) -> None:
        self.server = make_server(host, port, app, server_class=_ThreadingServer,
                                  handler_class=_QuietHandler)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       name="observability", daemon=True)

    @property
    def port(self) -> int:
        """The port listened on (useful when 0 asked the system for one)."""
        return int(self.server.server_address[1])

    def start(self) -> ObservabilityServer:
        """Start serving in the background."""
        self.thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port."""
        self.server.shutdown()
        self.server.server_close()


# --- what `run` serves ----------------------------------------------------------------------


class RunMonitor:
    """Health, metrics and the server of one `run` process, fed by its cycles."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.database = database
        self.health = Health({m.name: float(m.poll_interval_seconds)
                              for m in settings.mailboxes})
        self.metrics = Metrics(self._gauges)
        checks = [self._database_answers, self._mailboxes_reachable]
        self.server = ObservabilityServer(settings.observability.host,
                                          settings.observability.port,
                                          observability_app(self.health, self.metrics, checks))

    def cycled(self, report: CycleReport, seconds: float) -> None:
        """Count what one cycle of a mailbox did and record its outcome."""
        name = report.mailbox
        if report.skipped_locked:  # another instance polls it: nothing to count, not stale
            self.health.polled(name)
            return
        m = self.metrics
        m.poll_seconds.labels(name).observe(seconds)
        m.received.labels(name).inc(len(report.filed) + len(report.failed) + report.duplicates)
        for filed in report.filed:
            m.filed.labels(name, filed.kind).inc()
        m.failed.labels(name).inc(len(report.failed))
        m.duplicates.labels(name).inc(report.duplicates)
        if report.interrupted:
            m.poll_errors.labels(name).inc()
        self.health.polled(name, report.interrupted or None)

    def _gauges(self) -> Iterator[GaugeMetricFamily]:
        """Outbox rows by state and the age of the oldest message not yet filed."""
        outbox = GaugeMetricFamily("intake_outbox_messages", "Outgoing messages by state",
                                   labels=["state"])
        oldest = GaugeMetricFamily("intake_oldest_unfiled_seconds",
                                   "Age of the oldest message taken but not yet filed",
                                   labels=["mailbox"])
        try:
            with self.database.session() as s:
                counts, ages = outbox_counts(s), oldest_unfiled_seconds(s)
        except StorageError:  # the scrape still answers; /readyz says why
            return
        for state, count in sorted(counts.items()):
            outbox.add_metric([state], count)
        for mailbox in self.settings.mailboxes:
            oldest.add_metric([mailbox.name], ages.get(mailbox.name, 0.0))
        yield outbox
        yield oldest

    def _database_answers(self) -> list[str]:
        try:
            with self.database.session() as s:
                s.execute(text("SELECT 1"))
        except Exception as exc:  # any failure to answer is "not ready", with its reason
            return [f"database: {type(exc).__name__}"]
        return []

    def _mailboxes_reachable(self) -> list[str]:
        reasons = []
        for mailbox in self.settings.mailboxes:
            if mailbox.type != "imap":
                continue
            try:
                with socket.create_connection((mailbox.host, mailbox.port),
                                              timeout=REACH_TIMEOUT_SECONDS):
                    pass
            except OSError as exc:
                reasons.append(f"mailbox {mailbox.name}: {mailbox.host}:{mailbox.port} "
                               f"unreachable ({exc.strerror or type(exc).__name__})")
        return reasons
