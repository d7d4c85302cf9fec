"""Handing outgoing messages over: to an SMTP relay, or into a local outbox Maildir.

``send`` returns the receiving side's final answer (kept on the outbox row); a failure is a
DeliveryError whose ``permanent`` tells the outbox whether a retry can help.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from config.errors import DeliveryError, TokenError
from config.settings import SmtpSettings
from intake.logs import address_token
from intake.mailbox.imap import tls_context
from intake.mailbox.maildir import scan, store_message
from intake.mailbox.oauth import TokenSource, token_source_for, xoauth2_response
from parsers.headers import raw_message_id

log = logging.getLogger(__name__)


class Delivery(Protocol):
    """Something that takes a finished message and hands it on."""

    def send(self, raw: bytes, sender: str, recipients: Sequence[str]) -> str:
        """Hand the message over; return the receiving side's final answer."""
        ...

    def contains(self, message_id: str) -> bool:
        """Tell whether a message with this Message-ID is known to have been handed over."""
        ...

    def close(self) -> None:
        """End whatever session the sends of one pass kept open."""
        ...


def open_delivery(settings: SmtpSettings, data_dir: Path) -> Delivery:
    """Return the delivery the settings ask for (SMTP relay or outbox Maildir)."""
    if settings.mode == "smtp":
        return SmtpDelivery(settings)
    return MaildirDelivery(settings.outbox_maildir or data_dir / "outbox")


def message_id_tag(message_id: str) -> str:
    """Return the short hash of a Message-ID that MaildirDelivery puts in file names."""
    return hashlib.sha256(message_id.strip().strip("<>").strip().encode()).hexdigest()[:20]


# --- SMTP ----------------------------------------------------------------------------------

MESSAGES_PER_SESSION = 50  # below the per-session limits relays commonly set (e.g. 100)

def _code_error(action: str, code: int, text: bytes | str) -> DeliveryError:
    """Build the DeliveryError for an SMTP reply code: 5xx is permanent, anything else not."""
    detail = text.decode(errors="replace") if isinstance(text, bytes) else text
    return DeliveryError(f"SMTP {action} refused: {code} {detail}",
                         permanent=500 <= code <= 599, smtp_code=code)


