"""A parsed message to an Extraction: every attachment read, and the fields of the body."""

from __future__ import annotations

import hashlib

from config.extraction_rules import ExtractionRules
from parsers.formats import attachment_to_document, bytes_to_document
from parsers.labels import (
    DEFAULT_LIMITS,
    FileInfo,
    Line,
    best_per_key,
    derived_values,
    line_fields,
)
from parsers.records import (
    ExtractedDocument,
    Extraction,
    FieldValue,
    Limits,
    ParsedMessage,
    Source,
)
from parsers.sniff import sniff_type

BODY_CONFIDENCE = 0.8
MAX_LINE_CHARS = 2000


def extract_message(parsed: ParsedMessage, rules: ExtractionRules,
                    limits: Limits = DEFAULT_LIMITS) -> Extraction:
    """Read every attachment and the body's 'Label: value' lines (rules_version is left '')."""
    documents = tuple(attachment_to_document(att, rules, limits) for att in parsed.attachments)
    return Extraction(documents=documents, body_fields=body_to_fields(parsed.body_text, rules))


def body_to_fields(body: str, rules: ExtractionRules) -> tuple[FieldValue, ...]:
    """Fields written in the message text, one value per key, with their line numbers."""
    lines = [Line(_unquoted(text), Source(filename=None, sha256=None, channel="body",
                                          line=number))
             for number, text in enumerate(body.splitlines(), start=1)]
    found = line_fields(rules, lines, BODY_CONFIDENCE)
    return best_per_key([*found, *derived_values(rules, found)])


def _unquoted(line: str) -> str:
    """Quoted lines of an earlier message are not this message's statements.

    A line is cut to a sane length: rule expressions never see a hostile 200 KB line.
    """
    return "" if line.lstrip().startswith(">") else line[:MAX_LINE_CHARS]


def file_to_document(filename: str, data: bytes, rules: ExtractionRules,
                     limits: Limits = DEFAULT_LIMITS) -> ExtractedDocument:
    """Read a bare PDF or Word file (for `rules test` and the fixtures)."""
    info = FileInfo(filename, hashlib.sha256(data).hexdigest(), sniff_type(data, filename),
                    len(data))
    return bytes_to_document(info, data, rules, limits)
