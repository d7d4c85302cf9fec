"""Field precision/recall and signature accuracy on scanned and photographed fixture forms.

    .venv/bin/python -m tests.parsers.measure_scans [--styles scan,photo] [--seed 1] [--only en]

Every PDF fixture form is printed, signed by hand or not, and scanned (or photographed) by
``tests.parsers.scans``; no rule was written from these images. Prints one line per file,
then the totals and seconds per scanned page. ``test_ocr.py`` runs a handful of them.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

from config.extraction_rules import FIELD_KEYS, ExtractionRules, load_extraction_rules
from parsers.extract import file_to_document
from parsers.records import ExtractedDocument, Limits
from tests.parsers.scans import ROOT, Scan, fixture_pdfs, make_scan

FAMHP = ROOT / "config" / "profiles" / "famhp" / "extraction.toml"


@dataclass
class Tally:
    """Fields expected, found and correct; signatures judged and right; pages and time."""

    expected: int = 0
    found: int = 0
    correct: int = 0
    signatures: int = 0
    signatures_right: int = 0
    pages: int = 0
    seconds: float = 0.0
    misses: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        """Correct values among those found."""
        return self.correct / self.found if self.found else 1.0

    @property
    def recall(self) -> float:
        """Correct values among those expected."""
        return self.correct / self.expected if self.expected else 1.0

    @property
    def signature_accuracy(self) -> float:
        """Part 2 forms whose signed/unsigned state was read right."""
        return self.signatures_right / self.signatures if self.signatures else 1.0


DEFAULT_LIMITS = Limits()


def read_scan(scan: Scan, limits: Limits = DEFAULT_LIMITS) -> tuple[ExtractedDocument, float]:
    """Extract a scan as the pipeline does; return the document and the seconds it took."""
    started = time.perf_counter()
    document = file_to_document(scan.path.name, scan.path.read_bytes(), _rules(), limits)
    return document, time.perf_counter() - started


def score(scans: Iterable[Scan], tally: Tally | None = None) -> Tally:
    """Read each scan and add its fields and signature to the tally."""
    tally = tally or Tally()
    for scan in scans:
        document, seconds = read_scan(scan)
        expected = {k: v for k, v in scan.expected["fields"].items() if k in FIELD_KEYS}
        found = {f.key: f.value for f in document.fields}
        read = {f.key: f.source.ocr_confidence for f in document.fields}
        tally.expected += len(expected)
        tally.found += len(found)
        right = [k for k, v in expected.items() if found.get(k) == v]
        tally.correct += len(right)
        tally.misses += [f"{scan.name}: {k} = {found.get(k)!r}, expected {v!r}"
                         f" (OCR confidence {read.get(k)})"
                         for k, v in expected.items() if found.get(k) != v]
        tally.misses += [f"{scan.name}: {k} right with OCR confidence {read[k]} (low)"
                         for k in right if (read[k] or 100.0) < 50.0]
        tally.misses += [f"{scan.name}: {k} = {v!r} not expected"
                         for k, v in found.items() if k not in expected]
        if scan.signed is not None:
            tally.signatures += 1
            signed = any(s.signed for s in document.signatures)
            tally.signatures_right += signed is scan.signed
            if signed is not scan.signed:
                tally.misses.append(f"{scan.name}: signed {signed}, expected {scan.signed}")
        tally.pages += document.pages or 0
        tally.seconds += seconds
        print(f"{scan.name:<40} {len(right):>3}/{len(expected):<3} found {len(found):<3}"
              f" {seconds:6.1f} s", flush=True)
    return tally


def render(tally: Tally) -> str:
    """The totals as a few lines."""
    per_page = tally.seconds / tally.pages if tally.pages else 0.0
    return (f"fields: expected {tally.expected}, found {tally.found}, correct {tally.correct}:"
            f" precision {tally.precision:.3f}, recall {tally.recall:.3f}\n"
            f"signatures: {tally.signatures_right}/{tally.signatures} right "
            f"({tally.signature_accuracy:.3f})\n"
            f"{tally.pages} pages in {tally.seconds:.0f} s: {per_page:.1f} s a scanned page")


@cache
def _rules() -> ExtractionRules:
    return load_extraction_rules(FAMHP)


def main() -> None:
    """Score every PDF fixture form in the styles asked for."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--styles", default="scan,photo")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", default="", help="only the forms whose name holds this")
    args = parser.parse_args()
    tally = Tally()
    for style in args.styles.split(","):
        # A phone photographs one page: the one-page forms (Part 2).
        pdfs = [p for p in fixture_pdfs() if (style != "photo" or p.name.startswith("part2"))
                and args.only in p.name]
        score((make_scan(pdf, style, args.seed) for pdf in pdfs), tally)
    print("\n".join(tally.misses))
    print(render(tally))


if __name__ == "__main__":
    main()
