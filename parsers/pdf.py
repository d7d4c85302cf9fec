"""PDF to ExtractedDocument: AcroForm fields, printed labels and values, signatures.

pypdf opens the file, counts pages, reads the form tree and gives a fast plain text of
every page read; pdfplumber's slower word positions are only asked for the pages whose
plain text shows form labels, or that carry form fields with meaningless names whose
printed label must be found by position. Nothing raises out of ``pdf_to_document``: a file
that cannot be read comes back with ``error`` set ("encrypted", "broken").
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pdfplumber
from pypdf import PdfReader
from pypdf.errors import FileNotDecryptedError, PdfReadError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

from config.errors import ParseError
from config.extraction_rules import ExtractionRules, LabelRule
from parsers.labels import (
    BELOW_CONFIDENCE,
    DEFAULT_LIMITS,
    LINE_CONFIDENCE,
    FileInfo,
    Findings,
    LabelMatch,
    boxes_on_line,
    checkbox_rule,
    checkbox_value,
    failed_document,
    find_label,
    has_box,
    make_value,
    mentions_labels,
    name_rule,
    says_signed,
    signature_label,
    split_line,
    to_document,
)
from parsers.records import ExtractedDocument, FieldValue, Limits, Signature, Source

# Both libraries log a warning for every oddity of a damaged file; the outcome is recorded on
# the document instead, so only their errors are worth the log.
logging.getLogger("pypdf").setLevel(logging.ERROR)
logging.getLogger("pdfminer").setLevel(logging.ERROR)

NAME_CONFIDENCE = 0.95
TOOLTIP_CONFIDENCE = 0.9
POSITION_CONFIDENCE = 0.85
CHECKBOX_CONFIDENCE = 0.9
_FIRST_TEXT_CHARS = 1500
_MAX_FORM_FIELDS = 5000
CHECKED_MARK, UNCHECKED_MARK = "☒", "☐"
IMAGE_MARK = "\ufffc"  # object replacement character: where a picture is
_OFF = {"", "/Off", "Off", "/off", "/No", "No"}


def pdf_to_document(info: FileInfo, data: bytes, rules: ExtractionRules,
                    limits: Limits = DEFAULT_LIMITS) -> ExtractedDocument:
    """Read a PDF's form fields, labelled values and signatures; never raises."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _read(info, data, rules, limits)
    except ParseError as exc:
        return failed_document(rules, info, exc.reason, exc.detail)
    except (Exception, RecursionError) as exc:  # a hostile file must not stop the batch
        return failed_document(rules, info, "broken", f"{type(exc).__name__}: {exc}"[:300])


def _read(info: FileInfo, data: bytes, rules: ExtractionRules, limits: Limits,
          ) -> ExtractedDocument:
    try:
        reader = open_pdf(data)
    except ParseError as exc:
        if exc.reason != "broken":
            raise
        # pdfminer reads some files whose cross-reference table pypdf gives up on.
        return _fallback_document(info, data, rules, limits, exc.detail)
    return to_document(rules, info, _findings(reader, data, rules, limits))


def open_pdf(data: bytes) -> PdfReader:
    """Open a PDF with pypdf, trying the empty user password; ParseError when it cannot."""
    if not data.strip():
        raise ParseError("broken", "empty file")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise ParseError("encrypted", "a password is needed to open this PDF")
        _ = len(reader.pages)
    except FileNotDecryptedError as exc:
        raise ParseError("encrypted", str(exc)) from exc
    except NotImplementedError as exc:  # certificate (public-key) encryption
        raise ParseError("encrypted", str(exc)) from exc
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise ParseError("broken", f"{type(exc).__name__}: {exc}"[:300]) from exc
    return reader


# --- the whole document ------------------------------------------------------------------


def _findings(reader: PdfReader, data: bytes, rules: ExtractionRules,
              limits: Limits) -> Findings:
    count = len(reader.pages)
    numbers = pages_to_read(count, limits)
    texts = _page_texts(reader, numbers, limits.max_text_chars)
    form = read_form(reader)
    wanted = _pages_needing_words(rules, texts, form, numbers)
    words = page_words(data, wanted)
    values, labels_hit, misses = _form_values(rules, form, words)
    layout = layout_values(rules, words, form)
    text = "\n\n".join(texts[n] for n in numbers if texts.get(n))
    return Findings(
        text=text[:limits.max_text_chars],
        first_text=_first_text(reader, texts, numbers, count > limits.full_read_max_pages),
        pages=count, fields=(*values, *layout.values),
        labels_hit=(*labels_hit, *layout.labels),
        form_names=tuple(f.name for f in form),
        signatures=(*_signatures(form), *layout.signatures), near_misses=tuple(misses),
    )


