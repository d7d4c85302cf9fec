"""A local Maildir as a MailboxSource, with IMAP-like UIDs so that the cursor works the same.

Layout (Maildir++, as Dovecot writes it): the folder INBOX is the Maildir itself, other folders
are ``.<name>`` subdirectories (``.Processed``, ``.Needs-attention``). Beside the messages of
the intake folder live two small files of ours:

- ``.uidvalidity``: a number chosen once; it changes only if ``.uids`` is lost, so that a
  cursor from before then means "start over".
- ``.uids``: ``<uid> <maildir key>`` lines; a message gets the next UID the first time it is
  seen, in delivery order. Entries are never changed or removed; the file is rewritten whole
  through a temporary file and an atomic rename.

A message is read in place (never moved from ``new/`` to ``cur/``) and is moved only by
``mark_done`` or ``mark_failed``, with one rename.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import logging
import mailbox
import os
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from config.errors import MailboxError
from config.settings import MailboxSettings
from intake.mailbox.sources import Cursor, uids_above
from storage.records import MailboxKey, RawMessage

log = logging.getLogger(__name__)

UIDVALIDITY_FILE = ".uidvalidity"
UIDS_FILE = ".uids"
LOCK_FILE = ".uids.lock"
UIDS_HEADER = "# derogation-intake: <uid> <maildir key>, never renumbered\n"
# Maildir info flags and the IMAP flags they stand for.
MAILDIR_FLAGS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen",
                 "T": "\\Deleted"}
_deliveries = itertools.count(1)


def maildir_key(filename: str) -> str:
    """Return the unique part of a Maildir file name (before the ':2,flags' info)."""
    return filename.split(":", 1)[0]


def flags_of(filename: str) -> tuple[str, ...]:
    """Return the IMAP flags that a Maildir file name's info part carries."""
    _key, _sep, info = filename.partition(":2,")
    return tuple(MAILDIR_FLAGS[c] for c in info if c in MAILDIR_FLAGS)


def scan(folder_dir: Path) -> dict[str, Path]:
    """Return key -> file for every message in a Maildir folder's new/ and cur/."""
    found: dict[str, Path] = {}
    for sub in ("new", "cur"):
        directory = folder_dir / sub
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(directory):
                if not entry.name.startswith(".") and entry.is_file():
                    found[maildir_key(entry.name)] = Path(entry.path)
    return found


def write_atomically(path: Path, text: str) -> None:
    """Replace a file's content so that a crash leaves the old or the new file, whole."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make a rename in a directory durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def unique_name(tag: str = "") -> str:
    """Return a Maildir file name no other delivery uses (time, pid, counter, host)."""
    now = time.time()
    host = socket.gethostname().replace("/", "\\057").replace(":", "\\072")
    extra = f".{tag}" if tag else ""
    return f"{int(now)}.M{int(now % 1 * 1e6)}P{os.getpid()}Q{next(_deliveries)}{extra}.{host}"


def store_message(folder_dir: Path, raw: bytes, *, seen: bool = False, tag: str = "") -> Path:
    """Deliver bytes unchanged into a Maildir folder: write in tmp/, fsync, link into place."""
    for sub in ("tmp", "new", "cur"):
        (folder_dir / sub).mkdir(parents=True, exist_ok=True)
    name = unique_name(tag)
    temporary = folder_dir / "tmp" / name
    with temporary.open("xb") as handle:
        handle.write(raw)
        handle.flush()
        os.fsync(handle.fileno())
    target = folder_dir / "cur" / f"{name}:2,S" if seen else folder_dir / "new" / name
    try:
        os.link(temporary, target)
    finally:
        temporary.unlink()
    _fsync_dir(target.parent)
    return target


def give_to_owner_of(root: Path, created: Path) -> None:
    """Give what we created to the Maildir's owner (we may run as root beside the server)."""
    owner = root.stat()
    if os.geteuid() != 0 or owner.st_uid == os.geteuid():
        return
    for path in (created, *created.rglob("*")):
        os.chown(path, owner.st_uid, owner.st_gid, follow_symlinks=False)


