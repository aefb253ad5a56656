"""Hostile answers over real HTTPS: entity expansion, external entities, DTDs, truncation, deep
nesting and 200 MB bodies are refused with a clear error, in bounded memory and time.

Both parse paths are exercised: whole answers (:meth:`XmlApi.request`, every config and op call)
and streamed answers (log pages through :func:`panpin.panos.xmlapi.iterparse`).
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import RunCli
from rel_https import OK_INFO, Answer, Pki, host_of, make_pki, serve
from rel_support import FULL, record

from panpin import errors
from panpin.panos.exclusions import read_list
from panpin.panos.timing import RetryPolicy
from panpin.panos.xmlapi import DEFAULT_MAX_RESPONSE_BYTES, Connection, XmlApi
from panpin.scan.logs import read_logs
from panpin.settings import Location

MB = 1024 * 1024
FAST = RetryPolicy(attempts=3, initial=0.01, maximum=0.02, jitter=0.0, deadline=5.0)

LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE response [\n<!ENTITY lol "lol">\n'
    + b"".join(
        b'<!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b']>\n<response status="success"><result>&lol9;</result></response>'
)
XXE_FILE = (
    b'<?xml version="1.0"?><!DOCTYPE response [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b'<response status="success"><result><system><hostname>&xxe;</hostname></system>'
    b"</result></response>"
)


def xxe_network(port: int) -> bytes:
    return (
        b'<?xml version="1.0"?><!DOCTYPE response [<!ENTITY %% p SYSTEM '
        b'"https://127.0.0.1:%d/evil.dtd"> %%p;]><response status="success"><result/></response>'
        % port
    )


def external_dtd(port: int) -> bytes:
    return (
        b'<?xml version="1.0"?><!DOCTYPE response SYSTEM "https://127.0.0.1:%d/evil.dtd">'
        b'<response status="success"><result/></response>' % port
    )


DEEP = (
    b"<response status='success'><result>"
    + b"<a>" * 100_000
    + b"</a>" * 100_000
    + b"</result></response>"
)
HUGE_TEXT = b"<response status='success'><result>" + b"x" * (20 * MB) + b"</result></response>"
TRUNCATED_XML = OK_INFO[: len(OK_INFO) // 2]


@dataclass
class Produced:
    """How many bytes of an :func:`endless` body the server was given to send so far."""

    bytes: int = 0


def endless(
    total: int, head: bytes, unit: bytes, tail: bytes = b"", produced: Produced | None = None
) -> Iterator[bytes]:
    """``total`` bytes of a well-formed-looking document, produced chunk by chunk (never built).

    The server asks for the next chunk only once it wrote the last one, so ``produced`` counts
    what the client let through (plus what the sockets buffer): work done, not seconds.
    """
    tally = produced if produced is not None else Produced()
    tally.bytes += len(head)
    yield head
    chunk = unit * max(1, (256 * 1024) // len(unit))
    while tally.bytes < total:
        tally.bytes += len(chunk)
        yield chunk
    if tail:
        tally.bytes += len(tail)
        yield tail


ENTRY = (
    b"<entry logid='1'><receive_time>2026/11/26 09:00:00</receive_time><serial>1</serial>"
    b"<seqno>1</seqno><src>10.0.0.1</src><sni>a.example</sni><error>Received fatal alert "
    b"UnknownCA from client</error></entry>"
)
LOG_HEAD = (
    b"<response status='success'><result><job><id>7</id><status>FIN</status></job>"
    b"<log><logs count='5000' progress='100'>"
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def client(pki: Pki, host: str, **kw: object) -> XmlApi:
    args: dict[str, object] = {
        "host": host,
        "api_key": "KEY-NOT-USED",
        "ca_file": str(pki.ca_file),
        "retry": FAST,
        "read_timeout": 30.0,
    }
    args.update(kw)
    return XmlApi(Connection(**args))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Bounds:
    seconds: float  # recorded for docs/reliability.md only, never asserted (machine load)
    peak_bytes: int


# What loopback sockets may buffer between the server's writes and the client's reads, on top of
# what the client read itself: far below the 200 MB the hostile server would send.
SOCKET_SLACK = 16 * MB


def measured(action: Callable[[], object]) -> tuple[BaseException, float, int]:
    """Run ``action`` (which must raise) under tracemalloc: (exception, seconds, peak bytes)."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        action()
    except BaseException as exc:  # the exception is the result
        caught = exc
    else:
        raise AssertionError("the hostile answer was accepted")
    finally:
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return caught, elapsed, peak


