"""Delivery against a real SMTP server (aiosmtpd), and into the local outbox Maildir."""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import time
from dataclasses import replace
from pathlib import Path

import pytest

from config.errors import DeliveryError
from config.settings import Secret, SmtpSettings
from intake.replies.delivery import MaildirDelivery, SmtpDelivery, open_delivery
from parsers.headers import raw_message_id
from tests.intake.mailbox.test_imap import make_message, token_script
from tests.servers import HOST, SmtpServer, XOAuth2Attempt, XOAuth2SmtpServer, free_port

OUR_ADDRESS = "derogation.meddev@fagg-afmps.be"
APPLICANT = "applicant1@hospital.example"


def settings_for(server: SmtpServer, **changes: object) -> SmtpSettings:
    """SMTP settings that reach the test server (plain, loopback)."""
    base = SmtpSettings(mode="smtp", host=server.host, port=server.port, security="plain",
                        timeout_seconds=5)
    return replace(base, **changes)  # type: ignore[arg-type]


def with_login(server: SmtpServer, password: str | None = None) -> SmtpSettings:
    """Settings that log in with the server's user."""
    return settings_for(server, username=server.username,
                        password=Secret(password or server.password))


def test_send_returns_the_relays_answer(smtp_server: SmtpServer) -> None:
    raw = make_message(1)
    reply = SmtpDelivery(settings_for(smtp_server)).send(raw, OUR_ADDRESS, [APPLICANT])

    assert reply == "250 2.0.0 Ok: queued as TEST0001"
    [mail] = smtp_server.wait_for(1)
    assert (mail.mail_from, mail.rcpt_tos) == (OUR_ADDRESS, (APPLICANT,))
    assert mail.data == raw
    assert mail.authenticated_as is None


def test_send_logs_in_when_a_user_is_configured(smtp_server: SmtpServer) -> None:
    SmtpDelivery(with_login(smtp_server)).send(make_message(1), OUR_ADDRESS,
                                               [APPLICANT, "physician@hospital.example"])
    [mail] = smtp_server.wait_for(1)
    assert mail.authenticated_as == smtp_server.username
    assert mail.rcpt_tos == (APPLICANT, "physician@hospital.example")


def test_refused_login_is_temporary_and_hides_the_password(smtp_server: SmtpServer) -> None:
    with pytest.raises(DeliveryError) as caught:
        SmtpDelivery(with_login(smtp_server, "wrong-secret")).send(
            make_message(1), OUR_ADDRESS, [APPLICANT])
    assert caught.value.permanent is False and caught.value.smtp_code == 535
    assert "wrong-secret" not in str(caught.value)
    assert smtp_server.received == []


def test_starttls_with_the_trusted_ca_then_login(smtp_server: SmtpServer) -> None:
    settings = replace(with_login(smtp_server), security="starttls",
                       tls_ca_file=smtp_server.ca_file)
    assert SmtpDelivery(settings).send(make_message(1), OUR_ADDRESS, [APPLICANT]) \
        .startswith("250 ")
    assert smtp_server.wait_for(1)[0].authenticated_as == smtp_server.username


def test_starttls_to_an_untrusted_certificate_is_a_temporary_failure(
        smtp_server: SmtpServer) -> None:
    settings = settings_for(smtp_server, security="starttls")
    with pytest.raises(DeliveryError) as caught:
        SmtpDelivery(settings).send(make_message(1), OUR_ADDRESS, [APPLICANT])
    assert caught.value.permanent is False
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert smtp_server.received == []


def test_stopped_server_is_a_temporary_failure_then_recovers(smtp_server: SmtpServer) -> None:
    delivery = SmtpDelivery(settings_for(smtp_server))
    smtp_server.stop()
    with pytest.raises(DeliveryError) as caught:
        delivery.send(make_message(1), OUR_ADDRESS, [APPLICANT])
    assert caught.value.permanent is False and caught.value.smtp_code is None
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)

    smtp_server.start()
    assert delivery.send(make_message(1), OUR_ADDRESS, [APPLICANT]).startswith("250 ")
    smtp_server.wait_for(1)


