"""The IMAP source against a real Dovecot: fetch without reading, cursors, filing, IDLE, tokens."""

from __future__ import annotations

import hashlib
import json
import os
import random
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest

from config.errors import MailboxError, TokenError
from config.settings import MailboxSettings, Secret
from intake.mailbox.connect import open_source
from intake.mailbox.imap import ImapSource, chunk_by_size, is_new_mail
from intake.mailbox.oauth import TokenSource, parse_token
from parsers.headers import raw_message_id
from storage.blobs import BlobStore
from storage.records import MailboxKey
from tests.intake.e2e import Intake, sample_messages, write_settings
from tests.servers import (
    DovecotServer,
    MailboxUser,
    OAuth2DovecotServer,
    XOAuth2SmtpServer,
    free_port,
)


def make_message(number: int, attachment: bytes = b"") -> bytes:
    """A request e-mail as an applicant's mail program would send it."""
    message = EmailMessage(policy=SMTP)
    message["From"] = f"applicant{number}@hospital.example"
    message["To"] = "derogation.meddev@fagg-afmps.be"
    message["Subject"] = f"Compassionate Use – UZ Leuven – J.D. ({number})"
    message["Message-ID"] = f"<request-{number}@hospital.example>"
    message.set_content(f"Dear FAMHP,\n\nplease find request {number} attached.\n")
    if attachment:
        message.add_attachment(attachment, maintype="application", subtype="pdf",
                               filename="part1.pdf")
    return message.as_bytes()


def settings_for(user: MailboxUser, **changes: object) -> MailboxSettings:
    """Mailbox settings that reach the test user over plain IMAP on loopback."""
    base = MailboxSettings(name="famhp", type="imap", host=user.host, port=user.port,
                           security="plain", username=user.user,
                           password=Secret(user.password), timeout_seconds=30)
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def source(mailbox_user: MailboxUser) -> Iterator[ImapSource]:
    """An IMAP source on the test user's INBOX."""
    imap = ImapSource(settings_for(mailbox_user))
    yield imap
    imap.close()


def test_fetch_new_returns_messages_in_uid_order_and_leaves_them_unread(
        mailbox_user: MailboxUser, source: ImapSource) -> None:
    sent = [make_message(n) for n in (1, 2, 3)]
    uids = [mailbox_user.append("INBOX", raw) for raw in sent]

    fetched = list(source.fetch_new(None))

    assert [m.key.uid for m in fetched] == uids
    assert [m.data for m in fetched] == sent
    uidvalidity = mailbox_user.uidvalidity("INBOX")
    assert {m.key for m in fetched} == {MailboxKey("famhp", "INBOX", uidvalidity, u)
                                        for u in uids}
    assert all(m.received_at.tzinfo is not None for m in fetched)
    assert all("\\Seen" not in flags for flags in mailbox_user.flags("INBOX").values())
    assert mailbox_user.folder_uids("INBOX") == uids  # nothing moved by reading


def test_cursor_skips_messages_already_taken(mailbox_user: MailboxUser,
                                             source: ImapSource) -> None:
    uids = [mailbox_user.append("INBOX", make_message(n)) for n in (1, 2, 3)]
    uidvalidity = source.current_uidvalidity()

    assert [m.key.uid for m in source.fetch_new((uidvalidity, uids[1]))] == [uids[2]]
    # "UID n:*" matches the last message even when n is above it: nothing must come back.
    assert list(source.fetch_new((uidvalidity, uids[2]))) == []
    later = mailbox_user.append("INBOX", make_message(4))
    assert [m.key.uid for m in source.fetch_new((uidvalidity, uids[2]))] == [later]


