"""The rules measured on requests they were not written from (generated variants).

The development half of the variants may be looked at when writing rules; the evaluation
half never is. Both are read as the pipeline reads a message (``rules eval`` machinery) and
scored: precision and recall per field, accuracy of ``complete`` and ``missing``, and how
often a required item the request holds is reported missing. See the tables with
``pytest -s``. The thresholds are the figures the evaluation half is held to.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from config.profiles import Profile, load_profile
from intake.commands.rules_eval import eval_report, evaluate_samples, find_samples
from parsers.records import Limits
from tests.variants.generate import generate
from triage.evaluate import FileScore, missing_checks, precision_recall

COUNT = 60
# Floors just under the figures measured on the evaluation and held-out sets and on the
# four sets of wordings written last by other hands (README): a change that loses ground
# fails here. On the evaluation half the floors are the targets (recall 0.97,
# precision 0.99, complete 0.97, held items not reported missing 0.98) or just under what it
# gives.
FLOORS = {  # split: (recall, precision, complete, held items not reported missing)
    "eval": (0.975, 0.99, 0.97, 0.98),
    "heldout": (0.985, 0.99, 0.98, 0.995),
    "seventh": (0.865, 0.99, 0.95, 0.99),
    "eighth": (0.895, 0.99, 0.97, 0.99),
    "ninth": (0.895, 0.99, 0.97, 0.99),
    "tenth": (0.895, 0.99, 0.95, 0.99),
}
SPLITS = ("dev", "eval", "heldout", "seventh", "eighth", "ninth", "tenth")


@cache
def profile() -> Profile:
    return load_profile("famhp")


@cache
def scored(root: Path, split: str) -> dict[str, FileScore]:
    samples, notes = find_samples(root / split)
    assert not notes, notes
    assert len(samples) == COUNT
    return evaluate_samples(samples, profile(), Limits())


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("variants")
    generate(root, COUNT, splits=SPLITS)
    return root


def test_generation_is_deterministic(tmp_path: Path, variants: Path) -> None:
    generate(tmp_path, 3)
    for split in ("dev", "eval"):
        for made in sorted((tmp_path / split).iterdir()):
            assert made.read_bytes() == (variants / split / made.name).read_bytes(), made.name


def test_held_out_requests_use_their_own_wordings(variants: Path) -> None:
    held = {p.read_bytes() for p in (variants / "heldout").glob("*.eml")}
    assert len(held) == COUNT
    assert not held & {p.read_bytes() for p in (variants / "eval").glob("*.eml")}


def test_development_and_evaluation_wordings_differ(variants: Path) -> None:
    dev = {p.name for p in (variants / "dev").iterdir()}
    assert dev and all(name.startswith("v") for name in dev)
    dev_text = b"".join(p.read_bytes() for p in (variants / "dev").glob("*.eml"))
    # "Qty requested" is an evaluation wording of quantity: it never shows in development.
    assert b"Qty requested" not in dev_text


@pytest.mark.parametrize("split", SPLITS)
def test_variants_are_read_as_measured(variants: Path, split: str) -> None:
    scores = scored(variants, split)
    totals = precision_recall(scores.values())
    print("\n" + "\n".join(eval_report(scores, variants / split, profile())))
    fields = totals.all_fields()
    checks = missing_checks(scores.values(), _required())
    complete = totals.attributes["complete"]
    if split in FLOORS:
        recall, precision, whole, held = FLOORS[split]
        assert fields.recall is not None and fields.recall >= recall
        assert fields.precision is not None and fields.precision >= precision
        assert complete.accuracy is not None and complete.accuracy >= whole
        assert checks.right is not None and checks.right >= held


def _required() -> dict[str, list[str]]:
    return {kind: [r.id for r in items if r.severity == "required"]
            for kind, items in profile().triage.checklists.items()}
