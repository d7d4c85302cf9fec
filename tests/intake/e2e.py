"""Shared steps of the end-to-end tests: settings for real servers, the CLI as a subprocess."""

from __future__ import annotations

import email
import email.policy
import io
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from pypdf import PdfWriter
from reportlab.pdfgen import canvas

from storage.db import Database
from tests.servers import MailboxUser, SmtpServer

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "config" / "samples"
MESSAGES = REPO / "tests" / "fixtures" / "messages"
PASSWORD_ENV = "E2E_IMAP_PASSWORD"


@dataclass
class Intake:
    """One installation of the application under test, pointed at real servers."""

    config: Path
    user: MailboxUser
    smtp: SmtpServer
    db_url: str

    def run(self, *args: str, failpoints: str = "",
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run `derogation-intake --config … ARGS` in a fresh process and return its result."""
        return subprocess.run(self._command(args), capture_output=True, text=True,
                              env=self._env(failpoints), timeout=timeout, cwd=REPO,
                              check=False)

    def start(self, *args: str, failpoints: str = "",
              extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start `derogation-intake --config … ARGS` in the background, output piped."""
        return subprocess.Popen(self._command(args), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True,
                                env={**self._env(failpoints), **(extra_env or {})}, cwd=REPO)

    def _command(self, args: tuple[str, ...]) -> list[str]:
        return [sys.executable, "-m", "intake.commands.cli", "--config", str(self.config), *args]

    def _env(self, failpoints: str) -> dict[str, str]:
        env = {**os.environ, PASSWORD_ENV: self.user.password}
        env.pop("DEROGATION_INTAKE_FAILPOINTS", None)
        if failpoints:
            env["DEROGATION_INTAKE_FAILPOINTS"] = failpoints
        return env

    def poll(self, failpoints: str = "") -> subprocess.CompletedProcess[str]:
        """Run one intake cycle (`poll --once`)."""
        return self.run("poll", "--once", failpoints=failpoints)

    def database(self) -> Database:
        """Open the installation's database."""
        return Database.open(self.db_url)


def write_settings(tmp: Path, user: MailboxUser, smtp: SmtpServer, db_url: str,
                   extra: str = "", folder: str = "INBOX", mailbox_extra: str = "",
                   smtp_timeout: int = 10) -> Path:
    """Write a settings file for the Dovecot user, the SMTP server and the database.

    ``mailbox_extra`` goes into the mailbox's table, ``extra`` after the SMTP one.
    """
    path = tmp / "intake.toml"
    path.write_text(f"""
[general]
data_dir = "{tmp / 'data'}"
our_address = "derogation.meddev@fagg-afmps.be"

[database]
url = "{db_url}"

[mailboxes.famhp]
type = "imap"
profile = "famhp"
host = "{user.host}"
port = {user.port}
security = "plain"
username = "{user.user}"
password_env = "{PASSWORD_ENV}"
folder = "{folder}"
sent_folder = "Sent"
{mailbox_extra}

[smtp]
mode = "smtp"
host = "{smtp.host}"
port = {smtp.port}
security = "plain"
timeout_seconds = {smtp_timeout}
{extra}
""", encoding="utf-8")
    return path


def sample_messages() -> list[bytes]:
    """Return the demo's six sample requests (EN/FR/NL, PDF and Word attachments)."""
    return [p.read_bytes() for p in sorted(SAMPLES.glob("*.eml"))]


def labelled(name: str) -> bytes:
    """Return one message of the labelled set."""
    return (MESSAGES / f"{name}.eml").read_bytes()


def big_pdf(megabytes: int) -> bytes:
    """Return a real PDF (reportlab page, pypdf embedded file) of about that many MB."""
    page = io.BytesIO()
    drawing = canvas.Canvas(page)
    drawing.drawString(72, 760, "Clinical evaluation report - annex with raw data")
    drawing.save()
    writer = PdfWriter(clone_from=io.BytesIO(page.getvalue()))
    writer.add_attachment("raw-data.bin", os.urandom(megabytes * 1024 * 1024))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def message(subject: str, body: str, *, sender: str = "jan.peeters@azgroeninge.be",
            message_id: str, attachments: tuple[tuple[str, bytes, str], ...] = ()) -> bytes:
    """Build a message as a mail client would (stdlib email)."""
    msg = EmailMessage()
    msg["From"] = f"Jan Peeters <{sender}>"
    msg["To"] = "derogation.meddev@fagg-afmps.be"
    msg["Subject"] = subject
    msg["Date"] = "Mon, 16 Nov 2026 09:12:00 +0100"
    msg["Message-ID"] = f"<{message_id}>"
    msg.set_content(body)
    for name, data, mime in attachments:
        maintype, subtype = mime.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes(policy=email.policy.SMTP)


def broken_message() -> bytes:
    """Return bytes that no parser can read as a message (a binary blob, no headers)."""
    return b"\x00\x01\x02\xff\xfe" + os.urandom(2048)


def acknowledged_parents(smtp: SmtpServer) -> Counter[str]:
    """Count the acknowledgements received by the SMTP server per message they answer."""
    parents: Counter[str] = Counter()
    for mail in smtp.received:
        parsed = email.message_from_bytes(mail.data, policy=email.policy.default)
        parents[str(parsed["In-Reply-To"] or "").strip()] += 1
    return parents
