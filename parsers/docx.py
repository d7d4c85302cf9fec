"""Word (.docx) to ExtractedDocument: tables of labels and values, content controls,
legacy form fields, ticked boxes and 'Label: value' paragraphs.

The package is opened here (its parts inflated under our limits, no external entity
resolved) and the body XML walked directly: python-docx skips the text of content controls
(w:sdt) and knows nothing of check boxes. Nothing raises out of ``docx_to_document``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from lxml import etree

from config.extraction_rules import ExtractionRules, LabelRule
from config.text import collapse
from parsers import archive
from parsers.labels import (
    CHECKED_MARKS,
    DEFAULT_LIMITS,
    LINE_CONFIDENCE,
    FileInfo,
    Findings,
    LabelMatch,
    Line,
    boxes_on_line,
    checkbox_rule,
    checkbox_value,
    failed_document,
    find_label,
    has_box,
    label_value,
    line_fields,
    make_value,
    name_rule,
    says_signed,
    signature_label,
    split_line,
    to_document,
    value_of_label,
)
from parsers.parts import Segment
from parsers.records import ExtractedDocument, FieldValue, Limits, Signature, Source

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
W14 = "http://schemas.microsoft.com/office/word/2010/wordml"
CHECKED, UNCHECKED = "☒", "☐"
PAGE_BREAK = "\f"  # where Word starts a new page: a place a new part may begin
TAG_CONFIDENCE = 0.95
ALIAS_CONFIDENCE = 0.9
TABLE_CONFIDENCE = 0.9
LEGACY_CONFIDENCE = 0.9
_FIRST_TEXT_CHARS = 1500
_TRUE = {"1", "true", "on"}


def docx_to_document(info: FileInfo, data: bytes, rules: ExtractionRules,
                     limits: Limits = DEFAULT_LIMITS) -> ExtractedDocument:
    """Read a Word document's labelled values, controls and boxes; never raises."""
    try:
        body, meta, margins = _open(_unpack(data, limits))
        return to_document(rules, info, _findings(body, meta, rules, limits, margins))
    except _Refused as exc:
        return failed_document(rules, info, exc.reason, exc.detail)
    except (Exception, RecursionError) as exc:  # a hostile file must not stop the batch
        return failed_document(rules, info, "broken", f"{type(exc).__name__}: {exc}"[:300])


class _Refused(Exception):
    """The package is refused before parsing, with a reason code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _unpack(data: bytes, limits: Limits) -> dict[str, bytes]:
    """Inflate every part under the archive limits: the parts by name.

    ``zipfile`` would inflate a bzip2 or LZMA part whole, whatever size it declares; the
    package is only ever read from parts inflated by our bounded reader.
    """
    unpacked = archive.zip_to_members(data, limits)
    if unpacked.error is not None:
        raise _Refused(unpacked.error, unpacked.error_detail)
    refused = next((m for m in unpacked.members if m.error is not None), None)
    if refused is not None and refused.error is not None:
        raise _Refused(refused.error, f"part {refused.name!r}: {refused.error_detail}")
    return {m.name: m.data for m in _transitional(unpacked.members)}


# The package is read here, not by python-docx: it parsed every part it knows (styles,
# numbering, settings, notes) where only the body, its headers and footers and two
# properties are read, and that was two thirds of a Word file's reading. Its rules are
# kept: the main part is the package's officeDocument relationship and must be a Word
# document (not a template or a macro-enabled file), parsed as python-docx parses it.
_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_TYPES = "http://schemas.openxmlformats.org/package/2006/content-types"
_OFFICE_DOCUMENT = ("http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
                    "officeDocument")
_CORE = "http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties"
_WORD_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
_DC = "http://purl.org/dc/elements/1.1/"
_PARSER = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)


def _open(parts: dict[str, bytes]) -> tuple[Any, list[str], list[Any]]:
    """The body, the title and subject, and the header and footer elements of a package."""
    try:
        package = _relationships(parts, "")
        main = _related(package, _OFFICE_DOCUMENT)
        if main is None or main not in parts:
            raise _Refused("broken", "the package names no main document part")
        kind = _content_type(parts, main)
        if kind != _WORD_MAIN:
            raise _Refused("broken", f"not a Word file: content type {kind!r}")
        body = _xml(parts[main]).find(f"{{{W}}}body")
        if body is None:
            raise _Refused("broken", "the main document part has no body")
        return body, _title_and_subject(parts, _related(package, _CORE)), \
            _headers_and_footers(parts, main)
    except _Refused:
        raise
    except (Exception, RecursionError) as exc:  # a hostile package fails in many ways
        raise _Refused("broken", f"{type(exc).__name__}: {exc}"[:300]) from exc


def _xml(data: bytes) -> Any:
    return etree.fromstring(data, _PARSER)


def _relationships(parts: dict[str, bytes], source: str) -> list[tuple[str, str]]:
    """(type, part name) of a part's internal relationships ("" is the package)."""
    folder, _, name = source.rpartition("/")
    rels = parts.get(f"{folder}/_rels/{name}.rels".lstrip("/"))
    if rels is None:
        return []
    found = []
    for rel in _xml(rels).iter(f"{{{_RELS}}}Relationship"):
        target = rel.get("Target") or ""
        if rel.get("TargetMode") == "External" or not target:
            continue
        path = target[1:] if target.startswith("/") else posixpath.join(folder, target)
        found.append((rel.get("Type") or "", posixpath.normpath(path).lstrip("/")))
    return found


