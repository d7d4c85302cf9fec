"""Real servers for the tests: Dovecot (IMAP) and aiosmtpd (SMTP), started by the tests.

Fixtures:
- ``dovecot`` (session): a Dovecot started with a throwaway configuration on loopback ports
  (plain IMAP with STARTTLS on ``port``, implicit TLS on ``tls_port``, certificate signed by
  the throwaway CA ``ca_file``), with a default user; ``add_user()`` makes more,
  ``stop()`` / ``start()`` / ``restart()`` simulate an outage.
- ``mailbox_user`` (function): a new Dovecot user with an empty Maildir for one test.
- ``smtp_server`` (function): an aiosmtpd Controller on a loopback port (STARTTLS offered,
  AUTH with ``username``/``password``) that records every envelope; it can be stopped and
  started, and told to answer 4xx or 5xx.
- ``tls_files`` (session): the throwaway CA and server certificate.
- ``oauth2_dovecot`` (session): a second Dovecot whose users may also log in with AUTH
  XOAUTH2, the bearer tokens checked by an introspection endpoint (RFC 7662) run by the test
  (``introspection.grant(token, user)``).
- ``xoauth2_smtp_server`` (function): an ``smtp_server`` that also speaks AUTH XOAUTH2 and
  checks the exchange (``accept_token(token)``, ``attempts``).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import grp
import http.server
import ipaddress
import itertools
import json
import os
import pwd
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session
from imapclient import IMAPClient

HOST = "127.0.0.1"
DOVECOT_MISSING = "dovecot not installed: run make test-deps"
_APPENDUID = re.compile(rb"APPENDUID \d+ (\d+)")
_user_numbers = itertools.count(1)
_usage = {"dovecot": 0, "smtp": 0}
_DOVECOT_FIXTURES = {"dovecot", "mailbox_user", "oauth2_dovecot"}
_SMTP_FIXTURES = {"smtp_server", "xoauth2_smtp_server"}


def free_port() -> int:
    """Return a loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def port_open(port: int) -> bool:
    """Tell whether something accepts connections on the loopback port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((HOST, port)) == 0


def wait_port(port: int, *, is_open: bool, timeout: float = 15.0) -> None:
    """Wait until the port is open (or closed), or fail the test."""
    deadline = time.monotonic() + timeout
    while port_open(port) != is_open:
        if time.monotonic() > deadline:
            state = "open" if is_open else "closed"
            raise RuntimeError(f"port {port} not {state} after {timeout} s")
        time.sleep(0.05)


# --- TLS ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it (PEM files)."""

    ca: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        """A server-side TLS context with the certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_tls_files(directory: Path) -> TlsFiles:
    """Write a CA and a server certificate (127.0.0.1, localhost) into a directory."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    def build(subject: str, issuer: str, public: Any, signer: Any,
              ca: bool) -> x509.Certificate:
        now = datetime.now(UTC)
        builder = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
                   .public_key(public).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(days=1))
                   .not_valid_after(now + timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(public),
                                  critical=False))
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")]),
                critical=False).add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = build("intake test CA", "intake test CA", ca_key.public_key(), ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = build(HOST, "intake test CA", key.public_key(), ca_key, False)
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return files


# --- Dovecot -------------------------------------------------------------------------------

_DOVECOT_CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
listen = {host}
protocols = imap
ssl = yes
ssl_cert = <{root}/tls/cert.pem
ssl_key = <{root}/tls/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
mail_uid = nobody
mail_gid = nogroup
first_valid_uid = 1
first_valid_gid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd.d/%u
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd.d/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = create
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    address = {host}
    port = {tls_port}
  }}
}}
"""


@dataclass
class MailboxUser:
    """One Dovecot user with helpers that speak IMAP to it (plain text, loopback)."""

    host: str
    port: int
    user: str
    password: str
    home: Path
    tls_port: int = 0
    ca_file: Path | None = None

    @property
    def maildir(self) -> Path:
        """The user's Maildir on disk (owned by nobody)."""
        return self.home / "Maildir"

    @contextlib.contextmanager
    def client(self) -> Iterator[IMAPClient]:
        """Yield an IMAPClient logged in as this user (ssl=False: the test port is plain)."""
        imap = IMAPClient(self.host, self.port, ssl=False, timeout=30)
        try:
            imap.login(self.user, self.password)
            yield imap
        finally:
            with contextlib.suppress(Exception):
                imap.logout()

    def append(self, folder: str, message: bytes, flags: Sequence[str] = ()) -> int:
        """Append a message and return its UID (the server's APPENDUID)."""
        with self.client() as imap:
            if not imap.folder_exists(folder):
                imap.create_folder(folder)
            response = imap.append(folder, message, flags=tuple(flags))
        match = _APPENDUID.search(response if isinstance(response, bytes) else b"")
        if match is None:
            raise RuntimeError(f"no APPENDUID in {response!r}")
        return int(match.group(1))

    def folder_uids(self, folder: str) -> list[int]:
        """Return the UIDs in a folder ([] when it does not exist)."""
        with self.client() as imap:
            if not imap.folder_exists(folder):
                return []
            imap.select_folder(folder, readonly=True)
            return sorted(int(uid) for uid in imap.search(["ALL"]))

    def fetch_all(self, folder: str) -> list[bytes]:
        """Return every message of a folder in UID order, without marking them read."""
        with self.client() as imap:
            if not imap.folder_exists(folder):
                return []
            imap.select_folder(folder, readonly=True)
            uids = sorted(imap.search(["ALL"]))
            data = imap.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
            return [bytes(data[uid][b"BODY[]"]) for uid in uids]

    def flags(self, folder: str) -> dict[int, tuple[str, ...]]:
        """Return UID -> flags for a folder."""
        with self.client() as imap:
            imap.select_folder(folder, readonly=True)
            uids = imap.search(["ALL"])
            data = imap.fetch(uids, ["FLAGS"]) if uids else {}
            return {int(uid): tuple(_text(f) for f in item[b"FLAGS"])
                    for uid, item in data.items()}

    def uidvalidity(self, folder: str) -> int:
        """Return a folder's UIDVALIDITY."""
        with self.client() as imap:
            return int(imap.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"])

    def create_folder(self, folder: str) -> None:
        """Create a folder unless it exists."""
        with self.client() as imap:
            if not imap.folder_exists(folder):
                imap.create_folder(folder)

    def delete_folder(self, folder: str) -> None:
        """Delete a folder and its messages."""
        with self.client() as imap:
            imap.delete_folder(folder)

    def folders(self) -> list[str]:
        """Return the names of the user's folders."""
        with self.client() as imap:
            return sorted(_text(name) for _flags, _sep, name in imap.list_folders())


def _text(value: Any) -> str:
    """Decode an IMAP atom that imapclient may hand back as bytes."""
    return value.decode() if isinstance(value, bytes) else str(value)


class DovecotServer:
    """A Dovecot master process with its own configuration, state and users in a temp dir."""

    def __init__(self, dovecot: str) -> None:
        self.dovecot = dovecot
        self.host = HOST
        self.port = free_port()
        # /tmp/pytest-of-root is 0700: nobody could not reach the Maildirs under it.
        self.root = Path(tempfile.mkdtemp(prefix="intake-dovecot-"))
        self.root.chmod(0o755)
        self.tls_port = free_port()
        # Plain IMAP (and STARTTLS) on ``port``, implicit TLS on ``tls_port``; trust ``ca_file``.
        self.tls = make_tls_files(self.root / "tls")
        self.ca_file = self.tls.ca
        self.config = self.root / "dovecot.conf"
        # One passwd-file per user: a new user is a new file, never a reload of an old one
        # (Dovecot would miss a second change to a file within the same second).
        self.users_dir = self.root / "passwd.d"
        self.users_dir.mkdir()
        self.config.write_text(_DOVECOT_CONF.format(root=self.root, host=HOST, port=self.port,
                                                    tls_port=self.tls_port))
        self.default = self.add_user("intake")

    # The default user, so that ``dovecot.append(...)`` works without a mailbox_user.
    @property
    def user(self) -> str:
        """The default user's name."""
        return self.default.user

    @property
    def password(self) -> str:
        """The default user's password."""
        return self.default.password

    @property
    def maildir(self) -> Path:
        """The default user's Maildir on disk."""
        return self.default.maildir

    def client(self) -> contextlib.AbstractContextManager[IMAPClient]:
        """An IMAPClient logged in as the default user."""
        return self.default.client()

    def append(self, folder: str, message: bytes, flags: Sequence[str] = ()) -> int:
        """Append a message for the default user and return its UID."""
        return self.default.append(folder, message, flags)

    def folder_uids(self, folder: str) -> list[int]:
        """Return the UIDs in one of the default user's folders."""
        return self.default.folder_uids(folder)

    def fetch_all(self, folder: str) -> list[bytes]:
        """Return the messages in one of the default user's folders."""
        return self.default.fetch_all(folder)

    def create_folder(self, folder: str) -> None:
        """Create a folder for the default user."""
        self.default.create_folder(folder)

    def add_user(self, prefix: str = "user") -> MailboxUser:
        """Add a user with an empty home owned by nobody; Dovecot rereads the file itself."""
        name = f"{prefix}{next(_user_numbers)}"
        password = f"pw-{name}-{os.getpid()}"
        home = self.root / "home" / name
        home.mkdir(parents=True)
        home.parent.chmod(0o755)
        os.chown(home, pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid)
        (self.users_dir / name).write_text(f"{name}:{{PLAIN}}{password}::::{home}::\n")
        return MailboxUser(self.host, self.port, name, password, home, self.tls_port,
                           self.ca_file)

    def start(self) -> None:
        """Start the master process and wait until it listens."""
        # Output to a file, not a pipe: the daemonised master would hold a pipe open forever.
        with (self.root / "start.log").open("ab") as output:
            started = subprocess.run([self.dovecot, "-c", str(self.config)], check=False,
                                     stdout=output, stderr=output, timeout=30)
        if started.returncode != 0:
            raise RuntimeError(f"dovecot did not start:\n{self.log()}")
        wait_port(self.port, is_open=True)

    def stop(self) -> None:
        """Stop the master process and wait until the port is closed."""
        doveadm = shutil.which("doveadm") or "doveadm"
        subprocess.run([doveadm, "-c", str(self.config), "stop"], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        wait_port(self.port, is_open=False, timeout=20)
        self._wait_master_exit()

    def restart(self) -> None:
        """Stop and start again on the same port (mail is kept)."""
        self.stop()
        self.start()

    def _wait_master_exit(self, timeout: float = 10.0) -> None:
        """Wait for the master's pid file to go, so that a restart does not race it."""
        pid_file = self.root / "run" / "master.pid"
        deadline = time.monotonic() + timeout
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def log(self) -> str:
        """Return Dovecot's logs, for a failing test's message."""
        paths = (self.root / "start.log", self.root / "dovecot.log")
        return "".join(p.read_text(errors="replace") for p in paths if p.exists())

    def cleanup(self) -> None:
        """Stop the server and remove its directory."""
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _dovecot_binary() -> str:
    """Return the path of the dovecot binary, or fail the test (never skip it)."""
    found = shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.path.exists(p)), None)
    if found is None:
        pytest.fail(DOVECOT_MISSING, pytrace=False)
    if os.geteuid() != 0:
        pytest.fail("the Dovecot tests start Dovecot as root (mail_uid nobody): run them as root",
                    pytrace=False)
    return found


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """A Dovecot IMAP server for the whole session (plain IMAP on a loopback port)."""
    server = DovecotServer(_dovecot_binary())
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def mailbox_user(dovecot: DovecotServer) -> MailboxUser:
    """A fresh Dovecot user with an empty Maildir, so that tests never see each other's mail."""
    if not port_open(dovecot.port):
        dovecot.start()  # a test that stopped the server and failed before starting it again
    return dovecot.add_user()


