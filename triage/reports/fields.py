"""The fields part of a case page: values with their sources, conflicts, reviewer corrections.

Entries are the ``field_history`` records of ``storage.reports.case_field_history``: every
value ever recorded for a case, each with its origin (extracted or reviewer) and its state
(current, superseded by a later value, or an alternative from another source).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from config.extraction_rules import FIELD_KEYS
from triage.reports.html import (
    Html,
    badge,
    join,
    local_time,
    optional,
    percent,
    table,
    tag,
)

Data = Mapping[str, Any]

LOW_CONFIDENCE = 0.7
STATE_WORDS = {"current": "in effect", "superseded": "replaced by a later value",
               "alternative": "other source, not used"}


def field_history_of(data: Data) -> list[Data]:
    """Return the field history, or the current values when the data holds no history."""
    history = data.get("field_history")
    if history is not None:
        return list(history)
    return [{**value, "key": key, "state": "current"}
            for key, value in (data.get("fields") or {}).items()]


def key_order(keys: Iterable[str]) -> list[str]:
    """Return field keys in the canonical order of domain.md, unknown keys last."""
    rank = {key: i for i, key in enumerate(FIELD_KEYS)}
    return sorted(set(keys), key=lambda k: (rank.get(k, len(rank)), k))


def by_origin(history: Iterable[Data], origin: str) -> list[Data]:
    """Return the entries of one origin (extracted or reviewer)."""
    return [e for e in history if (e.get("origin") or "extracted") == origin]


def render_value(value: Any) -> Html:
    """Return a field value as text, or a dash when empty."""
    return tag("span", value, class_="value") if value not in (None, "") else Html("—")


def _source_parts(source: Data, href: str | None = None) -> list[Html | str]:
    """Return the parts of a location: file (a link when href), page, form field, cell, label."""
    parts: list[Html | str] = []
    if source.get("filename"):
        parts.append(tag("a" if href else "span", source["filename"], class_="mono",
                         href=href, download=bool(href)))
    elif source.get("channel"):
        parts.append(f"e-mail {source['channel']}")
    for key, label in (("page", "page"), ("form_field", "form field"), ("paragraph",
                       "paragraph"), ("line", "line")):
        if source.get(key) not in (None, ""):
            parts.append(f"{label} {source[key]}")
    if source.get("table") is not None:
        cell = [f"{k} {source[k]}" for k in ("table", "row", "cell") if source.get(k) is not None]
        parts.append(", ".join(cell))
    if source.get("label"):
        parts.append(f"label “{source['label']}”")
    return parts


def source_html(entry: Data) -> Html:
    """Return where a value was found (or who set it), with the extraction channel."""
    if entry.get("origin") == "reviewer":
        return Html("set by " + tag("span", entry.get("actor") or "a reviewer"))
    source = entry.get("source") or {}
    # A workspace page links each value to the document it came from (document_href).
    href = entry.get("document_href")
    parts = _source_parts(source, href) if isinstance(source, Mapping) else []
    if not parts:
        return tag("span", entry.get("source_text") or "unknown")
    channel = source.get("channel") if source.get("filename") else None
    scanned = None
    if channel == "ocr":  # OCR misreads letters: the reviewer checks such values
        scanned = badge(f"read from a scan (OCR {percent(_ocr_share(source))})", "warn")
    return Html(join(parts, " · ") + (tag("div", channel, class_="muted") if channel else "")
                + optional(scanned))


def _ocr_share(source: Data) -> float | None:
    """Tesseract's confidence (0-100) in the value's words as a share, if recorded."""
    value = source.get("ocr_confidence")
    return value / 100.0 if isinstance(value, int | float) else None


def confidence(entry: Data) -> Html:
    """Return the confidence, marked when low."""
    value = entry.get("confidence")
    low = isinstance(value, int | float) and value < LOW_CONFIDENCE
    return tag("span", percent(value), class_="low" if low else None)


def _field_row(key: str, entry: Data | None, history: Sequence[Data]) -> Html:
    """Return the row of one key: its extracted value in effect and a note on the others."""
    reviewer = [e for e in by_origin(history, "reviewer") if e.get("key") == key
                and e.get("state") == "current"]
    extracted = [e for e in by_origin(history, "extracted") if e.get("key") == key]
    notes: list[Html | str] = []
    if len({e.get("value") for e in extracted}) > 1:
        notes.append(tag("a", f"{len({e.get('value') for e in extracted})} values disagree",
                         href=f"#conflict-{key}"))
    if reviewer:
        notes.append(Html("overridden by a reviewer: " + render_value(reviewer[0].get("value"))))
    if entry is None:
        return tag("tr", tag("td", tag("code", key)), tag("td", "not extracted", colspan=4,
                                                           class_="muted"),
                   tag("td", join(notes, "; ")), class_="overridden")
    return tag("tr", tag("td", tag("code", key)), tag("td", render_value(entry.get("value")),
                                                      class_="value"),
               tag("td", source_html(entry)), tag("td", tag("code", entry.get("rule") or "—")),
               tag("td", confidence(entry), class_="num"), tag("td", join(notes, "; ")),
               class_="overridden" if reviewer else None)


def fields_table(history: Sequence[Data]) -> Html:
    """Return every key with its extracted value in effect, source, rule and confidence."""
    current = {e["key"]: e for e in by_origin(history, "extracted")
               if e.get("state") == "current"}
    keys = key_order(e["key"] for e in history)
    rows = [_field_row(k, current.get(k), history) for k in keys]
    return table(["Field", "Value", "Source", "Rule", "Confidence", "Note"], rows,
                 "No field was found in the messages or attachments.", class_="fields")


def _side(entry: Data, tz: str | None) -> Html:
    """Return one value of a conflict: the value, where it was found, and its standing."""
    state = str(entry.get("state") or "current")
    return tag("div",
               tag("div", render_value(entry.get("value")), class_="value"),
               tag("div", source_html(entry)),
               tag("div", "rule ", tag("code", entry.get("rule") or "—"), ", confidence ",
                   confidence(entry), class_="muted"),
               tag("div", badge(STATE_WORDS.get(state, state),
                                "ok" if state == "current" else "plain"),
                   tag("span", local_time(entry.get("at"), tz), class_="muted")),
               class_="side in-effect" if state == "current" else "side")


def conflicting_keys(history: Sequence[Data]) -> list[str]:
    """Return the keys for which the sources gave more than one value."""
    values: dict[str, set[Any]] = {}
    for entry in by_origin(history, "extracted"):
        values.setdefault(entry["key"], set()).add(entry.get("value"))
    return key_order(k for k, v in values.items() if len(v) > 1)


def conflicts_blocks(history: Sequence[Data], tz: str | None) -> Html:
    """Return, per key with disagreeing values, every value side by side."""
    blocks = []
    for key in conflicting_keys(history):
        sides = [_side(e, tz) for e in by_origin(history, "extracted") if e["key"] == key]
        blocks.append(tag("div", tag("h3", tag("code", key)), tag("div", sides, class_="sides"),
                          class_="conflict", id=f"conflict-{key}"))
    if not blocks:
        return tag("p", "Every source agrees: no field has two different values.",
                   class_="empty")
    return Html("".join(blocks))


def _extracted_in_effect(history: Sequence[Data], key: str) -> Html:
    """Return the extracted value a reviewer's value stands in for."""
    for entry in by_origin(history, "extracted"):
        if entry.get("key") == key and entry.get("state") == "current":
            return Html(render_value(entry.get("value"))
                        + tag("div", entry.get("source_text") or "", class_="muted"))
    return tag("span", "nothing extracted", class_="muted")


def corrections_table(history: Sequence[Data], tz: str | None) -> Html:
    """Return the reviewers' values, kept apart from what was extracted."""
    rows = [tag("tr", tag("td", tag("code", e.get("key"))),
                tag("td", render_value(e.get("value")), class_="value"),
                tag("td", e.get("actor") or "—"), tag("td", local_time(e.get("at"), tz)),
                tag("td", badge("in effect", "info") if e.get("state") == "current"
                    else badge("replaced", "plain")),
                tag("td", _extracted_in_effect(history, str(e.get("key")))),
                class_="reviewer") for e in by_origin(history, "reviewer")]
    return table(["Field", "Reviewer value", "By", "When", "Standing", "Extracted value"],
                 rows, "No reviewer has corrected a value.", class_="corrections")