def _related(relationships: list[tuple[str, str]], kind: str) -> str | None:
    """The part the first relationship of a type names, if any."""
    return next((path for rel, path in relationships if rel == kind), None)


def _content_type(parts: dict[str, bytes], name: str) -> str:
    """A part's content type: its override, else its extension's default."""
    types = _xml(parts["[Content_Types].xml"])  # (a package without it is broken)
    for override in types.iter(f"{{{_TYPES}}}Override"):
        if (override.get("PartName") or "").lstrip("/").lower() == name.lower():
            return override.get("ContentType") or ""
    extension = name.rpartition(".")[2].lower()
    for default in types.iter(f"{{{_TYPES}}}Default"):
        if (default.get("Extension") or "").lower() == extension:
            return default.get("ContentType") or ""
    return ""


def _title_and_subject(parts: dict[str, bytes], core: str | None) -> list[str]:
    """The document's title and subject from its core properties part, where it has them."""
    if core is None or core not in parts:
        return []
    root = _xml(parts[core])
    found = (root.find(f"{{{_DC}}}{name}") for name in ("title", "subject"))
    return [node.text for node in found if node is not None and node.text]


def _headers_and_footers(parts: dict[str, bytes], main: str) -> list[Any]:
    """The header and footer parts' elements, each once (sections may share them)."""
    names = dict.fromkeys(path for rel, path in _relationships(parts, main)
                          if rel.endswith(("/header", "/footer")) and path in parts)
    return [_xml(parts[name]) for name in names]


# Strict Open XML names its namespaces under purl.oclc.org; the reading here knows only the
# transitional ones, which carry the same elements.
_STRICT = b"purl.oclc.org/ooxml"
_NAMESPACES = (
    (b"http://purl.oclc.org/ooxml/wordprocessingml/main",
     b"http://schemas.openxmlformats.org/wordprocessingml/2006/main"),
    (b"http://purl.oclc.org/ooxml/officeDocument/relationships",
     b"http://schemas.openxmlformats.org/officeDocument/2006/relationships"),
    (b"http://purl.oclc.org/ooxml/drawingml/main",
     b"http://schemas.openxmlformats.org/drawingml/2006/main"),
    (b"http://purl.oclc.org/ooxml/drawingml/wordprocessingDrawing",
     b"http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing"),
    (b"http://purl.oclc.org/ooxml/drawingml/picture",
     b"http://schemas.openxmlformats.org/drawingml/2006/picture"),
    (b"http://purl.oclc.org/ooxml/officeDocument/math",
     b"http://schemas.openxmlformats.org/officeDocument/2006/math"),
)


def _transitional(members: Sequence[archive.Member]) -> list[archive.Member]:
    """Rewrite a Strict Open XML package's namespaces to the transitional ones."""
    if not any(_is_xml(m.name) and _STRICT in m.data for m in members):
        return list(members)
    return [archive.Member(m.name, _renamed(m.data)) if _is_xml(m.name) else m
            for m in members]


def _is_xml(name: str) -> bool:
    return name.endswith((".xml", ".rels"))


def _renamed(body: bytes) -> bytes:
    for old, new in _NAMESPACES:
        body = body.replace(old, new)
    return body


# --- reading the body ---------------------------------------------------------------------


