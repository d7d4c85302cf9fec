"""An IMAP folder as a MailboxSource (imapclient): fetch without marking read, then file.

Every imapclient or socket error becomes a MailboxError, and the connection is dropped so that
the next call starts from a fresh login and SELECT: a half-known server state is never reused.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import ssl
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from config.errors import MailboxError, TokenError
from config.settings import MailboxSettings
from intake.mailbox.oauth import TokenSource, token_source_for
from intake.mailbox.sources import Cursor, uids_above
from parsers.headers import header_block
from storage.blobs import BlobStore
from storage.records import MailboxKey, RawMessage

log = logging.getLogger(__name__)
# imapclient's DEBUG protocol trace holds whole messages (patients' data): never let it through.
logging.getLogger("imapclient").setLevel(logging.INFO)

DELETED = b"\\Deleted"
SEEN = b"\\Seen"
_FOUND = b"found"  # marks a fetched item whose message was still there
# Fetch in chunks bounded by count and bytes, so that a backlog of 60 MB messages fits memory.
CHUNK_MAX_MESSAGES = 50
PIECE_BYTES = 4 * 1024 * 1024  # a message above this is fetched in pieces of this size
CHUNK_MAX_BYTES = 32 * 1024 * 1024
# RFC 2177: servers may drop an IDLE after 30 minutes; renew well before.
IDLE_RENEW_SECONDS = 25 * 60


def chunk_by_size(sizes: Iterable[tuple[int, int]], max_messages: int = CHUNK_MAX_MESSAGES,
                  max_bytes: int = CHUNK_MAX_BYTES) -> list[list[int]]:
    """Group (uid, size) pairs, in order, into chunks under both limits (a big one alone)."""
    chunks: list[list[int]] = []
    current: list[int] = []
    current_bytes = 0
    for uid, size in sizes:
        if current and (len(current) >= max_messages or current_bytes + size > max_bytes):
            chunks.append(current)
            current, current_bytes = [], 0
        current.append(uid)
        current_bytes += size
    if current:
        chunks.append(current)
    return chunks


@functools.lru_cache(maxsize=8)
def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """Return a verifying TLS context: the system's trust store, or the given CA bundle.

    Built once per CA file: loading the trust store costs more than the handshake itself.
    """
    return ssl.create_default_context(cafile=str(ca_file) if ca_file is not None else None)


def is_new_mail(responses: Iterable[Any]) -> bool:
    """Tell whether IDLE responses announce a new message (EXISTS or RECENT)."""
    return any(isinstance(r, tuple) and len(r) >= 2 and r[1] in (b"EXISTS", b"RECENT")
               for r in responses)


class ImapSource:
    """One IMAP folder of one account; connects lazily and reconnects after any error."""

    def __init__(self, settings: MailboxSettings, tokens: TokenSource | None = None,
                 blobs: BlobStore | None = None) -> None:
        if settings.type != "imap":
            raise MailboxError(f"{settings.name}: not an IMAP mailbox")
        self.settings = settings
        self._tokens = tokens
        self._blobs = blobs  # where a large message is written as it is fetched
        if tokens is None and settings.auth == "xoauth2":
            self._tokens = token_source_for(settings)
        self._client: IMAPClient | None = None
        self._uidvalidity: int | None = None
        self._known_folders: set[str] = set()

    @property
    def name(self) -> str:
        """The mailbox name from the settings."""
        return self.settings.name

    def __enter__(self) -> ImapSource:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    # --- connection ------------------------------------------------------------------------

    def connect(self) -> None:
        """Log in now (otherwise the first operation does)."""
        with self._translating("connect"):
            self._connected()

    def reconnect(self) -> None:
        """Drop the connection and log in again."""
        self._drop()
        self.connect()

    def close(self) -> None:
        """Log out; errors on the way out are of no interest."""
        client, self._client = self._client, None
        self._uidvalidity = None
        if client is not None:
            with contextlib.suppress(Exception):
                client.logout()

    def _connected(self) -> IMAPClient:
        """Return the logged-in client, connecting first when needed."""
        if self._client is None:
            s = self.settings
            try:
                self._client = self._open()
            except (IMAPClientError, OSError) as exc:
                raise MailboxError(f"{self.name}: connect to {s.host}:{s.port} as {s.username} "
                                   f"failed: {type(exc).__name__}: {exc}") from exc
            self._known_folders.clear()
        return self._client

    def _open(self) -> IMAPClient:
        """Connect with the configured security and log in."""
        s = self.settings
        use_tls = s.security == "tls"
        context = tls_context(s.tls_ca_file)
        client = IMAPClient(s.host, s.port, ssl=use_tls, timeout=s.timeout_seconds,
                            ssl_context=context if use_tls else None)
        try:
            if s.security == "starttls":
                client.starttls(context)
            self._login(client)
        except BaseException:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        # Timezone-aware INTERNALDATE instead of naive local time.
        client.normalise_times = False
        log.info("%s: connected to %s:%d as %s", self.name, s.host, s.port, s.username)
        return client

    def _login(self, client: IMAPClient) -> None:
        """Log in with the password or an XOAUTH2 bearer token."""
        s = self.settings
        if s.auth == "xoauth2":
            assert self._tokens is not None
            try:
                token = self._tokens.token()
            except TokenError as exc:
                raise MailboxError(f"{self.name}: {exc}") from exc
            try:
                client.oauth2_login(s.username, token.reveal())
            except IMAPClientError:
                self._tokens.invalidate()  # the next attempt asks for a fresh token
                raise
            return
        if s.password is None:
            raise MailboxError(f"{self.name}: no password available")
        client.login(s.username, s.password.reveal())

    def _drop(self) -> None:
        """Forget the connection after an error; the next call reconnects."""
        client, self._client = self._client, None
        self._uidvalidity = None
        if client is not None:
            with contextlib.suppress(Exception):
                client.shutdown()

    @contextlib.contextmanager
    def _translating(self, operation: str) -> Iterator[None]:
        """Turn imapclient and socket errors into MailboxError and drop the connection."""
        try:
            yield
        except MailboxError:
            raise
        except (IMAPClientError, OSError) as exc:
            self._drop()
            raise MailboxError(f"{self.name}: {operation} failed: "
                               f"{type(exc).__name__}: {exc}") from exc

    def _selected(self) -> IMAPClient:
        """Return the client with the intake folder selected (read-write)."""
        client = self._connected()
        if self._uidvalidity is None:
            response = client.select_folder(self.settings.folder)
            self._uidvalidity = int(response[b"UIDVALIDITY"])
        return client

    # --- reading ---------------------------------------------------------------------------

    def current_uidvalidity(self) -> int:
        """Return the folder's UIDVALIDITY (selecting it afresh)."""
        with self._translating("select"):
            self._uidvalidity = None
            self._selected()
            assert self._uidvalidity is not None
            return self._uidvalidity

    def fetch_new(self, cursor: Cursor | None) -> Iterator[RawMessage]:
        """Yield the messages above the cursor in UID order, fetched with BODY.PEEK[]."""
        uidvalidity = self.current_uidvalidity()
        with self._translating("search"):
            uids = self._search_new(cursor, uidvalidity)
            sizes = self._sizes(uids) if uids else []
        log.info("%s: %d new message(s) in %s", self.name, len(uids), self.settings.folder)
        size_of = dict(sizes)
        for chunk in chunk_by_size(sizes):
            with self._translating("fetch"):
                if len(chunk) == 1 and size_of[chunk[0]] > PIECE_BYTES:
                    messages = self._fetch_in_pieces(chunk[0], uidvalidity)
                else:
                    messages = self._fetch_chunk(chunk, uidvalidity)
            yield from messages

    def _search_new(self, cursor: Cursor | None, uidvalidity: int) -> list[int]:
        """UID SEARCH for messages above the cursor that are not deleted or filed."""
        low = cursor[1] + 1 if cursor is not None and cursor[0] == uidvalidity else 1
        criteria: list[Any] = ["UID", f"{low}:*", "NOT", "DELETED"]
        if self.settings.on_success == "flag":
            criteria += ["UNKEYWORD", self.settings.flag_keyword]
        found = [int(uid) for uid in self._selected().search(criteria)]
        # "n:*" always matches the last message, even below n: filter here.
        return uids_above(found, cursor, uidvalidity)

    def _sizes(self, uids: list[int]) -> list[tuple[int, int]]:
        """Return (uid, size) in UID order for the messages still there."""
        data = self._selected().fetch(uids, ["RFC822.SIZE"])
        return [(uid, int(data[uid][b"RFC822.SIZE"])) for uid in uids if uid in data]

    def _fetch_chunk(self, uids: list[int], uidvalidity: int) -> list[RawMessage]:
        """Fetch one chunk; a UIDVALIDITY change in between ends the batch early."""
        client = self._selected()
        if self._uidvalidity != uidvalidity:
            log.warning("%s: UIDVALIDITY changed during a fetch; the next poll starts over",
                        self.name)
            return []
        data = client.fetch(uids, ["BODY.PEEK[]", "INTERNALDATE", "FLAGS"])
        return [self._record(uid, data[uid], uidvalidity) for uid in uids if uid in data]

    def _fetch_in_pieces(self, uid: int, uidvalidity: int) -> list[RawMessage]:
        """Fetch a large message in partial pieces (RFC 3501 BODY[]<offset.length>).

        One FETCH of the whole message holds it about three times over while the response
        is read and parsed (measured: +208 MB for a 68 MB message). With a blob store, each
        piece is written to it as it arrives and only the header block is kept in memory;
        without one, the pieces are joined.
        """
        client = self._selected()
        if self._uidvalidity != uidvalidity:
            return self._fetch_chunk([uid], uidvalidity)  # logs and ends the batch
        item: dict[bytes, Any] = {}
        pieces = self._pieces(client, uid, item)
        if self._blobs is None:
            item[b"BODY[]"] = b"".join(pieces)
            return [self._record(uid, item, uidvalidity)] if item.get(_FOUND) else []
        writer = self._blobs.writer()
        head = b""
        try:
            for piece in pieces:
                head = head or header_block(piece)
                writer.write(piece)
            if not item.get(_FOUND):
                return []
            sha = writer.commit()
        finally:
            writer.close()
        return [self._record(uid, item | {b"BODY[]": head}, uidvalidity,
                             sha256=sha, stored_size=writer.size)]

    def _pieces(self, client: IMAPClient, uid: int, item: dict[bytes, Any]) -> Iterator[bytes]:
        """Yield a message's pieces in order; put its date and flags in ``item``.

        ``item`` stays without the _FOUND mark when the message was expunged meanwhile.
        """
        offset = 0
        while True:
            first = not item
            wanted = [f"BODY.PEEK[]<{offset}.{PIECE_BYTES}>"]
            data = client.fetch([uid], wanted + (["INTERNALDATE", "FLAGS"] if first else []))
            if uid not in data:
                item.pop(_FOUND, None)
                return  # expunged meanwhile: nothing to keep
            if first:  # the date and flags, without the piece itself
                item.update({k: v for k, v in data[uid].items() if not k.startswith(b"BODY[]")})
                item[_FOUND] = True
            piece = bytes(data[uid].get(f"BODY[]<{offset}>".encode()) or b"")
            del data
            yield piece
            offset += len(piece)
            if len(piece) < PIECE_BYTES:
                return

    def _record(self, uid: int, item: dict[bytes, Any], uidvalidity: int, *, sha256: str = "",
                stored_size: int | None = None) -> RawMessage:
        """Build the RawMessage for one FETCH response."""
        key = MailboxKey(self.name, self.settings.folder, uidvalidity, uid)
        flags = tuple(f.decode() if isinstance(f, bytes) else str(f)
                      for f in item.get(b"FLAGS", ()))
        return RawMessage(key=key, data=bytes(item[b"BODY[]"]), sha256=sha256,
                          stored_size=stored_size,
                          received_at=_utc(item.get(b"INTERNALDATE")), flags=flags)

    # --- filing ----------------------------------------------------------------------------

    def mark_done(self, key: MailboxKey) -> None:
        """Move the message to processed_folder, or add flag_keyword (on_success = flag)."""
        self.mark_all_done([key])

    def mark_all_done(self, keys: Sequence[MailboxKey]) -> None:
        """Move the messages to processed_folder (one MOVE), or flag them (on_success = flag)."""
        with self._translating("mark done"):
            uids = self._still_here(keys)
            if not uids:
                return
            if self.settings.on_success == "flag":
                self._selected().add_flags(uids, [self.settings.flag_keyword], silent=True)
                log.info("%s: uid %s flagged %s", self.name, _uid_list(uids),
                         self.settings.flag_keyword)
                return
            self._move(uids, self.settings.processed_folder)

    def mark_failed(self, key: MailboxKey, reason: str) -> None:
        """Move the message to attention_folder for a person to look at."""
        with self._translating("mark failed"):
            if not self._still_here([key]):
                return
            self._move([key.uid], self.settings.attention_folder)
            log.warning("%s: uid %d needs attention: %s", self.name, key.uid, reason)

    def append_sent(self, raws: Sequence[bytes]) -> None:
        """Append copies of sent messages, marked read, to sent_folder (if configured).

        One MULTIAPPEND (RFC 3502) where the server has it: one command and one save for
        all of them, where APPEND one at a time cost a round trip and a sync each.
        """
        folder = self.settings.sent_folder
        if not folder or not raws:
            return
        with self._translating("append to sent folder"):
            self._ensure_folder(folder)
            client = self._connected()
            if len(raws) > 1 and client.has_capability("MULTIAPPEND"):
                client.multiappend(folder, [{"msg": raw, "flags": (SEEN,)} for raw in raws])
                return
            for raw in raws:
                client.append(folder, raw, flags=(SEEN,))

    def _still_here(self, keys: Sequence[MailboxKey]) -> list[int]:
        """Return the UIDs of the keys' messages still in the folder (a retry finds some gone)."""
        for key in keys:
            if key.mailbox != self.name or key.folder != self.settings.folder:
                raise MailboxError(f"{self.name}: {key} belongs to another mailbox or folder")
        client = self._selected()
        wanted = [key.uid for key in keys if key.uidvalidity == self._uidvalidity]
        if len(wanted) < len(keys):
            # The UID now means another message; the ledger meets it again under its new key.
            log.warning("%s: UIDVALIDITY changed; uid %s left in place", self.name,
                        _uid_list([k.uid for k in keys if k.uidvalidity != self._uidvalidity]))
        if not wanted:
            return []
        found = {int(uid) for uid in client.search(["UID", _uid_list(wanted), "NOT", "DELETED"])}
        gone = [uid for uid in wanted if uid not in found]
        if gone:
            log.info("%s: uid %s already gone from %s", self.name, _uid_list(gone),
                     self.settings.folder)
        return [uid for uid in wanted if uid in found]

    def _move(self, uids: list[int], folder: str) -> None:
        """MOVE, or COPY + \\Deleted + UID EXPUNGE on a server without MOVE."""
        self._ensure_folder(folder)
        client = self._selected()
        if client.has_capability("MOVE"):
            client.move(uids, folder)
        else:
            client.copy(uids, folder)
            client.add_flags(uids, [DELETED], silent=True)
            # Without UIDPLUS a plain EXPUNGE would also purge other \Deleted mail: leave it;
            # the search skips deleted messages.
            if client.has_capability("UIDPLUS"):
                client.uid_expunge(uids)
        log.info("%s: uid %s moved to %s", self.name, _uid_list(uids), folder)

    def _ensure_folder(self, folder: str) -> None:
        """Create (and subscribe) a folder unless it exists."""
        if folder in self._known_folders:
            return
        client = self._connected()
        if not client.folder_exists(folder):
            try:
                client.create_folder(folder)
            except IMAPClientError:
                if not client.folder_exists(folder):  # someone else created it meanwhile
                    raise
            with contextlib.suppress(IMAPClientError):
                client.subscribe_folder(folder)
            log.info("%s: created folder %s", self.name, folder)
        self._known_folders.add(folder)

    # --- push ------------------------------------------------------------------------------

    def idle_wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds in IMAP IDLE; return True when new mail arrives."""
        with self._translating("idle"):
            client = self._selected()
            if not client.has_capability("IDLE"):
                raise MailboxError(f"{self.name}: the server does not offer IDLE")
            deadline = time.monotonic() + timeout
            while (remaining := deadline - time.monotonic()) > 0:
                if self._idle_round(client, min(remaining, IDLE_RENEW_SECONDS)):
                    return True
            return False

    def _idle_round(self, client: IMAPClient, seconds: float) -> bool:
        """One IDLE command, ended with DONE after ``seconds`` or at the first new mail."""
        client.idle()
        deadline = time.monotonic() + seconds
        seen = False
        try:
            while not seen and (remaining := deadline - time.monotonic()) > 0:
                seen = is_new_mail(client.idle_check(timeout=remaining))
        finally:
            _text, done_responses = client.idle_done()
        return seen or is_new_mail(done_responses)


def _uid_list(uids: Iterable[int]) -> str:
    """Return UIDs as an IMAP sequence set ("4,5,9"), also fit for a log line."""
    return ",".join(str(uid) for uid in uids)


def _utc(value: Any) -> datetime:
    """Return INTERNALDATE in UTC (now, if the server sent none)."""
    if not isinstance(value, datetime):
        return datetime.now(UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
