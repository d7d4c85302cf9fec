"""The request-form fixtures read with the FAMHP rules: every field, kind, language, signature.

Prints a precision/recall table per canonical field (see it with ``pytest -s``, or in the
report section of ``pytest -rA``; it is also a junit property, ``precision_recall``).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from config.extraction_rules import FIELD_KEYS, ExtractionRules, load_extraction_rules
from parsers.extract import file_to_document
from parsers.records import ExtractedDocument

ROOT = Path(__file__).resolve().parents[2]
FORMS = ROOT / "tests" / "fixtures" / "forms"
FAMHP = ROOT / "config" / "profiles" / "famhp" / "extraction.toml"
MIN_PRECISION = 0.95


@dataclass(frozen=True, eq=False)
class Case:
    """One fixture file and what its expected.json says."""

    name: str
    path: Path
    expected: dict[str, Any]

    @property
    def fields(self) -> dict[str, str]:
        """Expected fields the rules know (domain.md's and `period`); others are not scored."""
        return {k: v for k, v in self.expected["fields"].items() if k in FIELD_KEYS}

    @property
    def others(self) -> list[str]:
        """Expected keys that are no field of the rules (reported, not scored)."""
        return [k for k in self.expected["fields"] if k not in FIELD_KEYS]


def cases() -> list[Case]:
    found = []
    for expected in sorted(FORMS.glob("*.expected.json")):
        stem = expected.name.removesuffix(".expected.json")
        files = [p for p in FORMS.glob(f"{stem}.*") if p.suffix in (".pdf", ".docx")]
        if len(files) != 1:
            raise FileNotFoundError(f"no single PDF or Word file for {expected.name}")
        found.append(Case(stem, files[0], json.loads(expected.read_text(encoding="utf-8"))))
    if not found:
        raise FileNotFoundError(f"no form fixtures in {FORMS}")
    return found


CASES = cases()


@cache
def rules() -> ExtractionRules:
    return load_extraction_rules(FAMHP)


def extracted(case: Case) -> ExtractedDocument:
    return extracted_file(case.path)


@cache
def extracted_file(path: Path) -> ExtractedDocument:
    return file_to_document(path.name, path.read_bytes(), rules())


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_expected_field_is_found_with_its_value_and_source(case: Case) -> None:
    document = extracted(case)
    assert document.error is None
    found = {f.key: f for f in document.fields}
    for key, value in case.fields.items():
        assert key in found, f"{case.name}: {key} not found"
        field = found[key]
        assert field.value == value, f"{case.name}: {key} = {field.value!r} ({field.rule})"
        assert field.source.filename == case.path.name and field.source.channel
        assert field.rule.startswith("famhp.") and 0 < field.confidence <= 1


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_document_kind(case: Case) -> None:
    document = extracted(case)
    assert document.kind == case.expected["document_kind"]
    assert document.kind_rule is not None and document.kind_rule.startswith("famhp.kind.")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_language(case: Case) -> None:
    assert extracted(case).language == case.expected["language"]


@pytest.mark.parametrize("case", [c for c in CASES if "signed" in c.expected],
                         ids=lambda c: c.name)
def test_part2_signature(case: Case) -> None:
    signatures = extracted(case).signatures
    assert len(signatures) == 1
    assert signatures[0].signed is case.expected["signed"]


# --- precision and recall over the whole set -------------------------------------------------


@dataclass
class Tally:
    """Counts for one canonical field over every fixture."""

    expected: int = 0
    found: int = 0
    correct: int = 0

    @property
    def precision(self) -> float:
        """Correct values among those found."""
        return self.correct / self.found if self.found else 1.0

    @property
    def recall(self) -> float:
        """Correct values among those expected."""
        return self.correct / self.expected if self.expected else 1.0


def tallies() -> dict[str, Tally]:
    table = {key: Tally() for key in FIELD_KEYS}
    for case in CASES:
        found = {f.key: f.value for f in extracted(case).fields}
        for key in FIELD_KEYS:
            table[key].expected += key in case.fields
            table[key].found += key in found
            table[key].correct += key in found and found[key] == case.fields.get(key)
    return table


def render(table: dict[str, Tally]) -> str:
    total = Tally(sum(t.expected for t in table.values()), sum(t.found for t in table.values()),
                  sum(t.correct for t in table.values()))
    others = Counter(k for case in CASES for k in case.others)
    lines = [f"precision/recall over {len(CASES)} form fixtures (famhp rules)",
             f"{'field':<22}{'expected':>9}{'found':>7}{'correct':>9}{'precision':>11}"
             f"{'recall':>8}"]
    for key, tally in [*table.items(), ("ALL", total)]:
        lines.append(f"{key:<22}{tally.expected:>9}{tally.found:>7}{tally.correct:>9}"
                     f"{tally.precision:>11.3f}{tally.recall:>8.3f}")
    if others:
        lines.append("not scored (no such field in the rules): "
                     + ", ".join(f"{k} x{n}" for k, n in sorted(others.items())))
    return "\n".join(lines)


def test_precision_and_recall_over_the_set(request: pytest.FixtureRequest,
                                           record_property: Any) -> None:
    table = tallies()
    report = render(table)
    print("\n" + report)
    request.node.add_report_section("call", "precision/recall", report)
    record_property("precision_recall", report)
    correct = sum(t.correct for t in table.values())
    assert correct == sum(t.expected for t in table.values()), "recall below 1.0"
    assert correct / sum(t.found for t in table.values()) >= MIN_PRECISION