@dataclass(frozen=True)
class Control:
    """A content control or legacy form field with what it shows."""

    kind: str  # "sdt" or "legacy"
    tag: str
    alias: str
    text: str
    checked: bool | None  # None: not a check box
    placeholder: bool
    where: Source


@dataclass(frozen=True)
class Cell:
    """One table cell: its text, grid column and whether it holds a picture."""

    text: str
    column: int
    picture: bool


@dataclass
class _Body:
    """What a walk over the body collects, in document order."""

    runs: list[list[Line]] = field(default_factory=lambda: [[]])
    tables: list[list[list[Cell]]] = field(default_factory=list)
    controls: list[Control] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    paragraphs: int = 0
    pictured: set[int] = field(default_factory=set)  # body paragraphs holding a picture


def _findings(body: Any, meta: list[str], rules: ExtractionRules, limits: Limits,
              margins: Sequence[Any] = ()) -> Findings:
    walked = _Body()
    _blocks(body, walked, depth=0)
    segments = tuple(Segment(part) for part in "\n".join(walked.text).split(PAGE_BREAK))
    # Content controls and labels in headers and footers (a template's reference fields) are
    # read after the body; they open no part of their own.
    for margin in margins:
        _blocks(margin, walked, depth=0)
    text = "\n".join(walked.text).replace(PAGE_BREAK, "\n")[:limits.max_text_chars]
    values, labels = _table_values(rules, walked.tables)
    for run in walked.runs:
        values.extend(line_fields(rules, run, LINE_CONFIDENCE))
        labels.extend(_labels_in(rules, run))
    values.extend(_control_values(rules, walked.controls))
    return Findings(
        text=text, first_text="\n".join([*meta, text[:_FIRST_TEXT_CHARS]]), pages=None,
        fields=tuple(values), labels_hit=tuple(labels),
        form_names=tuple(c.tag or c.alias for c in walked.controls),
        signatures=_all_signatures(rules, walked),
        near_misses=tuple(_unnamed(rules, walked.controls, values)),
        segments=segments,
    )


def _unnamed(rules: ExtractionRules, controls: Sequence[Control],
             values: Sequence[FieldValue]) -> Iterator[str]:
    """Filled controls that neither a rule nor their label cell placed: for `rules test`."""
    placed = {v.raw for v in values}
    for control in controls:
        name = control.tag or control.alias
        if (name and control.text and not control.placeholder and control.checked is None
                and collapse(control.text) not in placed):
            yield f"form field '{name}' = {control.text[:60]!r}: no rule matched"


def _blocks(parent: Any, walked: _Body, depth: int) -> None:
    """Body-level paragraphs, tables and block content controls, in order."""
    for child in parent:
        tag = _local(child)
        if tag == "p":
            _body_paragraph(child, walked)
        elif tag == "tbl":
            walked.runs.append([])  # a table ends a run of paragraphs
            _table(child, walked, len(walked.tables) + 1, depth)
            walked.runs.append([])
        elif tag == "sdt" and depth < 8:
            _block_control(child, walked, depth)


def _body_paragraph(element: Any, walked: _Body) -> None:
    walked.paragraphs += 1
    where = Source(filename=None, sha256=None, channel="docx_paragraph",
                   paragraph=walked.paragraphs)
    text = _Inline(walked, where).read(element)
    if _has_picture(element):
        walked.pictured.add(walked.paragraphs)
    walked.runs[-1].append(Line(text, where))
    walked.text.append(text)


def _block_control(element: Any, walked: _Body, depth: int) -> None:
    """A content control around whole paragraphs or tables."""
    start = len(walked.text)
    content = element.find(f"{{{W}}}sdtContent")
    if content is not None:
        _blocks(content, walked, depth + 1)
    where = Source(filename=None, sha256=None, channel="docx_content_control",
                   paragraph=walked.paragraphs)
    walked.controls.append(_control(element, "\n".join(walked.text[start:]), where))


def _table(element: Any, walked: _Body, number: int, depth: int) -> None:
    rows: list[list[Cell]] = []
    walked.tables.append(rows)
    for r, (tr, row_control) in enumerate(_wrapped(element, "tr"), start=1):
        cells: list[Cell] = []
        column = 0
        for c, (tc, cell_control) in enumerate(_wrapped(tr, "tc"), start=1):
            where = Source(filename=None, sha256=None, channel="docx_table", table=number,
                           row=r, cell=c)
            text = _cell_text(tc, walked, where, depth)
            if cell_control is not None:
                walked.controls.append(_control(cell_control, text, where))
            cells.append(Cell(text, column, _has_picture(tc)))
            column += _grid_span(tc)
        rows.append(cells)
        row_text = "\t".join(c.text.replace("\n", " ") for c in cells)
        if row_control is not None:
            walked.controls.append(_control(row_control, row_text, _named(
                Source(filename=None, sha256=None, channel="docx_table", table=number, row=r),
                "", "docx_content_control")))
        walked.text.append(row_text)