# --- Dovecot with OAuth2 bearer tokens -------------------------------------------------------

class IntrospectionServer:
    """A token introspection endpoint on a loopback port (POST token=...), as Dovecot asks it.

    Answers ``{"active": true, "username": ...}`` for the tokens it was given, ``{"active":
    false}`` for any other, and keeps every token it was asked about.
    """

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.asked: list[str] = []
        self._http = http.server.ThreadingHTTPServer((HOST, 0), self._handler_class())
        self.port = int(self._http.server_address[1])
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """The endpoint's URL."""
        return f"http://{HOST}:{self.port}/introspect"

    def grant(self, token: str, username: str) -> None:
        """Make the token valid for the user."""
        self.tokens[token] = username

    def stop(self) -> None:
        """Stop answering."""
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=10)

    def _answer(self, body: bytes) -> dict[str, Any]:
        """Return the introspection answer for a form-encoded request body."""
        token = parse_qs(body.decode()).get("token", [""])[0]
        self.asked.append(token)
        if token in self.tokens:
            return {"active": True, "username": self.tokens[token]}
        return {"active": False}

    def _handler_class(self) -> type[http.server.BaseHTTPRequestHandler]:
        """A request handler bound to this server."""
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                reply = json.dumps(endpoint._answer(self.rfile.read(length))).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                """Keep the test output quiet."""

        return Handler


