"""A tiny HTTPS server of the suite's own, for answers no device should give and certificates no
device should have: hostile XML, endless bodies, truncation, an expired or misnamed certificate.

The simulator answers like PAN-OS; this server answers like an attacker or a broken proxy, so it
is separate. Certificates come from the simulator's maker; the server listens on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from panpin.simulator.tls import TlsMaterial, generate

# The simulator's certificate maker serves here too; the suite only asks it for other names and
# for an expired certificate.
Pki = TlsMaterial


def make_pki(
    folder: Path,
    *,
    dns: tuple[str, ...] = (),
    ips: tuple[str, ...] = ("127.0.0.1",),
    expired: bool = False,
) -> Pki:
    """A CA and a server certificate it signed, for the given names (expired on request)."""
    return generate(folder, hostnames=dns, ips=ips, expired=expired)


def cert_fingerprint(pki: Pki) -> str:
    return pki.fingerprint


@dataclass
class Answer:
    """What the server sends: a status, a body (bytes, or chunks sent with chunked encoding),
    and optionally a Content-Length that lies (truncation)."""

    body: bytes | Iterable[bytes]
    status: int = 200
    content_length: int | None = None  # default: the real length of a bytes body
    close_after: bool = False


Responder = Callable[[dict[str, str]], Answer]

OK_INFO = (
    b"<response status='success'><result><system><hostname>fw</hostname>"
    b"<serial>007951000000001</serial><model>PA-VM</model><family>vm</family>"
    b"<sw-version>11.1.4</sw-version></system></result></response>"
)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(parse_qsl(self.rfile.read(length).decode("utf-8", "replace")))
        self.server.seen.append(form)
        answer = self.server.responder(form)
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/xml")
        try:
            if isinstance(answer.body, bytes):
                size = len(answer.body) if answer.content_length is None else answer.content_length
                self.send_header("Content-Length", str(size))
                if answer.close_after:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(answer.body)
            else:
                if answer.content_length is not None:
                    self.send_header("Content-Length", str(answer.content_length))
                else:
                    self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for chunk in answer.body:
                    if answer.content_length is not None:
                        self.wfile.write(chunk)
                    else:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                if answer.content_length is None:
                    self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            # The client refused the answer half-way: exactly what is being tested.
            self.close_connection = True
            return
        if answer.close_after:
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, responder: Responder, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.responder = responder
        self.seen: list[dict[str, str]] = []
        self.socket = context.wrap_socket(self.socket, server_side=True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


@contextlib.contextmanager
def serve(pki: Pki, responder: Responder) -> Iterator[_Server]:
    """Serve ``responder`` over HTTPS with ``pki``'s certificate; yields the server."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.cert_file, pki.key_file)
    server = _Server(responder, context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def host_of(server: _Server) -> str:
    return f"127.0.0.1:{server.server_address[1]}"
