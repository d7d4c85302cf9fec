"""One file, several documents: a file cut into parts at part headings and titles.

The FAMHP compassionate-use form is one form in two parts, and applicants send Part 1 and
Part 2 in one Word or PDF file, sometimes with the mandate letter after them. A file is read
as segments (the pages of a PDF, the stretches of a Word file between page breaks); a short
line matching a kind rule's ``headings`` opens a part of that kind, and so does a segment
whose first lines carry a kind rule's title phrase. Consecutive segments of one kind, and
segments that open no part, belong to the part before them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from config.extraction_rules import ExtractionRules, KindRule
from config.text import fold
from parsers.label_match import memoised
from parsers.records import DocumentPart

_HEADING_CHARS = 90
_TITLE_LINES = 3
_CLAUSES = 3  # a title's first clauses: the part it names is among them
_CLAUSE_END = re.compile(r"[:,]\s|\s[-\u2013\u2014]\s")


@dataclass(frozen=True)
class Segment:
    """A stretch of a file's text: a PDF page, or the text between two Word page breaks."""

    text: str
    first_page: int | None = None
    last_page: int | None = None


def split_parts(rules: ExtractionRules, segments: Sequence[Segment],
                field_line: Callable[[str], bool] = lambda line: False,
                ) -> tuple[DocumentPart, ...]:
    """The parts of a file, in order; one part when it holds one document. ``field_line``
    tells a form's 'Label: value' line, which opens no part ('Role: Mandated third party')."""
    parts: list[DocumentPart] = []
    for segment in segments:
        for opened in _openings(rules, segment, field_line):
            if parts and parts[-1].kind == opened.kind:
                parts[-1] = _extended(parts[-1], segment)
            else:
                parts.append(opened)
        if parts and parts[-1].last_page is not None and segment.last_page is not None:
            parts[-1] = _extended(parts[-1], segment)
    return tuple(parts)


def _openings(rules: ExtractionRules, segment: Segment,
              field_line: Callable[[str], bool]) -> Iterator[DocumentPart]:
    """Parts opened in a segment: at a heading line, or by a title in its first lines."""
    lines = _unwrapped([line.strip() for line in segment.text.splitlines() if line.strip()])
    # A title wrapped over two lines ('Usage compassionnel ... (art. 59 MDR) - volet
    # demandeur' over '(partie 1)'): the line that names the part says what the title is.
    titled = not any(_heading_rule(rules, line) for line in lines[:_TITLE_LINES])
    for number, line in enumerate(lines):
        # A title that names its part before a colon, a comma or a dash ('Compassionate use
        # request - second part: prescriber', 'Deel 1 - Aanvraag voor gebruik in schrijnende
        # gevallen ...') is a heading, however long what follows.
        clauses = _CLAUSE_END.split(line)
        heading = next((rule for clause in clauses[:_CLAUSES]
                        if (rule := _heading_rule(rules, clause))), None
                       ) if len(clauses) > 1 else None
        if heading is None and ("\t" in line or field_line(line)):
            continue  # a table row ('Role of applicant<TAB>Third party acting on a mandate')
        rule = heading or _heading_rule(rules, line) or (
            _title_rule(rules, line) if number < _TITLE_LINES and titled else None)
        if rule is not None:
            where = (f"pages {segment.first_page}-{segment.last_page}"
                     if segment.first_page is not None else f"from {line[:60]!r}")
            yield DocumentPart(rule.kind, rule.id, where, segment.first_page,
                               segment.last_page)


_WRAPPED_CLOSE = 12  # characters: '2)', 'deel 2)', 'patient)'


def _unwrapped(lines: list[str]) -> list[str]:
    """Lines, a bracket left open at the end of one closed on the short next line joined to
    it ('... declaration (Part' over '2)')."""
    joined: list[str] = []
    for line in lines:
        last = joined[-1] if joined else ""
        if (last.count("(") > last.count(")") and ")" in line
                and line.index(")") <= _WRAPPED_CLOSE):
            joined[-1] = f"{last} {line}"
        else:
            joined.append(line)
    return joined


def _heading_rule(rules: ExtractionRules, line: str) -> KindRule | None:
    if len(line) > _HEADING_CHARS:
        return None
    # (a form's lines come back on every message: each is looked at once)
    return memoised(rules, "heading_rule", line, lambda rules, line: next(
        (r for r, headings in _headed_kinds(rules) if any(p.search(line) for p in headings)),
        None))


def _headed_kinds(rules: ExtractionRules,
                  ) -> tuple[tuple[KindRule, tuple[re.Pattern[str], ...]], ...]:
    """The kind rules that have headings, in order, with them (asked of every line: the
    others, most kinds, are passed over once per rule set, not on every line)."""
    return memoised(rules, "headed_kinds", "", lambda rules, _: tuple(
        (rule, rule.headings) for rule in rules.kinds if rule.headings))


@dataclass(frozen=True)
class Spaced:
    """A folded phrase in spaces (' instructions for use ') and its first word: a folded text
    without that word cannot hold the phrase, and is not searched for it."""

    text: str
    first: str | None  # None: the phrase has no word

    def found_in(self, spaced: str, words: AbstractSet[str]) -> bool:
        """Whether the phrase is in a folded text in spaces whose words are ``words``."""
        return (self.first is None or self.first in words) and self.text in spaced


def spaced(folded: str) -> Spaced:
    """A folded phrase made ready to look for in folded texts in spaces."""
    words = folded.split()
    return Spaced(f" {folded} ", words[0] if words else None)


def kind_phrases(rules: ExtractionRules) -> tuple[tuple[KindRule, tuple[Spaced, ...]], ...]:
    """Each kind rule, in order, with its phrases ready to look for (``spaced``); worked out
    once per rule set."""
    return memoised(rules, "kind_phrases", "", lambda rules, _: tuple(
        (rule, tuple(spaced(p.folded) for p in rule.phrases)) for rule in rules.kinds))


def _title_rule(rules: ExtractionRules, line: str) -> KindRule | None:
    if len(line) > 2 * _HEADING_CHARS:
        return None
    return memoised(rules, "title_rule", line, _read_title)


def _read_title(rules: ExtractionRules, line: str) -> KindRule | None:
    folded = f" {fold(line)} "
    hits = [r for r, phrases in kind_phrases(rules) if any(p.text in folded for p in phrases)]
    return max(hits, key=lambda r: r.priority) if hits else None


def _extended(part: DocumentPart, segment: Segment) -> DocumentPart:
    if part.first_page is None or segment.last_page is None:
        return part
    last = max(part.last_page or segment.last_page, segment.last_page)
    return DocumentPart(part.kind, part.kind_rule, f"pages {part.first_page}-{last}",
                        part.first_page, last)
