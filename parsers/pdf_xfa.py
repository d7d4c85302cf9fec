"""XFA forms: the data an applicant typed into an XML form, read like AcroForm values.

An XFA form (Adobe LiveCycle, many administrations' templates) keeps what was typed in the
``datasets`` packet of ``/AcroForm /XFA``, not in AcroForm field values. Each element of
the data that holds text becomes a form field named by its path ("form1.Applicant.DeviceName"),
which the rules' field-name patterns read as they read AcroForm names. A form whose data
cannot be read is said so, for the checklist to report what it may hold as unclear.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from typing import Any

from pypdf import PdfReader
from pypdf.generic import ArrayObject, StreamObject

from parsers.records import FormField, PageProblem

_MAX_XFA_BYTES = 4 * 1024 * 1024  # a datasets packet is a few kilobytes; more is no form
_MAX_XFA_FIELDS = 2000
_DECLARATION = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
UNREAD = PageProblem(1, "xfa_unread", "XFA form: values not read")


def has_xfa(reader: PdfReader) -> bool:
    """Whether the PDF's form is (also) an XFA form."""
    return _xfa(reader) is not None


def read_xfa(reader: PdfReader) -> list[FormField]:
    """The data fields of an XFA form that hold text; [] when there is none or it is broken."""
    packet = _datasets(_xfa(reader))
    if packet is None or len(packet) > _MAX_XFA_BYTES or _DECLARATION.search(packet):
        return []  # entity declarations are refused: no expansion of anything
    try:
        # No DTD or entity got past the check above: what defusedxml forbids is refused.
        root = ElementTree.fromstring(packet)  # noqa: S314
    except ElementTree.ParseError:
        return []
    data = next((e for e in root.iter() if _local(e.tag) == "data"), None)
    found: list[FormField] = []
    for child in data if data is not None else ():
        _leaves(child, "", found)
    return found[:_MAX_XFA_FIELDS]


def _leaves(element: ElementTree.Element, prefix: str, found: list[FormField]) -> None:
    name = f"{prefix}.{_local(element.tag)}" if prefix else _local(element.tag)
    children = list(element)
    if not children:
        text = (element.text or "").strip()
        if text:
            found.append(FormField(name=name, tooltip="", kind="Tx", value=text, checked=False,
                                   signed=False, page=None, rect=None))
        return
    for child in children:
        if len(found) < _MAX_XFA_FIELDS:
            _leaves(child, name, found)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xfa(reader: PdfReader) -> Any:
    try:
        root: Any = reader.trailer["/Root"].get_object()
        acroform: Any = root.get("/AcroForm")
        xfa: Any = acroform.get_object().get("/XFA") if acroform is not None else None
        return xfa.get_object() if xfa is not None else None
    except Exception:  # a broken catalog has no XFA to read
        return None


def _datasets(xfa: Any) -> bytes | None:
    """The datasets packet: the one stream, or the one named 'datasets' in the array."""
    try:
        if isinstance(xfa, StreamObject):
            return bytes(xfa.get_data())
        if isinstance(xfa, ArrayObject):
            for name, stream in zip(xfa[0::2], xfa[1::2], strict=False):
                if str(name) == "datasets":
                    return bytes(stream.get_object().get_data())
    except Exception:  # a stream that does not decode is data not read
        return None
    return None