_OAUTH2_PASSDB = """\
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {ext}
}}
passdb {{
  driver = passwd-file
  mechanisms = plain login
"""

_OAUTH2_EXT = """\
introspection_mode = post
introspection_url = {url}
username_attribute = username
active_attribute = active
active_value = true
"""


class OAuth2DovecotServer(DovecotServer):
    """A DovecotServer that also takes XOAUTH2 and OAUTHBEARER, checked by introspection.

    Passwords still work for PLAIN and LOGIN (MailboxUser.append logs in with them); a bearer
    token is only ever checked by the oauth2 passdb, never compared with a password.
    """

    def __init__(self, dovecot: str, introspection: IntrospectionServer) -> None:
        super().__init__(dovecot)
        self.introspection = introspection
        ext = self.root / "dovecot-oauth2.conf.ext"
        ext.write_text(_OAUTH2_EXT.format(url=introspection.url))
        self.config.write_text(_with_oauth2(self.config.read_text(), ext))


def _with_oauth2(config: str, ext: Path) -> str:
    """Add the oauth2 passdb and the XOAUTH2 mechanisms to a test Dovecot configuration."""
    edits = {"auth_mechanisms = plain login\n":
             "auth_mechanisms = plain login xoauth2 oauthbearer\n",
             "passdb {\n  driver = passwd-file\n": _OAUTH2_PASSDB.format(ext=ext)}
    for old, new in edits.items():
        if old not in config:
            raise RuntimeError(f"the Dovecot test configuration no longer has {old!r}")
        config = config.replace(old, new, 1)
    return config


