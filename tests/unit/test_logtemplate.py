"""The layout reader reads entries exactly as the XML parser does, and is the one that reads them.

Every case compares :func:`panpin.scan.logs.read_page` (which reads a regular page by layout) with
``read_answer(iterparse(...))`` (the parser): the same entries in the same order, the same answer
or the same error. The cases that must be read by layout also check that neither parser ran on
the entries, so a layout reader that quietly gave up everywhere would fail them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from panpin import errors
from panpin.panos.xmlapi import hardened_parser, iterparse
from panpin.scan import logs
from panpin.scan.evidence import ROW_FIELDS
from panpin.scan.logs import (
    LOG_FIELDS,
    PAGE_TAGS,
    PollAnswer,
    entry_fields,
    read_answer,
    read_page,
    row_of,
)
from panpin.scan.logtemplate import LayoutReader, read_entries

Outcome = tuple[list[dict[str, str]], PollAnswer | str]

WANTED = sorted(LOG_FIELDS)
OTHER = ["domain", "type", "dst", "natsrc", "sport", "tls_version", "dstloc", "vsys_id"]


def page(entries: str, head: str = '<response status="success">') -> bytes:
    return (
        f"{head}<result><job><status>FIN</status><id>1</id></job>"
        f'<log><logs count="9" progress="100">{entries}</logs></log>'
        '<meta><devices><entry name="x"><hostname>fw</hostname></entry></devices></meta>'
        "</result></response>"
    ).encode()


def _outcome(
    read: Callable[[Iterator[bytes], Callable[[dict[str, str]], None]], PollAnswer], body: bytes
) -> Outcome:
    got: list[dict[str, str]] = []
    chunks = iter([body[i : i + 4096] for i in range(0, len(body), 4096)])
    try:
        return got, read(chunks, got.append)
    except errors.PanpinError as exc:
        return got, f"{type(exc).__name__}: {exc}"


def general(chunks: Iterator[bytes], on_entry: Callable[[dict[str, str]], None]) -> PollAnswer:
    return read_answer(iterparse(chunks, tags=PAGE_TAGS), on_entry)


def same(body: bytes) -> Outcome:
    want = _outcome(general, body)
    got = _outcome(read_page, body)
    assert got == want
    return got


@pytest.fixture
def by_layout(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail the test if a page's entries are read by either parser instead of by layout."""

    def no_batches(*args: Any) -> None:
        raise AssertionError("the batch parser read the entries")

    real = logs.read_answer

    def refuse(entry: dict[str, str]) -> None:
        raise AssertionError("read_answer read an entry")

    def skeleton_only(events: Any, on_entry: Callable[[dict[str, str]], None]) -> PollAnswer:
        return real(events, refuse)

    monkeypatch.setattr(logs, "_parse_batches", no_batches)
    monkeypatch.setattr(logs, "read_answer", skeleton_only)
    yield


def entry(i: int, *, sni: str = "", user: str = "acme\\kim", gap: str = "", extra: str = "") -> str:
    host = sni or f"app{i % 5}.example.com"
    user_xml = f"<srcuser>{user}</srcuser>" if user else "<srcuser/>"
    fields = [
        "<domain>1</domain>",
        f"<receive_time>2026/11/26 09:00:{i % 60:02d}</receive_time>",
        f"<serial>0079</serial><seqno>{i}</seqno><src>10.0.0.{i % 250}</src>",
        user_xml,
        '<dstloc code="Singapore" cc="SG">Singapore</dstloc>',
        "<app>incomplete</app><rule>LAN Outbound</rule><policy_name>decrypt</policy_name>",
        f"<err_index>Protocol</err_index><cn>{host}</cn><sni>{host}</sni>{extra}",
        "<error>Received fatal alert UnknownCA from client</error><device_name>fw1</device_name>",
    ]
    return f'<entry logid="{7000 + i}">{gap}' + gap.join(fields) + f"{gap}</entry>"


def test_compact_and_pretty_pages_are_read_by_layout(by_layout: None) -> None:
    entries, answer = same(page("".join(entry(i) for i in range(300))))
    assert len(entries) == 300 and isinstance(answer, PollAnswer) and answer.entries == 300
    assert entries[0]["sni"] == "app0.example.com" and entries[0]["logid"] == "7000"
    pretty = "\n      " + "\n      ".join(entry(i, gap="\n        ") for i in range(300)) + "\n    "
    assert same(page(pretty))[0] == entries


def test_empty_fields_references_and_other_attributes(by_layout: None) -> None:
    items = [entry(i, user="" if i % 3 else "acme\\x") for i in range(200)]
    items[5] = entry(5, sni="r&amp;d.example", user="a &lt;b&gt; &#x41;&#66; &quot;&apos;")
    entries, _ = same(page("".join(items)))
    assert entries[1]["srcuser"] == "" and entries[0]["srcuser"] == "acme\\x"
    assert entries[5]["sni"] == "r&d.example"
    assert entries[5]["srcuser"] == "a <b> AB \"'"
    same(page("".join(i.replace('logid="', 'seq="1" logid="') for i in items)))
    same(page("".join(i.replace(' logid="7', ' x="7') for i in items)))  # no logid: ""


def test_mixed_layouts_on_one_page_are_read_by_layout(by_layout: None) -> None:
    # A Panorama page: firewalls on two versions, one with a field the other lacks.
    items = [entry(i, extra="<tls_version>1.3</tls_version>" if i % 4 else "") for i in range(400)]
    entries, _ = same(page("".join(items)))
    assert len(entries) == 400


