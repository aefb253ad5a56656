"""The HTTPS listener: ``/api/`` for clients, ``/_sim/`` for out-of-process control.

One thread per connection (``ThreadingHTTPServer``); HTTP/1.1 keep-alive like a real device.
The TLS handshake runs in the connection's thread, so a client that rejects the certificate
cannot stall the accept loop.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import re
import secrets
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from panpin.simulator import config as cfg
from panpin.simulator.api import Api, ApiRequest, ApiResponse
from panpin.simulator.device import Device
from panpin.simulator.faults import JOB_KINDS, Fault, FaultSet, RecordedRequest, RequestLog
from panpin.simulator.xmlutil import XmlInputError, error, http_error, parse_document

log = logging.getLogger("panpin.simulator")

MAX_BODY = 6 * 1024 * 1024  # PAN-OS accepts up to ~5 MB of POST body (docs/panos-api.md: transport)
REDACTED = "******"
_SECRET_IN_QS = re.compile(r"(^|&)(key|password)=[^&]*")
# The same inside a logged request line ("GET /api/?type=keygen&password=... HTTP/1.1").
_SECRET_IN_LINE = re.compile(r"([?&])(key|password)=[^&\s\"]*")
_SECRET_PARAMS = ("key", "password")

_HTML = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
)
_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Time-out",
}


@dataclass(frozen=True)
class Backend:
    """What the listener serves. The :class:`~panpin.simulator.sim.Simulator` builds one and
    hands it over, so the listener depends on these parts and never on the simulator itself."""

    api: Api
    device: Device
    faults: FaultSet
    requests: RequestLog
    control_token: str


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], backend: Backend, context: ssl.SSLContext) -> None:
        super().__init__(address, Handler, bind_and_activate=False)
        self.backend = backend
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        try:
            self.server_bind()
            self.server_activate()
        except OSError:
            self.server_close()
            raise
        self.socket = context.wrap_socket(
            self.socket, server_side=True, do_handshake_on_connect=False
        )

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._conns_lock:
            if alive:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def close_connections(self) -> None:
        """Drop every open (keep-alive) connection, as a device going away would."""
        with self._conns_lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


def _redact(params: dict[str, str]) -> dict[str, str]:
    return {k: (REDACTED if k in _SECRET_PARAMS else v) for k, v in params.items()}


def _tag_path(xml_text: str) -> str:
    """An op/commit command as its element names only (``show jobs id``): the values inside a
    command may be secrets, its element names are not."""
    try:
        root = parse_document(xml_text)
    except XmlInputError:
        return "(not XML)"
    words = [str(root.tag)]
    node = root
    while len(node) and len(words) < 8:
        node = node[0]
        if isinstance(node.tag, str):
            words.append(node.tag)
    return " ".join(words)


def summarize(params: dict[str, str]) -> str:
    """One line saying what a request asked for, for the ``-v`` log. Never a key or password:
    only the parameters named here are shown, and commands as element names."""
    parts = []
    for name in ("type", "action", "log-type", "job-id", "user", "target", "vsys"):
        if name in params:
            parts.append(f"{name}={params[name][:40]}")
    for name in ("cmd",):
        if name in params:
            parts.append(f'{name}="{_tag_path(params[name])}"')
    for name in ("xpath", "query"):
        if name in params:
            value = params[name]
            parts.append(f"{name}={value[:100]}{'...' if len(value) > 100 else ''}")
    return " ".join(parts) or "(no type)"


def _parse_multipart(content_type: str, body: bytes) -> list[tuple[str, str]]:
    """Fields of a multipart/form-data body (pan-python uses it for file imports)."""
    msg = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: list[tuple[str, str]] = []
    if not msg.is_multipart():
        return fields
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields.append((name, payload.decode("utf-8", "replace")))
    return fields


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60
    server: SimServer

    def version_string(self) -> str:
        return "PanWeb Server/ -"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Each /api/ request gets one summary line from _dispatch instead (method, what was
        # asked, answer); http.server's access line would repeat it.
        pass

    def log_message(self, format: str, *args: Any) -> None:
        # A client that sends the key or a password in the URL must not see it in our log either.
        line = _SECRET_IN_LINE.sub(lambda m: f"{m.group(1)}{m.group(2)}={REDACTED}", format % args)
        log.debug("%s %s", self.address_string(), line)

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes; with Nagle on, the body waits for the client's
        # delayed ACK of the headers (~40 ms per request on Linux loopback).
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def handle(self) -> None:
        try:
            super().handle()
        except (ssl.SSLError, ConnectionError, TimeoutError, OSError) as exc:
            log.debug("connection closed: %s", exc)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # ---- plumbing ----------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _reset(self) -> None:
        """Drop the connection with a TCP RST and no answer at all."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            self.connection.close()

    def _read_body(self) -> bytes | None:
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            return b""
        try:
            length = int(length_text)
        except ValueError:
            return None
        if length < 0 or length > MAX_BODY:
            return None
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        backend = self.server.backend
        url = urlsplit(self.path)
        body = self._read_body()
        if body is None:
            self.close_connection = True
            self._send(413, b"request too large", "text/plain")
            return
        if url.path.startswith("/_sim/"):
            self._control(method, url.path, body)
            return
        if url.path not in ("/api/", "/api") or method == "DELETE":
            self._send(404, _HTML.format(code=404, reason="Not Found").encode(), "text/html")
            return
        query_pairs = parse_qsl(url.query, keep_blank_values=True)
        form_pairs: list[tuple[str, str]] = []
        ctype = self.headers.get("Content-Type", "")
        if method == "POST" and body:
            if ctype.lower().startswith("multipart/form-data"):
                form_pairs = _parse_multipart(ctype, body)
            else:
                form_pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        params: dict[str, str] = {}
        for k, v in query_pairs + form_pairs:
            params.setdefault(k, v)
        form = dict(form_pairs)
        header_key = self.headers.get("X-PAN-KEY")
        key = header_key if header_key is not None else params.get("key")
        basic = self._basic_auth()

        fired = backend.faults.select(params)
        job_faults: list[Fault] = []
        terminal: Fault | None = None
        cut = False
        hold = 0.0
        drip: float | None = None
        for fault in fired:
            if fault.kind == "cut":
                cut = True  # the request is handled; its answer is cut off half-way
            elif fault.kind == "hold_answer":
                hold += fault.seconds
            elif fault.kind == "drip":
                drip = fault.seconds
            elif fault.kind == "delay":
                time.sleep(fault.seconds)
            elif fault.kind == "lock_by":
                self._fault_lock(fault)
            elif fault.kind == "pending_by":
                self._fault_pending(fault)
            elif fault.kind in JOB_KINDS:
                job_faults.append(fault)
            elif terminal is None:
                terminal = fault

        resp: ApiResponse | None
        if terminal is None:
            resp = backend.api.handle(ApiRequest(params, key, basic, tuple(job_faults)))
        elif terminal.kind == "reset":
            resp = None
        elif terminal.kind == "http_status":
            reason = _REASONS.get(terminal.status, "Error")
            html = _HTML.format(code=terminal.status, reason=reason).encode()
            resp = ApiResponse(terminal.status, html, "text/html")
        elif terminal.kind == "session_timeout":
            resp = ApiResponse(200, error("Session timed out", 22))
        else:  # restart: the management server refuses every key while it comes back
            resp = ApiResponse(403, http_error(403, "Invalid Credential"))

        pan_status, pan_code = resp.pan_status if resp is not None else (None, None)
        backend.requests.record(
            RecordedRequest(
                method=method,
                path=url.path,
                query_string=_SECRET_IN_QS.sub(
                    lambda m: f"{m.group(1)}{m.group(2)}={REDACTED}", url.query
                ),
                params=_redact(params),
                form=_redact(form),
                header_names=tuple(self.headers.keys()),
                has_x_pan_key=header_key is not None,
                key_in_query=any(k == "key" for k, _ in query_pairs),
                basic_auth=basic is not None,
                http_status=resp.http_status if resp is not None else None,
                status=pan_status,
                code=pan_code,
                admin=resp.admin if resp is not None else None,
                faults=tuple(f.kind for f in fired),
            )
        )
        log.debug(
            "%s %s -> %s",
            method,
            summarize(params),
            "connection reset"
            if resp is None
            else f"HTTP {resp.http_status} {pan_status or '-'}{f' code {pan_code}' if pan_code else ''}",
        )
        if resp is None:
            self._reset()
            return
        if cut:
            self._send_cut(resp)
            return
        if hold:
            time.sleep(hold)
        if drip is not None:
            self._send_drip(resp, drip)
            return
        self._send(resp.http_status, resp.body, resp.content_type)

    def _send_drip(self, resp: ApiResponse, interval: float) -> None:
        """The whole answer, status line and headers included, one byte every ``interval``."""
        head = (
            f"HTTP/1.1 {resp.http_status} OK\r\nContent-Type: {resp.content_type}\r\n"
            f"Content-Length: {len(resp.body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        self.close_connection = True
        # Ends early when the client gives up (the write fails) or the simulator stops (it shuts
        # the connection down).
        with contextlib.suppress(OSError):
            for byte in head + resp.body:
                self.wfile.write(bytes((byte,)))
                self.wfile.flush()
                time.sleep(interval)

    def _send_cut(self, resp: ApiResponse) -> None:
        """Headers for the whole answer, half of its body, then a TCP RST: a connection lost
        while the client reads (the device has done the work, e.g. deleted a finished log job)."""
        self.send_response(resp.http_status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(resp.body[: len(resp.body) // 2])
            self.wfile.flush()
        self._reset()

    def _basic_auth(self) -> tuple[str, str] | None:
        header = self.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            return None
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, sep, password = decoded.partition(":")
        return (user, password) if sep else None

    def _fault_lock(self, fault: Fault) -> None:
        self.server.backend.device.inject_config_lock(fault.admin, fault.scope)

    def _fault_pending(self, fault: Fault) -> None:
        try:
            self.server.backend.device.inject_pending_change(
                fault.admin, fault.xpath, fault.element
            )
        except cfg.ConfigError as exc:
            log.warning("pending_by fault could not apply its change: %s", exc)

    # ---- /_sim/ control ------------------------------------------------------------------------

    def _control(self, method: str, path: str, body: bytes) -> None:
        backend = self.server.backend
        token = self.headers.get("X-Sim-Token", "")
        if not secrets.compare_digest(token, backend.control_token):
            self._json(403, {"error": "bad or missing X-Sim-Token"})
            return
        if path == "/_sim/faults":
            if method == "GET":
                self._json(200, [f.describe() for f in backend.faults.armed()])
            elif method == "DELETE":
                backend.faults.clear()
                self._json(200, {"cleared": True})
            else:
                try:
                    data = json.loads(body or b"null")
                    items = data if isinstance(data, list) else [data]
                    added = []
                    for item in items:
                        if not isinstance(item, dict) or "kind" not in item:
                            raise ValueError("each fault needs a kind")
                        kw = dict(item)
                        kind = kw.pop("kind")
                        if "lines" in kw:
                            kw["lines"] = tuple(kw["lines"])
                        added.append(backend.faults.add(kind, **kw).describe())
                except (ValueError, TypeError) as exc:
                    self._json(400, {"error": str(exc)})
                    return
                self._json(200, {"added": added})
        elif path == "/_sim/requests":
            if method == "DELETE":
                backend.requests.clear()
                self._json(200, {"cleared": True})
            else:
                self._json(200, [r.as_dict() for r in backend.requests.all()])
        else:
            self._json(404, {"error": "unknown control path"})

    def _json(self, status: int, data: object) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")
