"""The Maildir source: the same cursor and filing semantics as IMAP, on a local Maildir."""

from __future__ import annotations

import mailbox
import os
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from config.errors import MailboxError
from config.settings import MailboxSettings
from intake.mailbox.connect import open_source
from intake.mailbox.maildir import (
    UIDS_FILE,
    UIDVALIDITY_FILE,
    MaildirSource,
    flags_of,
    store_message,
)
from storage.records import MailboxKey
from tests.intake.mailbox.test_imap import make_message
from tests.servers import MailboxUser


def settings_for(path: Path, **changes: object) -> MailboxSettings:
    """Settings of a Maildir mailbox at path."""
    base = MailboxSettings(name="famhp", type="maildir", path=path)
    return replace(base, **changes)  # type: ignore[arg-type]


def deliver(path: Path, raw: bytes) -> str:
    """Deliver a message as a mail server's local delivery would; return its Maildir key."""
    return str(mailbox.Maildir(path, create=True).add(raw))


def files_in(path: Path) -> list[str]:
    """Return the message files of a Maildir folder (new/ and cur/), sorted."""
    return sorted(f"{sub}/{name}" for sub in ("new", "cur") for name in os.listdir(path / sub))


def test_fetch_new_reads_in_delivery_order_and_moves_nothing(tmp_path: Path) -> None:
    root = tmp_path / "maildir"
    sent = [make_message(n) for n in (1, 2, 3)]
    for raw in sent:
        deliver(root, raw)
    before = files_in(root)

    fetched = list(MaildirSource(settings_for(root), tmp_path).fetch_new(None))

    assert [m.data for m in fetched] == sent
    assert [m.key.uid for m in fetched] == [1, 2, 3]
    assert {m.key.mailbox for m in fetched} == {"famhp"}
    assert {m.key.folder for m in fetched} == {"INBOX"}
    assert files_in(root) == before  # still in new/, unread
    assert all(m.received_at.tzinfo is not None for m in fetched)


def test_cursor_skips_messages_already_taken(tmp_path: Path) -> None:
    root = tmp_path / "maildir"
    for n in (1, 2, 3):
        deliver(root, make_message(n))
    source = MaildirSource(settings_for(root), tmp_path)
    validity = source.current_uidvalidity()

    assert [m.key.uid for m in source.fetch_new((validity, 2))] == [3]
    assert list(source.fetch_new((validity, 3))) == []
    deliver(root, make_message(4))
    assert [m.key.uid for m in source.fetch_new((validity, 3))] == [4]


def test_uids_and_uidvalidity_are_stable_across_restarts(tmp_path: Path) -> None:
    root = tmp_path / "maildir"
    for n in (1, 2):
        deliver(root, make_message(n))
    first = MaildirSource(settings_for(root), tmp_path)
    keys = [m.key for m in first.fetch_new(None)]

    again = MaildirSource(settings_for(root), tmp_path)  # a new process, same files
    assert [m.key for m in again.fetch_new(None)] == keys
    assert (root / UIDVALIDITY_FILE).read_text().strip() == str(keys[0].uidvalidity)


def test_uids_are_never_reused_after_messages_leave(tmp_path: Path) -> None:
    root = tmp_path / "maildir"
    for n in (1, 2):
        deliver(root, make_message(n))
    source = MaildirSource(settings_for(root), tmp_path)
    for message in list(source.fetch_new(None)):
        source.mark_done(message.key)
    deliver(root, make_message(3))

    [newest] = list(source.fetch_new(None))
    assert newest.key.uid == 3
    lines = (root / UIDS_FILE).read_text().splitlines()[1:]
    assert [line.split(" ")[0] for line in lines] == ["1", "2", "3"]


def test_a_lost_uid_map_changes_uidvalidity(tmp_path: Path) -> None:
    root = tmp_path / "maildir"
    deliver(root, make_message(1))
    source = MaildirSource(settings_for(root), tmp_path)
    [message] = list(source.fetch_new(None))
    cursor = (message.key.uidvalidity, message.key.uid)

    (root / UIDS_FILE).unlink()  # e.g. restored from a backup without it

    assert source.current_uidvalidity() > cursor[0]
    assert [m.data for m in source.fetch_new(cursor)] == [message.data]  # start over


