"""read_page (batches, the fast way) reads every answer exactly as read_answer(iterparse) does.

The batch reader only runs on answers it can prove it reads the same way; these tests hold it to
that on regular pages and on every irregular shape we could think of, and on random mutations:
the same entries, in the same order, the same answer, or the same error.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from panpin import errors
from panpin.panos.xmlapi import iterparse
from panpin.scan.logs import PAGE_TAGS, PollAnswer, read_answer, read_page

Outcome = tuple[list[dict[str, str]], PollAnswer | str]


def entry(i: int, sni: str | None = None, *, pad: int = 0, extra: str = "") -> str:
    host = sni if sni is not None else f"h{i % 7}.example.com"
    return (
        f'<entry logid="{7000 + i}"><domain>1</domain>'
        f"<receive_time>2026/11/26 09:{i // 60 % 60:02d}:{i % 60:02d}</receive_time>"
        f"<serial>0079</serial><seqno>{i}</seqno><src>10.0.0.{i % 250}</src><srcuser/>"
        f"<app>incomplete</app><rule>LAN</rule><policy_name>decrypt</policy_name>"
        f"<err_index>Protocol</err_index><cn>{host}</cn><sni>{host}</sni>{extra}"
        f"<padding>{'x' * pad}</padding>"
        "<error>Received fatal alert UnknownCA from client</error>"
        "<device_name>fw1</device_name></entry>"
    )


def page(
    entries: list[str],
    *,
    status: str = "FIN",
    progress: str | None = "100",
    head: str = '<response status="success">',
    meta: str = '<meta><devices><entry name="localhost.localdomain"><hostname>fw1</hostname>'
    "</entry></devices></meta>",
    sep: str = "",
) -> bytes:
    attr = "" if progress is None else f' progress="{progress}"'
    return (
        f"{head}<result><job><tenq>09:00:00</tenq><status>{status}</status><id>1</id></job>"
        f'<log><logs count="{len(entries)}"{attr}>{sep}'
        + sep.join(entries)
        + f"{sep}</logs></log>{meta}</result></response>"
    ).encode()


def _chunks(body: bytes, size: int) -> Iterator[bytes]:
    return iter([body[i : i + size] for i in range(0, len(body), size)])


def _outcome(
    read: Callable[[Iterator[bytes], Callable[[dict[str, str]], None]], PollAnswer],
    body: bytes,
    *,
    size: int = 8192,
    stop_after: int | None = None,
) -> Outcome:
    got: list[dict[str, str]] = []

    def on_entry(e: dict[str, str]) -> None:
        if stop_after is not None and len(got) >= stop_after:
            raise KeyboardInterrupt
        got.append(e)

    try:
        return got, read(_chunks(body, size), on_entry)
    except (errors.PanpinError, KeyboardInterrupt) as exc:
        return got, f"{type(exc).__name__}: {exc}"


def general(chunks: Iterator[bytes], on_entry: Callable[[dict[str, str]], None]) -> PollAnswer:
    return read_answer(iterparse(chunks, tags=PAGE_TAGS), on_entry)


def same(body: bytes, **kw: int) -> Outcome:
    want = _outcome(general, body, **kw)
    got = _outcome(read_page, body, **kw)
    assert got == want
    return got


def test_a_regular_page_over_many_batches() -> None:
    entries, answer = same(page([entry(i, pad=600) for i in range(2000)]))
    assert len(entries) == 2000 and isinstance(answer, PollAnswer) and answer.final
    assert answer.entries == 2000


def test_pretty_printed_pages_and_entities() -> None:
    items = [entry(i, extra="<note>a &amp; b &#x41; &lt;c&gt;</note>") for i in range(50)]
    items[3] = entry(3, sni="a&amp;b.example")
    entries, _ = same(page(items, sep="\n      "))
    assert entries[3]["sni"] == "a&b.example"
    same(page([entry(i).replace("<src>", "<src>\r\n") for i in range(5)]))


@pytest.mark.parametrize(
    "body",
    [
        page([entry(i) for i in range(10)], status="ACT", progress="40"),
        page([entry(i) for i in range(10)], progress="60"),
        page([entry(i) for i in range(10)], progress=None),
        page([]),
        page([], progress=None).replace(b'<logs count="0">', b"<logs/>").replace(b"</logs>", b""),
        b'<response status="error" code="7"><msg><line>job not found</line></msg></response>',
        b'<response status="error"><result><job><status>FIN</status></job><log>'
        b'<logs progress="100">' + entry(1).encode() + b"</logs></log></result></response>",
        b"<html><body>502</body></html>",
        b"",
        page([entry(i) for i in range(3)])[:-30],
    ],
)
def test_pending_error_and_broken_answers(body: bytes) -> None:
    same(body)


@pytest.mark.parametrize(
    ("where", "what"),
    [
        (5, "<sni><![CDATA[x</entry>y]]></sni>"),  # the cut lands in CDATA
        (5, "<!-- </entry> -->"),
        (5, "<?pi </entry>?>"),
        (5, '<entry logid="nested"><sni>inner.example</sni></entry>'),
        (5, "<logs progress='50'/>"),
        (5, "<logs progress='100'><entry logid='9'><sni>n.example</sni></entry></logs>"),
        (5, "<sni><![CDATA[<!ENTITY x 'y'>]]></sni>"),
        (5, "<broken>"),
        (5, "&undefined;"),
        (5, "<x xmlns='urn:y'><sni>ns.example</sni></x>"),
    ],
)
def test_irregular_entries_fall_back_exactly(where: int, what: str) -> None:
    items = [entry(i, pad=3000) for i in range(400)]
    items[where * 50] = items[where * 50].replace("<domain>", what + "<domain>")
    same(page(items))
    # The same defect in the first batch, and between entries.
    items = [entry(i) for i in range(400)]
    items[1] = items[1] + what
    same(page(items))


@pytest.mark.parametrize(
    "head",
    [
        '<?xml version="1.0" encoding="UTF-8"?><response status="success">',
        '<response status="success" xmlns="urn:panos">',
        '<response status="success" xmlns:a="urn:a">',
        '<!-- hi --><response status="success">',
        '<!DOCTYPE response><response status="success">',
        '<response status="success"><x><![CDATA[<logs progress="100">]]></x>',
    ],
)
def test_irregular_heads_fall_back_exactly(head: str) -> None:
    same(page([entry(i) for i in range(300)], head=head))


def test_a_fake_logs_element_in_cdata_is_not_read_as_one() -> None:
    fake = (
        '<response status="success"><result><job><status>FIN</status></job><x><![CDATA[<logs>'
        + entry(1, sni="injected.example")
        + "</logs>]]></x></result></response>"
    ).encode()
    entries, answer = same(fake)
    assert entries == [] and isinstance(answer, PollAnswer) and answer.final


def test_a_second_logs_element_and_meta_entries() -> None:
    extra = "<log><logs progress='100'>" + entry(99) + "</logs></log>"
    same(page([entry(i) for i in range(20)], meta=extra))
    entries, _ = same(page([entry(i) for i in range(20)]))
    assert len(entries) == 20  # <meta><devices><entry> is no log entry


def test_depth_limits_are_the_same() -> None:
    for depth in (240, 250, 251, 252, 253, 260):
        deep = "<d>" * depth + "</d>" * depth
        same(page([entry(1), entry(2, extra=deep), entry(3)]))


def test_the_caller_stopping_stops_both_at_the_same_entry() -> None:
    body = page([entry(i, pad=2000) for i in range(600)])
    for stop in (0, 1, 150, 599):
        entries, answer = same(body, stop_after=stop)
        assert len(entries) == stop and answer == "KeyboardInterrupt: "


def test_chunk_sizes_do_not_matter() -> None:
    body = page([entry(i, pad=1000) for i in range(500)])
    for size in (1, 7, 4096, 65536, len(body)):
        assert same(body, size=size)[0]


_SNIPPETS = [
    "</entry>",
    '<entry logid="z">',
    "<entry/>",
    "<logs>",
    "</logs>",
    "<logs/>",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    "&amp;",
    "&bogus;",
    "<sni>",
    "</sni>",
    "<",
    ">",
    '"',
    "\x00",
    "\r\n",
    "é",
    "<?x?>",
    "<!DOCTYPE x>",
    "xmlns='u'",
    "&#0;",
    "&#x41;",
    "<sni/>",
    '<sni x="1">',
    "</sni >",
    "\ufffe",
    "<job>",
    " logid='2'",
]


def test_random_mutations_are_read_the_same() -> None:
    rng = random.Random(20261126)
    base = page([entry(i, pad=rng.randrange(0, 4000)) for i in range(300)]).decode()
    for _ in range(250):
        text = base
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(len(text))
            text = text[:at] + rng.choice(_SNIPPETS) + text[at:]
        same(text.encode(), size=rng.choice((512, 8192, 65536)))


@pytest.mark.parametrize(
    "head",
    [
        '<response status="success">',
        '<?xml version="1.0" encoding="UTF-8"?>\n<response status="success">',
        "<?xml version='1.0'?><response status=\"success\" code='19'>",
    ],
)
def test_regular_pages_are_read_in_batches(head: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from panpin.scan import logs

    general_entries: list[dict[str, str]] = []
    real = logs.read_answer

    def counting(events: Iterator[Any], on_entry: Callable[[dict[str, str]], None]) -> PollAnswer:
        def both(entry: dict[str, str]) -> None:
            general_entries.append(entry)
            on_entry(entry)

        return real(events, both)

    monkeypatch.setattr(logs, "read_answer", counting)
    got: list[dict[str, str]] = []
    answer = read_page(_chunks(page([entry(i) for i in range(300)], head=head), 4096), got.append)
    assert answer.final and answer.entries == len(got) == 300
    assert general_entries == []  # only the skeleton went through read_answer


def test_a_huge_field_is_read_the_same() -> None:
    items = [entry(i) for i in range(20)]
    items[7] = entry(7, extra=f"<note>{'y' * 3_000_000}</note>")
    entries, _ = same(page(items), size=65536)
    assert len(entries) == 20
