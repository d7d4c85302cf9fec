"""The command line as a newcomer and a scheduler meet it: help, secrets, errors, exit statuses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from email.message import EmailMessage
from pathlib import Path

import pytest

from config.settings import load_settings
from intake.commands import cli, exits
from intake.runtime import database_url, open_database
from storage.cases import create_case
from storage.db import Database
from storage.outbox import outbox_add
from tests.servers import SmtpServer, free_port
from tests.storage.factories import triage

REPO = Path(__file__).resolve().parents[3]
HEAVY = ("spacy", "lingua", "pdfplumber")
REF = "DRG-2026-000001"

Main = Callable[..., int]

# An IMAP mailbox and an SMTP relay whose secrets are in variables this test never sets.
WITH_SECRETS = """\
[general]
data_dir = "{data_dir}"

[mailboxes.famhp]
type = "imap"
host = "127.0.0.1"
port = {imap_port}
security = "plain"
username = "intake"
password_env = "CLI_TEST_IMAP_PASSWORD"

[smtp]
mode = "smtp"
host = "127.0.0.1"
port = {smtp_port}
security = "plain"
username = "relay"
password_env = "CLI_TEST_SMTP_PASSWORD"
"""


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No settings or secrets from the caller's environment; run in a fresh folder."""
    for name in [n for n in os.environ
                 if n.startswith(("DEROGATION_INTAKE_", "CLI_TEST_", "INTAKE_"))]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def main(clean_env: None) -> Main:
    """`derogation-intake ARGS` in this process; returns the exit status."""
    def run(*args: str) -> int:
        return cli.main(list(args))
    return run