def _wrapped(parent: Any, name: str) -> Iterator[tuple[Any, Any]]:
    """Children w:<name>, also inside content controls, each with its control or None."""
    # Repeating sections wrap rows in a control; a cell may be a control of its own.
    for child in parent:
        tag = _local(child)
        if tag == name:
            yield child, None
        elif tag == "sdt":
            yield from _in_control(child, name, depth=1)


def _in_control(control: Any, name: str, depth: int) -> Iterator[tuple[Any, Any]]:
    """Children w:<name> of a control's content, through nested controls (a repeating
    section holds an item control per row), each with the innermost control around it."""
    content = control.find(f"{{{W}}}sdtContent")
    for inner in content if content is not None else ():
        tag = _local(inner)
        if tag == name:
            yield inner, control
        elif tag == "sdt" and depth < 8:
            yield from _in_control(inner, name, depth + 1)


def _cell_text(tc: Any, walked: _Body, where: Source, depth: int) -> str:
    parts: list[str] = []
    for child in tc:
        tag = _local(child)
        if tag == "p":
            parts.append(_Inline(walked, where).read(child))
        elif tag == "sdt":
            content = child.find(f"{{{W}}}sdtContent")
            inner = [_Inline(walked, where).read(p) for p in
                     (content.iterfind(f"{{{W}}}p") if content is not None else [])]
            walked.controls.append(_control(child, "\n".join(inner), where))
            parts.extend(inner)
        elif tag == "tbl" and depth < 4:
            # A table in a cell: its text belongs to the cell; pairs are not looked for.
            parts.extend(_Inline(walked, where).read(p) for p in child.iter(f"{{{W}}}p"))
    return "\n".join(parts)


def _grid_span(tc: Any) -> int:
    span = tc.find(f"{{{W}}}tcPr/{{{W}}}gridSpan")
    value = span.get(f"{{{W}}}val") if span is not None else None
    return int(value) if value and value.isdigit() else 1


def _has_picture(element: Any) -> bool:
    return any(_local(e) in ("drawing", "pict") for e in element.iter())


class _Inline:
    """Text of one paragraph (boxes as ☒/☐), noting the controls and fields met on the way."""

    def __init__(self, walked: _Body, where: Source) -> None:
        self.walked = walked
        self.where = where
        self.out: list[str] = []
        self.fields: list[dict[str, Any]] = []

    def read(self, paragraph: Any) -> str:
        """The paragraph's text; controls found are added to the body's list."""
        self._walk(paragraph, depth=0)
        return "".join(self.out).strip(" \t\n\r\v")  # a page break (\f) is kept

    def _walk(self, element: Any, depth: int) -> None:
        for child in element:
            if depth > 40:
                return
            tag = _local(child)
            if tag == "sdt":
                self._control(child, depth)
            elif tag == "fldChar":
                self._field_char(child)
            elif tag == "t":
                # An unexpanded entity reference keeps the text after it as its tail.
                self._text((child.text or "") + "".join(c.tail or "" for c in child))
            elif tag in ("tab", "ptab"):
                self.out.append("\t")
            elif tag in ("br", "cr"):
                page = child.get(f"{{{W}}}type") == "page"
                self.out.append(PAGE_BREAK if page else "\n")
            elif tag == "sym":
                self.out.append(_symbol(child))
            elif tag not in ("delText", "instrText", "Fallback", "del", "rPr", "pPr"):
                self._walk(child, depth + 1)

    def _text(self, text: str) -> None:
        self.out.append(text)
        if self.fields and self.fields[-1]["state"] == "result":
            self.fields[-1]["result"].append(text)

    def _control(self, element: Any, depth: int) -> None:
        checked = _sdt_checked(element)
        if checked is not None:
            self.out.append(CHECKED if checked else UNCHECKED)
            self.walked.controls.append(_control(element, "", self.where))
            return
        start = len(self.out)
        content = element.find(f"{{{W}}}sdtContent")
        if content is not None:
            self._walk(content, depth + 1)
        text = "".join(self.out[start:])
        self.walked.controls.append(_control(element, text, self.where))

    def _field_char(self, element: Any) -> None:
        """Legacy form fields: begin (with w:ffData) ... separate ... result ... end."""
        kind = element.get(f"{{{W}}}fldCharType")
        if kind == "begin":
            data = element.find(f"{{{W}}}ffData")
            self.fields.append({"data": data, "state": "code", "result": []})
            checked = _legacy_checked(data) if data is not None else None
            if checked is not None:
                self.out.append(CHECKED if checked else UNCHECKED)
        elif kind == "separate" and self.fields:
            self.fields[-1]["state"] = "result"
        elif kind == "end" and self.fields:
            done = self.fields.pop()
            if done["data"] is None:
                return
            control = _legacy(done["data"], "".join(done["result"]), self.where)
            if not done["result"] and control.checked is None:
                self.out.append(control.text)  # a drop-down shows its choice, not a result
            self.walked.controls.append(control)