def test_one_session_carries_the_messages_of_a_pass(smtp_server: SmtpServer) -> None:
    delivery = SmtpDelivery(with_login(smtp_server))
    for n in range(3):
        delivery.send(make_message(n), OUR_ADDRESS, [APPLICANT])
    delivery.close()
    delivery.send(make_message(3), OUR_ADDRESS, [APPLICANT])
    delivery.close()

    mails = smtp_server.wait_for(4)
    assert [m.data for m in mails] == [make_message(n) for n in range(4)]
    assert len({m.peer for m in mails[:3]}) == 1  # one connection, one login
    assert mails[3].peer != mails[0].peer  # close() ended it
    assert all(m.authenticated_as == smtp_server.username for m in mails)


def test_a_session_the_relay_dropped_is_replaced_without_resending(
        smtp_server: SmtpServer) -> None:
    delivery = SmtpDelivery(settings_for(smtp_server))
    delivery.send(make_message(1), OUR_ADDRESS, [APPLICANT])
    smtp_server.stop()  # the relay restarts between two messages of a pass
    smtp_server.start()
    delivery.send(make_message(2), OUR_ADDRESS, [APPLICANT])
    delivery.close()

    mails = smtp_server.wait_for(2)
    assert [m.data for m in mails] == [make_message(1), make_message(2)]
    assert mails[0].peer != mails[1].peer


def test_a_failed_transaction_ends_the_session(smtp_server: SmtpServer) -> None:
    delivery = SmtpDelivery(settings_for(smtp_server))
    smtp_server.answer(data="451 4.3.0 Try again later")
    with pytest.raises(DeliveryError):
        delivery.send(make_message(1), OUR_ADDRESS, [APPLICANT])
    smtp_server.answer()
    delivery.send(make_message(2), OUR_ADDRESS, [APPLICANT])
    delivery.close()
    [mail] = smtp_server.wait_for(1)
    assert mail.data == make_message(2)


@pytest.mark.parametrize(("reply", "permanent", "code"), [
    ("550 5.7.1 Message rejected as spam", True, 550),
    ("554 5.6.0 Message content refused", True, 554),
    ("451 4.3.0 Try again later", False, 451),
    ("452 4.3.1 Insufficient system storage", False, 452),
])
def test_data_refusals_are_permanent_only_for_5xx(smtp_server: SmtpServer, reply: str,
                                                  permanent: bool, code: int) -> None:
    smtp_server.answer(data=reply)
    with pytest.raises(DeliveryError) as caught:
        SmtpDelivery(settings_for(smtp_server)).send(make_message(1), OUR_ADDRESS, [APPLICANT])
    assert (caught.value.permanent, caught.value.smtp_code) == (permanent, code)
    assert reply.split(" ", 1)[1] in str(caught.value)


def test_refused_recipient_is_permanent(smtp_server: SmtpServer) -> None:
    smtp_server.answer(rcpt="550 5.1.1 No such user")
    with pytest.raises(DeliveryError) as caught:
        SmtpDelivery(settings_for(smtp_server)).send(make_message(1), OUR_ADDRESS, [APPLICANT])
    assert (caught.value.permanent, caught.value.smtp_code) == (True, 550)
    assert APPLICANT in str(caught.value)


def test_a_server_that_never_answers_times_out(smtp_server: SmtpServer) -> None:
    with socket.create_server((HOST, 0)) as silent:  # accepts the connection, says nothing
        port = silent.getsockname()[1]
        delivery = SmtpDelivery(settings_for(smtp_server, port=port, timeout_seconds=1))
        started = time.monotonic()
        with pytest.raises(DeliveryError) as caught:
            delivery.send(make_message(1), OUR_ADDRESS, [APPLICANT])
    assert caught.value.permanent is False
    assert time.monotonic() - started < 5


def test_a_20_mb_acknowledgement_goes_through(smtp_server: SmtpServer) -> None:
    raw = make_message(1, attachment=os.urandom(20 * 1024 * 1024))
    SmtpDelivery(settings_for(smtp_server)).send(raw, OUR_ADDRESS, [APPLICANT])
    assert smtp_server.wait_for(1)[0].data == raw


