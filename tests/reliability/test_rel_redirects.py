"""A 3xx answer is an error naming the redirect: never followed, never taken as success.

The simulator answers like PAN-OS, which never redirects its XML API, so a small HTTPS server of
this test's own plays the proxy or captive portal that does: a 302 whose body is a PAN-OS success
envelope, with a Location pointing at a second server that records whether it was ever asked.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from rel_https import OK_INFO, Pki, make_pki

from panpin import errors
from panpin.panos.timing import RetryPolicy
from panpin.panos.xmlapi import Connection, XmlApi

INFO = "<show><system><info></info></system></show>"
FAST = RetryPolicy(attempts=4, initial=0.01, maximum=0.02, jitter=0.0, deadline=5.0)


class _Redirecting(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server.hits += 1
        status, location = self.server.status, self.server.location
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        if location is not None:
            self.send_header("Location", location)
        self.send_header("Content-Length", str(len(OK_INFO)))
        self.end_headers()
        # A body that would parse as success: the status alone must decide.
        self.wfile.write(OK_INFO)

    do_POST = _answer
    do_GET = _answer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, context: ssl.SSLContext, status: int, location: str | None) -> None:
        super().__init__(("127.0.0.1", 0), _Redirecting)
        self.status = status
        self.location = location
        self.hits = 0
        self.socket = context.wrap_socket(self.socket, server_side=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}/api/"


@contextlib.contextmanager
def serve(pki: Pki, status: int, location: str | None = None) -> Iterator[_Server]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.cert_file, pki.key_file)
    server = _Server(context, status, location)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def client(pki: Pki, server: _Server) -> XmlApi:
    host = f"127.0.0.1:{server.server_address[1]}"
    return XmlApi(Connection(host=host, api_key="k", ca_file=str(pki.ca_file), retry=FAST))


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_an_error_naming_it_and_is_not_followed(pki: Pki, status: int) -> None:
    with serve(pki, 200) as target, serve(pki, status, target.url) as proxy:
        with client(pki, proxy) as api, pytest.raises(errors.RedirectRefused) as info:
            api.request({"type": "op", "cmd": INFO})
        assert target.hits == 0  # never followed
        assert proxy.hits == 1  # and not retried: the next answer would be the same
    message = str(info.value)
    assert f"HTTP {status} redirect to '{target.url}'" in message
    assert "never follows redirects" in message
    assert info.value.status == status and info.value.location == target.url
    assert info.value.exit_code == errors.EXIT_RUNTIME


def test_a_redirect_without_location_is_still_an_error(pki: Pki) -> None:
    with (
        serve(pki, 302) as proxy,
        client(pki, proxy) as api,
        pytest.raises(errors.RedirectRefused, match="HTTP 302 redirect to no Location"),
    ):
        api.request({"type": "op", "cmd": INFO})


def test_a_redirect_is_refused_when_streaming_too(pki: Pki) -> None:
    # Log pages are read as a stream; opening one must refuse a 3xx just the same.
    with serve(pki, 200) as target, serve(pki, 302, target.url) as proxy:
        consumed: list[bytes] = []
        with client(pki, proxy) as api, pytest.raises(errors.RedirectRefused):
            api.read_stream(
                {"type": "log", "action": "get", "job-id": "1"},
                lambda chunks: consumed.extend(chunks),
            )
        assert consumed == []  # refused before any body reached the reader
        assert target.hits == 0


def test_a_hostile_location_is_shown_escaped_and_cut(pki: Pki) -> None:
    location = "https://evil.example/" + "A" * 500 + "\x1b[2J"
    with (
        serve(pki, 302, location) as proxy,
        client(pki, proxy) as api,
        pytest.raises(errors.RedirectRefused) as info,
    ):
        api.request({"type": "op", "cmd": INFO})
    message = str(info.value)
    assert "\x1b" not in message and "A" * 201 not in message


def test_the_same_server_answering_200_is_a_success(pki: Pki, tmp_path: Path) -> None:
    # The control: the body above is a real success envelope when the status is 200.
    with serve(pki, 200) as server, client(pki, server) as api:
        assert api.request({"type": "op", "cmd": INFO}).status == "success"