def _symbol(element: Any) -> str:
    """A w:sym character; Wingdings ticked boxes read as ☒."""
    code = (element.get(f"{{{W}}}char") or "").upper()
    font = (element.get(f"{{{W}}}font") or "").lower()
    if "wingdings" in font and code in ("F078", "F0FE", "F0FD", "F0FC"):
        return CHECKED
    if "wingdings" in font and code in ("F0A8", "F06F", "F071"):
        return UNCHECKED
    return ""


def _sdt_checked(element: Any) -> bool | None:
    box = element.find(f"{{{W}}}sdtPr/{{{W14}}}checkbox")
    if box is None:
        return None
    state = box.find(f"{{{W14}}}checked")
    value = state.get(f"{{{W14}}}val") if state is not None else "0"
    return (value or "1").lower() in _TRUE


def _legacy_checked(data: Any) -> bool | None:
    box = data.find(f"{{{W}}}checkBox")
    if box is None:
        return None
    for name in ("checked", "default"):
        node = box.find(f"{{{W}}}{name}")
        if node is not None:
            # <w:checked/> with no value means checked (docx2python_checked_boxes).
            return (node.get(f"{{{W}}}val") or "1").lower() in _TRUE
    return False


def _control(element: Any, text: str, where: Source) -> Control:
    props = element.find(f"{{{W}}}sdtPr")
    tag = _prop(props, "tag")
    alias = _prop(props, "alias")
    placeholder = props is not None and props.find(f"{{{W}}}showingPlcHdr") is not None
    return Control("sdt", tag, alias, text.strip(), _sdt_checked(element), placeholder,
                   _named(where, tag or alias, "docx_content_control"))


def _legacy(data: Any, result: str, where: Source) -> Control:
    name = _prop(data, "name")
    checked = _legacy_checked(data)
    text = _dropdown(data) if data.find(f"{{{W}}}ddList") is not None else result
    return Control("legacy", name, "", text.replace("\u2002", " ").strip(), checked, False,
                   _named(where, name, "docx_legacy_field"))


def _dropdown(data: Any) -> str:
    entries = [e.get(f"{{{W}}}val") or "" for e in data.iterfind(f"{{{W}}}ddList/{{{W}}}listEntry")]
    chosen = data.find(f"{{{W}}}ddList/{{{W}}}result")
    index = int(chosen.get(f"{{{W}}}val") or 0) if chosen is not None else 0
    return entries[index] if 0 <= index < len(entries) else ""


def _prop(props: Any, name: str) -> str:
    node = props.find(f"{{{W}}}{name}") if props is not None else None
    return (node.get(f"{{{W}}}val") or "") if node is not None else ""


def _named(where: Source, name: str, channel: str) -> Source:
    return Source(filename=None, sha256=None, channel=channel, table=where.table,
                  row=where.row, cell=where.cell, paragraph=where.paragraph,
                  form_field=name or None)


def _local(element: Any) -> str:
    """Local name of an element ('p' for w:p); comments and entities have none."""
    tag = element.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


# --- tables: label | value, or a row of labels above a row of values ------------------------


def _table_values(rules: ExtractionRules, tables: Sequence[list[list[Cell]]],
                  ) -> tuple[list[FieldValue], list[LabelRule]]:
    values: list[FieldValue] = []
    labels: list[LabelRule] = []
    for number, rows in enumerate(tables, start=1):
        for found, label in _table_pairs(rules, number, rows):
            labels.append(label)
            values.extend(found)
    return values, labels


