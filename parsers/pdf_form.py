"""The AcroForm of a PDF: its fields and widgets, their values, signature fields.

``read_form`` walks the form tree (pypdf) into ``FormField`` records, with full dotted names,
the page and rectangle of each widget and loops cut; ``form_values`` maps filled fields onto
canonical keys by field name, tooltip or, for meaningless names (Text1), the label printed
beside the widget (``parsers.pdf_layout.labels_beside``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

from config.extraction_rules import ExtractionRules, LabelRule
from parsers.labels import (
    checkbox_rule,
    checkbox_value,
    find_label,
    label_value,
    make_value,
    match_label,
    name_rule,
)
from parsers.pdf_layout import Word, labels_beside
from parsers.records import FieldValue, FormField, Signature, Source

NAME_CONFIDENCE = 0.95
TOOLTIP_CONFIDENCE = 0.9
POSITION_CONFIDENCE = 0.85
CHECKBOX_CONFIDENCE = 0.9
_MAX_FORM_FIELDS = 5000
_OFF = {"", "/Off", "Off", "/off", "/No", "No"}


# --- the AcroForm field tree -------------------------------------------------------------


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


def form_signatures(form: Sequence[FormField]) -> Iterator[Signature]:
    for field in form:
        if field.kind == "Sig":
            source = Source(filename=None, sha256=None, channel="acroform", page=field.page,
                            form_field=field.name)
            yield Signature(field.name, field.signed, field.page, source)


# --- form fields onto canonical keys -------------------------------------------------------


def named_by_rules(rules: ExtractionRules, field: FormField) -> str | None:
    """The rule id that recognises a field by its name or tooltip, if one does."""
    if field.kind == "Btn":
        rule = checkbox_rule(rules, field.tooltip or field.state, field.name)
        return rule.id if rule else None
    named = name_rule(rules, field.name)
    if named is not None:
        return named[1]
    label = find_label(rules, field.tooltip) if field.tooltip else None
    return label.id if label else None


def form_values(rules: ExtractionRules, form: Sequence[FormField],
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
    hit = match_label(rules, field.tooltip) if field.tooltip else None
    confidence, printed = TOOLTIP_CONFIDENCE, field.tooltip
    if hit is None and field.rect is not None:
        confidence = POSITION_CONFIDENCE
        # Meaningless names (Text1): the label printed to the left, or just above; a label
        # read word for word before one read by its words, nearest first.
        hits = [(found, text) for text in labels_beside(words, field.rect)
                if (found := match_label(rules, text)) is not None]
        if hits:
            hit, printed = max(hits, key=lambda h: h[0].score)
    if hit is None:
        return None, None
    value = label_value(rules, hit, field.value, _source(field, printed), confidence)
    return value, hit.rule


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

