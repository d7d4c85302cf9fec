"""Measuring rules against labelled files: per-field precision/recall, per-attribute accuracy.

Pure: callers hand in the expected object (any subset of the ``triage --json`` keys, or the
form fixtures' ``{"document_kind", "fields": {key: value}}``) and what the rules produced in
the same shape; nothing here reads files. Labelled fields in the forms' shape are the file's
whole record; in the ``triage --json`` shape, an excerpt (see ``lists_every_field``). A
baseline is the per-file outcomes as JSON, so that a later run can name the files that got
worse.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

FieldStatus = Literal["correct", "wrong", "missed", "extra"]

# Attributes compared when the expected object names them; "missing" is compared as a set.
ATTRIBUTES: tuple[str, ...] = (
    "kind", "request_type", "regulation", "language", "missing", "complete", "urgent",
    "would_acknowledge", "case_ref", "document_kind", "signed",
)
BASELINE_FORMAT = "derogation-intake rules eval baseline 1"
_STATUSES: tuple[FieldStatus, ...] = get_args(FieldStatus)


@dataclass(frozen=True)
class FieldOutcome:
    """How one field of one file came out: the expected and the extracted value."""

    status: FieldStatus
    expected: str | None
    actual: str | None


@dataclass(frozen=True)
class AttributeOutcome:
    """Whether one attribute of one file came out as labelled."""

    ok: bool
    expected: Any
    actual: Any


@dataclass(frozen=True)
class FileScore:
    """The outcomes of one labelled file."""

    fields: Mapping[str, FieldOutcome] = field(default_factory=dict)
    attributes: Mapping[str, AttributeOutcome] = field(default_factory=dict)
    error: str | None = None  # the file could not be read: everything expected is a miss


@dataclass(frozen=True)
class FieldCounts:
    """Counts of one field over many files."""

    correct: int = 0
    wrong: int = 0
    missed: int = 0
    extra: int = 0

    @property
    def found(self) -> int:
        """Values the rules produced for this field."""
        return self.correct + self.wrong + self.extra

    @property
    def expected(self) -> int:
        """Values the labels hold for this field."""
        return self.correct + self.wrong + self.missed

    @property
    def precision(self) -> float | None:
        """Share of the values found that are right (None when nothing was found)."""
        return self.correct / self.found if self.found else None

    @property
    def recall(self) -> float | None:
        """Share of the labelled values found right (None when nothing is labelled)."""
        return self.correct / self.expected if self.expected else None

    def plus(self, status: FieldStatus) -> FieldCounts:
        """Return the counts with one more outcome."""
        counts = {"correct": self.correct, "wrong": self.wrong, "missed": self.missed,
                  "extra": self.extra}
        counts[status] += 1
        return FieldCounts(**counts)


@dataclass(frozen=True)
class AttributeCounts:
    """Right answers of one attribute over many files."""

    right: int = 0
    total: int = 0

    @property
    def accuracy(self) -> float | None:
        """Share of right answers (None when no file labels the attribute)."""
        return self.right / self.total if self.total else None


@dataclass(frozen=True)
class Scores:
    """Per-field and per-attribute counts over a set of files."""

    files: int
    fields: Mapping[str, FieldCounts]
    attributes: Mapping[str, AttributeCounts]

    def all_fields(self) -> FieldCounts:
        """Counts over every field together (micro-average)."""
        return FieldCounts(*(sum(getattr(c, name) for c in self.fields.values())
                             for name in ("correct", "wrong", "missed", "extra")))


@dataclass(frozen=True)
class Change:
    """One file that got worse (or better) than in the baseline, and how."""

    file: str
    detail: str

    def describe(self) -> str:
        """Return 'file: detail'."""
        return f"{self.file}: {self.detail}"


# --- comparing one file -----------------------------------------------------------------


def same_value(expected: object, actual: object) -> bool:
    """Whether two field values are equal once case, Unicode form and spacing are ignored."""
    return _plain(expected) == _plain(actual)


def _plain(value: object) -> str:
    text = unicodedata.normalize("NFC", str(value))
    return " ".join(text.split()).casefold()


def field_values(fields: object) -> dict[str, str | None]:
    """Return {key: value} from either shape: {key: value} or {key: {"value": ...}}."""
    if not isinstance(fields, Mapping):
        return {}
    values: dict[str, str | None] = {}
    for key, item in fields.items():
        value = item.get("value") if isinstance(item, Mapping) else item
        values[str(key)] = None if value is None or str(value).strip() == "" else str(value)
    return values


def compare(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> FileScore:
    """Compare what the rules produced with the labels of one file."""
    fields = (_compare_fields(expected["fields"], field_values(actual.get("fields")))
              if "fields" in expected else {})
    attributes = {name: _compare_attribute(name, expected[name], actual.get(name))
                  for name in ATTRIBUTES if name in expected}
    return FileScore(fields, attributes)


def lists_every_field(fields: object) -> bool:
    """Whether labelled fields are the file's whole record, not an excerpt.

    The form fixtures' shape {key: value} lists every field the file holds, so a value found
    for another key is an error; the triage --json shape {key: {"value": ...}} is an excerpt
    of which only the keys written are judged (null: the file holds no such value).
    """
    return isinstance(fields, Mapping) and not any(isinstance(v, Mapping)
                                                   for v in fields.values())


def failed(expected: Mapping[str, Any], error: str) -> FileScore:
    """The score of a file that could not be read: every labelled value is a miss."""
    fields: dict[str, FieldOutcome] = {
        key: FieldOutcome("missed", value, None)
        for key, value in field_values(expected.get("fields")).items() if value is not None}
    attributes = {name: AttributeOutcome(False, expected[name], None)
                  for name in ATTRIBUTES if name in expected}
    return FileScore(fields, attributes, error)


def _compare_fields(labelled: object,
                    actual: Mapping[str, str | None]) -> dict[str, FieldOutcome]:
    expected = field_values(labelled)
    keys = set(expected) | set(actual) if lists_every_field(labelled) else set(expected)
    outcomes: dict[str, FieldOutcome] = {}
    for key in sorted(keys):
        want, got = expected.get(key), actual.get(key)
        status = _field_status(want, got)
        if status is not None:
            outcomes[key] = FieldOutcome(status, want, got)
    return outcomes


def _field_status(want: str | None, got: str | None) -> FieldStatus | None:
    if want is None:
        return "extra" if got is not None else None
    if got is None:
        return "missed"
    return "correct" if same_value(want, got) else "wrong"


def _compare_attribute(name: str, want: Any, got: Any) -> AttributeOutcome:
    if name == "missing":
        ok = sorted(map(str, want or [])) == sorted(map(str, got or []))
    else:
        ok = want == got
    return AttributeOutcome(ok, want, got)


# --- many files -------------------------------------------------------------------------


def precision_recall(files: Iterable[FileScore]) -> Scores:
    """Add up per-file outcomes into per-field and per-attribute counts."""
    fields: dict[str, FieldCounts] = {}
    attributes: dict[str, AttributeCounts] = {}
    count = 0
    for score in files:
        count += 1
        for key, outcome in score.fields.items():
            fields[key] = fields.get(key, FieldCounts()).plus(outcome.status)
        for name, result in score.attributes.items():
            before = attributes.get(name, AttributeCounts())
            attributes[name] = AttributeCounts(before.right + result.ok, before.total + 1)
    ordered = {name: attributes[name] for name in ATTRIBUTES if name in attributes}
    return Scores(count, dict(sorted(fields.items())), ordered)


@dataclass(frozen=True)
class MissingChecks:
    """Required checklist items that a request holds, and how many were said missing."""

    checks: int = 0  # (request, required item it holds) pairs
    wrongly_missing: int = 0  # of those, reported missing

    @property
    def right(self) -> float | None:
        """Share of the items a request holds that were not reported missing."""
        return 1 - self.wrongly_missing / self.checks if self.checks else None


def missing_checks(files: Iterable[FileScore],
                   required: Mapping[str, Iterable[str]]) -> MissingChecks:
    """Count, over files labelled with a request type and `missing`, the required items
    (per request type) that the file holds, and those of them the rules said were missing."""
    checks = wrong = 0
    for score in files:
        kind, said = score.attributes.get("request_type"), score.attributes.get("missing")
        if kind is None or said is None:
            continue
        expected = set(map(str, said.expected or []))
        actual = set(map(str, said.actual or []))
        held = [item for item in required.get(str(kind.expected), ()) if item not in expected]
        checks += len(held)
        wrong += sum(item in actual for item in held)
    return MissingChecks(checks, wrong)


def correction_scores(items: Iterable[tuple[str, str, str | None]]) -> dict[str, FieldCounts]:
    """Per-field counts of extracted values against reviewers' (key, corrected, extracted)."""
    counts: dict[str, FieldCounts] = {}
    for key, corrected, extracted in items:
        # A reviewer who empties a value says the case holds none: finding one was an error.
        status = _field_status(corrected.strip() or None, extracted)
        if status is not None:
            counts[key] = counts.get(key, FieldCounts()).plus(status)
    return dict(sorted(counts.items()))