@pytest.fixture(scope="session")
def oauth2_dovecot() -> Iterator[OAuth2DovecotServer]:
    """A Dovecot of its own whose users log in with bearer tokens the test grants."""
    binary = _dovecot_binary()
    introspection = IntrospectionServer()
    server = OAuth2DovecotServer(binary, introspection)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()
        introspection.stop()


# --- SMTP ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReceivedMail:
    """One envelope as the SMTP server received it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    authenticated_as: str | None
    peer: str = ""  # the client's address and port: one per SMTP session


class RecordingHandler:
    """An aiosmtpd handler that keeps every envelope and can be told to refuse."""

    def __init__(self) -> None:
        self.received: list[ReceivedMail] = []
        self.condition = threading.Condition()
        self.data_reply: str | None = None
        self.rcpt_reply: str | None = None
        self.counter = itertools.count(1)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        """Accept the recipient unless the test asked for a refusal."""
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Record the envelope and answer like a real relay (or as the test asked)."""
        if self.data_reply is not None:
            return self.data_reply
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        mail = ReceivedMail(str(envelope.mail_from), tuple(envelope.rcpt_tos),
                            bytes(envelope.original_content or envelope.content or b""),
                            login.decode() if isinstance(login, bytes) else None,
                            str(session.peer))
        with self.condition:
            self.received.append(mail)
            self.condition.notify_all()
        return f"250 2.0.0 Ok: queued as TEST{next(self.counter):04d}"


class SmtpServer:
    """An aiosmtpd Controller on a loopback port: STARTTLS offered, AUTH allowed without it."""

    def __init__(self, tls: TlsFiles) -> None:
        self.host = HOST
        self.port = free_port()
        self.tls = tls
        self.ca_file = tls.ca
        self.username = "relay-user"
        self.password = "relay-secret"
        self.handler = RecordingHandler()
        self._controller: Controller | None = None

    @property
    def received(self) -> list[ReceivedMail]:
        """Every envelope received so far."""
        return self.handler.received

    def start(self) -> None:
        """Listen (again) on the same port."""
        self._controller = Controller(
            self.handler, hostname=self.host, port=self.port,
            authenticator=self._authenticate, auth_require_tls=False,
            tls_context=self.tls.server_context(),
            data_size_limit=200 * 1024 * 1024)
        self._controller.start()

    def stop(self) -> None:
        """Stop listening (an outage); received mail is kept."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        wait_port(self.port, is_open=False)

    def answer(self, *, data: str | None = None, rcpt: str | None = None) -> None:
        """Make the server answer DATA or RCPT with this reply, e.g. '451 4.3.0 Try later'."""
        self.handler.data_reply = data
        self.handler.rcpt_reply = rcpt

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        """Wait until at least ``count`` messages arrived and return them all."""
        with self.handler.condition:
            ok = self.handler.condition.wait_for(lambda: len(self.received) >= count, timeout)
        if not ok:
            raise AssertionError(f"expected {count} messages, got {len(self.received)}")
        return list(self.received)

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                      mechanism: str, auth_data: Any) -> AuthResult:
        """Accept only the fixture's user and password."""
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == self.username.encode()
              and auth_data.password == self.password.encode())
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


