"""The administrator's probe: parse and triage files with no database and no server."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

from config.profiles import Profile
from parsers.extract import extract_message
from parsers.mime import file_to_message
from parsers.records import Attachment, Limits, ParsedMessage
from parsers.sniff import sniff_type
from triage.caseref import find_case_ref
from triage.engine import triage_message
from triage.output import triage_to_json, triage_to_text
from triage.records import TriageResult
from triage.threading import ThreadHints

MESSAGE_SUFFIXES = {".eml", ".msg", ".txt", ".tnef", ""}


def load_as_message(path: Path, limits: Limits | None = None) -> ParsedMessage:
    """Read a message file, or wrap a bare PDF/DOCX in a message that carries it."""
    data = path.read_bytes()
    if path.suffix.lower() in MESSAGE_SUFFIXES:
        return file_to_message(data, path.name, limits or Limits())
    return document_as_message(path.name, data)


def document_as_message(filename: str, data: bytes) -> ParsedMessage:
    """Return a header-less message whose only attachment is the file."""
    content_type = sniff_type(data, filename)
    attachment = Attachment(filename=filename, declared_type=content_type,
                            content_type=content_type, data=data,
                            sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    return ParsedMessage(
        message_id=None, in_reply_to=(), references=(), sender=None, sender_name=None,
        reply_to=None, return_path=None, to=(), cc=(), subject=filename, date=None,
        headers=(), content_type="multipart/mixed", body_text="", body_html=None,
        attachments=(attachment,))


def probe_message(parsed: ParsedMessage, profile: Profile) -> TriageResult:
    """Extract and triage one parsed message with a profile's rules."""
    extraction = replace(extract_message(parsed, profile.extraction),
                         rules_version=profile.version)
    cited = find_case_ref([parsed.subject, parsed.body_text], profile.triage)
    hints = ThreadHints(cited_ref=cited, ref_known=None, thread_case=None)
    result = triage_message(parsed, extraction, profile.triage, profile.name, hints)
    return replace(result, rules_version=profile.version)


def probe_file(path: Path, profile: Profile, *, as_json: bool) -> str:
    """Return the probe's output for one file: a JSON line or a readable report."""
    parsed = load_as_message(path)
    result = probe_message(parsed, profile)
    if as_json:
        return json.dumps(triage_to_json(parsed, result), ensure_ascii=False, sort_keys=True)
    return f"== {path}\n{triage_to_text(parsed, result)}"