def _table_pairs(rules: ExtractionRules, number: int, rows: list[list[Cell]],
                 ) -> Iterator[tuple[list[FieldValue], LabelRule]]:
    headers = [_header_row(rules, row, rows[r + 1] if r + 1 < len(rows) else None)
               for r, row in enumerate(rows)]
    pairs = _label_value_table(rules, rows)
    for r, row in enumerate(rows):
        header = headers[r]
        for c, cell in enumerate(row):
            match = split_line(rules, collapse(cell.text))
            if match is None or (c and _value_of_left(rules, row, c)):
                continue
            if pairs and c and not match.value:
                continue  # the value column of a 'label | value' table holds no labels
            if r and headers[r - 1] and not header and not match.value:
                continue  # under a row of labels, a cell that reads like one is a value
            if match.value:
                source = _cell_source(number, (r + 1, c + 1), match.label)
                yield _cell_value(rules, match, match.value, source), match.rule
                continue
            yield _first_value(rules, number, rows, (r, c), header, match), match.rule


def _first_value(rules: ExtractionRules, number: int, rows: list[list[Cell]],
                 at: tuple[int, int], header: bool, match: LabelMatch) -> list[FieldValue]:
    """The value beside a label, else below it (first below for a row of labels)."""
    beside = _beside(rows, *at)
    if beside is not None and not beside[0].text.strip() and not header:
        return []  # a label | value row left empty: nothing to find elsewhere
    if beside is not None and _is_bare_label(rules, beside[0]) and at[1] + 2 < len(rows[at[0]]):
        beside = None  # the next cell is the next label of a row of labels
    below = _below(rows, *at)
    if (below is not None and split_line(rules, collapse(below[0].text)) is not None
            and not value_of_label(rules, match, below[0].text)):
        below = None  # the cell under a label is another label, not its value
    for target in (below, beside) if header else (beside, below):
        if target is None:
            continue
        cell, where = target
        found = _cell_value(rules, match, cell.text, _cell_source(number, where, match.label))
        if found:
            return found
    return []


def _label_value_table(rules: ExtractionRules, rows: list[list[Cell]]) -> bool:
    """Whether a table is two columns of 'label | value' rows: a label in the first cell of
    most rows (the values, 'The legal manufacturer', may read like labels themselves)."""
    if len(rows) < 3 or any(len(row) != 2 for row in rows):
        return False
    labelled = sum(1 for row in rows if _is_bare_label(rules, row[0]))
    return 2 * labelled > len(rows)


def _cell_source(number: int, where: tuple[int, int], label: str) -> Source:
    return Source(filename=None, sha256=None, channel="docx_table", table=number,
                  row=where[0], cell=where[1], label=label)


def _value_of_left(rules: ExtractionRules, row: list[Cell], c: int) -> bool:
    """Whether a cell that reads like a label is the value of the label left of it
    ('Role of the applicant | Manufacturer')."""
    return _value_of(rules, row[c - 1], row[c])


def _value_of(rules: ExtractionRules, label: Cell, cell: Cell) -> bool:
    """Whether a cell that reads like a label is the value of the label in another cell
    (left of it, or above it: 'Le requérant est | Fabricant')."""
    return value_of_label(rules, split_line(rules, collapse(label.text)), cell.text)


def _header_row(rules: ExtractionRules, row: list[Cell], below: list[Cell] | None) -> bool:
    """Whether a row holds the labels of the row below (a header row)."""
    # Every cell a known label; or two known labels or more, half the row at least, over a
    # row without any (a form's own columns may not all be known to the rules). A cell that
    # is the value of the label left of it makes no header.
    if any(_value_of_left(rules, row, c) for c in range(1, len(row))):
        return False
    filled = [c for c in row if c.text.strip()]
    labels = sum(_is_bare_label(rules, c) for c in filled)
    if len(filled) < 2 or not labels:
        return False
    if labels == len(filled):
        return True
    # (a cell below that reads like a label but is the value of the label above it, 'Le
    # requérant est | Fabricant', is a value all the same)
    return (labels >= 2 and 2 * labels >= len(filled) and below is not None
            and not any(_is_bare_label(rules, cell)
                        and not (c < len(row) and _value_of(rules, row[c], cell))
                        for c, cell in enumerate(below)))


