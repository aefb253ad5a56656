"""Reading a page of log entries by the layout they share: exact, and without building a tree.

PAN-OS writes the entries of one log type in one layout: the same fields, in the same order, each a
leaf element (``<sni>host</sni>``, ``<srcuser/>``), on one device and software version. A page of
5000 Decryption-log entries is ~11 MB of XML of which panpin reads 13 fields per entry; building an
lxml tree of all ~70 costs more than everything else a scan does (``docs/benchmarks.md``).

So :func:`read_entries` learns the layout of an entry once (by parsing that one entry with the
hardened parser), compiles it into a regular expression that matches exactly that layout, field
names included, and matches each following entry against it, capturing only the wanted fields.

Why this reads exactly what lxml would: an expression only matches text that is a well-formed
``<entry>`` element in that layout: start and end tags with the learned names and attributes,
character data of XML characters without markup (no ``<``; ``&`` only as a predefined entity or a
character reference, checked when unescaped), whitespace between elements, nothing else: no
comment, CDATA section, processing instruction, DOCTYPE, namespace declaration or nested element.
For such text the tree's field values are the captured texts, unescaped, and ``""`` for an empty
element; a field given twice keeps its last value, as ``dict`` keeps it. Everything that does not
match (another layout on a mixed Panorama page is learned too, up to :data:`_MAX_LAYOUTS`) makes
:func:`read_entries` return ``None``, and the caller reads the page with the XML parser instead.
``tests/unit/test_logtemplate.py`` and ``tests/unit/test_logs_page.py`` hold the two to the same
result on generated, regular, irregular and randomly mutated pages.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from operator import itemgetter

# XML's S production without "\r": a "\r" anywhere makes the caller use the parser, which
# normalises line ends (see read_entries).
_S = "[ \t\n]"
_WS = f"{_S}*"
# XML 1.0 characters that can stand for themselves in character data: not markup ("<", "&"), not
# "\r" (line-end normalisation) and not the characters XML forbids (C0 controls but tab and line
# feed, U+FFFE, U+FFFF; a str decoded from UTF-8 has no surrogates).
_PLAIN = "^<&\\r\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\ufffe\\uffff"
# At most this many characters per text or attribute value: the parser refuses text nodes over
# 10 MB (without huge_tree), so anything longer is left to it. PAN-OS values are short.
_LONGEST = 1_000_000
_TEXT = f"[{_PLAIN}]{{0,{_LONGEST}}}+"
# With references: the predefined entities and character references, whose value is checked when
# they are unescaped (_unescape). Used only on a page that contains an "&".
_REFERENCE = "&(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);"
# Unbounded: a page with references is read entry by entry, and an entry longer than _LONGEST is
# left to the parser (_read_mixed).
_TEXT_REFS = f"[{_PLAIN}]*(?:{_REFERENCE}[{_PLAIN}]*)*"
# An attribute value in double quotes, as PAN-OS writes them, with nothing that attribute-value
# normalisation would change (tab, line feed, "\r" become spaces; references are expanded).
_ATTRIBUTE = '[^"<&\\t\\n\\r\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\ufffe\\uffff]'
_VALUE = f'"({_ATTRIBUTE}{{0,{_LONGEST}}})"'
_VALUE_SKIPPED = f'"{_ATTRIBUTE}{{0,{_LONGEST}}}"'
_LEADING_WS = re.compile(_WS)

# Tags that read_answer treats specially wherever they occur in <logs>: an entry with a child of
# one of these names is not read by layout.
_SPECIAL_TAGS = frozenset({"job", "logs", "entry"})
# Layouts tried per page before giving up on it: one per firewall model/version on a Panorama
# page is the most we expect.
_MAX_LAYOUTS = 8

_LAST = itemgetter(-1)
_PREDEFINED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_REFERENCE_RE = re.compile(_REFERENCE)
_CHAR_REFERENCE_RE = re.compile("&#(x[0-9a-fA-F]+|[0-9]+);")


class NotRegular(Exception):
    """The text is not one the layout reader can show it reads as the XML parser does."""


@dataclass(frozen=True)
class Layout:
    """One entry layout: what each capture group of ``pattern`` is (``logid`` and fields)."""

    keys: tuple[str, ...]
    pattern: re.Pattern[str]
    # The same, or else a group with the text up to the next "<" (_read_one_layout).
    scan: re.Pattern[str]
    # A match's groups, plus a last "" → the reader's row: its fields in the reader's order, the
    # last given when a field is given twice (as a dict keeps it), "" when not given at all.
    row: Callable[[tuple[str, ...]], tuple[str, ...]]


# Consecutive entries read in one layout: each entry's groups, with a last "" (see Layout.row).
_Run = tuple[Layout, list[tuple[str, ...]]]


def read_entries(text: str, fields: frozenset[str]) -> list[dict[str, str]] | None:
    """The fields of every entry in ``text`` (the content of ``<logs>``), or None.

    Each entry becomes ``{"logid": ..., field: text, ...}`` with the ``fields`` it has, exactly as
    :func:`panpin.scan.logs.entry_fields` reads it from a tree. None means "read this with the parser":
    the text holds something the layout reader does not handle (or is not well-formed).
    """
    return LayoutReader(("logid", *sorted(fields))).read(text)


class LayoutReader:
    """:func:`read_entries` over several pieces of one page, learning each layout once.

    ``order`` names the fields read (``logid``, the entry's attribute, first) in the order of
    the rows :meth:`read_rows` gives.
    """

    def __init__(self, order: tuple[str, ...]) -> None:
        if len(order) < 2 or order[0] != "logid":
            raise ValueError("order starts with logid and names at least one field")
        self.order = order
        # Layouts learned so far, apart for text with and without references.
        self._known: dict[bool, list[Layout]] = {False: [], True: []}

    def read(self, text: str) -> list[dict[str, str]] | None:
        """The entries of ``text`` as dicts (a field not given is not a key); None if not read.

        ``text`` is whole entries, with whitespace around them.
        """
        runs = self._runs(text)
        if runs is None:
            return None
        out: list[dict[str, str]] = []
        for layout, values in runs:
            # dict(zip(keys, values)) per entry, in C; zip leaves out the last "".
            out += map(dict, map(zip, repeat(layout.keys), values))
        return out

    def read_rows(self, text: str) -> list[tuple[str, ...]] | None:
        """The entries of ``text`` as rows in ``order`` ("" for a field not given), or None."""
        runs = self._runs(text)
        if runs is None:
            return None
        out: list[tuple[str, ...]] = []
        for layout, values in runs:
            out += map(layout.row, values)
        return out

    def _runs(self, text: str) -> list[_Run] | None:
        if "\r" in text:
            return None  # the parser turns "\r\n" and "\r" into "\n" first
        # "]]>" may not appear in character data; a single-character test first, as it is rare.
        if "]" in text and "]]>" in text:
            return None
        refs = "&" in text
        # Every reference the layouts let through, in a field read or not, must be one the parser
        # accepts (a reference to U+0000 is an error, wherever it is).
        if refs and not all(map(_allowed, _CHAR_REFERENCE_RE.findall(text))):
            return None
        pos = _LEADING_WS.match(text).end()  # type: ignore[union-attr]  # matches "" at worst
        if pos == len(text):
            return []
        known = self._known[refs]
        first = self._layout_at(text, pos, known, refs)
        if first is None:
            return None
        # With references the text has no length bound, so each entry's is checked (_read_mixed).
        runs = None if refs else _read_one_layout(text, pos, first)
        if runs is None:
            runs = self._read_mixed(text, pos, first, known, refs)
        if runs is not None and refs:
            try:
                runs = [
                    (layout, [tuple(_unescape(v) if "&" in v else v for v in e) for e in values])
                    for layout, values in runs
                ]
            except NotRegular:
                return None
        return runs

    def _read_mixed(
        self, text: str, pos: int, layout: Layout, known: list[Layout], refs: bool
    ) -> list[_Run] | None:
        """Entries in several layouts (a Panorama page of firewalls on different versions)."""
        current = layout
        end = len(text)
        runs: list[_Run] = []
        values: list[tuple[str, ...]] = []
        while pos < end:
            found = current.pattern.match(text, pos)
            if found is None:
                other = self._layout_at(text, pos, known, refs)
                if other is None:
                    return None
                if values:
                    runs.append((current, values))
                current, values = other, []
                found = current.pattern.match(text, pos)
                if found is None:
                    return None
            stop = found.end()
            if stop - pos > _LONGEST:
                return None
            values.append((*found.groups(""), ""))
            pos = stop
        if values:
            runs.append((current, values))
        return runs

    def _layout_at(self, text: str, pos: int, known: list[Layout], refs: bool) -> Layout | None:
        """A layout that matches the entry at ``pos``: a known one, else one learned from it."""
        for layout in known:
            if layout.pattern.match(text, pos) is not None:
                return layout
        if len(known) >= _MAX_LAYOUTS:
            return None
        close = text.find("</entry", pos, pos + _LONGEST)
        stop = text.find(">", close) if close >= 0 else -1
        if stop < 0:
            return None
        learned = learn(text[pos : stop + 1], self.order, refs)
        if learned is not None:
            known.append(learned)
        return learned


def _read_one_layout(text: str, pos: int, layout: Layout) -> list[_Run] | None:
    """Every entry in the one layout, or None. The common case, so done with C loops only.

    ``layout.scan`` is the layout or else any other text up to the next "<", in a group of its
    own: ``findall`` gives a tuple per entry (a group that did not take part is "", as an empty
    element's text must be), and a non-empty last item wherever something did not match.
    """
    found = layout.scan.findall(text, pos)
    if any(map(_LAST, found)):
        return None
    return [(layout, found)]


def learn(snippet: str, order: tuple[str, ...], refs: bool) -> Layout | None:
    """The layout of the one ``<entry>`` element in ``snippet``; None if it has none we read."""
    from lxml import etree

    from panpin.panos.xmlapi import hardened_parser

    try:
        element = etree.fromstring(snippet.encode("utf-8"), hardened_parser())
    except (etree.XMLSyntaxError, ValueError):
        return None
    if element.tag != "entry" or element.nsmap or not _blank(element.text):
        return None
    attributes = tuple(str(name) for name in element.attrib)
    children: list[tuple[str, tuple[str, ...]]] = []
    for child in element:
        tag = child.tag
        # Comments and PIs are dropped by the hardened parser: an entry with one never matches
        # the layout learned here, and goes to the parser.
        if not isinstance(tag, str) or tag in _SPECIAL_TAGS or len(child) or not _blank(child.tail):
            return None
        names = tuple(str(name) for name in child.attrib)
        if "{" in tag or any("{" in name for name in names):
            return None  # a namespace: the tree's tag would not be the plain name
        children.append((tag, names))
    if any("{" in name for name in attributes):
        return None
    form = (attributes, tuple(children), order, refs)
    # The compact form when it matches this entry, else the one with whitespace between elements.
    compact = compile_layout(*form, spaced=False)
    return compact if compact.pattern.match(snippet) else compile_layout(*form, spaced=True)


@lru_cache(maxsize=64)
def compile_layout(
    attributes: tuple[str, ...],
    children: tuple[tuple[str, tuple[str, ...]], ...],
    order: tuple[str, ...],
    refs: bool,
    spaced: bool,
) -> Layout:
    """The expression for an entry with these attributes and children (tag, attribute names).

    Tags are matched in the one form PAN-OS writes (``<a>``, ``</a>``, ``<a/>``, ``<a b="c">``):
    XML allows more whitespace inside a tag, but each optional ``[ \t\n]*`` costs time on every
    tag, and an entry written otherwise is simply not matched. ``spaced`` allows whitespace
    between elements (a pretty-printed page); the compact form is cheaper and tried first.
    """
    text = _TEXT_REFS if refs else _TEXT
    gap = _WS if spaced else ""
    fields = frozenset(order[1:])
    keys: list[str] = []
    parts = ["<entry"]
    for name in attributes:
        if name == "logid":
            parts.append(f" logid={_VALUE}")
            keys.append("logid")
        else:
            parts.append(f" {re.escape(name)}={_VALUE_SKIPPED}")
    if "logid" not in attributes:
        parts.append("()")  # entry_fields gives "logid": "" when the attribute is missing
        keys.append("logid")
    parts.append(f">{gap}")
    for tag, names in children:
        name = re.escape(tag)
        attrs = "".join(f" {re.escape(a)}={_VALUE_SKIPPED}" for a in names)
        if tag in fields:
            body = f"({text})"
            keys.append(tag)
        else:
            body = text
        parts.append(f"<{name}{attrs}(?:/>|>{body}</{name}>){gap}")
    parts.append(f"</entry>{_WS}")
    expression = "".join(parts)
    # Where each of ``order`` is in a match's groups + (""); the last of a field given twice.
    where = {name: i for i, name in enumerate(keys)}
    return Layout(
        keys=tuple(keys),
        row=itemgetter(*(where.get(name, len(keys)) for name in order)),
        pattern=re.compile(expression),
        scan=re.compile(f"{expression}|([\\s\\S][^<]*)"),
    )


def _blank(text: str | None) -> bool:
    return not text or not text.strip(" \t\n")


def _unescape(value: str) -> str:
    """Character data with its references replaced, as the parser would; NotRegular if invalid."""
    return _REFERENCE_RE.sub(_replace, value)


def _replace(found: re.Match[str]) -> str:
    name = found[0][1:-1]
    if name[0] != "#":
        return _PREDEFINED[name]
    if not _allowed(name[1:]):
        raise NotRegular(f"character reference {found[0]}")
    return chr(_code(name[1:]))


def _code(number: str) -> int:
    """The code point of a character reference's ``123`` or ``x7B``; -1 if far too large."""
    hexadecimal = number[0] == "x"
    digits = (number[1:] if hexadecimal else number).lstrip("0") or "0"
    if len(digits) > 8:
        return -1  # beyond U+10FFFF; and int() refuses strings of thousands of digits
    return int(digits, 16 if hexadecimal else 10)


def _allowed(number: str) -> bool:
    """Whether ``&#number;`` stands for a character XML allows (its Char production)."""
    code = _code(number)
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )
