"""Triage of the labelled messages: kind, request type, regulation, language and what is missing.

Each ``tests/fixtures/messages/<name>.eml`` has ``<name>.expected.json`` in the ``triage --json``
shape (a subset). A follow-up names the message it follows in ``"follows"``: it is triaged
with the thread hints the case store would give, and its "missing" list is that of the case,
re-checked over the merged fields and documents of the case's messages.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from config.triage_rules import TriageRules
from config.vocabulary import MessageRole
from parsers.mime import message_to_parts
from parsers.records import Extraction, ParsedMessage
from tests.triage.builders import PROFILES, ROOT, profile_rules
from triage.case import case_state, facts_of, opening_role
from triage.engine import triage_message
from triage.kind import thread_hints
from triage.records import TriageResult
from triage.threading import ThreadHints

MESSAGES = ROOT / "tests" / "fixtures" / "messages"
ASSERTED = ("kind", "request_type", "regulation", "language", "missing")
# Reported, not asserted: the profile calls a use planned within 14 days urgent, the labels
# only what the words say (see the report).
ATTRIBUTES = (*ASSERTED, "urgent")
THRESHOLD = 0.95


@dataclass
class Triaged:
    """One labelled message after triage, with the case it was filed in (follow-ups)."""

    name: str
    expected: dict[str, Any]
    parsed: ParsedMessage
    result: TriageResult
    case_ref: str | None = None  # set for a follow-up filed into an earlier case
    case: list[TriageResult] = field(default_factory=list)  # that case's messages
    case_subject: str = ""


def labelled() -> list[tuple[str, dict[str, Any]]]:
    """Return (name, expected) for every labelled message, failing loudly if there are none."""
    emls = sorted(MESSAGES.glob("*.eml"))
    if not emls:
        pytest.fail(f"no labelled messages in {MESSAGES}")
    pairs = []
    for eml in emls:
        expected = eml.with_suffix(".expected.json")
        if not expected.is_file():
            pytest.fail(f"{eml.name} has no {expected.name}")
        pairs.append((eml.stem, json.loads(expected.read_text(encoding="utf-8"))))
    return pairs


def extractor() -> Callable[[ParsedMessage, str], Extraction]:
    """Return extraction with the profile's rules; fail (never skip) when it is not there yet."""
    try:
        extract = importlib.import_module("parsers.extract").extract_message
        load = importlib.import_module("config.extraction_rules").load_extraction_rules
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"extraction is not available: {exc}")
    loaded: dict[str, Any] = {}

    def run(parsed: ParsedMessage, authority: str) -> Extraction:
        if authority not in loaded:
            loaded[authority] = load(PROFILES / authority / "extraction.toml")
        result: Extraction = extract(parsed, loaded[authority])
        return result
    return run


