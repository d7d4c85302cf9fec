"""A backlog kept and moved in groups: a stop mid-group loses nothing, moves come after filing."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from config.settings import load_settings
from intake.pipeline import GROUP, poll_mailbox
from intake.runtime import open_runtime
from storage.models import Ledger
from tests.intake.e2e import PASSWORD_ENV, sample_messages, write_settings
from tests.servers import MailboxUser, SmtpServer


def test_a_stop_keeps_the_fetched_group_for_the_next_cycle_which_files_and_moves_it(
        tmp_path: Path, mailbox_user: MailboxUser, smtp_server: SmtpServer,
        db_url: str) -> None:
    batch = sample_messages()[:3]
    assert len(batch) < GROUP
    for data in batch:
        mailbox_user.append("INBOX", data)
    config = write_settings(tmp_path, mailbox_user, smtp_server, db_url)
    settings = load_settings(config, env={PASSWORD_ENV: mailbox_user.password})
    rt = open_runtime(settings)
    try:
        stop = threading.Event()
        stop.set()  # asked to stop while the first group is being kept
        stopped = poll_mailbox(rt, settings.mailbox("famhp"), stop)
        with rt.database.session() as s:
            kept = Counter(s.scalars(select(Ledger.state)))
        assert stopped.filed == [] and stopped.failed == []
        assert kept == {"received": len(batch)}  # kept, not prepared, not lost
        assert len(mailbox_user.folder_uids("INBOX")) == len(batch)  # nothing moved yet

        resumed = poll_mailbox(rt, settings.mailbox("famhp"))
        with rt.database.session() as s:
            final = Counter(s.scalars(select(Ledger.state)))
    finally:
        rt.close()
    assert len(resumed.filed) == len(batch)
    assert final == {"done": len(batch)}
    assert mailbox_user.folder_uids("INBOX") == []
    assert len(mailbox_user.folder_uids("Processed")) == len(batch)