class SmtpDelivery:
    """Sends through an SMTP relay, one session for the messages of a pass (``close`` ends it)."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._tokens = token_source_for(settings) if settings.auth == "xoauth2" else None
        self._smtp: smtplib.SMTP | None = None
        self._sent_in_session = 0
        # The sender thread keeps the session open between passes while run's digest job
        # may send too: one SMTP transaction on the session at a time.
        self._lock = threading.RLock()

    def send(self, raw: bytes, sender: str, recipients: Sequence[str]) -> str:
        """Send one message; return the relay's answer to DATA, e.g. '250 2.0.0 Ok: queued'."""
        with self._lock:
            return self._send(raw, sender, recipients)

    def _send(self, raw: bytes, sender: str, recipients: Sequence[str]) -> str:
        """Send one message over the kept session (the lock held)."""
        if not recipients:
            raise DeliveryError("no recipients", permanent=True)
        try:
            smtp = self._session()
            try:
                answer = self._transfer(smtp, raw, sender, recipients)
            except BaseException:
                self.close()  # the session's state is unknown after a failed transaction
                raise
            self._sent_in_session += 1
            return answer
        except DeliveryError:
            raise
        except smtplib.SMTPResponseException as exc:
            raise _code_error("session", exc.smtp_code, exc.smtp_error) from exc
        except (smtplib.SMTPException, OSError) as exc:
            # Refused connections, time-outs, TLS failures, dropped sessions: try again later.
            raise DeliveryError(f"SMTP {self.settings.host}:{self.settings.port} unavailable: "
                                f"{type(exc).__name__}: {exc}", permanent=False) from exc

    def close(self) -> None:
        """End the open session, if any."""
        with self._lock:
            if self._smtp is not None:
                _quit(self._smtp)
                self._smtp = None
            self._sent_in_session = 0

    def _session(self) -> smtplib.SMTP:
        """Return a logged-in session: the open one when the relay still answers RSET.

        Nothing of a message has been sent when RSET fails, so opening a new session then
        cannot send anything twice. Relays limit the messages of one session, hence the cap.
        """
        if self._smtp is not None and self._sent_in_session < MESSAGES_PER_SESSION:
            try:
                if self._smtp.rset()[0] == 250:
                    return self._smtp
            except (smtplib.SMTPException, OSError):
                pass
        self.close()
        smtp = self._connect()
        try:
            self._login(smtp)
        except BaseException:
            _quit(smtp)
            raise
        self._smtp = smtp
        return smtp

    def contains(self, message_id: str) -> bool:
        """A relay cannot be asked what it received: never known."""
        return False

    def _connect(self) -> smtplib.SMTP:
        """Open the session with the configured security (TLS, STARTTLS or plain)."""
        s = self.settings
        # Verifying, against the system's trust store or the configured CA bundle.
        context = tls_context(s.tls_ca_file)
        if s.security == "tls":
            return smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_seconds, context=context)
        smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
        if s.security == "starttls":
            try:
                smtp.starttls(context=context)
            except BaseException:
                smtp.close()
                raise
        return smtp

    def _login(self, smtp: smtplib.SMTP) -> None:
        """Authenticate when a user is configured: password, or XOAUTH2 with a bearer token."""
        s = self.settings
        if not s.username:
            return
        try:
            if self._tokens is not None:
                self._xoauth2_login(smtp, self._tokens)
            else:
                smtp.login(s.username, s.password.reveal() if s.password is not None else "")
        except smtplib.SMTPAuthenticationError as exc:
            if self._tokens is not None:
                self._tokens.invalidate()  # the next session asks for a fresh token
            # Wrong credentials are the configuration's fault, not the message's: retry later.
            # The relay's text says why (e.g. Microsoft 365: authentication disabled).
            detail = exc.smtp_error.decode(errors="replace")[:200] \
                if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)[:200]
            raise DeliveryError(f"SMTP {s.auth} login refused for {s.username}: "
                                f"{exc.smtp_code} {detail}", permanent=False,
                                smtp_code=exc.smtp_code) from exc

    def _xoauth2_login(self, smtp: smtplib.SMTP, tokens: TokenSource) -> None:
        """AUTH XOAUTH2 with the token as initial response (smtplib encodes it in base64)."""
        try:
            token = tokens.token()
        except TokenError as exc:
            raise DeliveryError(f"SMTP login for {self.settings.username}: {exc}",
                                permanent=False) from exc
        response = xoauth2_response(self.settings.username, token)

        def answer(challenge: bytes | None = None) -> str:
            # A refusal comes as a 334 challenge holding a JSON error; the client must
            # answer it with an empty line, and the server then says 535.
            return response if challenge is None else ""

        smtp.ehlo_or_helo_if_needed()
        smtp.auth("XOAUTH2", answer)

    def _transfer(self, smtp: smtplib.SMTP, raw: bytes, sender: str,
                  recipients: Sequence[str]) -> str:
        """MAIL, RCPT for each recipient, DATA; return DATA's answer."""
        smtp.ehlo_or_helo_if_needed()
        code, text = smtp.mail(sender)
        if code != 250:
            raise _code_error("MAIL FROM", code, text)
        refused = self._recipients(smtp, recipients)
        if len(refused) == len(recipients):
            code, text = refused[0][1], refused[0][2]
            raise _code_error(f"RCPT TO <{refused[0][0]}>", code, text)
        code, text = smtp.data(raw)
        if code != 250:
            raise _code_error("DATA", code, text)
        for address, rcode, rtext in refused:
            log.warning("SMTP refused recipient %s: %d %s", address_token(address), rcode, rtext)
        return f"{code} {text.decode(errors='replace')}"

    @staticmethod
    def _recipients(smtp: smtplib.SMTP,
                    recipients: Sequence[str]) -> list[tuple[str, int, bytes]]:
        """Send RCPT TO for each address; return the refused ones with their answers."""
        refused = []
        for address in recipients:
            code, text = smtp.rcpt(address)
            if code not in (250, 251):
                refused.append((address, code, text))
        return refused


def _quit(smtp: smtplib.SMTP) -> None:
    """End the session; its answer no longer matters (the message's fate is decided)."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


# --- Maildir outbox ------------------------------------------------------------------------

class MaildirDelivery:
    """Writes each message whole into a Maildir (the local outbox), never half a file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def send(self, raw: bytes, sender: str, recipients: Sequence[str]) -> str:
        """Store the message with its envelope in new/; return where it went."""
        message_id = raw_message_id(raw)
        envelope = (f"Return-Path: <{sender}>\r\n"
                    f"X-Envelope-To: {', '.join(recipients)}\r\n").encode()
        try:
            stored = store_message(self.path, envelope + raw,
                                   tag=message_id_tag(message_id) if message_id else "")
        except OSError as exc:
            raise DeliveryError(f"cannot write to the outbox {self.path}: {exc}",
                                permanent=False) from exc
        log.debug("stored %s in %s", message_id, stored)
        return f"250 stored in {self.path} as {stored.name}"

    def close(self) -> None:
        """Nothing stays open between messages."""

    def contains(self, message_id: str) -> bool:
        """Tell whether a message with this Message-ID is in the outbox (new/ or cur/)."""
        tag = f".{message_id_tag(message_id)}."
        return any(tag in path.name for path in scan(self.path).values())
