"""One file, several documents: a file cut into parts at part headings and titles.

The FAMHP compassionate-use form is one form in two parts, and applicants send Part 1 and
Part 2 in one Word or PDF file, sometimes with the mandate letter after them. A file is read
as segments (the pages of a PDF, the stretches of a Word file between page breaks); a short
line matching a kind rule's ``headings`` opens a part of that kind, and so does a segment
whose first lines carry a kind rule's title phrase. Consecutive segments of one kind, and
segments that open no part, belong to the part before them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from config.extraction_rules import ExtractionRules, KindRule
from config.text import fold
from parsers.records import DocumentPart

_HEADING_CHARS = 90
_TITLE_LINES = 3


@dataclass(frozen=True)
class Segment:
    """A stretch of a file's text: a PDF page, or the text between two Word page breaks."""

    text: str
    first_page: int | None = None
    last_page: int | None = None


def split_parts(rules: ExtractionRules, segments: Sequence[Segment]) -> tuple[DocumentPart, ...]:
    """The parts of a file, in order; one part when it holds one document."""
    parts: list[DocumentPart] = []
    for segment in segments:
        for opened in _openings(rules, segment):
            if parts and parts[-1].kind == opened.kind:
                parts[-1] = _extended(parts[-1], segment)
            else:
                parts.append(opened)
        if parts and parts[-1].last_page is not None and segment.last_page is not None:
            parts[-1] = _extended(parts[-1], segment)
    return tuple(parts)


def _openings(rules: ExtractionRules, segment: Segment) -> Iterator[DocumentPart]:
    """Parts opened in a segment: at a heading line, or by a title in its first lines."""
    lines = [line.strip() for line in segment.text.splitlines() if line.strip()]
    for number, line in enumerate(lines):
        rule = _heading_rule(rules, line) or (
            _title_rule(rules, line) if number < _TITLE_LINES else None)
        if rule is not None:
            where = (f"pages {segment.first_page}-{segment.last_page}"
                     if segment.first_page is not None else f"from {line[:60]!r}")
            yield DocumentPart(rule.kind, rule.id, where, segment.first_page,
                               segment.last_page)


def _heading_rule(rules: ExtractionRules, line: str) -> KindRule | None:
    if len(line) > _HEADING_CHARS:
        return None
    return next((r for r in rules.kinds if any(p.search(line) for p in r.headings)), None)


def _title_rule(rules: ExtractionRules, line: str) -> KindRule | None:
    if len(line) > 2 * _HEADING_CHARS:
        return None
    folded = f" {fold(line)} "
    hits = [r for r in rules.kinds if any(f" {p.folded} " in folded for p in r.phrases)]
    return max(hits, key=lambda r: r.priority) if hits else None


def _extended(part: DocumentPart, segment: Segment) -> DocumentPart:
    if part.first_page is None or segment.last_page is None:
        return part
    last = max(part.last_page or segment.last_page, segment.last_page)
    return DocumentPart(part.kind, part.kind_rule, f"pages {part.first_page}-{last}",
                        part.first_page, last)
