"""read_page, the one (streamed) page reader, gives exactly what lxml's tree of the whole answer
gives: the same entries in the same order and the same answer, or, for an answer that is not
well-formed (or has a DTD), an error — on regular pages, every irregular shape we could think of,
and random mutations. The oracle builds the whole tree with the same hardened parser settings
and reads it by the rules written out once more here, on whole-tree events (iterwalk).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from lxml import etree

from panpin import errors
from panpin.panos.xmlapi import check_envelope, hardened_parser, iterparse
from panpin.scan.logs import PAGE_TAGS, PollAnswer, _progress_of, entry_fields, read_page

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


def tree(chunks: Iterator[bytes], on_entry: Callable[[dict[str, str]], None]) -> PollAnswer:
    """The oracle: the whole answer parsed into one tree first, then walked in document order."""
    body = b"".join(chunks)
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise errors.ResponseError("DTD")
    try:
        root = etree.fromstring(body, hardened_parser())
    except etree.XMLSyntaxError as exc:
        raise errors.ResponseError(str(exc)) from None
    if root.tag != "response":
        raise errors.ResponseError("root")
    if (root.get("status") or "").strip() != "success":
        check_envelope(root)
    # The rules: the status is that of the last <job> to end before the first <logs> starts;
    # that <logs> says whether the answer is final; its <entry> children, in document order,
    # are the log entries, read only when it is.
    status, progress, final, logs, count = "", None, None, None, 0
    for event, element in etree.iterwalk(root, events=("start", "end"), tag=PAGE_TAGS):
        if element.tag == "job" and event == "end" and logs is None:
            status = (element.findtext("status") or "").strip().upper()
        elif element.tag == "logs" and event == "start" and logs is None:
            logs = element
            progress = _progress_of(element.get("progress"))
            final = status == "FIN" and (progress is None or progress >= 100)
        elif element.tag == "entry" and event == "end" and final and element.getparent() is logs:
            on_entry(entry_fields(element))
            count += 1
    if final is None:
        final = status == "FIN"
    return PollAnswer(status=status, progress=progress, final=final, entries=count)


def same(body: bytes, **kw: int) -> Outcome:
    want = _outcome(tree, body, **kw)
    got = _outcome(read_page, body, **kw)
    if isinstance(want[1], str) and want[1].startswith("ResponseError"):
        # Not well-formed: both refuse it. (The streamed reader may have handed on the entries
        # before the fault first; a page that fails fails the scan.)
        assert isinstance(got[1], str) and got[1].startswith("ResponseError"), got[1]
        return got
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
        '<response status="success">',
        '<?xml version="1.0" encoding="UTF-8"?>\n<response status="success">',
        "<?xml version='1.0'?><response status=\"success\" code='19'>",
    ],
)
def test_entries_are_freed_as_they_pass(head: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Memory stays flat because each entry is cleared and detached once its fields are taken:
    # when the next entry arrives, the one before the previous holds nothing and hangs nowhere
    # (the previous one is freed as the next starts, after the parser has reported it).
    import panpin.panos.xmlapi as xmlapi

    kept: list[etree._Element] = []

    def watch(chunks: Iterator[bytes], *, tags: tuple[str, ...]) -> Iterator[etree._Element]:
        for element in iterparse(chunks, tags=tags):
            if element.tag == "entry":
                kept.append(element)
                if len(kept) > 2:
                    previous = kept[-3]
                    assert previous.getparent() is None and len(previous) == 0
            yield element

    monkeypatch.setattr(xmlapi, "iterparse", watch)
    got: list[dict[str, str]] = []
    answer = read_page(_chunks(page([entry(i) for i in range(300)], head=head), 4096), got.append)
    assert answer.final and answer.entries == len(got) == 300
    assert len(kept) == 301  # and the <meta><devices> entry, freed the same way
    assert all(e.getparent() is None and len(e) == 0 for e in kept)


def test_a_huge_field_is_read_the_same() -> None:
    items = [entry(i) for i in range(20)]
    items[7] = entry(7, extra=f"<note>{'y' * 3_000_000}</note>")
    entries, _ = same(page(items), size=65536)
    assert len(entries) == 20
