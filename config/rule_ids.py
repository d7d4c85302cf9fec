"""Rule ids taken from what a rule says, never from where it stands in its file.

Extraction records a rule id on every value it finds, and cases keep it for years. An id
counted by position would name another rule as soon as one is added above it; an id made
from the rule's own text (or written in the rule file) stays the same when others come and go.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from config.text import strip_accents

# What an id written in a rule file may look like (it becomes the last part of the rule id).
EXPLICIT_ID = re.compile(r"[a-z0-9][a-z0-9_-]*")
_NOT_SLUG = re.compile(r"[^a-z0-9_]+")
_MAX_SLUG = 60
_HASH_CHARS = 6


@dataclass(frozen=True)
class IdSource:
    """What one rule's id is made from: an id the file gives, or its text."""

    prefix: str  # e.g. famhp.label.device_name.en
    explicit: str | None  # written in the rule file
    text: str  # slugged when no id is written (a label, a pattern, a value)
    content: str  # tells apart rules whose slugs are the same


def slug(text: str) -> str:
    """Return a readable id part: the folded words (letters, digits, '_') joined by '-'.

    "Name of the device:" gives name-of-the-device, "form_part2" stays as it is, and a
    regular expression keeps its words: '^e[_ -]?mail$' gives e-mail. Cut at a word end.
    """
    words = [w.strip("_") for w in _NOT_SLUG.split(strip_accents(text).casefold())]
    words = [w for w in words if w]
    kept: list[str] = []
    for word in words:
        if kept and len("-".join([*kept, word])) > _MAX_SLUG:
            break
        kept.append(word)
    return "-".join(kept)[:_MAX_SLUG]


def short_hash(text: str) -> str:
    """Return a few hex digits of SHA-256: a suffix that tells two equal slugs apart."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:_HASH_CHARS]


def rule_ids(sources: Sequence[IdSource]) -> tuple[str, ...]:
    """Return `<prefix>.<id or slug>` per rule; a slug shared by two rules gets a hash suffix.

    Only the rules whose slugs collide change, so adding a rule never renames a rule
    that does not share its text. Two rules with the same text and content get one id:
    the caller refuses them (see duplicate_id).
    """
    bases = [f"{s.prefix}.{s.explicit or slug(s.text) or short_hash(s.content)}"
             for s in sources]
    counts = Counter(bases)
    return tuple(base if s.explicit or counts[base] == 1 else f"{base}-{short_hash(s.content)}"
                 for base, s in zip(bases, sources, strict=True))


def duplicate_id(ids: Sequence[str]) -> int | None:
    """Return the index of the first id already given to an earlier rule, if any."""
    seen: set[str] = set()
    for index, rule_id in enumerate(ids):
        if rule_id in seen:
            return index
        seen.add(rule_id)
    return None