def _check(
    case: str,
    exc: BaseException,
    elapsed: float,
    peak: int,
    bounds: Bounds,
    expect: type[errors.PanpinError],
    words: tuple[str, ...],
) -> None:
    record(
        "hostile-xml",
        {
            "case": case,
            "error": type(exc).__name__,
            "message": str(exc)[:200],
            "seconds": round(elapsed, 3),
            "peak_mb": round(peak / MB, 1),
            "bound_seconds": bounds.seconds,
            "bound_mb": round(bounds.peak_bytes / MB, 1),
        },
    )
    assert isinstance(exc, expect), f"{case}: {type(exc).__name__}: {exc}"
    text = str(exc)
    assert any(w in text for w in words), f"{case}: unclear message {text!r}"
    assert "root:" not in text  # no file content leaks into an error
    assert peak < bounds.peak_bytes, f"{case}: peak {peak / MB:.1f} MB"


SMALL = Bounds(seconds=5.0, peak_bytes=32 * MB)
# A body refused at the limit was held up to the limit first (the whole-answer path).
AT_LIMIT = Bounds(seconds=60.0, peak_bytes=DEFAULT_MAX_RESPONSE_BYTES + 48 * MB)


@pytest.mark.parametrize(
    ("case", "body", "expect", "words"),
    [
        ("billion laughs", LAUGHS, errors.ResponseError, ("DTD",)),
        ("external entity (file)", XXE_FILE, errors.ResponseError, ("DTD",)),
        ("deep nesting (100 000 levels)", DEEP, errors.ResponseError, ("malformed",)),
        ("20 MB text node", HUGE_TEXT, errors.ResponseError, ("malformed",)),
        ("truncated XML", TRUNCATED_XML, errors.ResponseError, ("malformed",)),
        ("not XML", b"<html><body>proxy error</body></html>", errors.ResponseError, ("root",)),
    ],
)
def test_whole_answers_refused(
    pki: Pki, case: str, body: bytes, expect: type[errors.PanpinError], words: tuple[str, ...]
) -> None:
    with serve(pki, lambda form: Answer(body)) as server, client(pki, host_of(server)) as api:
        exc, elapsed, peak = measured(lambda: read_list(api, Location("shared")))
        attempts = len(server.seen)
    # A whole answer is held once as received and once joined: twice its size at most.
    bounds = Bounds(SMALL.seconds, max(SMALL.peak_bytes, 2 * len(body) + 8 * MB))
    _check(case, exc, elapsed, peak, bounds, expect, words)
    assert attempts == 1  # refused at once, not asked again


@pytest.mark.parametrize("kind", ["parameter entity", "external DTD"])
def test_no_network_access_for_entities_or_dtds(pki: Pki, kind: str) -> None:
    fetched: list[dict[str, str]] = []
    with serve(pki, lambda form: Answer(b"")) as decoy:
        port = int(decoy.server_address[1])
        body = xxe_network(port) if kind == "parameter entity" else external_dtd(port)
        with serve(pki, lambda form: Answer(body)) as server, client(pki, host_of(server)) as api:
            exc, elapsed, peak = measured(lambda: api.op("<show><system><info/></system></show>"))
        fetched = list(decoy.seen)
    _check(kind, exc, elapsed, peak, SMALL, errors.ResponseError, ("DTD",))
    assert not fetched, "the parser fetched something over the network"


def test_200mb_chunked_answer_refused_at_the_limit(pki: Pki) -> None:
    produced = Produced()
    body = endless(
        200 * MB, b"<response status='success'><result>", b"<entry name='a'/>", produced=produced
    )
    with serve(pki, lambda form: Answer(body)) as server, client(pki, host_of(server)) as api:
        exc, elapsed, peak = measured(lambda: read_list(api, Location("shared")))
        attempts = len(server.seen)
    _check("200 MB body, chunked", exc, elapsed, peak, AT_LIMIT, errors.ResponseError, ("limit",))
    # The client stopped reading at the limit, and did not ask again.
    assert produced.bytes <= DEFAULT_MAX_RESPONSE_BYTES + SOCKET_SLACK, produced.bytes
    assert attempts == 1