def command(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    """Run `derogation-intake ARGS` in a fresh process."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("DEROGATION_INTAKE_")}
    return subprocess.run([sys.executable, "-m", "intake.commands.cli", *args],
                          stdout=stdout, stderr=subprocess.PIPE, text=True,
                          env={**base, **(env or {})}, cwd=cwd or REPO, timeout=300,
                          check=False)


def secret_settings(tmp_path: Path, smtp_port: int | None = None) -> Path:
    """Write settings naming mailbox and SMTP secrets that are not set."""
    path = tmp_path / "intake.toml"
    path.write_text(WITH_SECRETS.format(data_dir=tmp_path / "data", imap_port=free_port(),
                                        smtp_port=smtp_port or free_port()), encoding="utf-8")
    return path


def file_a_case(config: Path) -> None:
    """File one case straight into the installation's database (no mailbox needed)."""
    database = open_database(load_settings(config, env={}, secrets=False))
    try:
        with database.session() as s:
            create_case(s, REF, triage(), "Demande de dérogation", "applicant@example.org")
    finally:
        database.dispose()


# --- fast to start -------------------------------------------------------------------------

def test_the_command_line_imports_no_nlp_or_pdf_library_for_help_or_cases_list(
        tmp_path: Path) -> None:
    probe = ("import sys\n"
             "from intake.commands.cli import build_parser, main\n"
             "build_parser()\n"
             "main(['cases', 'list'])\n"
             f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120, check=False,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["no cases on file", "[]"]


def test_version_and_help() -> None:
    version = command("--version")
    assert version.returncode == 0 and version.stdout.startswith("derogation-intake ")
    shown = command("--help")
    assert shown.returncode == 0
    for name in ("run", "poll", "cases", "outbox", "report", "rules", "reprocess"):
        assert f"    {name} " in shown.stdout
    assert "75 a server could not be reached" in shown.stdout


def test_each_action_has_its_own_help(main: Main, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main("cases", "list", "--help")
    assert stopped.value.code == 0
    text = capsys.readouterr().out
    assert "--status" in text and "--format" not in text and "--actor" not in text
    with pytest.raises(SystemExit):
        main("outbox", "send", "--help")
    text = capsys.readouterr().out
    assert "--now" in text and "--held" not in text


def test_poll_without_once_is_one_cycle(main: Main, capsys: pytest.CaptureFixture[str]) -> None:
    args = cli.build_parser().parse_args(["poll"])
    assert args.handler.__name__ == "cmd_poll" and not args.once
    with pytest.raises(SystemExit):
        main("poll", "--help")
    assert "poll always runs one cycle" in " ".join(capsys.readouterr().out.split())


# --- secrets --------------------------------------------------------------------------------

def test_reviewer_commands_need_no_mailbox_or_smtp_secret(
        main: Main, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = secret_settings(tmp_path)
    file_a_case(config)
    assert main("--config", str(config), "cases", "list") == 0
    assert REF in capsys.readouterr().out
    assert main("--config", str(config), "cases", "show", REF) == 0
    assert f"Case {REF}" in capsys.readouterr().out
    assert main("--config", str(config), "report", "case", REF) == 0
    assert (tmp_path / "data" / "reports" / f"{REF}.html").is_file()
    assert main("--config", str(config), "outbox", "list") == 0
    assert main("--config", str(config), "rules", "validate") == 0
    capsys.readouterr()
    # The commands that connect do need them, and say which is missing.
    assert main("--config", str(config), "poll") == exits.CONFIG
    assert "CLI_TEST_IMAP_PASSWORD is not set" in capsys.readouterr().err


def test_config_check_reports_every_problem_at_once(
        main: Main, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = secret_settings(tmp_path)
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace('data_dir = "', 'colour = "blue"\ndata_dir = "')
                      + '\n[reports]\ndigest_time = "25:99"\n', encoding="utf-8")
    assert main("--config", str(config), "config", "check") == exits.CONFIG
    errors = capsys.readouterr().err.splitlines()
    assert errors == [
        f"derogation-intake: {config}:2: general.colour: unknown key 'colour' (allowed: "
        "data_dir, case_ref_prefix, case_ref_format, our_address, our_domain, timezone, "
        "log_level, profiles_dir, log_format, log_debug_addresses)",
        f"derogation-intake: {config}:11: mailboxes.famhp.password_env: environment variable "
        "CLI_TEST_IMAP_PASSWORD is not set",
        f"derogation-intake: {config}:19: smtp.password_env: environment variable "
        "CLI_TEST_SMTP_PASSWORD is not set",
        f"derogation-intake: {config}:22: reports.digest_time: must be a time HH:MM (or "
        "HH:MM:SS), not '25:99'"]


def test_config_check_masks_the_database_password(
        main: Main, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "intake.toml"
    config.write_text('[database]\nurl = "postgresql+psycopg://intake:s3cr%40t@db.internal/'
                      'intake"\n', encoding="utf-8")
    assert main("--config", str(config), "config", "check") == 0
    shown = capsys.readouterr()
    assert '"url": "postgresql+psycopg://intake:***@db.internal/intake"' in shown.out
    assert "s3cr" not in shown.out + shown.err


def test_the_database_password_comes_from_password_env_or_password_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None) -> None:
    secret = tmp_path / "db-password"
    secret.write_text("from-a-file\n", encoding="utf-8")
    config = tmp_path / "intake.toml"
    config.write_text('[database]\nurl = "postgresql+psycopg://intake@db.internal/intake"\n'
                      f'password_file = "{secret}"\n', encoding="utf-8")
    settings = load_settings(config)
    assert database_url(settings) == "postgresql+psycopg://intake:from-a-file@db.internal/intake"
    secret.write_text("rotated\n", encoding="utf-8")  # read again at the next connection
    assert database_url(settings) == "postgresql+psycopg://intake:rotated@db.internal/intake"
    config.write_text('[database]\nurl = "postgresql+psycopg://intake@db.internal/intake"\n'
                      'password_env = "INTAKE_DB_PASSWORD"\n', encoding="utf-8")
    monkeypatch.setenv("INTAKE_DB_PASSWORD", "p@ss:word")
    url = database_url(load_settings(config))
    assert url == "postgresql+psycopg://intake:p%40ss%3Aword@db.internal/intake"
    assert "p@ss" not in str(settings) + repr(load_settings(config).database)


# --- errors without tracebacks ----------------------------------------------------------------

def test_wrong_arguments_and_files_are_errors_not_tracebacks(
        main: Main, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = secret_settings(tmp_path)
    file_a_case(config)
    at = ("--config", str(config))
    assert main(*at, "cases", "list", "--status", "nosuch") == exits.USAGE
    assert "unknown status 'nosuch' (known: incomplete, complete" in capsys.readouterr().err
    assert main(*at, "cases", "show", "DRG-1999-000001") == exits.FAILED
    assert "no case 'DRG-1999-000001'" in capsys.readouterr().err
    folder = tmp_path / "pages"
    folder.mkdir()
    assert main(*at, "report", "case", REF, "--output", str(folder)) == 0
    assert (folder / f"{REF}.html").is_file()  # a folder given as --output: the page goes in it
    a_file = tmp_path / "a-file"
    a_file.write_text("x", encoding="utf-8")
    capsys.readouterr()
    assert main(*at, "report", "digest", "--output-dir", str(a_file)) == exits.FAILED
    assert f"--output-dir {a_file} is a file, not a folder" in capsys.readouterr().err
    config.write_text(config.read_text(encoding="utf-8").replace(
        str(tmp_path / "data"), str(a_file)), encoding="utf-8")
    assert main(*at, "cases", "list") == exits.CONFIG
    assert f"general.data_dir: {a_file} is a file, not a folder" in capsys.readouterr().err


def test_a_closed_pipe_ends_cases_show_silently(tmp_path: Path) -> None:
    config = secret_settings(tmp_path)
    file_a_case(config)
    reader, writer = os.pipe()
    os.close(reader)  # `| head` that has already gone: every write fails with EPIPE
    try:
        result = command("--config", str(config), "cases", "show", REF, stdout=writer)
    finally:
        os.close(writer)
    assert (result.returncode, result.stderr) == (exits.BROKEN_PIPE, "")


# --- exit statuses ------------------------------------------------------------------------------

def test_a_server_that_cannot_be_reached_exits_75(
        main: Main, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CLI_TEST_IMAP_PASSWORD", "x")
    monkeypatch.setenv("CLI_TEST_SMTP_PASSWORD", "y")
    config = secret_settings(tmp_path)  # nothing listens on the IMAP port
    assert main("--config", str(config), "poll", "--no-send") == exits.TEMPFAIL
    assert "famhp: connect to 127.0.0.1" in capsys.readouterr().err
    unreachable = tmp_path / "db.toml"
    unreachable.write_text(f'[database]\nurl = "postgresql+psycopg://intake:pw@127.0.0.1:'
                           f'{free_port()}/intake"\n', encoding="utf-8")
    assert main("--config", str(unreachable), "cases", "list") == exits.TEMPFAIL
    err = capsys.readouterr().err
    assert "database error" in err and "pw@" not in err


def test_sigterm_during_start_up_stops_run_cleanly(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "intake.commands.cli", "run"], cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("DEROGATION_")},
             "PYTHONPATH": str(REPO)})
    try:
        deadline = time.monotonic() + 120  # a safety net, not a measure
        while not (tmp_path / "var" / "intake.sqlite3").exists():
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)  # the models are loading, or about to
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "Traceback" not in err


# --- outbox -------------------------------------------------------------------------------------

@pytest.fixture
def relay_down(smtp_server: SmtpServer, tmp_path: Path, clean_env: None,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, SmtpServer]]:
    """Settings pointing at the test relay, which is stopped, and one acknowledgement queued."""
    monkeypatch.setenv("CLI_TEST_SMTP_PASSWORD", smtp_server.password)
    config = tmp_path / "intake.toml"
    config.write_text(f"""
[general]
data_dir = "{tmp_path / 'data'}"

[smtp]
mode = "smtp"
host = "{smtp_server.host}"
port = {smtp_server.port}
security = "plain"
username = "{smtp_server.username}"
password_env = "CLI_TEST_SMTP_PASSWORD"
timeout_seconds = 10
""", encoding="utf-8")
    file_a_case(config)
    ack = EmailMessage()
    ack["From"], ack["To"] = "derogation.meddev@fagg-afmps.be", "applicant@example.org"
    ack["Subject"], ack["Message-ID"] = f"[{REF}] Accusé de réception", "<ack-1@fagg-afmps.be>"
    ack.set_content("Nous avons bien reçu votre demande.")
    database = Database.open(database_url(load_settings(config, secrets=False)))
    try:
        with database.session() as s:
            outbox_add(s, case=None, case_message=None, message_id=ack["Message-ID"],
                       recipient="applicant@example.org", subject=str(ack["Subject"]),
                       kind="acknowledgement", raw=ack.as_bytes(), held=False)
    finally:
        database.dispose()
    smtp_server.stop()
    yield config, smtp_server


def test_outbox_send_now_retries_without_waiting_and_says_what_waits(
        relay_down: tuple[Path, SmtpServer], capsys: pytest.CaptureFixture[str]) -> None:
    config, relay = relay_down
    at: Sequence[str] = ("--config", str(config))
    assert cli.main([*at, "outbox", "send"]) == exits.TEMPFAIL
    out = capsys.readouterr().out
    assert "outbox: 0 sent, 1 to retry" in out
    assert "waiting: 1 to applicant@example.org until 20" in out and " UTC (last error: " in out
    relay.start()
    assert cli.main([*at, "outbox", "release", "1"]) == 0
    assert "1: already pending, retried at 20" in capsys.readouterr().out
    assert cli.main([*at, "outbox", "send"]) == 0
    out = capsys.readouterr().out
    assert "outbox: 0 sent, 0 to retry" in out and "waiting: 1 to applicant@example.org" in out
    assert relay.received == []
    assert cli.main([*at, "outbox", "send", "--now"]) == 0
    out = capsys.readouterr().out
    assert "outbox: 1 sent, 0 to retry" in out and "waiting" not in out
    assert len(relay.wait_for(1)) == 1
    assert cli.main([*at, "outbox", "list"]) == 0
    listed = capsys.readouterr().out
    assert "sent at 20" in listed and " UTC: 250 " in listed
    assert "Connection refused" not in listed  # the outage's error is history, not news


# --- reviewers' input and truthful summaries -------------------------------------------------

@pytest.mark.parametrize(("normaliser", "value", "reason"), [
    ("quantity", "two or three", "holds more than one quantity"),
    ("quantity", "2-3", "holds more than one quantity"),
    ("quantity", "deux", "is not certainly a quantity"),
    ("regulation", "both MDR and IVDR", "holds more than one regulation"),
    ("risk_class", "IIa or IIb", "holds more than one risk_class"),
    ("email", "a@b.be, c@d.be", "holds more than one email"),
    ("patient_reference", "John Doe", "is not certainly a patient_reference"),
    ("risk_class", "class Z", "is not a valid risk_class"),
])
def test_a_reviewers_value_is_refused_rather_than_guessed(normaliser: str, value: str,
                                                          reason: str) -> None:
    from intake.reviewing import ReviewError, strict_value

    with pytest.raises(ReviewError, match=reason):
        strict_value(normaliser, normaliser, value)


@pytest.mark.parametrize(("normaliser", "value", "normal"), [
    ("quantity", "2", "2"), ("quantity", "2 units", "2"), ("regulation", "IVDR", "IVDR"),
    ("regulation", "Regulation (EU) 2017/745", "MDR"), ("risk_class", "class IIb", "IIb"),
    ("date", "March 3, 2026", "2026-03-03"), ("email", "A@B.be", "a@b.be"),
    ("role", "fabricant", "manufacturer"), ("patient_reference", "J.D.", "J.D."),
])
def test_a_plainly_written_value_is_taken_in_normal_form(normaliser: str, value: str,
                                                         normal: str) -> None:
    from intake.reviewing import strict_value

    assert strict_value(normaliser, normaliser, value) == normal


def test_cases_set_refuses_an_ambiguous_value_and_records_nothing(
        main: Main, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = secret_settings(tmp_path)
    file_a_case(config)
    at = ("--config", str(config))
    assert main(*at, "cases", "set", REF, "quantity", "two or three") == exits.FAILED
    assert "'two or three' holds more than one quantity: give exactly one" in \
        capsys.readouterr().err
    assert main(*at, "cases", "set", REF, "regulation", "both MDR and IVDR") == exits.FAILED
    capsys.readouterr()
    assert main(*at, "cases", "show", REF) == 0
    assert "(reviewer)" not in capsys.readouterr().out
    assert main(*at, "cases", "set", REF, "quantity", "2", "--actor", "ann") == 0
    assert "quantity = '2' set by ann" in capsys.readouterr().out


def test_a_resubmission_filed_as_a_duplicate_is_counted_as_one() -> None:
    from intake.filing import Filed
    from intake.pipeline import CycleReport

    report = CycleReport("famhp", filed=[
        Filed(REF, "new_request", "request", "s", "a@example.org", (), "queued"),
        Filed(REF, "new_request", "duplicate", "s", "a@example.org", (),
              "suppressed: duplicate")])
    assert report.summary() == "famhp: 1 filed, 0 kept without a case, 1 duplicate, 0 failed"


def test_demo_seeds_the_shipped_samples_files_them_once_and_runs_again_quietly(
        tmp_path: Path) -> None:
    # What `make run` does on a fresh clone: the embedded default, from an empty folder.
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEROGATION_INTAKE_")}
    first = subprocess.run([sys.executable, "-m", "intake.commands.cli", "demo"], cwd=tmp_path,
                           env=env, capture_output=True, text=True, timeout=600, check=False)
    assert first.returncode == 0, first.stderr
    assert "sample requests: 6 new in" in first.stdout
    assert first.stdout.count("DRG-") >= 4  # the requests and the enquiry, as cases
    again = subprocess.run([sys.executable, "-m", "intake.commands.cli", "demo"], cwd=tmp_path,
                           env=env, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0, again.stderr
    assert "sample requests: already seeded (nothing new to file)" in again.stdout
    assert "0 filed" in again.stdout
