"""The log an operator keeps: text or JSON lines, and no applicant's address, name or patient."""

from __future__ import annotations

import email
import email.policy
import email.utils
import json
import logging
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from config.errors import ConfigError
from config.settings import load_settings
from intake.logs import (
    KEY_FILE,
    ContextFilter,
    JsonFormatter,
    Pseudonyms,
    SafeFormatter,
    log_context,
    log_handler,
    pseudonyms_from,
)
from storage.models import ExtractedField, Ledger, OutgoingMessage
from tests.intake.e2e import (
    PASSWORD_ENV,
    REPO,
    Intake,
    broken_message,
    labelled,
    sample_messages,
    write_settings,
)
from tests.servers import MailboxUser, SmtpServer

APPLICANT = "jan.peeters@azgroeninge.be"
OURS = Pseudonyms(own_addresses=frozenset({"intake@agency.example"}),
                  own_domains=("fagg-afmps.be",))
TOKEN = re.compile(r"addr:[0-9a-f]{8}")
# The fields that name a person or a patient (domain.md): never in a log line.
PERSONAL_FIELDS = ("contact_name", "contact_email", "contact_phone", "physician_name",
                   "physician_email", "patient_reference")


def record(message: str, *args: object, level: int = logging.INFO,
           **extra: object) -> logging.LogRecord:
    """Make a record as logger.log(level, message, *args, extra=extra) would."""
    made = logging.LogRecord("intake.pipeline", level, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    return made


# --- tokens -----------------------------------------------------------------------------------

def test_an_address_has_one_token_in_every_line_and_every_run(tmp_path: Path) -> None:
    first = Pseudonyms(tmp_path)
    token = first.token(APPLICANT)

    assert TOKEN.fullmatch(token)
    assert first.token(" Jan.Peeters@AZGroeninge.be ") == token  # as a person would write it
    assert first.token("an.peeters@azgroeninge.be") != token
    # A restarted process (or a second one) reads the same key: the same token.
    assert Pseudonyms(tmp_path).token(APPLICANT) == token
    key = tmp_path / KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    # Another installation's key gives another token: a token cannot be looked up elsewhere.
    assert Pseudonyms(tmp_path / "other").token(APPLICANT) != token


def test_the_key_is_made_only_when_an_address_is_logged(tmp_path: Path) -> None:
    pseudonyms = Pseudonyms(tmp_path / "data")
    assert pseudonyms.scrub("famhp: 3 filed, 0 failed") == "famhp: 3 filed, 0 failed"
    assert not (tmp_path / "data").exists()
    pseudonyms.scrub(f"from {APPLICANT}")
    assert (tmp_path / "data" / KEY_FILE).is_file()


def test_scrub_replaces_applicants_and_keeps_the_agencys_own() -> None:
    token = OURS.token(APPLICANT)
    line = (f"sent <ack-DRG-2026-000001@fagg-afmps.be> to {APPLICANT}; RCPT TO "
            f"<{APPLICANT.upper()}> refused; relay intake@agency.example; "
            "db postgresql://intake@db.internal/intake and postgresql://u:***@db.internal/i")

    assert OURS.scrub(line) == (
        f"sent <ack-DRG-2026-000001@fagg-afmps.be> to {token}; RCPT TO <{token}> refused; "
        "relay intake@agency.example; "
        "db postgresql://intake@db.internal/intake and postgresql://u:***@db.internal/i")


# --- formatters -------------------------------------------------------------------------------

def test_text_lines_hide_addresses_and_url_passwords_even_in_tracebacks() -> None:
    formatter = SafeFormatter(OURS)
    try:
        raise ValueError(f"550 5.1.1 <{APPLICANT}>: recipient unknown")
    except ValueError:
        failed = record("giving up on %s: %s", "ack-1@fagg-afmps.be",
                        "cannot reach postgresql+psycopg://intake:hunter2@db/i")
        failed.exc_info = sys.exc_info()

    text = formatter.format(failed)

    assert APPLICANT not in text and "hunter2" not in text
    assert OURS.token(APPLICANT) in text
    assert "postgresql+psycopg://intake:***@db/i" in text
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO intake\.pipeline: giving up",
                    text)