def pages_to_read(count: int, limits: Limits) -> range:
    """All pages of a short PDF; the first few of a long one (an IFU, a study)."""
    return range(count if count <= limits.full_read_max_pages else min(limits.skim_pages, count))


def _page_texts(reader: PdfReader, numbers: range, cap: int) -> dict[int, str]:
    """Fast plain text of each page read (pypdf), stopping once the cap is reached."""
    texts: dict[int, str] = {}
    total = 0
    for number in numbers:
        if total >= cap:
            break
        try:
            texts[number] = reader.pages[number].extract_text() or ""
        except Exception:  # one unreadable page must not lose the others
            texts[number] = ""
        total += len(texts[number])
    return texts


def _first_text(reader: PdfReader, texts: dict[int, str], numbers: range, skim: bool) -> str:
    """Metadata title and subject, outline titles and the first page(s): the kind cues."""
    parts = [*_metadata(reader), *(_outline_titles(reader) if skim else [])]
    pages = numbers if skim else numbers[:1]
    parts.extend(texts.get(n, "")[:_FIRST_TEXT_CHARS] for n in pages)
    return "\n".join(p for p in parts if p)


def _metadata(reader: PdfReader) -> list[str]:
    try:
        meta = reader.metadata
        return [str(v) for v in (meta.title, meta.subject) if v] if meta else []
    except Exception:  # metadata is a hint; a broken Info dictionary is ignored
        return []


def _outline_titles(reader: PdfReader, limit: int = 40) -> list[str]:
    try:
        return list(_titles(reader.outline, limit, depth=0))[:limit]
    except Exception:  # a broken outline is ignored like missing metadata
        return []


def _titles(items: Sequence[Any], limit: int, depth: int) -> Iterator[str]:
    for item in list(items)[:limit]:
        if isinstance(item, list) and depth < 4:
            yield from _titles(item, limit, depth + 1)
        elif hasattr(item, "title") and item.title:
            yield str(item.title)


def _pages_needing_words(rules: ExtractionRules, texts: dict[int, str],
                         form: Sequence[FormField], numbers: range) -> list[int]:
    """Pages whose text shows labels, or that hold form fields only a printed label names."""
    flagged = {n for n, text in texts.items() if text and mentions_labels(rules, text)}
    flagged |= {f.page - 1 for f in form
                if f.page and f.has_value and _named_by_rules(rules, f) is None}
    return sorted(n for n in flagged if n in numbers)


# --- the AcroForm field tree -------------------------------------------------------------


@dataclass(frozen=True)
class FormField:
    """One terminal form field (one widget for buttons) with what it holds."""

    name: str  # full dotted name
    tooltip: str
    kind: str  # "Tx", "Btn", "Ch", "Sig" or ""
    value: str
    checked: bool
    signed: bool
    page: int | None
    rect: tuple[float, float, float, float] | None  # x0, top, x1, bottom (from page top)
    state: str = ""  # on-state of a checkbox or radio widget

    @property
    def has_value(self) -> bool:
        """Whether there is something to read: text, a ticked box."""
        return bool(self.value.strip()) if self.kind != "Btn" else self.checked


def read_form(reader: PdfReader) -> list[FormField]:
    """Every terminal field of the AcroForm, with full dotted names; loops are cut."""
    try:
        acroform = _resolve(_resolve(reader.trailer["/Root"]).get("/AcroForm"))
        roots = _resolve(acroform.get("/Fields")) if acroform else None
    except Exception:  # an unreadable catalog is a form-less PDF
        return []
    if not isinstance(roots, ArrayObject | list):
        return []
    walker = _FormWalker(_widget_pages(reader))
    walker.walk(roots, "", {}, depth=0)
    return walker.fields


_INHERITED = ("/FT", "/V", "/Ff", "/DA")