class UidMap:
    """The ``.uidvalidity`` and ``.uids`` files of one folder."""

    def __init__(self, folder_dir: Path) -> None:
        self.folder_dir = folder_dir
        self.uids_path = folder_dir / UIDS_FILE
        self.validity_path = folder_dir / UIDVALIDITY_FILE

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold an exclusive lock so that two processes never hand out the same UID."""
        with (self.folder_dir / LOCK_FILE).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def sync(self, present: Mapping[str, Path]) -> tuple[int, dict[str, int]]:
        """Give UIDs to messages seen for the first time; return (uidvalidity, key -> uid)."""
        with self.locked():
            if not self.uids_path.exists():
                self._start_over()
            uidvalidity = int(self.validity_path.read_text().strip())
            uid_of = self._read()
            fresh = sorted((k for k in present if k not in uid_of),
                           key=lambda k: (_mtime_ns(present[k]), k))
            if fresh:
                uid_of = self._assign(uid_of, fresh)
            return uidvalidity, uid_of

    def _start_over(self) -> None:
        """Choose a new UIDVALIDITY above any earlier one and begin an empty map."""
        previous = 0
        with contextlib.suppress(FileNotFoundError, ValueError):
            previous = int(self.validity_path.read_text().strip())
        write_atomically(self.validity_path, f"{max(int(time.time()), previous + 1)}\n")
        write_atomically(self.uids_path, UIDS_HEADER)

    def _read(self) -> dict[str, int]:
        """Read the map; a malformed line means the file was damaged: refuse to guess."""
        uid_of: dict[str, int] = {}
        for number, line in enumerate(self.uids_path.read_text("utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            uid_text, _sep, key = line.partition(" ")
            if not uid_text.isdigit() or not key:
                raise MailboxError(f"{self.uids_path}:{number}: damaged UID map line")
            uid_of[key] = int(uid_text)
        return uid_of

    def _assign(self, uid_of: dict[str, int], fresh: list[str]) -> dict[str, int]:
        """Append UIDs for new keys and write the whole map atomically."""
        next_uid = max(uid_of.values(), default=0) + 1
        updated = dict(uid_of)
        for offset, key in enumerate(fresh):
            updated[key] = next_uid + offset
        lines = [f"{uid} {key}\n" for key, uid in sorted(updated.items(), key=lambda kv: kv[1])]
        write_atomically(self.uids_path, UIDS_HEADER + "".join(lines))
        return updated


def _mtime_ns(path: Path) -> int:
    """Return a file's modification time (delivery time), 0 if it vanished."""
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


