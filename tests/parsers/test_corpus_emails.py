"""Every real e-mail of the shared corpus: parsed or refused with a known reason, never a crash;
and where the source projects' own tests state a fact about a file, ours agrees.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from config.errors import ParseError
from parsers.mime import file_to_message
from parsers.records import ParsedMessage

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
EMAILS = CORPUS / "emails"
if not EMAILS.is_dir():
    # Fail the collection, never skip: CI must run these against the real files.
    raise FileNotFoundError(f"the shared corpus is missing: {EMAILS}")

FILES = sorted(path.name for path in EMAILS.iterdir() if path.is_file())
KNOWN_REASONS = frozenset({"encrypted", "broken", "unsupported_format", "zip_bomb",
                           "too_large", "too_deep", "empty", "malformed_message"})

# Facts whose meaning we share with the source project, and how to read ours.
_COMPARED = frozenset({
    "subject", "subject (decoded)", "from address", "to address", "first To address",
    "number of To addresses", "message-id", "date (UTC)", "number of attachments",
    "attachments", "attachment filenames", "attachment long filenames", "attachment filename",
    "attachment file names", "filenames of the two parts", "attachment 1 long filename",
    "attachment 2 filename", "text body", "decoded body", "body",
})

# Where we deliberately differ from the source project: (file, fact) -> (our value, why).
EXCEPTIONS: dict[tuple[str, str], tuple[Any, str]] = {
    ("mailparser_mail_malformed_2.eml", "number of attachments"): (
        2, "the bounce's message/rfc822-headers part (the returned message's headers) is kept "
           "as a file; mail-parser drops message/* parts that carry no file name"),
    ("mailparser_mail_malformed_1.eml", "number of attachments"): (
        2, "the zip attachment is opened and its member (an .exe posing as a .jpg) is listed "
           "too, with the zip in its path; mail-parser leaves archives closed"),
    ("mailparser_mail_test_10.eml", "attachment file names"): (
        ["attachment-1.gif", "attachment-2.gif", "attachment-3.gif",
         "Move To Eight ZWEP6227F.pdf"],
        "nameless inline images are named attachment-N.ext; mail-parser names them after "
        "their Content-ID, which is not a file name"),
    ("cpython_msg_44.txt.eml", "filenames of the two parts"): (
        ["msg.txt", "msg-2.txt"],
        "two files with one name in one message are told apart, so that a report naming a "
        "file points at one file"),
    ("tnefparse_minimal_attachment.tnef", "attachment long filenames"): (
        ["attachment-1.bin"],
        "the attachment has no name at all; tnefparse's test supplies 'unknown.dat', we name "
        "nameless files attachment-N.ext as everywhere else"),
}


def _load_facts() -> list[tuple[str, str, Any]]:
    expectations = json.loads((CORPUS / "expectations.json").read_text(encoding="utf-8"))
    facts: list[tuple[str, str, Any]] = []
    for path, entry in expectations["files"].items():
        if path.startswith("emails/"):
            name = path.removeprefix("emails/")
            facts.extend((name, fact["what"], fact["value"]) for fact in entry["expect"]
                         if fact["what"] in _COMPARED)
    return facts


FACTS = _load_facts()


def _parse(name: str) -> ParsedMessage:
    return file_to_message((EMAILS / name).read_bytes(), name)


def test_the_corpus_is_all_there() -> None:
    assert len(FILES) >= 200
    assert len(FACTS) >= 60


@pytest.mark.parametrize("name", FILES)
def test_every_email_parses_or_is_refused_with_a_known_reason(name: str) -> None:
    try:
        parsed = _parse(name)
    except ParseError as refused:
        assert refused.reason in KNOWN_REASONS
        return
    assert isinstance(parsed, ParsedMessage)
    assert "\r" not in parsed.subject and "\n" not in parsed.subject
    assert all(name == name.lower() for name, _ in parsed.headers)
    for attachment in parsed.attachments:
        assert attachment.filename and "/" not in attachment.filename
        assert "\\" not in attachment.filename and not attachment.filename.startswith(".")
        assert attachment.sha256 == hashlib.sha256(attachment.data).hexdigest()
        assert attachment.size == len(attachment.data)
        assert attachment.error is None or attachment.error in KNOWN_REASONS


def _ours(parsed: ParsedMessage, what: str) -> Any:
    names = [a.filename for a in parsed.attachments]
    readers: dict[str, Any] = {
        "subject": lambda: parsed.subject,
        "subject (decoded)": lambda: parsed.subject,
        "from address": lambda: parsed.sender,
        "to address": lambda: parsed.to[0],
        "first To address": lambda: parsed.to[0],
        "number of To addresses": lambda: len(parsed.to),
        "message-id": lambda: parsed.message_id,
        "date (UTC)": lambda: parsed.date.astimezone(UTC).isoformat() if parsed.date else None,
        "number of attachments": lambda: len(parsed.attachments),
        "attachments": lambda: len(parsed.attachments),
        "text body": lambda: parsed.body_text,
        "decoded body": lambda: parsed.body_text,
        "body": lambda: parsed.body_text,
    }
    return readers[what]() if what in readers else names


# Facts naming one file: the sources number attachments differently (POI counts from 0 in
# one test and from 1 in another), so the file must be among ours, wherever it sits.
_ONE_NAME = frozenset({"attachment filename", "attachment 1 long filename",
                       "attachment 2 filename"})


def _normalised(value: Any, what: str) -> Any:
    """Compare text with whitespace and line endings normalised, addresses case-blind."""
    if what == "message-id" and isinstance(value, str):
        value = value.strip("<>")
    if what.endswith("address") and isinstance(value, str):
        value = value.lower()
    if what == "date (UTC)" and isinstance(value, str):
        value = datetime.fromisoformat(value).isoformat()
    if isinstance(value, str):
        return " ".join(value.split())
    return value


@pytest.mark.parametrize(("name", "what", "expected"), FACTS,
                         ids=[f"{n}:{w}" for n, w, _ in FACTS])
def test_facts_stated_by_the_source_projects(name: str, what: str, expected: Any) -> None:
    ours = _ours(_parse(name), what)
    if what in _ONE_NAME:
        assert expected in ours
        return
    if (name, what) in EXCEPTIONS:
        documented, why = EXCEPTIONS[(name, what)]
        assert why
        assert ours == documented
        assert ours != expected
        return
    assert _normalised(ours, what) == _normalised(expected, what)
