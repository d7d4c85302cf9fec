"""Liveness, readiness and metrics over real HTTP, with gauges read from a real database."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.core import GaugeMetricFamily

from intake.observe import Health, Metrics, ObservabilityServer, observability_app
from storage.db import Database
from storage.ledger import ledger_record
from storage.monitoring import oldest_unfiled_seconds, outbox_counts
from tests.intake.e2e import Intake, sample_messages, write_settings
from tests.intake.test_run import start_run_logged, stop_run, wait_until
from tests.servers import DovecotServer, MailboxUser, SmtpServer
from tests.storage.factories import eml, raw


def get(port: int, path: str) -> tuple[int, str]:
    """GET a path of the local server; the status and the body."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


@pytest.fixture
def served() -> Iterator[tuple[Health, Metrics, list[list[str]], int]]:
    health = Health(poll_intervals={"famhp": 60.0})
    metrics = Metrics(lambda: [GaugeMetricFamily("intake_test_gauge", "a gauge", value=7)])
    problems: list[list[str]] = [[]]
    server = ObservabilityServer("127.0.0.1", 0,
                                 observability_app(health, metrics, [lambda: problems[0]]))
    server.start()
    try:
        yield health, metrics, problems, server.port
    finally:
        server.close()


def test_healthz_answers_while_the_loop_beats_and_not_when_it_is_stuck(served) -> None:
    health, _, _, port = served
    assert get(port, "/healthz")[0] == 200
    health.last_beat = time.monotonic() - 3600
    status, body = get(port, "/healthz")
    assert status == 503 and "loop stuck" in body


def test_readyz_needs_a_recent_successful_poll_and_passing_checks(served) -> None:
    health, _, problems, port = served
    health.polled("famhp", error="IMAP server refused the connection")
    status, body = get(port, "/readyz")
    assert status == 503
    assert "mailbox famhp: IMAP server refused the connection" in json.loads(body)["reasons"]
    health.polled("famhp")
    assert get(port, "/readyz")[0] == 200
    problems[0] = ["database: connection refused"]
    status, body = get(port, "/readyz")
    assert status == 503 and "database: connection refused" in body


def test_readyz_goes_unready_when_the_last_success_is_too_old(served) -> None:
    health, _, _, port = served
    health.polled("famhp")
    health.last_success["famhp"] -= 3 * 60 + 1
    assert get(port, "/readyz")[0] == 503


def test_metrics_show_the_counters_moving(served) -> None:
    _, metrics, _, port = served
    metrics.filed.labels("famhp", "new_request").inc()
    metrics.filed.labels("famhp", "new_request").inc()
    body = get(port, "/metrics")[1]
    assert 'intake_messages_filed_total{kind="new_request",mailbox="famhp"} 2.0' in body
    assert "intake_test_gauge 7.0" in body
    assert get(port, "/nothing")[0] == 404


def test_database_gauges_count_the_outbox_and_age_the_unfiled(database: Database) -> None:
    with database.session() as s:
        ledger_record(s, raw(1, eml("a@example.org")), "<a@example.org>", None)
    later = datetime(2025, 1, 6, 8, 31, tzinfo=UTC) + timedelta(minutes=5)
    with database.session() as s:
        assert outbox_counts(s) == {}
        assert oldest_unfiled_seconds(s, later) == {"derogation.meddev@fagg-afmps.be": 300.0}


# --- the monitoring of a real `run` ---------------------------------------------------------


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def metric(body: str, name: str) -> float:
    """The sum of a metric's samples in a Prometheus text page (0 when absent)."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
               if line.startswith(name) and not line.startswith("#"))


def test_run_serves_moving_counters_and_readiness_that_follows_the_mailbox_server(
        tmp_path: Path, dovecot: DovecotServer, mailbox_user: MailboxUser,
        smtp_server: SmtpServer) -> None:
    port = free_port()
    url = f"sqlite:///{tmp_path / 'intake.sqlite3'}"
    config = write_settings(tmp_path, mailbox_user, smtp_server, url,
                            mailbox_extra="poll_interval_seconds = 2",
                            extra=f"\n[observability]\nport = {port}\n")
    intake = Intake(config, mailbox_user, smtp_server, url)
    log_file = tmp_path / "run.log"
    process = start_run_logged(intake, log_file)
    filed = "intake_messages_filed_total"
    try:
        wait_until(lambda: _answers(port), "the monitoring port")
        assert get(port, "/healthz")[0] == 200
        before = metric(get(port, "/metrics")[1], filed)
        for raw in sample_messages()[:2]:
            mailbox_user.append("INBOX", raw)
        wait_until(lambda: metric(get(port, "/metrics")[1], filed) >= before + 2,
                   "the filed counter moving")
        body = get(port, "/metrics")[1]
        assert metric(body, "intake_messages_received_total") >= 2
        assert "intake_outbox_messages" in body
        wait_until(lambda: get(port, "/readyz")[0] == 200, "ready")

        dovecot.stop()
        wait_until(lambda: get(port, "/readyz")[0] == 503, "unready without Dovecot")
        assert "unreachable" in get(port, "/readyz")[1]
        dovecot.start()
        wait_until(lambda: get(port, "/readyz")[0] == 200, "ready again with Dovecot back")
    finally:
        output = stop_run(process, log_file)
    assert "monitoring on http://127.0.0.1:" in output


def _answers(port: int) -> bool:
    try:
        return get(port, "/healthz")[0] in (200, 503)
    except OSError:
        return False