def test_changed_uidvalidity_starts_over(mailbox_user: MailboxUser) -> None:
    mailbox_user.create_folder("Intake")
    first = [mailbox_user.append("Intake", make_message(n)) for n in (1, 2)]
    with ImapSource(settings_for(mailbox_user, folder="Intake")) as source:
        old_validity = source.current_uidvalidity()
        cursor = (old_validity, first[-1])
        assert list(source.fetch_new(cursor)) == []

        source.close()  # the folder is recreated behind the source's back
        mailbox_user.delete_folder("Intake")
        time.sleep(1.1)  # Dovecot derives UIDVALIDITY from the clock
        mailbox_user.create_folder("Intake")
        again = [mailbox_user.append("Intake", make_message(n)) for n in (1, 2)]

        assert source.current_uidvalidity() != old_validity
        fetched = list(source.fetch_new(cursor))
    assert [m.key.uid for m in fetched] == again
    assert {m.key.uidvalidity for m in fetched} == {mailbox_user.uidvalidity("Intake")}


def test_mark_done_moves_to_processed_creating_it(mailbox_user: MailboxUser,
                                                  source: ImapSource) -> None:
    uids = [mailbox_user.append("INBOX", make_message(n)) for n in (1, 2)]
    assert "Processed" not in mailbox_user.folders()
    first = next(iter(source.fetch_new(None)))

    source.mark_done(first.key)

    assert mailbox_user.folder_uids("INBOX") == [uids[1]]
    assert mailbox_user.fetch_all("Processed") == [first.data]
    # A retry after a crash finds the message gone: not an error, nothing else moves.
    source.mark_done(first.key)
    assert mailbox_user.folder_uids("INBOX") == [uids[1]]
    assert len(mailbox_user.fetch_all("Processed")) == 1


def test_mark_all_done_moves_a_group_at_once_skipping_those_already_gone(
        mailbox_user: MailboxUser, source: ImapSource) -> None:
    uids = [mailbox_user.append("INBOX", make_message(n)) for n in (1, 2, 3, 4)]
    fetched = list(source.fetch_new(None))
    source.mark_done(fetched[1].key)  # moved before a crash: its group finds it gone

    source.mark_all_done([m.key for m in fetched[:3]])

    assert mailbox_user.folder_uids("INBOX") == [uids[3]]
    assert sorted(mailbox_user.fetch_all("Processed")) == sorted(m.data for m in fetched[:3])


def test_mark_failed_moves_to_needs_attention(mailbox_user: MailboxUser,
                                             source: ImapSource) -> None:
    mailbox_user.append("INBOX", make_message(1))
    [message] = list(source.fetch_new(None))

    source.mark_failed(message.key, "PDF could not be read")

    assert mailbox_user.folder_uids("INBOX") == []
    assert mailbox_user.fetch_all("Needs-attention") == [message.data]


