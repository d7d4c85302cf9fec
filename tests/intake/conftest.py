"""Fixtures shared by the end-to-end tests of the intake package."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.intake.e2e import Intake, write_settings
from tests.servers import MailboxUser, SmtpServer


@pytest.fixture
def intake(tmp_path: Path, mailbox_user: MailboxUser, smtp_server: SmtpServer,
           db_url: str) -> Intake:
    """The application configured for this test's Dovecot user, SMTP server and database."""
    return Intake(write_settings(tmp_path, mailbox_user, smtp_server, db_url),
                  mailbox_user, smtp_server, db_url)