class _FormWalker:
    """Depth-first walk of the field tree, remembering visited objects (circular trees)."""

    def __init__(self, pages: dict[tuple[int, int], tuple[int, float]]) -> None:
        self.pages = pages
        self.fields: list[FormField] = []
        self.seen: set[tuple[int, int]] = set()

    def walk(self, kids: Sequence[Any], prefix: str, inherited: dict[str, Any],
             depth: int) -> None:
        """Visit the fields under `kids`, their names prefixed with their parents' names."""
        for ref in kids:
            if depth > 12 or len(self.fields) >= _MAX_FORM_FIELDS or self._seen(ref):
                continue
            node = _resolve(ref)
            if isinstance(node, DictionaryObject):
                self._node(ref, node, prefix, inherited, depth)

    def _seen(self, ref: Any) -> bool:
        if not isinstance(ref, IndirectObject):
            return False
        key = (ref.idnum, ref.generation)
        if key in self.seen:
            return True
        self.seen.add(key)
        return False

    def _node(self, ref: Any, node: DictionaryObject, prefix: str,
              inherited: dict[str, Any], depth: int) -> None:
        partial = _text(node.get("/T"))
        name = f"{prefix}.{partial}" if prefix and partial else partial or prefix
        inherit = {**inherited, **{k: node[k] for k in _INHERITED if k in node}}
        kids = node.get("/Kids")
        kids = kids.get_object() if kids is not None else None
        if isinstance(kids, ArrayObject) and any(_is_field(k) for k in kids):
            self.walk(kids, name, inherit, depth + 1)
            return
        widgets = list(kids) if isinstance(kids, ArrayObject) and kids else [ref]
        self._terminal(node, name, inherit, widgets)

    def _terminal(self, node: DictionaryObject, name: str, inherit: dict[str, Any],
                  widgets: list[Any]) -> None:
        kind = _text(inherit.get("/FT"))
        value = inherit.get("/V")
        tooltip = _text(node.get("/TU"))
        if kind == "/Btn":
            # A radio group's tooltip is its question; each button may carry its own.
            shared = tooltip if len(widgets) == 1 else ""
            for widget in widgets:
                self.fields.append(self._button(widget, name, shared, value))
            return
        page, rect = self._place(widgets[0])
        self.fields.append(FormField(
            name=name, tooltip=tooltip, kind=kind.lstrip("/"), value=_field_text(value),
            checked=False, signed=kind == "/Sig" and _is_signature(value), page=page, rect=rect,
        ))

    def _button(self, ref: Any, name: str, tooltip: str, value: Any) -> FormField:
        widget = _resolve(ref)
        if not isinstance(widget, DictionaryObject):
            widget = DictionaryObject()
        state = _on_state(widget)
        current = _text(value) or _text(widget.get("/AS"))
        checked = current not in _OFF and (not state or current == state
                                           or _text(widget.get("/AS")) == state)
        page, rect = self._place(ref)
        tooltip = _text(widget.get("/TU")) or tooltip
        return FormField(name=name, tooltip=tooltip, kind="Btn", value=current.lstrip("/"),
                         checked=checked, signed=False, page=page, rect=rect,
                         state=state.lstrip("/"))

    def _place(self, ref: Any) -> tuple[int | None, tuple[float, float, float, float] | None]:
        """1-based page and rectangle (top-left origin) of a widget."""
        key = (ref.idnum, ref.generation) if isinstance(ref, IndirectObject) else None
        where = self.pages.get(key) if key else None
        widget = _resolve(ref)
        rect = widget.get("/Rect") if isinstance(widget, DictionaryObject) else None
        if where is None or not isinstance(rect, ArrayObject | list) or len(rect) != 4:
            return (where[0] if where else None), None
        x0, y0, x1, y1 = (float(v) for v in rect)
        height = where[1]
        return where[0], (min(x0, x1), height - max(y0, y1), max(x0, x1), height - min(y0, y1))


def _widget_pages(reader: PdfReader) -> dict[tuple[int, int], tuple[int, float]]:
    """Widget object -> (1-based page, page top in user space) from the pages' /Annots."""
    found: dict[tuple[int, int], tuple[int, float]] = {}
    for number, page in enumerate(reader.pages, start=1):
        annots, top = _annotations(page)
        for ref in annots:
            if isinstance(ref, IndirectObject):
                found[(ref.idnum, ref.generation)] = (number, top)
    return found


