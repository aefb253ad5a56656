"""``panpin simulator serve --replay DIR``: answer from a recording (``panpin --record DIR``).

Request N gets recorded answer N, whatever it asks; what it asks is compared with recorded
request N after the same scrubbing, with the stand-ins masked (:func:`panpin.panos.record.canonical`),
and the key ignored. The first request that differs is logged, kept for :meth:`Replay.status`
(also ``GET /_replay/status``), and answered with a PAN-OS error, as is every request after it:
answers recorded for other questions would only make the run wander further off.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import shutil
import socket
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from panpin.panos import record
from panpin.simulator.tls import TlsMaterial, generate

log = logging.getLogger("panpin.simulator")

_MAX_BODY = 6 * 1024 * 1024


class Replay:
    """A replaying server on loopback; use as a context manager or :meth:`start` / :meth:`stop`."""

    def __init__(
        self,
        directory: str | Path,
        *,
        port: int = 0,
        bind: str = "127.0.0.1",
        workdir: str | Path | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.pairs = record.load(self.directory)
        if not self.pairs:
            raise ValueError(f"{self.directory}: no recording here (no NNNN-request.json)")
        self._scrub_hosts = record.scrub_hosts_of(self.directory)
        self._scrubber = record.Scrubber(scrub_hosts=self._scrub_hosts)
        self._lock = threading.Lock()
        self.served = 0
        self.mismatch: dict[str, Any] | None = None
        # Recorded change/run id → the live run's, learnt from the requests, used on the answers.
        self._renames: dict[str, str] = {}
        self._bind = bind
        self._port = port
        self._workdir_arg = Path(workdir) if workdir is not None else None
        self._workdir: Path | None = None
        self._tls: TlsMaterial | None = None
        self._server: _ReplayServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Replay:
        if self._server is not None:
            return self
        self._workdir = self._workdir_arg or Path(tempfile.mkdtemp(prefix="panpin-replay-"))
        self._tls = generate(self._workdir)
        self._server = _ReplayServer((self._bind, self._port), self, self._tls.server_context())
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="panpin-replay",
            daemon=True,
        )
        self._thread.start()
        log.info("replaying %d request(s) from %s on %s", len(self.pairs), self.directory, self.url)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._workdir_arg is None and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> Replay:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("replay is not running")
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return f"{self._bind}:{self.port}"

    @property
    def url(self) -> str:
        return f"https://{self.host}"

    @property
    def ca_file(self) -> Path:
        if self._tls is None:
            raise RuntimeError("replay is not running")
        return self._tls.ca_file

    @property
    def fingerprint(self) -> str:
        if self._tls is None:
            raise RuntimeError("replay is not running")
        return self._tls.fingerprint

    # ---- outcome -----------------------------------------------------------------------------

    @property
    def ok(self) -> bool:
        """Every recorded request was asked, each the same as recorded."""
        return self.mismatch is None and self.served == len(self.pairs)

    def status(self) -> dict[str, object]:
        with self._lock:
            return {
                "recorded": len(self.pairs),
                "served": self.served,
                "mismatch": self.mismatch,
                "ok": self.ok,
            }

    def summary(self) -> str:
        """One line (two with a difference) for stderr at the end of a replay."""
        with self._lock:
            served, recorded, found = self.served, len(self.pairs), self.mismatch
        line = f"replay: {served} of {recorded} recorded request(s) answered"
        if found is not None:
            line += f"; request {found['number']} differs: {found['reason']}"
        elif served < recorded:
            line += f"; request {served + 1} was never asked"
        else:
            line += "; every request as recorded"
        return line

    # ---- answering ---------------------------------------------------------------------------

    def answer(self, params: dict[str, str]) -> record.RecordedPair | None:
        """The recorded pair for this request, or ``None`` once a request differed."""
        with self._lock:
            if self.mismatch is not None:
                return None
            number = self.served + 1
            live = self._scrubber.params(params)[0]
            got = record.canonical(live)
            if number > len(self.pairs):
                self._differs(number, f"the recording holds only {len(self.pairs)}", got, None)
                return None
            pair = self.pairs[number - 1]
            expected = record.canonical(pair.params)
            if got != expected:
                fields = sorted(
                    name for name in set(got) | set(expected) if got.get(name) != expected.get(name)
                )
                self._differs(number, "fields " + ", ".join(fields), got, expected)
                return None
            self.served = number
            for old, new in zip(
                record.fresh_ids(pair.params),
                record.fresh_ids(live),
                strict=False,
            ):
                self._renames[old] = new
            body = pair.body
            for old, new in self._renames.items():
                body = body.replace(old.encode(), new.encode())
            return dataclasses.replace(pair, body=body)

    def _differs(
        self, number: int, reason: str, got: dict[str, str], expected: dict[str, str] | None
    ) -> None:
        self.mismatch = {"number": number, "reason": reason, "got": got, "expected": expected}
        # Scrubbed and masked on both sides: safe for stderr.
        log.error("replay: request %d differs (%s)", number, reason)
        log.error("replay:   recorded %s", json.dumps(expected, sort_keys=True))
        log.error("replay:   received %s", json.dumps(got, sort_keys=True))


class _ReplayServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], replay: Replay, context: ssl.SSLContext) -> None:
        super().__init__(address, _Handler, bind_and_activate=False)
        self.replay = replay
        try:
            self.server_bind()
            self.server_activate()
        except OSError:
            self.server_close()
            raise
        self.socket = context.wrap_socket(
            self.socket, server_side=True, do_handshake_on_connect=False
        )

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60
    server: _ReplayServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a request line may carry a key in its query string; the outcome is logged instead

    def handle(self) -> None:
        try:
            super().handle()
        except (ssl.SSLError, ConnectionError, TimeoutError, OSError) as exc:
            log.debug("connection closed: %s", exc)

    def do_GET(self) -> None:
        if urlsplit(self.path).path == "/_replay/status":
            self._send(200, json.dumps(self.server.replay.status()).encode(), "application/json")
            return
        self._api()

    def do_POST(self) -> None:
        self._api()

    def _api(self) -> None:
        split = urlsplit(self.path)
        if split.path.rstrip("/") != "/api":
            self._send(404, b"not found", "text/plain")
            return
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self._send(413, b"too large", "text/plain")
            return
        body = self.rfile.read(length) if length else b""
        if body:
            params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        pair = self.server.replay.answer(params)
        if pair is None:
            self._send(
                200,
                b'<response status="error" code="400"><msg><line>replay: this request differs'
                b" from the recording (see the replaying server's log)</line></msg></response>",
                "application/xml; charset=UTF-8",
            )
            return
        meta = pair.response
        status = pair.status
        if status is None:
            # No answer was recorded (the connection failed): fail it the same way.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        ctype = str(meta.get("content_type") or "application/xml")
        if meta.get("complete", True):
            self._send(status, pair.body, ctype)
            return
        # An answer cut short: promise more than there is, then hang up.
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(pair.body) + 1))
        self.end_headers()
        self.wfile.write(pair.body)
        self.wfile.flush()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