@pytest.mark.parametrize(
    "defect",
    [
        "&#0;",  # a reference to a character XML forbids
        "&#xD800;",
        "&#0065;&#x00041;",  # leading zeros
        "&#" + "9" * 5000 + ";",  # more digits than int() takes
        "&#" + "0" * 5000 + "65;",
        "&#X41;",
        "&bogus;",
        "\x01",
        "]]>",
        "<b>nested</b>",
        "<job>ACT</job>",
        "<logs/>",
        "<entry>x</entry>",
        "<!-- c -->",
        "<?pi x?>",
        "<![CDATA[x]]>",
        "\r\n",
        "\ufffe",
    ],
)
def test_anything_else_is_read_as_the_parser_reads_it(defect: str) -> None:
    # In a field read (sni, app, srcuser), in one skipped (domain, dstloc), between fields.
    for where in ("<sni>", "<app>inc", "</entry>", "<srcuser>", "<domain>", 'cc="S'):
        items = [entry(i) for i in range(50)]
        items[20] = items[20].replace(where, where + defect, 1)
        same(page("".join(items)))
        items = [entry(i) for i in range(50)]
        items[0] = items[0].replace(where, defect + where, 1)
        same(page("".join(items)))


def test_a_mismatched_end_tag_is_an_error_as_with_the_parser() -> None:
    items = [entry(i) for i in range(50)]
    items[30] = items[30].replace("</app>", "</apq>")
    entries, answer = same(page("".join(items)))
    # The parser hands on what it read before the defect, as it streams; then fails.
    assert len(entries) < 30 and isinstance(answer, str) and "Error" in answer


def test_whitespace_inside_tags_is_left_to_the_parser() -> None:
    items = [entry(i) for i in range(50)]
    items[7] = items[7].replace("</app>", "</app >").replace("<rule>", "<rule >")
    entries, _ = same(page("".join(items)))
    assert entries[7]["app"] == "incomplete"


def test_reader_keeps_the_layouts_it_learned() -> None:
    reader = LayoutReader(ROW_FIELDS)
    first = reader.read("".join(entry(i) for i in range(10)))
    again = reader.read("".join(entry(i) for i in range(10, 20)))
    assert first is not None and again is not None and len(first) == len(again) == 10
    assert read_entries("  \n ", LOG_FIELDS) == []
    assert read_entries("<entry>", LOG_FIELDS) is None
    assert read_entries("<entry/>", LOG_FIELDS) is None


# --- generated entries ----------------------------------------------------------------------------

_TEXT = st.text(
    alphabet=st.sampled_from([*"abc .-/\\:é<>&\"'", "\t", "\n", "\x85", "\u2028"]),
    max_size=12,
)
_FIELD = st.tuples(
    st.sampled_from(WANTED + OTHER),
    st.one_of(st.none(), _TEXT),
    st.booleans(),  # an attribute on the field
)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _xml(fields: list[tuple[str, str | None, bool]], logid: str, gap: str) -> str:
    out = [f'<entry logid="{logid}">']
    for tag, text, attr in fields:
        attrs = ' code="x"' if attr else ""
        out.append(f"<{tag}{attrs}/>" if text is None else f"<{tag}{attrs}>{_escape(text)}</{tag}>")
    return gap.join(out) + gap + "</entry>"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    layouts=st.lists(st.lists(_FIELD, min_size=0, max_size=12), min_size=1, max_size=3),
    picks=st.lists(st.integers(min_value=0, max_value=2), min_size=1, max_size=30),
    gap=st.sampled_from(["", "\n  ", " "]),
)
def test_generated_entries_read_as_the_parser_reads_them(
    layouts: list[list[tuple[str, str | None, bool]]], picks: list[int], gap: str
) -> None:
    texts = [_xml(layouts[p % len(layouts)], str(n), gap) for n, p in enumerate(picks)]
    body = "".join(texts)
    got = read_entries(body, LOG_FIELDS)
    # The parser's view of each entry, from a tree.
    want = [entry_fields(etree.fromstring(t.encode(), hardened_parser())) for t in texts]
    assert got == want  # generated entries are all regular: the reader must take them
    assert same(page(body))[0] == want
    # As rows: the same values, "" where a field is not given.
    assert LayoutReader(ROW_FIELDS).read_rows(body) == [row_of(w) for w in want]


def test_rows_are_the_dicts_in_row_order() -> None:
    items = [entry(i, user="" if i % 3 else "u", extra="<x/>" if i % 2 else "") for i in range(60)]
    items[9] = entry(9, sni="a&amp;b.example")
    body = "".join(items)
    rows, dicts = LayoutReader(ROW_FIELDS).read_rows(body), read_entries(body, LOG_FIELDS)
    assert dicts is not None and rows == [row_of(d) for d in dicts]
    assert rows[9][ROW_FIELDS.index("sni")] == "a&b.example"
    with pytest.raises(ValueError, match="logid"):
        LayoutReader(("sni", "cn"))


@pytest.mark.parametrize(
    "sample", ["log-job-finished-traffic-log.xml", "log-job-finished-config-logs.xml"]
)
def test_real_pan_os_answers_are_read_by_layout(sample: str, by_layout: None) -> None:
    # Verbatim answers (reference samples): pretty-printed, attributes on fields (<dstloc cc=..>).
    path = Path(__file__).resolve().parents[1] / "data" / "panos-samples" / sample
    body = path.read_bytes()
    body = body[body.index(b"<response") :]  # after the sample's source comment
    entries, answer = same(body)
    assert entries and isinstance(answer, PollAnswer) and answer.entries == len(entries)
    assert all(e["logid"].isdigit() and e["receive_time"] for e in entries)