def _annotations(page: Any) -> tuple[list[Any], float]:
    try:
        annots = _resolve(page.get("/Annots"))
        return (list(annots) if isinstance(annots, ArrayObject) else []), float(page.mediabox.top)
    except Exception:  # a page without readable annotations has no widgets to place
        return [], 0.0


def _resolve(value: Any) -> Any:
    """The object an indirect reference points at (pypdf leaves them to the caller)."""
    return value.get_object() if isinstance(value, IndirectObject) else value


def _is_field(ref: Any) -> bool:
    node = _resolve(ref)
    return isinstance(node, DictionaryObject) and "/T" in node


def _on_state(widget: Any) -> str:
    """The name of a button widget's 'on' appearance (e.g. '/Yes', '/manufacturer')."""
    try:
        normal = widget["/AP"].get_object()["/N"].get_object()
        return next((str(k) for k in normal if str(k) not in _OFF), "")
    except Exception:  # no appearance dictionary: the value alone tells the state
        return ""


def _is_signature(value: Any) -> bool:
    node = _resolve(value)
    return isinstance(node, DictionaryObject) and "/Contents" in node


def _text(value: Any) -> str:
    if value is None:
        return ""
    node = _resolve(value)
    return str(node) if not isinstance(node, DictionaryObject | ArrayObject) else ""


def _field_text(value: Any) -> str:
    node = _resolve(value)
    if isinstance(node, ArrayObject | list):
        return ", ".join(_text(v) for v in node)
    return _text(node)


def _signatures(form: Sequence[FormField]) -> Iterator[Signature]:
    for field in form:
        if field.kind == "Sig":
            source = Source(filename=None, sha256=None, channel="acroform", page=field.page,
                            form_field=field.name)
            yield Signature(field.name, field.signed, field.page, source)


# --- form fields onto canonical keys -------------------------------------------------------


def _named_by_rules(rules: ExtractionRules, field: FormField) -> str | None:
    """The rule id that recognises a field by its name or tooltip, if one does."""
    if field.kind == "Btn":
        rule = checkbox_rule(rules, field.tooltip or field.state, field.name)
        return rule.id if rule else None
    named = name_rule(rules, field.name)
    if named is not None:
        return named[1]
    label = find_label(rules, field.tooltip) if field.tooltip else None
    return label.id if label else None


def _form_values(rules: ExtractionRules, form: Sequence[FormField],
                 words: dict[int, list[Word]],
                 ) -> tuple[list[FieldValue], list[LabelRule], list[str]]:
    """Values of filled fields, by field name, tooltip or the printed label beside them."""
    values: list[FieldValue] = []
    labels: list[LabelRule] = []
    misses: list[str] = []
    for field in form:
        if not field.has_value or field.kind == "Sig":
            continue
        page_words = words.get(field.page - 1, []) if field.page else []
        if field.kind == "Btn":
            values.extend(v for v in [_button_value(rules, field, page_words)] if v)
            continue
        found, label = _text_value(rules, field, page_words)
        if found is not None:
            values.append(found)
        else:
            misses.append(f"form field '{field.name}' = {field.value[:60]!r}: no rule matched")
        if label is not None:
            labels.append(label)
    return values, labels, misses


def _source(field: FormField, label: str | None = None) -> Source:
    return Source(filename=None, sha256=None, channel="acroform", page=field.page,
                  form_field=field.name, label=label)


def _text_value(rules: ExtractionRules, field: FormField, words: list[Word],
                ) -> tuple[FieldValue | None, LabelRule | None]:
    named = name_rule(rules, field.name)
    if named is not None:
        key, rule_id = named
        return make_value(rules, key, field.value, _source(field), rule_id, NAME_CONFIDENCE), None
    label = find_label(rules, field.tooltip) if field.tooltip else None
    confidence, printed = TOOLTIP_CONFIDENCE, field.tooltip
    if label is None and field.rect is not None:
        confidence = POSITION_CONFIDENCE
        # Meaningless names (Text1): the label printed to the left, or just above.
        for printed in labels_beside(words, field.rect):
            label = find_label(rules, printed)
            if label is not None:
                break
    if label is None:
        return None, None
    value = make_value(rules, label.key, field.value, _source(field, printed), label.id,
                       confidence)
    return value, label