def test_smtp_cannot_tell_what_it_delivered(smtp_server: SmtpServer) -> None:
    assert SmtpDelivery(settings_for(smtp_server)).contains("request-1@hospital.example") is False


def test_no_recipients_is_permanent(smtp_server: SmtpServer) -> None:
    with pytest.raises(DeliveryError) as caught:
        SmtpDelivery(settings_for(smtp_server)).send(make_message(1), OUR_ADDRESS, [])
    assert caught.value.permanent is True


# --- the outbox Maildir ----------------------------------------------------------------------

def test_maildir_delivery_stores_whole_messages_and_knows_them(tmp_path: Path) -> None:
    outbox = MaildirDelivery(tmp_path / "outbox")
    raw = make_message(1)

    reply = outbox.send(raw, OUR_ADDRESS, [APPLICANT])

    [stored] = list((tmp_path / "outbox" / "new").iterdir())
    assert reply.startswith("250 ") and stored.name in reply
    content = stored.read_bytes()
    assert content.endswith(raw)
    assert content.startswith(f"Return-Path: <{OUR_ADDRESS}>\r\nX-Envelope-To: {APPLICANT}\r\n"
                              .encode())
    assert list((tmp_path / "outbox" / "tmp").iterdir()) == []
    assert outbox.contains("request-1@hospital.example")
    assert outbox.contains("<request-1@hospital.example>")
    assert not outbox.contains("request-2@hospital.example")
    assert raw_message_id(content) == "request-1@hospital.example"


def test_maildir_delivery_still_knows_a_message_once_read(tmp_path: Path) -> None:
    outbox = MaildirDelivery(tmp_path / "outbox")
    outbox.send(make_message(1), OUR_ADDRESS, [APPLICANT])
    [stored] = list((tmp_path / "outbox" / "new").iterdir())
    stored.rename(tmp_path / "outbox" / "cur" / f"{stored.name}:2,S")  # a mail reader read it
    assert outbox.contains("request-1@hospital.example")


def test_open_delivery_follows_the_mode(tmp_path: Path) -> None:
    maildir = open_delivery(SmtpSettings(outbox_maildir=tmp_path / "out"), tmp_path)
    assert isinstance(maildir, MaildirDelivery) and maildir.path == tmp_path / "out"
    smtp = open_delivery(SmtpSettings(mode="smtp", host=HOST, port=free_port()), tmp_path)
    assert isinstance(smtp, SmtpDelivery)


# --- AUTH XOAUTH2 (Microsoft 365, Google) ------------------------------------------------------

def with_token_command(server: SmtpServer, command: str, **changes: object) -> SmtpSettings:
    """Settings that log in with XOAUTH2, the bearer token printed by a command."""
    return settings_for(server, username=server.username, auth="xoauth2",
                        oauth2_token_command=command, **changes)


def token_json(token: str) -> str:
    """What a token command prints: a token valid for an hour."""
    return json.dumps({"access_token": token, "expires_in": 3600})


def test_xoauth2_login_presents_the_token_and_reuses_it_while_valid(
        xoauth2_smtp_server: XOAuth2SmtpServer, tmp_path: Path) -> None:
    xoauth2_smtp_server.accept_token("token-one")
    delivery = SmtpDelivery(with_token_command(
        xoauth2_smtp_server, token_script(tmp_path, token_json("token-one"))))
    delivery.send(make_message(1), OUR_ADDRESS, [APPLICANT])
    delivery.send(make_message(2), OUR_ADDRESS, [APPLICANT])
    delivery.close()
    delivery.send(make_message(3), OUR_ADDRESS, [APPLICANT])  # a new session logs in again
    delivery.close()

    mails = xoauth2_smtp_server.wait_for(3)
    assert [m.data for m in mails] == [make_message(n) for n in (1, 2, 3)]
    assert all(m.authenticated_as == xoauth2_smtp_server.username for m in mails)
    user = xoauth2_smtp_server.username
    assert xoauth2_smtp_server.attempts == [XOAuth2Attempt(user, "token-one", True)] * 2
    assert (tmp_path / "runs").read_text() == "1"  # cached for its hour, not run per session


