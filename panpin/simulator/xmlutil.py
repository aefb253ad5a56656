"""Hardened XML parsing of request parameters and builders for PAN-OS response envelopes.

Everything a client sends in ``element`` or ``cmd`` is untrusted: it is parsed with entity
resolution, network access and huge trees switched off, and any DTD is refused. Responses are
built as text with explicit escaping so their shape (quotes, spacing, CDATA) can follow the samples
in ``reference/panos-samples/`` exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lxml import etree

# XML 1.0 forbids most C0 control characters even as character references. PAN-OS behaviour for
# such bytes in log fields is unknown (unverified: docs/panos-api.md); the simulator substitutes U+FFFD so every
# response stays well-formed for the client that parses it.
_ILLEGAL_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_XML_DECL = re.compile(rb"^\s*<\?xml[^>]*\?>", re.IGNORECASE)

MAX_PARAM_XML = (
    5 * 1024 * 1024
)  # PAN-OS accepts POST bodies up to ~5 MB (docs/panos-api.md: transport)


class XmlInputError(ValueError):
    """The client's XML could not be accepted (malformed, DTD, too large)."""


def _parser() -> etree.XMLParser:
    # A fresh parser per call: lxml parser objects must not be shared between threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
        strip_cdata=True,
    )


def _to_bytes(text: str | bytes) -> bytes:
    data = text.encode("utf-8") if isinstance(text, str) else text
    if len(data) > MAX_PARAM_XML:
        raise XmlInputError("XML parameter too large")
    return data


def parse_document(text: str | bytes) -> etree._Element:
    """Parse one XML document (an op or commit ``cmd``); refuse DTDs and entities."""
    data = _to_bytes(text)
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise XmlInputError("DTD not allowed")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise XmlInputError(str(exc)) from exc
    if root is None:
        raise XmlInputError("empty document")
    return root


def parse_fragment(text: str | bytes) -> list[etree._Element]:
    """Parse an ``element`` parameter: one or more sibling elements (PAN-OS accepts a fragment)."""
    data = _to_bytes(text)
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise XmlInputError("DTD not allowed")
    data = _XML_DECL.sub(b"", data, count=1)
    wrapped = b"<sim-fragment>" + data + b"</sim-fragment>"
    try:
        root = etree.fromstring(wrapped, _parser())
    except etree.XMLSyntaxError as exc:
        raise XmlInputError(str(exc)) from exc
    if root.text is not None and root.text.strip():
        raise XmlInputError("text outside of an element")
    children: list[etree._Element] = []
    for child in root:
        if child.tail is not None and child.tail.strip():
            raise XmlInputError("text outside of an element")
        child.tail = None
        children.append(child)
    return children


def clean(text: str) -> str:
    """Replace characters XML 1.0 cannot carry."""
    return _ILLEGAL_XML_CHARS.sub("\ufffd", text)


def esc(text: str) -> str:
    """Escape text content. CR is written as a character reference so a parser keeps it."""
    if _ILLEGAL_XML_CHARS.search(text):
        text = clean(text)
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def esc_attr(text: str) -> str:
    """Escape an attribute value for double quotes."""
    return esc(text).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


def cdata(text: str) -> str:
    """A CDATA section as PAN-OS writes validation lines; ``]]>`` is split across sections."""
    return "<![CDATA[" + clean(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def response(status: str, code: int | None = None, body: str = "") -> bytes:
    """``<response status="..." code="...">body</response>`` as UTF-8 bytes."""
    code_attr = f' code="{code}"' if code is not None else ""
    return f'<response status="{status}"{code_attr}>{body}</response>'.encode()


def msg_lines(lines: Iterable[str], *, use_cdata: bool = False) -> str:
    """``<msg><line>..</line>...</msg>``; validation errors use CDATA lines (docs/panos-api.md: errors)."""
    if use_cdata:
        inner = "".join(f"<line>{cdata(line)}</line>" for line in lines)
    else:
        inner = "".join(f"<line>{esc(line)}</line>" for line in lines)
    return f"<msg>{inner}</msg>"


def error(lines: Iterable[str] | str, code: int | None = None, *, use_cdata: bool = False) -> bytes:
    """``<response status="error" [code]><msg><line>...`` (e.g. ``No such node``)."""
    if isinstance(lines, str):
        lines = [lines]
    return response("error", code, msg_lines(lines, use_cdata=use_cdata))


def http_error(code: int, message: str) -> bytes:
    """The HTTP 400/403 body shape, with PAN-OS's odd spacing and single quotes (samples)."""
    return (
        f"<response status = 'error' code = '{code}'><result><msg>{esc(message)}</msg>"
        "</result></response>"
    ).encode()


def tostring(node: etree._Element) -> str:
    return etree.tostring(node, encoding="unicode")