def _button_value(rules: ExtractionRules, field: FormField, words: list[Word],
                  ) -> FieldValue | None:
    """A ticked box or chosen radio: by tooltip, export value, name or printed label."""
    printed = ""
    rule = next((r for r in (checkbox_rule(rules, t) for t in (field.tooltip, field.state)
                             if t) if r), None)
    rule = rule or checkbox_rule(rules, "", field.name)
    if rule is None and field.rect is not None:
        # A box's label is printed to its right, sometimes to its left.
        for printed in labels_beside(words, field.rect, right_first=True):
            rule = checkbox_rule(rules, printed)
            if rule is not None:
                break
    if rule is None:
        return None
    raw = printed or field.tooltip or field.state or field.name
    return checkbox_value(rule, raw, _source(field, printed or None), CHECKBOX_CONFIDENCE)


# --- words with positions (pdfplumber) ----------------------------------------------------


@dataclass(frozen=True)
class Word:
    """A word with its box, top-left origin, in points."""

    text: str
    x0: float
    x1: float
    top: float
    bottom: float


@dataclass(frozen=True)
class Segment:
    """Words of one line that sit close together: a label, a value, a table cell."""

    words: tuple[Word, ...]

    @property
    def text(self) -> str:
        """The words joined by spaces."""
        return " ".join(w.text for w in self.words)

    @property
    def x0(self) -> float:
        """Left edge."""
        return self.words[0].x0

    @property
    def x1(self) -> float:
        """Right edge."""
        return self.words[-1].x1

    @property
    def top(self) -> float:
        """Top edge."""
        return min(w.top for w in self.words)

    @property
    def bottom(self) -> float:
        """Bottom edge."""
        return max(w.bottom for w in self.words)


# ZapfDingbats draws ticks and boxes with plain letters; read them as the glyphs they show.
_DINGBATS = {"4": "✔", "3": "✓", "8": "✘", "7": "✗", "5": "✕", "n": "■", "o": "❏",
             "p": "❏", "q": "❑", "r": "❑", "l": "●", "m": "❍", "u": "◆"}


def page_words(data: bytes, numbers: Sequence[int]) -> dict[int, list[Word]]:
    """Words with positions for the given 0-based pages; pages that fail give none."""
    if not numbers:
        return {}
    found: dict[int, list[Word]] = {}
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        for number in numbers:
            found[number] = _words_of(pdf, number)
    return found


def _words_of(pdf: Any, number: int) -> list[Word]:
    try:
        page = pdf.pages[number]
        raw = page.extract_words(extra_attrs=["fontname"])
        rects = page.rects
    except Exception:  # one unreadable page must not lose the others
        return []
    words = [Word(_glyphs(w["text"], str(w.get("fontname", ""))), float(w["x0"]),
                  float(w["x1"]), float(w["top"]), float(w["bottom"])) for w in raw]
    return [*_with_drawn_boxes(words, rects), *_images(page)]


def _images(page: Any) -> list[Word]:
    """Pictures on the page as placeholder words (a scanned signature, a stamp)."""
    try:
        return [Word(IMAGE_MARK, float(i["x0"]), float(i["x1"]), float(i["top"]),
                     float(i["bottom"])) for i in page.images]
    except Exception:  # a broken image dictionary is no picture
        return []


def _text_words(words: Sequence[Word]) -> list[Word]:
    return [w for w in words if w.text != IMAGE_MARK]


_TICKS = {"x", "X", "✓", "✔", "✗", "✘", "■"}


_MAX_DRAWN_BOXES = 400  # a page of comb fields is no list of check boxes


def _with_drawn_boxes(words: list[Word], rects: Sequence[dict[str, Any]]) -> list[Word]:
    """Small drawn squares become ☐, or ☒ when a tick is written inside them."""
    boxes = [r for r in rects if 5 <= float(r["width"]) <= 16 and 5 <= float(r["height"]) <= 16
             and abs(float(r["width"]) - float(r["height"])) <= 2][:_MAX_DRAWN_BOXES]
    marks: list[Word] = []
    inked: set[int] = set()
    for box in boxes:
        x0, x1, top, bottom = (float(box[k]) for k in ("x0", "x1", "top", "bottom"))
        inside = [i for i, w in enumerate(words) if w.x0 >= x0 - 1 and w.x1 <= x1 + 1
                  and w.top >= top - 2 and w.bottom <= bottom + 2]
        ticked = any(words[i].text in _TICKS for i in inside)
        inked.update(inside)
        marks.append(Word(CHECKED_MARK if ticked else UNCHECKED_MARK, x0, x1, top, bottom))
    return [w for i, w in enumerate(words) if i not in inked] + marks