def test_debug_lines_show_addresses_only_when_the_setting_allows() -> None:
    debug = record("famhp uid 7: sender %s", APPLICANT, level=logging.DEBUG)
    info = record("filed from %s", APPLICANT)

    assert APPLICANT not in SafeFormatter(OURS).format(debug)
    allowed = SafeFormatter(OURS, debug_addresses=True)
    assert APPLICANT in allowed.format(debug)
    assert APPLICANT not in allowed.format(info)  # INFO never, whatever the setting says


def test_json_lines_carry_the_message_context_and_stay_one_line() -> None:
    formatter = JsonFormatter(OURS)
    context = ContextFilter()
    with log_context(mailbox="famhp", uid=42):
        line = record("filed DRG-2026-000001 (request) from %s", APPLICANT,
                      case_ref="DRG-2026-000001", stage="file", sender=APPLICANT)
        context.filter(line)
    try:
        raise RuntimeError("first line\nsecond line")
    except RuntimeError:
        line.exc_info = sys.exc_info()

    text = formatter.format(line)

    assert "\n" not in text
    entry = json.loads(text)
    assert entry["level"] == "INFO" and entry["logger"] == "intake.pipeline"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])
    assert (entry["mailbox"], entry["uid"], entry["case_ref"], entry["stage"]) == \
        ("famhp", 42, "DRG-2026-000001", "file")
    assert entry["sender"] == OURS.token(APPLICANT)
    assert entry["message"].endswith(f"from {OURS.token(APPLICANT)}")
    assert "second line" in entry["exception"]
    # Outside the block the context is gone.
    later = record("famhp: 1 filed")
    context.filter(later)
    assert "uid" not in json.loads(formatter.format(later))