def test_200mb_declared_answer_refused_before_reading(pki: Pki) -> None:
    produced = Produced()
    body = endless(
        200 * MB, b"<response status='success'><result>", b"<entry name='a'/>", produced=produced
    )
    answer = Answer(body, content_length=200 * MB)
    with serve(pki, lambda form: answer) as server, client(pki, host_of(server)) as api:
        exc, elapsed, peak = measured(lambda: api.op("<show><system><info/></system></show>"))
        attempts = len(server.seen)
    _check(
        "200 MB body, Content-Length", exc, elapsed, peak, SMALL, errors.ResponseError, ("limit",)
    )
    # Refused on the header: the body was not read (only what the sockets buffer got through).
    assert produced.bytes <= SOCKET_SLACK, produced.bytes
    assert attempts == 1


def test_transfer_cut_short_is_a_connection_error(pki: Pki) -> None:
    answer = Answer(OK_INFO[:40], content_length=len(OK_INFO) + 1000, close_after=True)
    with serve(pki, lambda form: answer) as server, client(pki, host_of(server)) as api:
        exc, elapsed, peak = measured(lambda: api.op("<show><system><info/></system></show>"))
        attempts = len(server.seen)
    _check(
        "truncated transfer", exc, elapsed, peak, SMALL, errors.ConnectError, ("connection lost",)
    )
    assert attempts == FAST.attempts  # a read: retried, then refused


def _log_server(page: Callable[[], Answer]) -> Callable[[dict[str, str]], Answer]:
    def respond(form: dict[str, str]) -> Answer:
        if form.get("type") == "log" and "action" not in form:
            return Answer(b"<response status='success'><result><job>7</job></result></response>")
        if form.get("action") == "get":
            return page()
        return Answer(b"<response status='success'><result/></response>")

    return respond


def _read(api: XmlApi) -> None:
    read_logs(api, "( error contains 'UnknownCA' )", sink=lambda entry: None)


# The fast mode refuses the same 200 MB page at a lower limit, to keep `make test` quick.
LOG_LIMIT = DEFAULT_MAX_RESPONSE_BYTES if FULL else 8 * MB


def test_200mb_log_page_refused_at_the_limit(pki: Pki) -> None:
    """A log page is read whole before its entries are parsed in batches (panpin.scan.logs), so the
    transport's cap on a streamed answer is what bounds its memory."""

    produced = Produced()

    def page() -> Answer:
        return Answer(endless(200 * MB, LOG_HEAD, ENTRY, produced=produced))

    with (
        serve(pki, _log_server(page)) as server,
        client(pki, host_of(server), max_response_bytes=LOG_LIMIT) as api,
    ):
        exc, elapsed, peak = measured(lambda: _read(api))
        finished = [f for f in server.seen if f.get("action") == "finish"]
    _check(
        "200 MB log page",
        exc,
        elapsed,
        peak,
        Bounds(seconds=60.0, peak_bytes=LOG_LIMIT + 48 * MB),
        errors.ResponseError,
        ("limit",),
    )
    assert finished, "the abandoned log job was not deleted"
    # The page was read up to the limit only (per poll the client made), never the 200 MB.
    polls = len([f for f in server.seen if f.get("action") == "get"])
    assert polls >= 1
    assert produced.bytes <= polls * (LOG_LIMIT + SOCKET_SLACK), (polls, produced.bytes)


@pytest.mark.parametrize("split", [1, 4, 8])
def test_dtd_in_a_log_page_refused_wherever_the_chunk_splits(pki: Pki, split: int) -> None:
    # A DOCTYPE with no ENTITY, cut inside the keyword: neither chunk holds "<!DOCTYPE" whole.
    doc = (
        b'<?xml version="1.0"?><!DOCTYPE response SYSTEM "file:///etc/passwd">'
        b"<response status='success'><result><job><status>FIN</status></job></result></response>"
    )
    at = doc.index(b"<!DOCTYPE") + split

    def page() -> Answer:
        return Answer(iter([doc[:at], doc[at:]]))

    with serve(pki, _log_server(page)) as server, client(pki, host_of(server)) as api:
        exc, elapsed, peak = measured(lambda: _read(api))
    case = f"DTD in a log page, split inside the keyword (at {split})"
    _check(case, exc, elapsed, peak, SMALL, errors.ResponseError, ("DTD",))


def test_cli_names_the_refusal(pki: Pki, tmp_path: Path, run_cli: RunCli) -> None:
    with serve(pki, lambda form: Answer(LAUGHS)) as server:
        result = run_cli(
            "--host",
            host_of(server),
            "--ca-file",
            str(pki.ca_file),
            "--state",
            str(tmp_path / "state.db"),
            "exclusions",
            "list",
            env={"PANPIN_API_KEY": "KEY-NOT-USED"},
        )
    assert result.code == 1
    assert "DTD" in result.err and "refused" in result.err
    assert "Traceback" not in result.err