def _glyphs(text: str, fontname: str) -> str:
    if "dingbat" not in fontname.lower():
        return text
    return "".join(_DINGBATS.get(c, c) for c in text)


def _lines(words: Sequence[Word]) -> list[list[Word]]:
    """Words grouped into lines by their vertical position, each sorted left to right."""
    lines: list[list[Word]] = []
    for word in sorted(words, key=lambda w: (round(w.top), w.x0)):
        line = lines[-1] if lines else None
        if line and abs(word.top - line[0].top) <= max(2.0, 0.4 * (word.bottom - word.top)):
            line.append(word)
        else:
            lines.append([word])
    return [sorted(line, key=lambda w: w.x0) for line in lines]


def _segments(line: Sequence[Word]) -> list[Segment]:
    """Split a line where the gap is wider than about one letter height (a column gap)."""
    if not line:
        return []
    height = sorted(w.bottom - w.top for w in line)[len(line) // 2]
    gap = max(6.0, 0.9 * height)
    groups: list[list[Word]] = [[line[0]]]
    for word in line[1:]:
        if word.x0 - groups[-1][-1].x1 > gap:
            groups.append([word])
        else:
            groups[-1].append(word)
    return [Segment(tuple(g)) for g in groups]


def labels_beside(words: Sequence[Word], rect: tuple[float, float, float, float],
                  right_first: bool = False) -> list[str]:
    """Texts printed next to a widget, nearest first: left, right (first for boxes), above."""
    # A label on the left may wrap over the widget's height: its lines are joined.
    x0, top, x1, bottom = rect
    words = _text_words(words)
    beside = [w for w in words if top - 2 <= (w.top + w.bottom) / 2 <= bottom + 2]
    left = _nearest_block([w for w in beside if w.x1 <= x0 + 2], from_right=True)
    right = _nearest_block([w for w in beside if w.x0 >= x1 - 2], from_right=False)
    found = [*right, *left] if right_first else [*left, *right]
    return [*found, *_above(words, rect)]


def _nearest_block(words: Sequence[Word], from_right: bool) -> list[str]:
    """The segment nearest the widget on each line; the first line alone, then all joined."""
    parts = []
    for line in _lines(words):
        segments = _segments(line)
        if segments:
            parts.append((segments[-1] if from_right else segments[0]).text)
    return list(dict.fromkeys([*parts[:1], " ".join(parts)])) if parts else []


def _above(words: Sequence[Word], rect: tuple[float, float, float, float]) -> list[str]:
    """The nearest line just above a widget, the part of it over the widget."""
    x0, top, x1, bottom = rect
    reach = max(24.0, 2.5 * (bottom - top))
    near = [w for w in words if top - reach <= w.bottom <= top + 2]
    for line in reversed(_lines(near)):
        over = [s for s in _segments(line) if s.x0 <= x1 and s.x1 >= x0 - 2]
        if over:
            return [over[0].text]
    return []


# --- labels and values laid out on the page -------------------------------------------------


@dataclass(frozen=True)
class _Page:
    """One page's lines of segments, for pairing labels with values."""

    number: int  # 0-based
    lines: tuple[tuple[Segment, ...], ...]
    images: tuple[Word, ...] = ()


@dataclass(frozen=True)
class Layout:
    """What the printed page shows: values by their labels, labels hit, signature lines."""

    values: tuple[FieldValue, ...]
    labels: tuple[LabelRule, ...]
    signatures: tuple[Signature, ...]


def layout_values(rules: ExtractionRules, words: dict[int, list[Word]],
                  widgets: Sequence[FormField] = ()) -> Layout:
    """Printed 'label value' pairs: same line, 'Label: value', or value on the line below."""
    values: list[FieldValue] = []
    labels: list[LabelRule] = []
    signatures: list[Signature] = []
    for number, page_words in sorted(words.items()):
        page = _Page(number, tuple(tuple(_segments(line))
                                   for line in _lines(_text_words(page_words))),
                     tuple(w for w in page_words if w.text == IMAGE_MARK))
        boxes = [f.rect for f in widgets if f.page == number + 1 and f.rect]
        for found, label in _page_pairs(rules, page, boxes):
            labels.append(label)
            if found is not None:
                values.append(found)
        values.extend(_page_boxes(rules, page))
        signatures.extend(_printed_signatures(rules, page, boxes))
    return Layout(tuple(values), tuple(labels), tuple(signatures))


def _page_pairs(rules: ExtractionRules, page: _Page,
                boxes: Sequence[tuple[float, float, float, float]],
                ) -> Iterator[tuple[FieldValue | None, LabelRule]]:
    for row, line in enumerate(page.lines):
        header = len(line) > 1 and all(_bare_label(rules, s) for s in line)
        taken: set[int] = set()
        for column, segment in enumerate(line):
            if column in taken:
                continue
            match = split_line(rules, segment.text)
            if match is None or _owned_by_widget(segment, boxes) or _wrapped(match):
                continue
            found, used = _pair(rules, page, row, column, match, header)
            taken |= used
            yield found, match.rule


def _wrapped(match: LabelMatch) -> bool:
    """Whether a lone lower-case 'label' is the tail of a wrapped sentence, not a label."""
    # e.g. a title wrapped as "... dans l'intérêt d'un" / "patient (usage compassionnel)".
    return not match.value and match.label[:1].islower()


def _bare_label(rules: ExtractionRules, segment: Segment) -> bool:
    match = split_line(rules, segment.text)
    return match is not None and not match.value


def _owned_by_widget(segment: Segment, boxes: Sequence[tuple[float, float, float, float]],
                     ) -> bool:
    """A printed label whose value is a form field (read from the form, not the page)."""
    for x0, top, x1, bottom in boxes:
        middle = (segment.top + segment.bottom) / 2
        beside = top - 2 <= middle <= bottom + 2 and x0 >= segment.x1 - 2
        below = 0 <= top - segment.bottom <= 30 and x0 <= segment.x1 and x1 >= segment.x0
        if beside or below:
            return True
    return False


def _pair(rules: ExtractionRules, page: _Page, row: int, column: int, match: LabelMatch,
          header: bool) -> tuple[FieldValue | None, set[int]]:
    """The value of one label: after it, in the next segment, or below it."""
    segment = page.lines[row][column]
    multiline = _multiline(rules, match.rule.key)
    source = Source(filename=None, sha256=None, channel="pdf_text", page=page.number + 1,
                    label=match.label)
    beside = None if header else _value_beside(rules, page.lines[row], column)
    used: set[int] = set()
    if match.value:
        # A 'Label: value' line that wraps carries on under the label, whatever the field.
        parts = [match.value, *_continued(rules, page, row, segment)]
        confidence = LINE_CONFIDENCE
    elif beside is not None:
        parts = [beside.text, *(_continued(rules, page, row, beside) if multiline else [])]
        confidence, used = LINE_CONFIDENCE, {column + 1}
    else:
        parts = _below(rules, page, row, segment, multiline)
        confidence = BELOW_CONFIDENCE
    raw = " ".join(parts)
    if not raw or has_box(raw):
        return None, used  # a row of boxes gives its value as ticked boxes
    return make_value(rules, match.rule.key, raw, source, match.rule.id, confidence), used


def _value_beside(rules: ExtractionRules, line: Sequence[Segment], column: int,
                  ) -> Segment | None:
    """The next segment when it is a value; a label-like word counts only if last."""
    if column + 1 >= len(line):
        return None
    following = split_line(rules, line[column + 1].text)
    if following is None or (not following.value and column + 2 == len(line)):
        return line[column + 1]
    return None


def _multiline(rules: ExtractionRules, key: str) -> bool:
    field_rule = rules.field_rule(key)
    return bool(field_rule and field_rule.multiline)


def _is_labelled(rules: ExtractionRules, line: Sequence[Segment]) -> bool:
    return any(split_line(rules, s.text) is not None or has_box(s.text) for s in line)


def _below(rules: ExtractionRules, page: _Page, row: int, label: Segment,
           multiline: bool) -> list[str]:
    """Text under a label: the segment below that overlaps it, and more lines if free text."""
    reach = 2.5 * (label.bottom - label.top)
    for next_row in range(row + 1, min(row + 3, len(page.lines))):
        line = page.lines[next_row]
        if line[0].top - label.bottom > reach:
            return []
        under = [s for s in line if s.x0 <= label.x1 and s.x1 >= label.x0 - 2]
        if not under:
            continue
        if split_line(rules, under[0].text) is not None or has_box(under[0].text):
            return []
        more = _continued(rules, page, next_row, under[0]) if multiline else []
        return [under[0].text, *more]
    return []


_LABEL_LIKE = re.compile(r"^[^:;.!?]{2,60}:\s")


def _continued(rules: ExtractionRules, page: _Page, row: int, start: Segment) -> list[str]:
    """Lines that carry a value on: aligned with it, at wrapped-text spacing, no label."""
    # A 'Something: ...' line is taken for an unknown label and ends the value too.
    taken: list[str] = []
    previous = start
    for line in page.lines[row + 1:row + 40]:
        spacing = line[0].top - previous.top
        if spacing > 1.45 * (previous.bottom - previous.top) or _is_labelled(rules, line):
            break
        aligned = [s for s in line if abs(s.x0 - start.x0) <= 4]
        text = " ".join(s.text for s in line if s.x0 >= start.x0 - 4)
        if not aligned or _LABEL_LIKE.match(text):
            break
        taken.append(text)
        previous = aligned[0]
    return taken


def _page_boxes(rules: ExtractionRules, page: _Page) -> list[FieldValue]:
    """Ticked boxes printed as glyphs on the page (☒ Manufacturer)."""
    found: list[FieldValue] = []
    source = Source(filename=None, sha256=None, channel="pdf_text", page=page.number + 1)
    for line in page.lines:
        found.extend(boxes_on_line(rules, " ".join(s.text for s in line), source))
    return found


# --- printed signature lines --------------------------------------------------------------

_SIGNATURE_REACH = 90.0


def _printed_signatures(rules: ExtractionRules, page: _Page,
                        boxes: Sequence[tuple[float, float, float, float]],
                        ) -> Iterator[Signature]:
    """A printed 'Signature' line with a picture or a signing stamp under it: signed."""
    for row, line in enumerate(page.lines):
        for segment in line:
            if not signature_label(rules, segment.text) or _owned_by_widget(segment, boxes):
                continue
            under = _under_signature(rules, page, row, segment)
            if under is None:
                continue
            source = Source(filename=None, sha256=None, channel="pdf_text",
                            page=page.number + 1, label=segment.text)
            yield Signature(segment.text, under, page.number + 1, source)


def _under_signature(rules: ExtractionRules, page: _Page, row: int,
                     label: Segment) -> bool | None:
    """Signed or not, from what lies under the label; None if the label is a heading."""
    # A heading ("C. Signature of the physician") is followed at once by the real line.
    texts: list[str] = []
    for line in page.lines[row + 1:]:
        if line[0].top - label.bottom > _SIGNATURE_REACH:
            break
        if any(signature_label(rules, s.text) for s in line) and not texts:
            return None
        if _is_labelled(rules, line) and not says_signed(rules, " ".join(texts)):
            break
        texts.append(" ".join(s.text for s in line))
    pictured = any(0 <= i.top - label.bottom <= _SIGNATURE_REACH for i in page.images)
    return pictured or says_signed(rules, " ".join(texts))


# --- files pypdf cannot open ----------------------------------------------------------------


def _fallback_document(info: FileInfo, data: bytes, rules: ExtractionRules, limits: Limits,
                       detail: str) -> ExtractedDocument:
    """Read a PDF that pypdf refused with pdfminer alone: text and printed labels."""
    try:
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            count = len(pdf.pages)
            numbers = pages_to_read(count, limits)
            texts = [_plain_text(pdf, n) for n in numbers]
            words = {n: _words_of(pdf, n) for n in numbers}
    except Exception as exc:  # neither reader can open it: it is broken
        return failed_document(rules, info, "broken", f"{detail}; {type(exc).__name__}")
    layout = layout_values(rules, words)
    text = "\n\n".join(t for t in texts if t)[:limits.max_text_chars]
    findings = Findings(text=text, first_text=text[:_FIRST_TEXT_CHARS], pages=count,
                        fields=layout.values, labels_hit=layout.labels,
                        signatures=layout.signatures)
    return to_document(rules, info, findings)


def _plain_text(pdf: Any, number: int) -> str:
    try:
        return str(pdf.pages[number].extract_text() or "")
    except Exception:  # one unreadable page must not lose the others
        return ""