def test_refused_token_is_temporary_sends_nothing_and_is_asked_for_again(
        xoauth2_smtp_server: XOAuth2SmtpServer, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    xoauth2_smtp_server.accept_token("fresh-token")
    command = token_script(tmp_path, token_json("revoked-token"))
    delivery = SmtpDelivery(with_token_command(xoauth2_smtp_server, command))

    with pytest.raises(DeliveryError) as caught:
        delivery.send(make_message(1), OUR_ADDRESS, [APPLICANT])

    assert caught.value.permanent is False and caught.value.smtp_code == 535
    assert str(caught.value) == (f"SMTP xoauth2 login refused for {xoauth2_smtp_server.username}"
                                 ": 535 5.7.3 Authentication unsuccessful")
    sent = base64.b64encode(f"user={xoauth2_smtp_server.username}\x01auth=Bearer "
                            "revoked-token\x01\x01".encode()).decode()
    for text in (str(caught.value), caplog.text):
        assert "revoked-token" not in text and sent not in text
    [refused] = xoauth2_smtp_server.attempts
    assert (refused.token, refused.accepted) == ("revoked-token", False)
    assert refused.answer_to_error == b""  # the empty line that ends a refused exchange
    assert xoauth2_smtp_server.xoauth2.mail_commands == 0 and xoauth2_smtp_server.received == []

    token_script(tmp_path, token_json("fresh-token"))  # the token service issues a new one
    delivery.send(make_message(1), OUR_ADDRESS, [APPLICANT])
    delivery.close()
    assert (tmp_path / "runs").read_text() == "2"  # the cached token was dropped
    assert xoauth2_smtp_server.wait_for(1)[0].authenticated_as == xoauth2_smtp_server.username
    assert xoauth2_smtp_server.attempts[-1].token == "fresh-token"


def test_xoauth2_after_starttls_with_a_token_file(xoauth2_smtp_server: XOAuth2SmtpServer,
                                                  tmp_path: Path) -> None:
    token_file = tmp_path / "smtp-token"
    token_file.write_text("file-token\n")  # another process keeps it fresh
    xoauth2_smtp_server.accept_token("file-token")
    settings = settings_for(xoauth2_smtp_server, security="starttls",
                            tls_ca_file=xoauth2_smtp_server.ca_file,
                            username=xoauth2_smtp_server.username, auth="xoauth2",
                            oauth2_token_file=token_file)
    assert SmtpDelivery(settings).send(make_message(1), OUR_ADDRESS, [APPLICANT]) \
        .startswith("250 ")
    assert xoauth2_smtp_server.wait_for(1)[0].authenticated_as == xoauth2_smtp_server.username


def test_failing_token_command_is_temporary_and_never_reaches_the_relay(
        xoauth2_smtp_server: XOAuth2SmtpServer, tmp_path: Path) -> None:
    command = token_script(tmp_path, "printed-secret", exit_code=2)
    with pytest.raises(DeliveryError) as caught:
        SmtpDelivery(with_token_command(xoauth2_smtp_server, command)).send(
            make_message(1), OUR_ADDRESS, [APPLICANT])
    assert caught.value.permanent is False and caught.value.smtp_code is None
    assert "token command exited with 2: token service says no" in str(caught.value)
    assert "printed-secret" not in str(caught.value)
    assert xoauth2_smtp_server.attempts == [] and xoauth2_smtp_server.received == []


def test_a_relay_without_xoauth2_is_named_in_the_error(smtp_server: SmtpServer,
                                                       tmp_path: Path) -> None:
    command = token_script(tmp_path, token_json("some-token"))
    with pytest.raises(DeliveryError) as caught:
        SmtpDelivery(with_token_command(smtp_server, command)).send(
            make_message(1), OUR_ADDRESS, [APPLICANT])
    assert caught.value.permanent is False and caught.value.smtp_code == 504
    assert "Unrecognized authentication type" in str(caught.value)
    assert smtp_server.received == []