class MaildirSource:
    """One folder of a local Maildir, read like an IMAP folder."""

    def __init__(self, settings: MailboxSettings, data_dir: Path) -> None:
        self.settings = settings
        self.root = settings.path or data_dir / "maildir" / settings.name
        try:
            for sub in ("tmp", "new", "cur"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
            self._maildir = mailbox.Maildir(self.root, create=False)
            self.folder_dir = self._folder_dir(settings.folder)
        except OSError as exc:
            raise MailboxError(f"{self.name}: cannot open Maildir {self.root}: {exc}") from exc
        self._uids = UidMap(self.folder_dir)

    @property
    def name(self) -> str:
        """The mailbox name from the settings."""
        return self.settings.name

    def _folder_dir(self, folder: str) -> Path:
        """Return a folder's directory (INBOX is the root), creating it when missing."""
        if folder.upper() == "INBOX":
            return self.root
        directory = self.root / f".{folder}"
        if not (directory / "cur").is_dir():
            self._maildir.add_folder(folder)
            give_to_owner_of(self.root, directory)
        return directory

    def current_uidvalidity(self) -> int:
        """Return the folder's UIDVALIDITY."""
        return self._sync(scan(self.folder_dir))[0]

    def _sync(self, present: Mapping[str, Path]) -> tuple[int, dict[str, int]]:
        """Update the UID map for the messages present now."""
        try:
            return self._uids.sync(present)
        except OSError as exc:
            raise MailboxError(f"{self.name}: cannot update the UID map: {exc}") from exc

    def fetch_new(self, cursor: Cursor | None) -> Iterator[RawMessage]:
        """Yield the messages above the cursor in UID order; nothing is moved or flagged."""
        present = scan(self.folder_dir)
        uidvalidity, uid_of = self._sync(present)
        here = {uid_of[key]: key for key in present}
        wanted = uids_above(list(here), cursor, uidvalidity)
        log.info("%s: %d new message(s) in %s", self.name, len(wanted), self.settings.folder)
        for uid in wanted:
            message = self._read(here[uid], present[here[uid]], uid, uidvalidity)
            if message is not None:
                yield message

    def _read(self, key: str, path: Path, uid: int, uidvalidity: int) -> RawMessage | None:
        """Read one message; a mail reader may have moved it from new/ to cur/ meanwhile."""
        read = self._read_file(path) or self._read_file(scan(self.folder_dir).get(key))
        if read is None:
            log.info("%s: %s vanished before it could be read", self.name, key)
            return None
        found, data, stat = read
        return RawMessage(key=MailboxKey(self.name, self.settings.folder, uidvalidity, uid),
                          data=data, received_at=datetime.fromtimestamp(stat.st_mtime, UTC),
                          flags=flags_of(found.name))

    def _read_file(self, path: Path | None) -> tuple[Path, bytes, os.stat_result] | None:
        """Return a message file's path, bytes and status (mtime: delivery); None if gone."""
        if path is None:
            return None
        try:
            with path.open("rb") as handle:
                return path, handle.read(), os.fstat(handle.fileno())
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise MailboxError(f"{self.name}: cannot read {path}: {exc}") from exc

    def mark_done(self, key: MailboxKey) -> None:
        """Move the message to processed_folder."""
        self._move(key, self.settings.processed_folder)

    def mark_all_done(self, keys: Sequence[MailboxKey]) -> None:
        """Move the messages to processed_folder (a rename each: nothing to group)."""
        for key in keys:
            self.mark_done(key)

    def mark_failed(self, key: MailboxKey, reason: str) -> None:
        """Move the message to attention_folder for a person to look at."""
        if self._move(key, self.settings.attention_folder):
            log.warning("%s: uid %d needs attention: %s", self.name, key.uid, reason)

    def _move(self, key: MailboxKey, folder: str) -> bool:
        """Rename the message file into the folder's cur/; False when it is already gone."""
        path = self._locate(key)
        if path is None:
            return False
        try:
            target_dir = self._folder_dir(folder) / "cur"
            name = path.name if ":2," in path.name else f"{path.name}:2,"
            os.rename(path, target_dir / name)
            _fsync_dir(target_dir)
        except FileNotFoundError:
            log.info("%s: uid %d already gone from %s", self.name, key.uid, key.folder)
            return False
        except OSError as exc:
            raise MailboxError(f"{self.name}: cannot move uid {key.uid} to {folder}: "
                               f"{exc}") from exc
        log.info("%s: uid %d moved to %s", self.name, key.uid, folder)
        return True

    def _locate(self, key: MailboxKey) -> Path | None:
        """Return the file of a key's message, or None when it is no longer in the folder."""
        if key.mailbox != self.name or key.folder != self.settings.folder:
            raise MailboxError(f"{self.name}: {key} belongs to another mailbox or folder")
        present = scan(self.folder_dir)
        uidvalidity, uid_of = self._sync(present)
        if uidvalidity != key.uidvalidity:
            log.warning("%s: UIDVALIDITY changed; uid %d is left in place", self.name, key.uid)
            return None
        maildir_keys = [k for k, uid in uid_of.items() if uid == key.uid]
        path = present.get(maildir_keys[0]) if maildir_keys else None
        if path is None:
            log.info("%s: uid %d already gone from %s", self.name, key.uid, key.folder)
        return path

    def append_sent(self, raws: Sequence[bytes]) -> None:
        """Store copies of sent messages, marked read, in sent_folder (if configured)."""
        if not self.settings.sent_folder:
            return
        try:
            for raw in raws:
                stored = store_message(self._folder_dir(self.settings.sent_folder), raw,
                                       seen=True)
                give_to_owner_of(self.root, stored)
        except OSError as exc:
            raise MailboxError(f"{self.name}: cannot store the sent copy: {exc}") from exc

    def close(self) -> None:
        """Nothing is held open between calls."""
