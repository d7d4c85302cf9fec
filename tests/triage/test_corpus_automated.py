"""Every auto-reply, bounce, feedback report and read receipt of the shared corpus is automated.

The corpus (``../shared/corpus``) holds real messages from other projects' test suites;
``expectations.json`` says, for some of them, what kind of message each is and on whose word.
Ordinary messages and human replies must not be taken for machines either.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from parsers.mime import file_to_message
from tests.triage.builders import profile_rules
from triage.automated import is_automated

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
AUTOMATED_KINDS = ("auto-reply", "bounce", "feedback report", "read receipt")
HUMAN_KINDS = ("ordinary message", "human reply")


def corpus_kinds() -> dict[str, str]:
    """Return corpus path -> the kind the expectations state, failing loudly without it."""
    expectations = CORPUS / "expectations.json"
    if not expectations.is_file():
        pytest.fail(f"the shared corpus is missing: {expectations} not found")
    files: dict[str, Any] = json.loads(expectations.read_text(encoding="utf-8"))["files"]
    return {path: facts["kind"]["kind"] for path, facts in files.items()
            if "kind" in facts and path.startswith("emails/")}


def test_the_corpus_machines_are_automated_and_its_people_are_not(
        capsys: pytest.CaptureFixture[str]) -> None:
    rules = profile_rules()
    rows: list[tuple[str, str, str, str]] = []
    wrong: list[str] = []
    for path, kind in sorted(corpus_kinds().items()):
        want = "yes" if kind.startswith(AUTOMATED_KINDS) else (
            "no" if kind.startswith(HUMAN_KINDS) else None)
        if want is None:
            continue  # calendar items and the like: the corpus says nothing either way
        file = CORPUS / path
        decision = is_automated(file_to_message(file.read_bytes(), file.name), rules)
        first = decision.reasons[0].split(":")[0] if decision.reasons else "-"
        rows.append((path.removeprefix("emails/"), kind, decision.value or "", first))
        if decision.value != want:
            wrong.append(f"{path} ({kind}): automated={decision.value} {decision.reasons}")
    machines = sum(1 for r in rows if r[1].startswith(AUTOMATED_KINDS))
    with capsys.disabled():
        print(f"\ncorpus: {len(rows)} messages with a stated kind ({machines} machines), "
              f"{len(rows) - len(wrong)} right")
        for name, kind, value, rule in rows:
            print(f"  {name:48} {kind[:40]:40} automated={value:3} {rule}")
    assert machines >= 30, "the corpus lost its auto-replies and bounces"
    assert not wrong, "\n".join(wrong)