def in_case_order(pairs: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """Order messages so that each comes after the message it follows."""
    names = {name for name, _ in pairs}
    done: list[tuple[str, dict[str, Any]]] = []
    pending = list(pairs)
    while pending:
        ready = [p for p in pending if p[1].get("follows") not in names - {n for n, _ in done}]
        if not ready:
            pytest.fail(f"'follows' names a missing message or a cycle: {pending[0][0]}")
        done += ready
        pending = [p for p in pending if p not in ready]
    return done


@dataclass
class Store:
    """What the case store would know while the messages arrive, for the thread hints."""

    refs: dict[str, str]  # first message of a case -> the reference the office gave it
    cases: dict[str, list[Triaged]]  # reference -> the case's messages, oldest first
    case_of_message: dict[str, str]  # Message-ID -> reference

    def hints_for(self, parsed: ParsedMessage, rules: TriageRules) -> ThreadHints:
        """Build the hints the pipeline would pass for this message."""
        types = {ref: items[0].result.request_type.value or ""
                 for ref, items in self.cases.items()}
        return thread_hints(parsed, rules, set(self.cases), self.case_of_message, types)

    def file(self, item: Triaged) -> None:
        """File a message: into the case it follows, or as a new case that we acknowledge."""
        followed = item.expected.get("follows")
        ref = item.result.case_ref
        if item.result.kind != "follow_up" or ref not in self.cases:
            ref = self.refs.get(item.name) or f"CASE-{item.name}"
            self.cases[ref] = []
            self.case_of_message[f"ack-{ref}@fagg-afmps.be"] = ref
        self.cases[ref].append(item)
        if followed and item.result.kind == "follow_up":
            # The case as it stands once this follow-up is filed (later ones not yet in).
            item.case_ref = ref
            item.case = [i.result for i in self.cases[ref]]
            item.case_subject = self.cases[ref][0].parsed.subject
        if item.parsed.message_id:
            self.case_of_message[item.parsed.message_id] = ref


def case_references(pairs: list[tuple[str, dict[str, Any]]]) -> dict[str, str]:
    """The reference of each case, as its follow-ups are labelled (first message -> ref)."""
    follows = {name: expected.get("follows") for name, expected in pairs}
    refs: dict[str, str] = {}
    for name, expected in pairs:
        root = name
        while follows.get(root):
            root = str(follows[root])
        if root != name and expected.get("case_ref"):
            refs.setdefault(root, expected["case_ref"])
    return refs


def triage_all() -> list[Triaged]:
    """Parse, extract and triage every labelled message in arrival order, filing each."""
    extract = extractor()
    pairs = in_case_order(labelled())
    store = Store(case_references(pairs), {}, {})
    done: list[Triaged] = []
    for name, expected in pairs:
        authority = expected.get("authority", "famhp")
        rules = profile_rules(authority)
        parsed = message_to_parts((MESSAGES / f"{name}.eml").read_bytes())
        hints = store.hints_for(parsed, rules)
        result = triage_message(parsed, extract(parsed, authority), rules, authority, hints)
        item = Triaged(name, expected, parsed, result)
        store.file(item)
        done.append(item)
    return done


def observed(item: Triaged, rules: TriageRules) -> dict[str, Any]:
    """What triage says for the attributes compared; for a follow-up, of its whole case."""
    if item.case:
        facts = [facts_of(r, opening_role(r.kind) if n == 0 else MessageRole.FOLLOW_UP,
                          item.case_subject) for n, r in enumerate(item.case)]
        case = case_state(facts, (), None, rules)
        return {"kind": item.result.kind, "request_type": case.request_type.value,
                "regulation": case.regulation.value, "language": item.result.language.value,
                "missing": list(case.missing), "urgent": item.result.urgent.value == "yes"}
    return {"kind": item.result.kind, "request_type": item.result.request_type.value,
            "regulation": item.result.regulation.value, "language": item.result.language.value,
            "missing": list(item.result.missing), "urgent": item.result.urgent.value == "yes"}


def test_labelled_messages_are_triaged_as_labelled(capsys: pytest.CaptureFixture[str]) -> None:
    triaged = triage_all()
    right = dict.fromkeys(ATTRIBUTES, 0)
    total = dict.fromkeys(ATTRIBUTES, 0)
    misses: list[str] = []
    for item in triaged:
        seen = observed(item, profile_rules(item.expected.get("authority", "famhp")))
        for attribute in ATTRIBUTES:
            if attribute not in item.expected:
                continue
            total[attribute] += 1
            want, got = item.expected[attribute], seen[attribute]
            if attribute == "missing":
                want, got = sorted(want), sorted(got)
            if want == got:
                right[attribute] += 1
            else:
                misses.append(f"{item.name}: {attribute} expected {want!r}, got {got!r}")
    accuracy = {a: right[a] / total[a] if total[a] else 1.0 for a in ATTRIBUTES}
    with capsys.disabled():
        print(f"\nlabelled set: {len(triaged)} messages")
        for attribute in ATTRIBUTES:
            shown = "" if attribute in ASSERTED else "  (reported, not asserted)"
            print(f"  {attribute:13} {right[attribute]:3}/{total[attribute]:<3} "
                  f"{accuracy[attribute]:.3f}{shown}")
        for miss in misses:
            print(f"  MISS {miss}")
    low = {a: round(accuracy[a], 3) for a in ASSERTED if accuracy[a] < THRESHOLD}
    assert not low, f"accuracy below {THRESHOLD}: {low}\n" + "\n".join(misses)
