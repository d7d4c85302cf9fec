"""Fixtures shared by the end-to-end tests of the intake package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from intake.runtime import Runtime, open_runtime
from tests.intake.e2e import Intake, write_settings
from tests.servers import MailboxUser, SmtpServer
from tests.triage.test_reports import settings_for


@pytest.fixture
def intake(tmp_path: Path, mailbox_user: MailboxUser, smtp_server: SmtpServer,
           db_url: str) -> Intake:
    """The application configured for this test's Dovecot user, SMTP server and database."""
    return Intake(write_settings(tmp_path, mailbox_user, smtp_server, db_url),
                  mailbox_user, smtp_server, db_url)


@pytest.fixture
def runtime(tmp_path: Path, db_url: str) -> Iterator[Runtime]:
    """A runtime on the test's database, a local Maildir, acknowledgements to a Maildir."""
    rt = open_runtime(settings_for(tmp_path, db_url))
    try:
        yield rt
    finally:
        rt.close()
