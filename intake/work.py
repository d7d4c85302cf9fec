"""The record that travels through the pipeline's stages, one field filled per stage."""

from __future__ import annotations

from dataclasses import dataclass

from intake.records import MailboxKey
from parsers.records import Extraction, ParsedMessage
from triage.engine import ThreadHints
from triage.records import TriageResult


@dataclass(frozen=True)
class Work:
    """One message on its way: each stage returns a copy with its own part filled in."""

    ledger_id: int
    key: MailboxKey
    profile: str
    raw: bytes
    parsed: ParsedMessage | None = None
    extraction: Extraction | None = None
    hints: ThreadHints | None = None
    triage: TriageResult | None = None