def misses(name: str, score: FileScore) -> list[str]:
    """What went wrong in one file, one line each (for the administrator to look at)."""
    lines = [f"{name}: could not be read ({score.error})"] if score.error else []
    for key, outcome in score.fields.items():
        if outcome.status == "missed":
            lines.append(f"{name}: {key} missed (expected {outcome.expected!r})")
        elif outcome.status == "wrong":
            lines.append(f"{name}: {key} wrong: {outcome.actual!r} "
                         f"(expected {outcome.expected!r})")
        elif outcome.status == "extra":
            lines.append(f"{name}: {key} unexpected: {outcome.actual!r}")
    lines += [f"{name}: {attr} expected {result.expected!r}, got {result.actual!r}"
              for attr, result in score.attributes.items() if not result.ok]
    return lines


# --- follow-ups ----------------------------------------------------------------------------


def follow_order(labels: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Names in order, each message after the one it "follows" (given order otherwise)."""
    done: set[str] = set()
    ordered: list[str] = []
    pending = list(labels)
    while pending:
        ready = [n for n in pending if not _waits(labels[n].get("follows"), labels, done)]
        # A cycle of "follows" cannot be ordered: take the files as they come.
        ready = ready or pending[:1]
        ordered += ready
        done.update(ready)
        pending = [n for n in pending if n not in done]
    return ordered


def _waits(followed: object, labels: Mapping[str, object], done: set[str]) -> bool:
    return isinstance(followed, str) and followed in labels and followed not in done


def case_references(labels: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """The reference of each case as its follow-ups cite it (first message -> reference)."""
    refs: dict[str, str] = {}
    for name, expected in labels.items():
        root, seen = name, {name}
        while isinstance(following := labels.get(root, {}).get("follows"), str) \
                and following not in seen:
            root = following
            seen.add(root)
        cited = expected.get("case_ref")
        if root != name and isinstance(cited, str):
            refs.setdefault(root, cited)
    return refs


# --- baselines --------------------------------------------------------------------------


def regressions(baseline: Mapping[str, FileScore],
                current: Mapping[str, FileScore]) -> list[Change]:
    """Files that got worse: a field no longer right, a new wrong value, an attribute now wrong."""
    return [Change(name, detail) for name in sorted(set(baseline) & set(current))
            for detail in _worse(baseline[name], current[name])]


def improvements(baseline: Mapping[str, FileScore],
                 current: Mapping[str, FileScore]) -> list[Change]:
    """Files that got better: a field now right, a wrong value gone, an attribute now right."""
    return [Change(name, detail) for name in sorted(set(baseline) & set(current))
            for detail in _better(baseline[name], current[name])]


def _worse(before: FileScore, after: FileScore) -> list[str]:
    details = []
    for key in sorted(set(before.fields) | set(after.fields)):
        was, now = before.fields.get(key), after.fields.get(key)
        if _right(was) and not _right(now):
            details.append(f"{key} lost: {_shown(now)} (was {_value(was)})")
        elif _extra(now) and not _extra(was):
            details.append(f"{key} unexpected value {_value(now)}")
    for name, result in after.attributes.items():
        old = before.attributes.get(name)
        if old is not None and old.ok and not result.ok:
            details.append(f"{name} now wrong: {result.actual!r} "
                           f"(expected {result.expected!r}, was right)")
    return details


def _better(before: FileScore, after: FileScore) -> list[str]:
    details = []
    for key in sorted(set(before.fields) | set(after.fields)):
        was, now = before.fields.get(key), after.fields.get(key)
        if _right(now) and not _right(was):
            details.append(f"{key} gained: {_value(now)} (was {_shown(was)})")
        elif _extra(was) and not _extra(now):
            details.append(f"{key} no longer finds {_value(was)}")
    for name, result in after.attributes.items():
        old = before.attributes.get(name)
        if old is not None and not old.ok and result.ok:
            details.append(f"{name} now right: {result.actual!r} (was {old.actual!r})")
    return details


def _right(outcome: FieldOutcome | None) -> bool:
    return outcome is not None and outcome.status == "correct"


def _extra(outcome: FieldOutcome | None) -> bool:
    return outcome is not None and outcome.status == "extra"


def _value(outcome: FieldOutcome | None) -> str:
    return repr(outcome.actual) if outcome is not None else "nothing"


def _shown(outcome: FieldOutcome | None) -> str:
    if outcome is None or outcome.actual is None:
        return "not found"
    return f"now {outcome.actual!r}"


def score_changes(before: Scores, after: Scores) -> list[str]:
    """Per-field precision/recall and per-attribute accuracy that moved, 'was -> now'."""
    lines = []
    for key in sorted(set(before.fields) | set(after.fields)):
        old, new = before.fields.get(key, FieldCounts()), after.fields.get(key, FieldCounts())
        for measure in ("precision", "recall"):
            was, now = getattr(old, measure), getattr(new, measure)
            if was != now:
                lines.append(f"{key} {measure} {ratio(was)} -> {ratio(now)}")
    for name in ATTRIBUTES:
        was = before.attributes.get(name, AttributeCounts()).accuracy
        now = after.attributes.get(name, AttributeCounts()).accuracy
        if was != now:
            lines.append(f"{name} accuracy {ratio(was)} -> {ratio(now)}")
    return lines


def ratio(value: float | None) -> str:
    """Return a share as '0.967', or '-' when there is nothing to divide."""
    return "-" if value is None else f"{value:.3f}"


def baseline_to_json(files: Mapping[str, FileScore], **about: str) -> dict[str, Any]:
    """Return per-file outcomes as a JSON object (``about``: profile, version, directory)."""
    return {"format": BASELINE_FORMAT, **about,
            "files": {name: _score_to_json(score) for name, score in sorted(files.items())}}


def _score_to_json(score: FileScore) -> dict[str, Any]:
    data: dict[str, Any] = {
        "fields": {k: {"status": o.status, "expected": o.expected, "actual": o.actual}
                   for k, o in score.fields.items()},
        "attributes": {k: {"ok": o.ok, "expected": o.expected, "actual": o.actual}
                       for k, o in score.attributes.items()},
    }
    if score.error:
        data["error"] = score.error
    return data


def baseline_from_json(data: Any) -> dict[str, FileScore]:
    """Read per-file outcomes written by baseline_to_json; ValueError when it is not one."""
    if not isinstance(data, Mapping) or data.get("format") != BASELINE_FORMAT:
        raise ValueError(f"not a baseline file (expected \"format\": \"{BASELINE_FORMAT}\")")
    files = data.get("files")
    if not isinstance(files, Mapping):
        raise ValueError("a baseline needs a \"files\" object")
    try:
        return {str(name): _score_from_json(item) for name, item in files.items()}
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed baseline entry: {exc}") from exc


def _score_from_json(item: Mapping[str, Any]) -> FileScore:
    fields = {k: FieldOutcome(_status(o["status"]), o.get("expected"), o.get("actual"))
              for k, o in item["fields"].items()}
    attributes = {k: AttributeOutcome(bool(o["ok"]), o.get("expected"), o.get("actual"))
                  for k, o in item["attributes"].items()}
    return FileScore(fields, attributes, item.get("error"))


def _status(value: object) -> FieldStatus:
    for status in _STATUSES:
        if value == status:
            return status
    raise KeyError(f"unknown field status {value!r}")