def _is_bare_label(rules: ExtractionRules, cell: Cell) -> bool:
    match = split_line(rules, collapse(cell.text))
    return match is not None and not match.value


def _beside(rows: list[list[Cell]], r: int, c: int) -> tuple[Cell, tuple[int, int]] | None:
    """The cell right of a label, with its 1-based row and cell numbers."""
    return (rows[r][c + 1], (r + 1, c + 2)) if c + 1 < len(rows[r]) else None


def _below(rows: list[list[Cell]], r: int, c: int) -> tuple[Cell, tuple[int, int]] | None:
    """The cell under a label, in the same grid column."""
    if r + 1 >= len(rows):
        return None
    column = rows[r][c].column
    return next(((cell, (r + 2, i + 1)) for i, cell in enumerate(rows[r + 1])
                 if cell.column == column), None)


def _cell_value(rules: ExtractionRules, match: LabelMatch, text: str,
                source: Source) -> list[FieldValue]:
    """A value cell; a cell of ticked boxes gives the ticked options instead."""
    if has_box(text):
        return [v for line in text.splitlines() for v in boxes_on_line(rules, line, source)]
    value = label_value(rules, match, text, source, TABLE_CONFIDENCE)
    return [value] if value is not None else []


def _labels_in(rules: ExtractionRules, lines: Sequence[Line]) -> list[LabelRule]:
    return [m.rule for m in (split_line(rules, line.text) for line in lines) if m]


# --- content controls and legacy fields -------------------------------------------------------


def _control_values(rules: ExtractionRules, controls: Sequence[Control]) -> list[FieldValue]:
    values: list[FieldValue] = []
    for control in controls:
        found = (_box_value(rules, control) if control.checked is not None
                 else _text_control(rules, control))
        if found is not None:
            values.append(found)
    return values


def _box_value(rules: ExtractionRules, control: Control) -> FieldValue | None:
    if not control.checked:
        return None
    rule = checkbox_rule(rules, control.alias, control.tag)
    if rule is None:
        return None
    return checkbox_value(rule, control.alias or control.tag, control.where, LEGACY_CONFIDENCE)


def _text_control(rules: ExtractionRules, control: Control) -> FieldValue | None:
    """By the control's tag (or title) as a field name, else its title as a label."""
    if control.placeholder or not control.text or control.text in CHECKED_MARKS:
        return None
    confidence = TAG_CONFIDENCE if control.kind == "sdt" else LEGACY_CONFIDENCE
    for name in (control.tag, control.alias):
        named = name_rule(rules, name) if name else None
        if named is not None:
            return make_value(rules, named[0], control.text, control.where, named[1],
                              confidence)
    label = find_label(rules, control.alias) if control.alias else None
    if label is None:
        return None
    return make_value(rules, label.key, control.text, control.where, label.id,
                      ALIAS_CONFIDENCE)


# --- signature lines --------------------------------------------------------------------------


def _signatures(rules: ExtractionRules, tables: Sequence[list[list[Cell]]],
                ) -> Iterator[Signature]:
    """Signature-line cells: signed when the cell beside or under holds a picture or stamp."""
    for number, rows in enumerate(tables, start=1):
        for r, row in enumerate(rows):
            for c, cell in enumerate(row):
                if not signature_label(rules, collapse(cell.text)):
                    continue
                target = _beside(rows, r, c) or _below(rows, r, c)
                if target is None:
                    continue
                value, where = target
                signed = value.picture or says_signed(rules, value.text)
                source = _cell_source(number, where, collapse(cell.text))
                yield Signature(collapse(cell.text), signed, None, source)


def _all_signatures(rules: ExtractionRules, walked: _Body) -> tuple[Signature, ...]:
    """Signature cells of tables; else signature-line paragraphs (a heading 'Signature'
    above a signature table is no line of its own)."""
    cells = tuple(_signatures(rules, walked.tables))
    return cells or tuple(_paragraph_signatures(rules, walked))


def _paragraph_signatures(rules: ExtractionRules, walked: _Body) -> Iterator[Signature]:
    """A signature-line paragraph: signed when it or one of the next two holds a picture."""
    for run in walked.runs:
        for line in run:
            number = line.source.paragraph
            if number is None or not signature_label(rules, line.text):
                continue
            signed = any(n in walked.pictured for n in range(number, number + 3))
            source = replace(line.source, label=collapse(line.text))
            yield Signature(collapse(line.text), signed, None, source)