def test_the_settings_choose_the_format_and_whether_debug_shows_addresses(
        tmp_path: Path) -> None:
    config = tmp_path / "intake.toml"
    config.write_text(f'[general]\ndata_dir = "{tmp_path}"\nlog_format = "json"\n'
                      "log_debug_addresses = true\n", encoding="utf-8")
    settings = load_settings(config)
    formatter = log_handler(settings.general, pseudonyms_from(settings)).formatter
    assert formatter is not None

    debug = json.loads(formatter.format(record("sender %s", APPLICANT, level=logging.DEBUG)))
    info = json.loads(formatter.format(record("sender %s", APPLICANT)))

    assert debug["message"] == f"sender {APPLICANT}"
    assert info["message"] == f"sender {Pseudonyms(tmp_path).token(APPLICANT)}"
    config.write_text('[general]\nlog_format = "xml"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"general\.log_format.*text\|json"):
        load_settings(config)


# --- a whole cycle through the real command ---------------------------------------------------

# Requests with forms (names, e-mails, patient references), a Reply-To, a follow-up, an
# out-of-office and a message no parser can read.
CYCLE = ("cu_en_urgent_complete", "cu_fr_docx_sdt_complete", "nd_nl_mandated_complete",
         "fu_en_scope_in_body", "fu_fr_part2_by_headers", "auto_ooo_en")


def cycle_messages() -> list[bytes]:
    """Return the messages of a full cycle: the demo's samples and the labelled ones above."""
    return [*sample_messages(), *(labelled(name) for name in CYCLE), broken_message()]


def personal_values(messages: list[bytes], intake: Intake) -> set[str]:
    """Every address, display name and personal field value the cycle knew of."""
    values: set[str] = set()
    for data in messages:
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        for header in ("From", "Reply-To", "Sender"):
            for name, address in email.utils.getaddresses(parsed.get_all(header, [])):
                values |= {name, address, address.lower()}
    database = intake.database()
    with database.session() as s:
        values |= set(s.scalars(select(ExtractedField.value)
                                .where(ExtractedField.key.in_(PERSONAL_FIELDS))))
        values |= set(s.scalars(select(OutgoingMessage.recipient)))
    database.dispose()
    return {v for v in values if v and "@fagg-afmps.be" not in v}


def leaks(text: str, values: set[str]) -> list[str]:
    """Return the personal values found in a text (short ones as whole words only)."""
    return sorted(v for v in values
                  if (v in text if len(v) > 4 else re.search(rf"\b{re.escape(v)}\b", text)))


def test_a_service_logs_a_whole_cycle_as_json_without_naming_anyone(
        tmp_path: Path, mailbox_user: MailboxUser, smtp_server: SmtpServer, db_url: str) -> None:
    config = write_settings(tmp_path, mailbox_user, smtp_server, db_url,
                            mailbox_extra="poll_interval_seconds = 3600")
    intake = Intake(config, mailbox_user, smtp_server, db_url)
    messages = cycle_messages()
    for data in messages:
        mailbox_user.append("INBOX", data)
    env = {**os.environ, PASSWORD_ENV: mailbox_user.password,
           "DEROGATION_INTAKE_GENERAL__LOG_FORMAT": "json",
           "DEROGATION_INTAKE_GENERAL__LOG_LEVEL": "INFO"}
    # The service as systemd runs it: `run`, its log on stderr (the journal).
    process = subprocess.Popen(
        [sys.executable, "-m", "intake.commands.cli", "--config", str(config), "run"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_cycle(intake, len(messages))
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    values = personal_values(messages, intake)
    assert len(values) > 20  # addresses, names, phones and patients of the messages
    assert leaks(err + out, values) == []

    entries = [json.loads(line) for line in err.splitlines()]  # every line is one object
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    filed = [e for e in entries if e["message"].startswith("filed ")]
    assert filed
    for entry in filed:
        assert entry["mailbox"] == "famhp" and entry["stage"] == "file"
        assert isinstance(entry["uid"], int)
        assert re.fullmatch(r"DRG-2026-\d{6}", entry["case_ref"])
        assert TOKEN.fullmatch(entry["sender"]) and entry["sender"] in entry["message"]
    # An operator can follow an applicant: the filing line and the sending line share a token.
    sent = " ".join(e["message"] for e in entries if e["message"].startswith("sent "))
    assert all(e["sender"] in sent for e in filed if e["role"] == "request")
    failed = [e for e in entries if e["logger"] == "intake.pipeline" and e["level"] == "WARNING"]
    assert len(failed) == 1 and failed[0]["stage"] == "parse" and "uid" in failed[0]


def wait_for_cycle(intake: Intake, count: int, timeout: float = 300) -> None:
    """Wait until every message is filed or set aside and no acknowledgement waits."""
    database = intake.database()
    deadline = time.monotonic() + timeout  # a safety net only: the cycle ends far sooner
    try:
        while time.monotonic() < deadline:
            with database.session() as s:
                states = list(s.scalars(select(Ledger.state)))
                waiting = s.scalars(select(OutgoingMessage.id).where(
                    OutgoingMessage.state.in_(("pending", "sending")))).first()
            if len(states) == count and set(states) <= {"done", "attention"} \
                    and waiting is None:
                return
            time.sleep(0.5)
    finally:
        database.dispose()
    raise AssertionError(f"the cycle did not end: ledger {states}, outbox waiting {waiting}")


def test_poll_at_debug_names_no_one_on_stderr_or_stdout(intake: Intake, tmp_path: Path) -> None:
    messages = sample_messages()
    for data in messages:
        intake.user.append("INBOX", data)
    # The relay refuses every recipient: its errors quote the address they refused.
    intake.smtp.answer(rcpt="550 5.1.1 mailbox unavailable")

    result = intake.run("-v", "poll")

    assert result.returncode == 0, result.stderr
    values = personal_values(messages, intake)
    assert leaks(result.stderr + result.stdout, values) == []
    # The person at the terminal (or the cron mail) sees the tokens the log shows.
    printed = [line for line in result.stdout.splitlines() if line.startswith("filed ")]
    assert len(printed) == 5 and all(TOKEN.search(line) for line in printed)
    for line in printed:
        assert line in result.stderr
    assert "SMTP RCPT TO <addr:" in result.stderr and "giving up on" in result.stderr
    # DEBUG lines are made safe too, unless general.log_debug_addresses says otherwise.
    assert re.search(r"DEBUG intake\.pipeline: famhp uid 1: sender addr:[0-9a-f]{8}",
                     result.stderr)
    # The tokens come from the installation's key: this process computes the same ones.
    sender = email.utils.parseaddr(email.message_from_bytes(messages[0])["From"])[1]
    token = Pseudonyms(tmp_path / "data").token(sender)
    assert f"from {token}" in printed[0]
