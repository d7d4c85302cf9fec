"""Small builders for triage tests: messages parsed by the real MIME parser, hand-made records."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from config.triage_rules import TriageRules
from config.triage_rules_load import load_triage_rules
from parsers.mime import message_to_parts
from parsers.records import (
    ExtractedDocument,
    Extraction,
    FieldValue,
    ParsedMessage,
    Signature,
    Source,
)

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "config" / "profiles"


@cache
def profile_rules(name: str = "famhp") -> TriageRules:
    """Return a shipped profile's triage rules (loaded once per test session)."""
    return load_triage_rules(PROFILES / name / "triage.toml")


def parse(raw: str) -> ParsedMessage:
    """Parse a message written as text (headers, blank line, body) with the real parser."""
    return message_to_parts(raw.replace("\n", "\r\n").encode("utf-8"))


def mail(subject: str = "Hello", body: str = "Hello.", sender: str = "jane@hospital.be",
         extra: str = "", date: str = "Mon, 02 Mar 2026 09:00:00 +0100") -> ParsedMessage:
    """Parse a plain-text message with the given subject, body, sender and extra headers."""
    headers = (f"From: Jane Doe <{sender}>\nTo: derogation.meddev@fagg-afmps.be\n"
               f"Subject: {subject}\nDate: {date}\nMessage-ID: <m1@hospital.be>\n"
               "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
               "Content-Transfer-Encoding: 8bit\n")
    if extra:
        headers += extra.rstrip("\n") + "\n"
    return parse(f"{headers}\n{body}\n")


def source(filename: str | None = "part1.pdf", channel: str = "acroform",
           form_field: str | None = "Text1", page: int | None = 1) -> Source:
    """Return a source inside an attachment (or the body when filename is None)."""
    return Source(filename=filename, sha256="ab" * 32 if filename else None, channel=channel,
                  page=page, form_field=form_field)


def field(key: str, value: str, filename: str | None = "part1.pdf",
          confidence: float = 0.9) -> FieldValue:
    """Return a field value found in a file (or the body when filename is None)."""
    where = source(filename) if filename else source(None, "body", None, None)
    return FieldValue(key=key, value=value, raw=value, source=where,
                      rule=f"famhp.label.{key}#0", confidence=confidence)


def document(kind: str, filename: str, fields: tuple[FieldValue, ...] = (), *,
             signatures: tuple[Signature, ...] = (), error: str | None = None,
             text: str = "", language: str | None = None) -> ExtractedDocument:
    """Return an extracted document of a kind."""
    return ExtractedDocument(filename=filename, sha256="cd" * 32, content_type="application/pdf",
                             size=1000, kind=kind, kind_rule=f"famhp.kind.{kind}#0", pages=2,
                             language=language, text=text, fields=fields,
                             signatures=signatures, error=error)


def signature(filename: str, signed: bool, name: str = "Signature1") -> Signature:
    """Return a signature field of a PDF form."""
    return Signature(name=name, signed=signed, page=2,
                     source=source(filename, "acroform", name, 2))


def extraction(*documents: ExtractedDocument,
               body_fields: tuple[FieldValue, ...] = ()) -> Extraction:
    """Return an extraction of the given documents."""
    return Extraction(documents=documents, body_fields=body_fields, rules_version="test")
