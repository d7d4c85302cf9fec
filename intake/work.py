"""The record that travels through the pipeline's stages, one field filled per stage."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from parsers.records import Extraction, ParsedMessage
from storage.blobs import BlobStore
from storage.records import MailboxKey
from triage.records import TriageResult
from triage.threading import ThreadHints


@dataclass(frozen=True)
class BlobRef:
    """Where a recorded message's bytes are kept: a worker reads them there itself."""

    root: Path
    sha256: str

    def read(self) -> bytes:
        """Return the kept bytes, checked against their hash."""
        return BlobStore(self.root).get(self.sha256)


@dataclass(frozen=True)
class Work:
    """One message on its way: each stage returns a copy with its own part filled in."""

    ledger_id: int
    key: MailboxKey
    profile: str
    raw: bytes  # empty when raw_blob says where the bytes are
    raw_blob: BlobRef | None = None
    parsed: ParsedMessage | None = None
    extraction: Extraction | None = None
    hints: ThreadHints | None = None
    triage: TriageResult | None = None