def test_mark_done_and_mark_failed_move_into_maildir_folders(tmp_path: Path) -> None:
    root = tmp_path / "maildir"
    for n in (1, 2, 3):
        deliver(root, make_message(n))
    source = MaildirSource(settings_for(root), tmp_path)
    first, second, third = list(source.fetch_new(None))

    source.mark_done(first.key)
    source.mark_failed(second.key, "unreadable PDF")

    processed = mailbox.Maildir(root).get_folder("Processed")
    attention = mailbox.Maildir(root).get_folder("Needs-attention")
    assert [processed.get_bytes(k) for k in processed.iterkeys()] == [first.data]
    assert [attention.get_bytes(k) for k in attention.iterkeys()] == [second.data]
    assert [m.key for m in source.fetch_new(None)] == [third.key]
    assert all(name.startswith("cur/") for name in files_in(root / ".Processed"))
    # A retry after a crash: the message is gone, which is not an error.
    source.mark_done(first.key)
    source.mark_failed(second.key, "again")
    assert len(processed) == 1 and len(attention) == 1


def test_flags_come_from_the_file_name(tmp_path: Path) -> None:
    root = tmp_path / "maildir"
    store_message(root, make_message(1), seen=True)
    [message] = list(MaildirSource(settings_for(root), tmp_path).fetch_new(None))
    assert message.flags == ("\\Seen",)
    assert flags_of("123.M1P2.host:2,FRS") == ("\\Flagged", "\\Answered", "\\Seen")


def test_a_20_mb_message_is_read_whole(tmp_path: Path) -> None:
    root = tmp_path / "maildir"
    big = make_message(1, attachment=os.urandom(20 * 1024 * 1024))
    deliver(root, big)
    [message] = list(MaildirSource(settings_for(root), tmp_path).fetch_new(None))
    assert message.data == big


def test_append_sent_stores_a_read_copy(tmp_path: Path) -> None:
    root = tmp_path / "maildir"
    source = MaildirSource(settings_for(root, sent_folder="Sent"), tmp_path)
    ack = make_message(9)
    source.append_sent([ack])
    [name] = files_in(root / ".Sent")
    assert name.startswith("cur/") and name.endswith(":2,S")
    assert (root / ".Sent" / name).read_bytes() == ack


def test_another_folder_than_inbox(tmp_path: Path) -> None:
    root = tmp_path / "maildir"
    store_message(root / ".Derogations", make_message(1))
    [message] = list(MaildirSource(settings_for(root, folder="Derogations"),
                                   tmp_path).fetch_new(None))
    assert message.key.folder == "Derogations"
    source = MaildirSource(settings_for(root, folder="Derogations"), tmp_path)
    source.mark_done(message.key)
    assert len(files_in(root / ".Processed")) == 1


def test_two_processes_never_give_one_uid_to_two_messages(tmp_path: Path) -> None:
    root = tmp_path / "maildir"
    for n in range(30):
        deliver(root, make_message(n))
    results: list[list[MailboxKey]] = []

    def read() -> None:
        results.append([m.key for m in MaildirSource(settings_for(root),
                                                     tmp_path).fetch_new(None)])

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(keys == results[0] for keys in results)
    assert [k.uid for k in results[0]] == list(range(1, 31))


def test_a_key_of_another_folder_is_refused(tmp_path: Path) -> None:
    source = MaildirSource(settings_for(tmp_path / "maildir"), tmp_path)
    with pytest.raises(MailboxError, match="another mailbox"):
        source.mark_done(MailboxKey("famhp", "Other", source.current_uidvalidity(), 1))


def test_open_source_defaults_the_path_under_data_dir(tmp_path: Path) -> None:
    source = open_source(MailboxSettings(name="famhp", type="maildir"), tmp_path)
    assert isinstance(source, MaildirSource)
    assert source.root == tmp_path / "maildir" / "famhp"
    assert (source.root / "new").is_dir()


def test_reads_and_files_a_maildir_that_dovecot_writes(mailbox_user: MailboxUser,
                                                       tmp_path: Path) -> None:
    uid = mailbox_user.append("INBOX", make_message(1))
    source = MaildirSource(settings_for(mailbox_user.maildir), tmp_path)
    [message] = list(source.fetch_new(None))
    # Dovecot keeps LF line ends on disk and speaks CRLF over IMAP.
    over_imap = mailbox_user.fetch_all("INBOX")
    assert [message.data.replace(b"\n", b"\r\n")] == over_imap

    source.mark_done(message.key)

    assert uid not in mailbox_user.folder_uids("INBOX")
    assert mailbox_user.fetch_all("Processed") == over_imap  # Dovecot sees the move