@dataclass(frozen=True)
class XOAuth2Attempt:
    """One AUTH XOAUTH2 exchange as the server saw it."""

    username: str
    token: str
    accepted: bool
    answer_to_error: bytes | None = None  # the client's answer to the error challenge


_XOAUTH2_RESPONSE = re.compile(rb"user=([^\x01]*)\x01auth=Bearer ([^\x01]*)\x01\x01")


class XOAuth2Handler(RecordingHandler):
    """A RecordingHandler whose server also speaks AUTH XOAUTH2, as Gmail and Microsoft 365 do.

    A refused token gets a 334 challenge with a JSON error; the client's answer (an empty
    line) is kept, then the server says 535. MAIL commands are counted.
    """

    def __init__(self, username: str) -> None:
        super().__init__()
        self.username = username
        self.valid_tokens: set[str] = set()
        self.attempts: list[XOAuth2Attempt] = []
        self.mail_commands = 0

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        """Check the initial response 'user=U^Aauth=Bearer T^A^A' (base64)."""
        if len(args) < 2:
            initial = await server.challenge_auth("")
            if initial is MISSING:
                return AuthResult(success=False, handled=True)
        else:
            try:
                initial = base64.b64decode(args[1], validate=True)
            except binascii.Error:
                await server.push("501 5.5.2 Cannot decode base64")
                return AuthResult(success=False, handled=True)
        assert isinstance(initial, bytes)
        match = _XOAUTH2_RESPONSE.fullmatch(initial)
        user, token = (match.group(1).decode(), match.group(2).decode()) if match else ("", "")
        if user == self.username and token in self.valid_tokens:
            self.attempts.append(XOAuth2Attempt(user, token, accepted=True))
            return AuthResult(success=True, handled=False,
                              auth_data=LoginPassword(user.encode(), token.encode()))
        error = json.dumps({"status": "401", "schemes": "bearer",
                            "scope": "https://outlook.office.com/SMTP.Send"})
        answer = await server.challenge_auth(error)
        self.attempts.append(XOAuth2Attempt(user, token, accepted=False,
                                            answer_to_error=answer
                                            if isinstance(answer, bytes) else None))
        if answer is MISSING:
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False,
                          message="535 5.7.3 Authentication unsuccessful")

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        """Count MAIL commands, then accept the sender."""
        self.mail_commands += 1
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"


class XOAuth2SmtpServer(SmtpServer):
    """An SmtpServer that also takes AUTH XOAUTH2 for its user with the tokens it accepts."""

    def __init__(self, tls: TlsFiles) -> None:
        super().__init__(tls)
        self.handler = self.xoauth2 = XOAuth2Handler(self.username)

    def accept_token(self, token: str) -> None:
        """Make a bearer token valid for the server's user."""
        self.xoauth2.valid_tokens.add(token)

    @property
    def attempts(self) -> list[XOAuth2Attempt]:
        """Every AUTH XOAUTH2 exchange so far."""
        return self.xoauth2.attempts


@pytest.fixture
def xoauth2_smtp_server(tls_files: TlsFiles) -> Iterator[XOAuth2SmtpServer]:
    """A real SMTP server for one test that checks AUTH XOAUTH2 exchanges."""
    server = XOAuth2SmtpServer(tls_files)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A throwaway CA and server certificate for the test servers."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def smtp_server(tls_files: TlsFiles) -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on a loopback port for one test, offering STARTTLS."""
    server = SmtpServer(tls_files)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- bookkeeping ---------------------------------------------------------------------------

def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by the servers they use, so that ``-m dovecot`` selects them."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & _DOVECOT_FIXTURES:
            item.add_marker(pytest.mark.dovecot)
        if names & _SMTP_FIXTURES:
            item.add_marker(pytest.mark.smtp)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Count the tests that use each server."""
    names = set(getattr(item, "fixturenames", ()))
    _usage["dovecot"] += bool(names & _DOVECOT_FIXTURES)
    _usage["smtp"] += bool(names & _SMTP_FIXTURES)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say how many tests ran against the real servers."""
    terminalreporter.write_line(
        f"Dovecot: {_usage['dovecot']} tests, SMTP: {_usage['smtp']} tests")
