"""Every closed set of the domain is written once: in config/vocabulary.py.

The packages' source is read as syntax trees: a tuple, list, set or ``Literal[...]`` of string
constants that holds exactly the strings of a vocabulary (or of one of its named subsets) is a
second definition, and fails the test with its file and line. Migrations are frozen history
and spell their CHECK constraints out on purpose.
"""

from __future__ import annotations

import ast
import enum
from pathlib import Path

import config.vocabulary as vocabulary
from config.vocabulary import CaseStatus, FieldKey, ItemStatus, MessageKind, names

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("intake", "storage", "triage", "parsers", "config")
HOME = ROOT / "config" / "vocabulary.py"
FROZEN = ROOT / "storage" / "migrations"


def closed_sets() -> dict[frozenset[str], str]:
    """Each vocabulary and named subset of config.vocabulary, by its strings."""
    sets: dict[frozenset[str], str] = {}
    for name, value in vars(vocabulary).items():
        if isinstance(value, type) and issubclass(value, enum.StrEnum) \
                and value is not enum.StrEnum:
            sets[frozenset(names(value))] = name
        elif isinstance(value, frozenset) and len(value) > 1:
            sets[frozenset(str(v) for v in value)] = name
    return sets


def string_collections(tree: ast.AST) -> list[tuple[int, frozenset[str]]]:
    """Every tuple, list or set of two or more string constants, with its line."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Tuple | ast.List | ast.Set) and len(node.elts) > 1 and all(
                isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
            found.append((node.lineno, frozenset(e.value for e in node.elts)))  # type: ignore[attr-defined]
    return found


def second_definitions(sets: dict[frozenset[str], str]) -> list[str]:
    """Where a closed set is written again, as 'path:line: NAME'."""
    hits = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == HOME or FROZEN in path.parents:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            hits += [f"{path.relative_to(ROOT)}:{line}: {sets[strings]}"
                     for line, strings in string_collections(tree) if strings in sets]
    return hits


def test_no_closed_set_is_written_twice() -> None:
    assert second_definitions(closed_sets()) == []


def test_the_check_finds_a_set_written_again() -> None:
    sets = closed_sets()
    tree = ast.parse('Kind = Literal["new_request", "follow_up", "enquiry", "automated", "other"]\n'
                     'OPEN = ("missing", "unclear")\n'
                     'NOT_A_SET = ("missing", "present")\n')
    assert sorted(sets[s] for _, s in string_collections(tree) if s in sets) == [
        "MessageKind", "NOT_DONE"]


def test_the_vocabulary_keeps_the_canonical_names() -> None:
    assert names(MessageKind) == ("new_request", "follow_up", "enquiry", "automated", "other")
    assert set(names(CaseStatus)) == {"incomplete", "complete", "enquiry", "granted", "refused",
                                      "withdrawn", "closed"}
    assert set(ItemStatus) == {"present", "missing", "unclear", "not_applicable"}
    assert len(FieldKey) == 25 and FieldKey.PERIOD == "period"