def test_without_move_capability_copy_delete_expunge(mailbox_user: MailboxUser,
                                                     source: ImapSource,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    mailbox_user.append("INBOX", make_message(1))
    keep = mailbox_user.append("INBOX", make_message(2))
    first = next(iter(source.fetch_new(None)))
    client = source._connected()
    real = client.has_capability
    # The server offers MOVE; pretend it does not, so that the fallback runs against it.
    monkeypatch.setattr(client, "has_capability", lambda name: name != "MOVE" and real(name))

    source.mark_done(first.key)

    assert mailbox_user.folder_uids("INBOX") == [keep]
    assert mailbox_user.fetch_all("Processed") == [first.data]


def test_on_success_flag_keeps_the_message_and_skips_it_next_time(
        mailbox_user: MailboxUser) -> None:
    uids = [mailbox_user.append("INBOX", make_message(n)) for n in (1, 2)]
    with ImapSource(settings_for(mailbox_user, on_success="flag")) as source:
        first = next(iter(source.fetch_new(None)))
        source.mark_done(first.key)
        assert [m.key.uid for m in source.fetch_new(None)] == [uids[1]]
    assert mailbox_user.folder_uids("INBOX") == uids
    assert "$Filed" in mailbox_user.flags("INBOX")[uids[0]]


def test_small_and_20_mb_messages_are_fetched_whole(mailbox_user: MailboxUser,
                                                    source: ImapSource) -> None:
    big = make_message(2, attachment=os.urandom(20 * 1024 * 1024))
    small = make_message(1)
    mailbox_user.append("INBOX", small)
    mailbox_user.append("INBOX", big)

    fetched = list(source.fetch_new(None))

    assert [len(m.data) for m in fetched] == [len(mailbox_user.fetch_all("INBOX")[0]),
                                              len(mailbox_user.fetch_all("INBOX")[1])]
    assert fetched[1].data == mailbox_user.fetch_all("INBOX")[1]
    assert len(fetched[1].data) > 27_000_000  # base64 of 20 MB


@pytest.mark.parametrize("whole_pieces", [False, True])
def test_a_large_message_is_fetched_in_pieces_intact(mailbox_user: MailboxUser,
                                                     source: ImapSource,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     whole_pieces: bool) -> None:
    for size in range(300_000, 300_100):  # a size some piece length divides exactly
        raw = make_message(3, attachment=random.Random(size).randbytes(size))
        whole = next((len(raw) // k for k in range(3, 60) if len(raw) % k == 0), 0)
        if whole or not whole_pieces:
            break
    mailbox_user.append("INBOX", raw)
    stored = mailbox_user.fetch_all("INBOX")[0]
    assert stored == raw and (whole or not whole_pieces)
    # Pieces that end exactly at the end (then an empty one), or a short last piece.
    piece = whole if whole_pieces else 70_001
    monkeypatch.setattr("intake.mailbox.imap.PIECE_BYTES", piece)

    [fetched] = list(source.fetch_new(None))

    assert fetched.data == stored
    assert fetched.received_at is not None
    assert "\\Seen" not in mailbox_user.flags("INBOX")[fetched.key.uid]  # BODY.PEEK: unread


def test_a_large_message_goes_to_the_blob_store_as_it_is_fetched(
        mailbox_user: MailboxUser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = make_message(3, attachment=random.Random(3).randbytes(300_000))
    mailbox_user.append("INBOX", raw)
    stored = mailbox_user.fetch_all("INBOX")[0]
    monkeypatch.setattr("intake.mailbox.imap.PIECE_BYTES", 70_001)
    blobs = BlobStore(tmp_path / "blobs")
    source = ImapSource(settings_for(mailbox_user), blobs=blobs)
    try:
        [fetched] = list(source.fetch_new(None))
    finally:
        source.close()

    # Only the header block is held; the whole message is kept under its hash, and nothing
    # else is left in the store.
    assert fetched.data == stored[:stored.index(b"\r\n\r\n") + 4]
    assert (fetched.size, fetched.sha256) == (len(stored), hashlib.sha256(stored).hexdigest())
    assert blobs.get(fetched.sha256) == stored
    assert [p for p in blobs.root.rglob("*") if p.is_file()] == [blobs.path(fetched.sha256)]
    assert raw_message_id(fetched.data) == "request-3@hospital.example"


def test_append_sent_keeps_a_read_copy(mailbox_user: MailboxUser) -> None:
    ack = make_message(9)
    with ImapSource(settings_for(mailbox_user, sent_folder="Sent")) as source:
        source.append_sent([ack])
    assert len(mailbox_user.fetch_all("Sent")) == 1
    [flags] = mailbox_user.flags("Sent").values()
    assert "\\Seen" in flags


def test_append_sent_keeps_several_copies_in_one_command(mailbox_user: MailboxUser) -> None:
    with mailbox_user.client() as imap:
        assert imap.has_capability("MULTIAPPEND")  # Dovecot's: the one-command path is taken
    acks = [make_message(n) for n in (7, 8, 9)]
    with ImapSource(settings_for(mailbox_user, sent_folder="Sent")) as source:
        source.append_sent(acks)
    assert sorted(mailbox_user.fetch_all("Sent")) == sorted(acks)
    assert all("\\Seen" in flags for flags in mailbox_user.flags("Sent").values())


def test_append_sent_without_folder_does_nothing(mailbox_user: MailboxUser,
                                                 source: ImapSource) -> None:
    source.append_sent([make_message(9)])
    assert mailbox_user.fetch_all("Sent") == []


def test_a_key_of_another_mailbox_is_refused(mailbox_user: MailboxUser,
                                            source: ImapSource) -> None:
    uid = mailbox_user.append("INBOX", make_message(1))
    key = MailboxKey("ansm", "INBOX", source.current_uidvalidity(), uid)
    with pytest.raises(MailboxError, match="another mailbox"):
        source.mark_done(key)


def test_a_key_from_an_older_uidvalidity_moves_nothing(mailbox_user: MailboxUser,
                                                      source: ImapSource) -> None:
    uid = mailbox_user.append("INBOX", make_message(1))
    source.mark_done(MailboxKey("famhp", "INBOX", source.current_uidvalidity() - 1, uid))
    assert mailbox_user.folder_uids("INBOX") == [uid]


def test_wrong_password_is_a_mailbox_error_without_the_password(
        mailbox_user: MailboxUser) -> None:
    settings = settings_for(mailbox_user, password=Secret("not-the-password"))
    with pytest.raises(MailboxError) as caught:
        ImapSource(settings).connect()
    assert "not-the-password" not in str(caught.value)
    assert caught.value.__cause__ is not None


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_tls_connections_verify_the_server_certificate(mailbox_user: MailboxUser,
                                                       security: str) -> None:
    uid = mailbox_user.append("INBOX", make_message(1))
    port = mailbox_user.tls_port if security == "tls" else mailbox_user.port
    settings = settings_for(mailbox_user, security=security, port=port,
                            tls_ca_file=mailbox_user.ca_file)
    with ImapSource(settings) as source:
        assert [m.key.uid for m in source.fetch_new(None)] == [uid]
        assert source._connected().socket().version() in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_an_untrusted_certificate_is_refused(mailbox_user: MailboxUser, security: str) -> None:
    port = mailbox_user.tls_port if security == "tls" else mailbox_user.port
    source = ImapSource(settings_for(mailbox_user, security=security, port=port))
    with pytest.raises(MailboxError, match="CERTIFICATE_VERIFY_FAILED"):
        source.connect()


def test_closed_port_is_a_mailbox_error(mailbox_user: MailboxUser) -> None:
    with pytest.raises(MailboxError, match=r"connect to 127\.0\.0\.1:\d+ as user\d+ failed"):
        list(ImapSource(settings_for(mailbox_user, port=free_port())).fetch_new(None))


def test_source_logs_in_again_after_the_connection_drops(mailbox_user: MailboxUser,
                                                         source: ImapSource) -> None:
    uid = mailbox_user.append("INBOX", make_message(1))
    assert [m.key.uid for m in source.fetch_new(None)] == [uid]
    source._connected().socket().shutdown(socket.SHUT_RDWR)  # the network drops the session

    with pytest.raises(MailboxError, match="select failed"):
        source.current_uidvalidity()
    assert [m.key.uid for m in source.fetch_new(None)] == [uid]  # a fresh login


def test_server_outage_then_recovery(dovecot: DovecotServer, mailbox_user: MailboxUser) -> None:
    uid = mailbox_user.append("INBOX", make_message(1))
    source = ImapSource(settings_for(mailbox_user))
    dovecot.stop()
    try:
        with pytest.raises(MailboxError, match="ConnectionRefusedError"):
            source.connect()
    finally:
        dovecot.start()
    with source:
        assert [m.key.uid for m in source.fetch_new(None)] == [uid]


def test_idle_wait_wakes_on_new_mail(mailbox_user: MailboxUser, source: ImapSource) -> None:
    assert source.idle_wait(0.5) is False
    timer = threading.Timer(0.5, mailbox_user.append, ("INBOX", make_message(1)))
    timer.start()
    started = time.monotonic()
    try:
        assert source.idle_wait(20) is True
    finally:
        timer.join()
    assert time.monotonic() - started < 15
    assert len(list(source.fetch_new(None))) == 1  # the connection is usable after IDLE


def test_open_source_gives_the_imap_source(mailbox_user: MailboxUser, tmp_path: Path) -> None:
    mailbox_user.append("INBOX", make_message(1))
    source = open_source(settings_for(mailbox_user), tmp_path)
    try:
        assert isinstance(source, ImapSource) and source.name == "famhp"
        assert len(list(source.fetch_new(None))) == 1
    finally:
        source.close()


# --- pure helpers and token acquisition ------------------------------------------------------

def test_chunks_respect_count_and_bytes() -> None:
    sizes = [(1, 10), (2, 10), (3, 100), (4, 10), (5, 10), (6, 10)]
    assert chunk_by_size(sizes, max_messages=2, max_bytes=50) == [[1, 2], [3], [4, 5], [6]]
    assert chunk_by_size([]) == []


def test_new_mail_responses() -> None:
    assert is_new_mail([(3, b"EXISTS")])
    assert not is_new_mail([(b"OK", b"Still here"), (2, b"EXPUNGE")])


def token_script(tmp_path: Path, output: str, exit_code: int = 0) -> str:
    """A token command that counts its runs and prints the given output."""
    script = tmp_path / "token.py"
    script.write_text(
        "import pathlib, sys\n"
        f"counter = pathlib.Path({str(tmp_path / 'runs')!r})\n"
        "counter.write_text(str(int(counter.read_text() or 0) + 1) if counter.exists() "
        "else '1')\n"
        f"sys.stdout.write({output!r})\n"
        "sys.stderr.write('token service says no\\n')\n"
        f"sys.exit({exit_code})\n")
    return f"{sys.executable} {script}"


def test_token_command_is_cached_until_expiry(tmp_path: Path) -> None:
    now = [1000.0]
    command = token_script(tmp_path, json.dumps({"access_token": "tok-1", "expires_in": 3600}))
    tokens = TokenSource(command=command, clock=lambda: now[0])
    assert tokens.token().reveal() == "tok-1"
    assert tokens.token().reveal() == "tok-1"
    assert (tmp_path / "runs").read_text() == "1"
    now[0] += 3600 - 30  # inside the safety margin: fetch a new one
    tokens.token()
    assert (tmp_path / "runs").read_text() == "2"


def test_bare_token_without_expiry_is_asked_for_each_time(tmp_path: Path) -> None:
    tokens = TokenSource(command=token_script(tmp_path, "bare-token\n"))
    assert tokens.token().reveal() == "bare-token"
    tokens.token()
    assert (tmp_path / "runs").read_text() == "2"


def test_failing_token_command_does_not_show_its_output(tmp_path: Path) -> None:
    tokens = TokenSource(command=token_script(tmp_path, "secret-token", exit_code=3))
    with pytest.raises(TokenError) as caught:
        tokens.token()
    assert "exited with 3" in str(caught.value) and "token service says no" in str(caught.value)
    assert "secret-token" not in str(caught.value)


def test_token_file_is_read_each_time(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    path.write_text(json.dumps({"access_token": "file-token"}))
    tokens = TokenSource(file=path)
    assert tokens.token().reveal() == "file-token"
    path.write_text("rotated-token\n")
    assert tokens.token().reveal() == "rotated-token"
    assert repr(tokens.token()) == "********"


def test_token_parsing_errors() -> None:
    with pytest.raises(TokenError, match="empty"):
        parse_token("  \n", 0)
    with pytest.raises(TokenError, match="no access_token"):
        parse_token('{"token_type": "Bearer"}', 0)
    assert parse_token('{"access_token": "a", "expires_at": 50}', 0).expires_at == 50.0


# --- XOAUTH2 against a Dovecot that checks bearer tokens by introspection ---------------------

@pytest.fixture
def oauth2_user(oauth2_dovecot: OAuth2DovecotServer) -> MailboxUser:
    """A fresh user of the Dovecot that takes bearer tokens."""
    return oauth2_dovecot.add_user("oauth")


def xoauth2_settings(user: MailboxUser, command: str) -> MailboxSettings:
    """Settings that log in with XOAUTH2, the token printed by a command, no password."""
    return settings_for(user, auth="xoauth2", password=None, oauth2_token_command=command)


def hour_token(token: str) -> str:
    """What a token command prints: a token valid for an hour."""
    return json.dumps({"access_token": token, "expires_in": 3600})


def test_xoauth2_login_fetches_and_files(oauth2_dovecot: OAuth2DovecotServer,
                                         oauth2_user: MailboxUser, tmp_path: Path) -> None:
    token = f"imap-token-{oauth2_user.user}"
    oauth2_dovecot.introspection.grant(token, oauth2_user.user)
    uid = oauth2_user.append("INBOX", make_message(1))

    with ImapSource(xoauth2_settings(oauth2_user, token_script(tmp_path, token))) as source:
        [fetched] = source.fetch_new(None)
        source.mark_done(fetched.key)

    assert (fetched.key.uid, fetched.data) == (uid, make_message(1))
    assert oauth2_user.folder_uids("INBOX") == []
    assert len(oauth2_user.folder_uids("Processed")) == 1
    assert oauth2_dovecot.introspection.asked[-1] == token  # Dovecot checked the token


def test_refused_token_is_a_mailbox_error_and_a_fresh_one_is_asked_for(
        oauth2_dovecot: OAuth2DovecotServer, oauth2_user: MailboxUser, tmp_path: Path) -> None:
    revoked, renewed = f"revoked-{oauth2_user.user}", f"renewed-{oauth2_user.user}"
    command = token_script(tmp_path, hour_token(revoked))
    source = ImapSource(xoauth2_settings(oauth2_user, command))

    with pytest.raises(MailboxError) as caught:
        source.connect()

    message = str(caught.value)
    assert message.startswith(f"famhp: connect to {oauth2_user.host}:{oauth2_user.port} as "
                              f"{oauth2_user.user} failed: LoginError")
    assert "AUTHENTICATIONFAILED" in message and revoked not in message
    assert oauth2_dovecot.introspection.asked[-1] == revoked

    oauth2_dovecot.introspection.grant(renewed, oauth2_user.user)
    token_script(tmp_path, hour_token(renewed))  # the token service issues a new one
    with source:
        source.connect()
    assert (tmp_path / "runs").read_text() == "2"  # the refused token was not kept
    assert oauth2_dovecot.introspection.asked[-1] == renewed


def test_failing_token_command_is_a_mailbox_error(oauth2_user: MailboxUser,
                                                  tmp_path: Path) -> None:
    source = ImapSource(xoauth2_settings(oauth2_user, token_script(tmp_path, "x", exit_code=4)))
    with pytest.raises(MailboxError, match=r"^famhp: OAuth2 token command exited with 4: "
                                           r"token service says no$"):
        source.connect()


def test_poll_with_oauth2_for_the_mailbox_and_the_relay(
        oauth2_dovecot: OAuth2DovecotServer, oauth2_user: MailboxUser,
        xoauth2_smtp_server: XOAuth2SmtpServer, sqlite_template: Path,
        tmp_path: Path) -> None:
    (tmp_path / "imap").mkdir()
    (tmp_path / "smtp").mkdir()
    imap_token = f"imap-token-{oauth2_user.user}"  # the endpoint serves the whole session
    oauth2_dovecot.introspection.grant(imap_token, oauth2_user.user)
    xoauth2_smtp_server.accept_token("smtp-token")
    database = tmp_path / "intake.sqlite3"
    database.write_bytes(sqlite_template.read_bytes())
    config = write_settings(
        tmp_path, oauth2_user, xoauth2_smtp_server, f"sqlite:///{database}",
        mailbox_extra=f'auth = "xoauth2"\n'
                      f'oauth2_token_command = "{token_script(tmp_path / "imap", imap_token)}"',
        extra=f'username = "{xoauth2_smtp_server.username}"\nauth = "xoauth2"\n'
              f'oauth2_token_command = "{token_script(tmp_path / "smtp", "smtp-token")}"')
    oauth2_user.append("INBOX", sample_messages()[0])
    asked_before = len(oauth2_dovecot.introspection.asked)

    result = Intake(config, oauth2_user, xoauth2_smtp_server, f"sqlite:///{database}").poll()

    assert result.returncode == 0, result.stdout + result.stderr
    assert oauth2_user.folder_uids("INBOX") == []
    assert len(oauth2_user.folder_uids("Processed")) == 1
    [acknowledgement] = xoauth2_smtp_server.wait_for(1)
    assert acknowledgement.authenticated_as == xoauth2_smtp_server.username
    assert [a.token for a in xoauth2_smtp_server.attempts] == ["smtp-token"]
    assert set(oauth2_dovecot.introspection.asked[asked_before:]) == {imap_token}
    assert imap_token not in result.stdout + result.stderr
    assert "smtp-token" not in result.stdout + result.stderr
