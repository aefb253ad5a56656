"""THE transport: the only module of panpin that talks HTTP to a firewall or Panorama.

Contract:

* every call is a POST with a form body to ``https://HOST[:PORT]/api/``; the API key travels in the
  ``X-PAN-KEY`` header, never in a URL, a log line or an exception message;
* TLS is verified by default (system CAs or ``ca_file``); ``fingerprint`` pins the device
  certificate by SHA-256 instead of a CA (the usual case for a self-signed management certificate);
  ``insecure`` disables verification and warns on stderr every time a client is built;
* one tenacity retry policy, for transient faults only (connection errors, HTTP 502/503/504, PAN-OS
  code 22, "another commit/validate is in progress"), with exponential backoff, jitter and an overall
  deadline. A request that is not idempotent (a commit) is retried only when it provably never
  reached the device (the TCP/TLS connection was not established);
* the ``<response status code>`` envelope is parsed with a hardened lxml parser (no entities, no
  DTD, no network, no huge trees) and a maximum response size; errors become the classes of
  :mod:`panpin.errors` through its code table.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import requests
import tenacity
import urllib3
from lxml import etree
from requests.adapters import HTTPAdapter

from panpin import errors
from panpin.panos.record import Recorder, recorder_for
from panpin.panos.timing import RetryPolicy

log = logging.getLogger("panpin.panos.xmlapi")

_R = TypeVar("_R")

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Connection:
    """Everything needed to reach one device. ``repr`` masks the key."""

    host: str
    api_key: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    fingerprint: str | None = None
    insecure: bool = False
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    # One request in all, headers and body (the read timeout is per socket read).
    request_deadline: float = 300.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # ``--record DIR``: every request and answer, scrubbed, written there (panpin.panos.record).
    record_dir: str | None = None
    record_scrub_hosts: bool = False
    # The admin the key belongs to, when the settings name one: only for messages.
    user: str | None = None

    def __repr__(self) -> str:
        key = "***" if self.api_key else None
        return (
            f"Connection(host={self.host!r}, api_key={key!r}, ca_file={self.ca_file!r}, "
            f"fingerprint={self.fingerprint!r}, insecure={self.insecure!r})"
        )

    @property
    def url(self) -> str:
        host = self.host
        if "://" in host:
            host = host.split("://", 1)[1]
        host = host.rstrip("/")
        return f"https://{host}/api/"


def hardened_parser(*, huge_tree: bool = False) -> etree.XMLParser:
    """An lxml parser that never resolves entities, loads a DTD or touches the network."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=huge_tree,
        remove_comments=True,
        remove_pis=True,
    )


def parse_xml(data: bytes) -> etree._Element:
    """Parse a PAN-OS answer, refusing DTDs (billion laughs, XXE) and malformed XML."""
    # PAN-OS never sends a DTD. Refusing one before the parser sees it gives one clear error for
    # every entity trick, instead of whichever of libxml2's limits it happens to hit first.
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise errors.ResponseError("the device sent XML with a DTD; refused")
    try:
        root = etree.fromstring(data, parser=hardened_parser())
    except etree.XMLSyntaxError as exc:
        raise errors.ResponseError(f"the device sent malformed XML: {exc}") from None
    docinfo: Any = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise errors.ResponseError("the device sent XML with a DTD; refused")
    return root


def _lines(node: etree._Element) -> list[str]:
    """Text of a message node: its ``line`` leaves (nested or CDATA), else its own text."""
    lines = [
        _text(line).strip()
        for line in node.iter("line")
        if not any(child.tag == "line" for child in line)
    ]
    lines = [line for line in lines if line]
    if lines:
        return lines
    text = _text(node).strip()
    return [text] if text else []


def _text(node: etree._Element) -> str:
    return "".join(str(part) for part in node.itertext())


def response_messages(root: etree._Element) -> tuple[str, ...]:
    """Every message of an envelope, from the shapes pan-python knows, in its order."""
    for path in ("msg", "result/msg", "result/job/details"):
        node = root.find(path)
        if node is not None:
            lines = _lines(node)
            if lines:
                return tuple(lines)
    result = root.find("result")
    if result is not None and len(result) == 0 and result.text and result.text.strip():
        # Lock operations answer with bare text in <result>.
        return (result.text.strip(),)
    return ()


@dataclass(frozen=True)
class ApiResponse:
    """A successful PAN-OS answer. ``code`` is ``None`` when the device sent none."""

    root: etree._Element
    status: str
    code: int | None
    messages: tuple[str, ...]

    @property
    def result(self) -> etree._Element | None:
        return self.root.find("result")

    @property
    def message(self) -> str:
        return " ".join(self.messages)

    @property
    def job_id(self) -> str | None:
        node = self.root.find("result/job")
        if node is not None and node.text and node.text.strip():
            return node.text.strip()
        return None

    @property
    def not_present(self) -> bool:
        """``action=get`` of a node that does not exist: success with code 7."""
        return self.code == 7


def _code_of(root: etree._Element) -> int | None:
    raw = root.get("code")
    if raw is None:
        return None
    try:
        return int(raw.strip())
    except ValueError:
        return None


def check_envelope(root: etree._Element, http_status: int | None = None) -> ApiResponse:
    """Turn a parsed envelope into an :class:`ApiResponse` or raise the mapped error."""
    if root.tag != "response":
        raise errors.ResponseError(f"unexpected root element <{root.tag}> (expected <response>)")
    status = (root.get("status") or "").strip()
    code = _code_of(root)
    messages = response_messages(root)
    if status == "success":
        return ApiResponse(root=root, status=status, code=code, messages=messages)
    message = " ".join(messages) or f"PAN-OS answered status={status!r} without a message"
    raise errors.api_error_for(message, code, http_status)


# Which failures are worth another attempt. Commit in progress and session timeouts mean the
# device refused the request before doing anything, so retrying is safe even for a commit.
_TRANSIENT = (
    errors.ConnectError,
    errors.ServerUnavailable,
    errors.SessionTimedOut,
    errors.CommitInProgress,
)


@dataclass
class _Pending:
    """A recorded request whose answer is still being read."""

    number: int
    chunks: list[bytes] = field(default_factory=list)
    complete: bool = False


class NotSent(errors.ConnectError):
    """The connection failed before the request could reach the device."""


class NameNotResolved(NotSent):
    """The device's name does not resolve (DNS): asking again in a second will not help."""


class ConnectionRefused(NotSent):
    """Nothing listens at the device's address and port (TCP reset to the connect)."""


# The watchdog of the request a thread is making, so the connection that carries the request can
# hand itself to it (the watchdog's timer runs on a thread of its own).
_current = threading.local()


class _TrackedConnection(urllib3.connection.HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        super().request(*args, **kwargs)
        watchdog = getattr(_current, "watchdog", None)
        if watchdog is not None:
            # The socket itself, not the connection: for an answer that closes the connection,
            # http.client hands the socket to the response and forgets it.
            watchdog.sock = self.sock


class _TrackedPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _TrackedConnection


class _Adapter(HTTPAdapter):
    """requests' adapter, with connections a request's watchdog can find."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            **self.poolmanager.pool_classes_by_scheme,
            "https": _TrackedPool,
        }


class _FingerprintAdapter(_Adapter):
    """Pins the device certificate by SHA-256 (urllib3 ``assert_fingerprint``) instead of a CA."""

    def __init__(self, fingerprint: str) -> None:
        self._fingerprint = fingerprint
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["assert_fingerprint"] = self._fingerprint
        super().init_poolmanager(*args, **kwargs)


class _Watchdog:
    """Cuts off a request (headers and body) that outlives ``seconds`` in all.

    The read timeout is per socket read; a device or path that trickles its answer would hold a
    run (and the device's config lock) for ever. When the deadline passes, the connection in use
    is shut down, the blocked read returns, and the request fails with :class:`DeviceTooSlow`.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.fired = False
        self.sock: socket.socket | None = None
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def start(self) -> None:
        _current.watchdog = self
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        sock = self.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                # socket.socket's own shutdown, under TLS too: it ends the blocked read at the
                # OS level without unwrapping TLS under the reading thread's feet.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def stop(self) -> None:
        self._timer.cancel()
        if getattr(_current, "watchdog", None) is self:
            _current.watchdog = None


def normalise_fingerprint(value: str) -> str:
    """``AB:CD:…`` or ``abcd…`` → 64 lower-case hex digits; anything else is a settings error."""
    cleaned = value.replace(":", "").replace(" ", "").strip().lower()
    if cleaned.startswith("sha256/"):
        cleaned = cleaned[len("sha256/") :]
    if len(cleaned) != 64 or any(c not in "0123456789abcdef" for c in cleaned):
        raise errors.SettingsError(
            "--fingerprint must be the SHA-256 of the device certificate (64 hex digits)"
        )
    return cleaned


def certificate_expiry(conn: Connection) -> datetime:
    """When the device's TLS certificate ends (UTC), read from a handshake of its own.

    The certificate is only read here, not judged: whether it is trusted is what every API
    request checks (CA or fingerprint). :class:`~panpin.errors.ConnectError` when the device
    cannot be reached.
    """
    from cryptography import x509

    target = conn.url.split("://", 1)[1].split("/", 1)[0]
    if target.startswith("["):  # [IPv6]:PORT
        host, _, rest = target[1:].partition("]")
        port = rest.lstrip(":")
    elif target.count(":") == 1:
        host, _, port = target.partition(":")
    else:
        host, port = target, ""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # read, not trust: see above
    try:
        with (
            socket.create_connection((host, int(port or 443)), timeout=conn.connect_timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as exc:
        raise errors.ConnectError(f"{conn.host}: cannot read the TLS certificate: {exc}") from None
    if not der:
        raise errors.TLSError(f"{conn.host}: the device sent no TLS certificate")
    return x509.load_der_x509_certificate(der).not_valid_after_utc


class XmlApi:
    """A client for one device. Thread-safe for sequential use per thread only; make one per device."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._session = requests.Session()
        self._session.headers["User-Agent"] = "panpin"
        self._session.trust_env = False  # no proxy or netrc surprises from the environment
        self._session.mount("https://", _Adapter())
        if conn.fingerprint:
            fingerprint = normalise_fingerprint(conn.fingerprint)
            self._session.mount("https://", _FingerprintAdapter(fingerprint))
            self._session.verify = False  # the fingerprint replaces the CA check
        elif conn.insecure:
            self._session.verify = False
            sys.stderr.write(
                f"panpin: warning: TLS verification is disabled for {conn.host} (--insecure); "
                "anyone on the path can read the API key. Use --ca-file or --fingerprint.\n"
            )
        else:
            self._session.verify = conn.ca_file if conn.ca_file else True
        self.request_count = 0
        self._persist = False
        # Whether the device has answered once in this session. Before, a refused connection is
        # a wrong host or port far more often than a restart: it fails at once instead of
        # spending ~17 s on retries. After, it is a management plane restarting: retried.
        self._answered = False
        self._watchdogs: weakref.WeakKeyDictionary[requests.Response, _Watchdog] = (
            weakref.WeakKeyDictionary()
        )
        # Set by a run (Session.run): no new request after it, except the clean-up and the
        # following of a commit job (persisting()), which must never be cut short.
        self.run_deadline: float | None = None
        self.recorder: Recorder | None = None
        if conn.record_dir:
            self.recorder = recorder_for(conn.record_dir, scrub_hosts=conn.record_scrub_hosts)
            self.recorder.forget(conn.api_key)
        # The recording of each open response: its number and the chunks read so far.
        self._recording: weakref.WeakKeyDictionary[requests.Response, _Pending] = (
            weakref.WeakKeyDictionary()
        )

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> XmlApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- low level ---------------------------------------------------------------------------

    def _headers(self, with_key: bool) -> dict[str, str]:
        if not with_key:
            return {}
        if not self.conn.api_key:
            raise errors.SettingsError(
                "no API key: set PANPIN_API_KEY, use --api-key-file, or run `panpin login`"
            )
        return {"X-PAN-KEY": self.conn.api_key}

    def _send(
        self, params: Mapping[str, str], *, with_key: bool, timeout: float | None
    ) -> requests.Response:
        """POST once and return the (streaming) response; transport failures become panpin errors."""
        read_timeout = timeout if timeout is not None else self.conn.read_timeout
        self.request_count += 1
        what = _describe(params)
        log.debug("POST %s %s", self.conn.url, what)
        self._check_run_deadline(what)
        headers = self._headers(with_key)
        number = self.recorder.request("POST", "/api/", params) if self.recorder else None
        watchdog = _Watchdog(self.conn.request_deadline)
        with warnings.catch_warnings():
            # Our own warning for --insecure is printed once per client; urllib3's per-request
            # warning would only add noise to cron mail.
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            watchdog.start()
            try:
                response = self._post(params, headers, read_timeout, what)
                self._watchdogs[response] = watchdog
                if number is not None:
                    self._recording[response] = _Pending(number)
            except BaseException as exc:
                watchdog.stop()
                if number is not None and self.recorder is not None:
                    self.recorder.failure(number, self._too_slow(what) if watchdog.fired else exc)
                if watchdog.fired:
                    raise self._too_slow(what) from None
                raise
        if 300 <= response.status_code < 400:
            # Checked before any body is read: a redirect's body may well be a PAN-OS-looking
            # <response status="success">, and it must not count as the device's answer.
            location = response.headers.get("Location")
            self._close(response)
            raise self._redirect(response.status_code, location, what)
        return response

    def _redirect(self, status: int, location: str | None, what: str) -> errors.RedirectRefused:
        # The Location is text from whoever redirected; shown cut and escaped, never followed.
        shown = repr(location[:200]) if location else "no Location"
        return errors.RedirectRefused(
            f"{self.conn.host}: HTTP {status} redirect to {shown} answering {what}; panpin never "
            "follows redirects (the XML API answers at /api/ itself): check the host, or a proxy "
            "in between",
            status,
            location,
        )

    def _too_slow(self, what: str) -> errors.DeviceTooSlow:
        return errors.DeviceTooSlow(
            f"{self.conn.host}: no whole answer within {self.conn.request_deadline:g}s "
            f"({what}); the device or the path to it is too slow"
        )

    def _close(self, response: requests.Response) -> None:
        """Close a response and stop its watchdog."""
        watchdog = self._watchdogs.pop(response, None)
        if watchdog is not None:
            watchdog.stop()
        response.close()
        pending = self._recording.pop(response, None)
        if pending is not None and self.recorder is not None:
            self.recorder.response(
                pending.number,
                response.status_code,
                response.headers.get("Content-Type", ""),
                b"".join(pending.chunks),
                complete=pending.complete,
            )

    def _post(
        self, params: Mapping[str, str], headers: dict[str, str], read_timeout: float, what: str
    ) -> requests.Response:
        try:
            answer = self._session.post(
                self.conn.url,
                data=dict(params),
                headers=headers,
                timeout=(self.conn.connect_timeout, read_timeout),
                stream=True,
                # A 3xx is an error (_send); max_redirects=0 is no substitute: requests then
                # raises TooManyRedirects even here, losing the status and the Location.
                allow_redirects=False,
            )
            self._answered = True
            return answer
        except requests.exceptions.SSLError as exc:
            raise errors.TLSError(_tls_message(self.conn, exc)) from None
        except requests.exceptions.ConnectTimeout:
            raise NotSent(f"{self.conn.host}: connection timed out ({what})") from None
        except requests.exceptions.ConnectionError as exc:
            if _never_connected(exc):
                cause = _root_cause(exc)
                if _is_dns_failure(exc):
                    raise NameNotResolved(
                        f"{self.conn.host}: the name does not resolve (DNS: {cause}); check the "
                        "host name"
                    ) from None
                if "refused" in cause.lower():
                    hint = (
                        ""
                        if self._answered
                        else "; check the host and port (the management interface's HTTPS)"
                    )
                    raise ConnectionRefused(
                        f"{self.conn.host}: cannot connect: connection refused ({what}: "
                        f"{cause}){hint}"
                    ) from None
                raise NotSent(
                    f"{self.conn.host}: cannot connect: connection failed ({what}: {cause})"
                ) from None
            raise errors.ConnectError(
                f"{self.conn.host}: connection lost during {what}: {_root_cause(exc)}"
            ) from None
        except requests.exceptions.Timeout:
            raise errors.ConnectError(
                f"{self.conn.host}: no answer within {read_timeout:g}s ({what})"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise errors.TransportError(f"{self.conn.host}: {what}: {_root_cause(exc)}") from None

    def _chunks(self, response: requests.Response) -> Generator[bytes, None, None]:
        """The body as chunks; a connection lost mid-body is a (transient) ConnectError.

        Never more than ``max_response_bytes`` in all, streamed or not: an endless answer would
        otherwise hold a run forever, and a reader that keeps a page whole (log pages are parsed in
        batches) would hold it in memory.
        """
        limit = self.conn.max_response_bytes
        size = 0
        # Tee for --record: what the caller reads is what is recorded, streamed or not.
        pending = self._recording.get(response)
        try:
            for chunk in response.iter_content(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise errors.ResponseError(f"response exceeds the {limit}-byte limit; refused")
                if pending is not None:
                    pending.chunks.append(chunk)
                yield chunk
            if pending is not None:
                pending.complete = True
            watchdog = self._watchdogs.get(response)
            if watchdog is not None and watchdog.fired:
                # The cut connection can also look like an ordinary (short) end of the body.
                raise self._too_slow("reading the answer")
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as exc:
            watchdog = self._watchdogs.get(response)
            if watchdog is not None and watchdog.fired:
                raise self._too_slow("reading the answer") from None
            raise errors.ConnectError(
                f"{self.conn.host}: connection lost while reading the answer: {_root_cause(exc)}"
            ) from None

    def _read_body(self, response: requests.Response) -> bytes:
        limit = self.conn.max_response_bytes
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise errors.ResponseError(
                f"response of {int(declared)} bytes exceeds the {limit}-byte limit; refused"
            )
        return b"".join(self._chunks(response))

    def _once(
        self, params: Mapping[str, str], *, with_key: bool, timeout: float | None
    ) -> ApiResponse:
        response = self._send(params, with_key=with_key, timeout=timeout)
        try:
            body = self._read_body(response)
        finally:
            self._close(response)
        return self._interpret(body, response.status_code)

    def _interpret(self, body: bytes, http_status: int) -> ApiResponse:
        if 300 <= http_status < 400:
            # _send refuses these first; kept so no path can take a 3xx body for an answer.
            raise self._redirect(http_status, None, "a request")
        if http_status in errors.HTTP_STATUS_CLASSES:
            raise errors.HTTP_STATUS_CLASSES[http_status](
                f"{self.conn.host}: HTTP {http_status} (management plane busy or restarting)",
                http_status,
            )
        looks_xml = body.lstrip()[:1] == b"<" and b"<response" in body[:4096]
        if http_status != 200 and not looks_xml:
            raise errors.HTTPStatusError(f"{self.conn.host}: HTTP {http_status}", http_status)
        root = parse_xml(body)
        try:
            return check_envelope(root, http_status if http_status != 200 else None)
        except errors.CredentialRefused as exc:
            raise self._refused(str(exc), exc) from None
        except errors.AuthError as exc:
            # Which device refused which key: a fleet run has many of both.
            raise type(exc)(
                f"{self.conn.host}: {exc}", code=exc.code, http_status=exc.http_status
            ) from None

    def _refused(self, said: str, exc: errors.ApiError) -> errors.CredentialRefused:
        # Which device refused whose key, and the way to a new one (a fleet has many of both).
        host = self.conn.host
        user = self.conn.user
        whose = f"the API key of admin {user!r}" if user else "the API key"
        return errors.CredentialRefused(
            f"{host}: the device refused {whose} ({said}): it is wrong, revoked, or generated "
            f"on another device; make a new one with `panpin login --host {host} --user "
            f"{user or 'USER'}` and pass it with --api-key-file or PANPIN_API_KEY",
            code=exc.code,
            http_status=exc.http_status,
        )

    def _check_run_deadline(self, what: str) -> None:
        late = self.run_deadline is not None and time.monotonic() > self.run_deadline
        if late and not self._persist:
            raise errors.RunDeadline(
                f"{self.conn.host}: the run's deadline has passed; not sending {what}"
            )

    @contextmanager
    def persisting(self) -> Iterator[None]:
        """Within the block, reads use the ``persist`` retry profile (see :meth:`_retrying`).

        For the clean-up and verification steps of a change (revert, job polls after a commit,
        reading the running list back): they run when something already failed, and leaving the
        device half-changed costs far more than a few more requests. A management plane that
        restarts refuses keys (403) or answers HTTP 500 for a while, then answers again.
        Requests that may change the device keep their own profile: a commit is never re-sent.
        """
        saved = self._persist
        self._persist = True
        try:
            yield
        finally:
            self._persist = saved

    def _retrying(self, idempotent: bool) -> tenacity.Retrying:
        """The one retry policy, in three named profiles:

        * ``read`` (idempotent requests): transient network faults and answers that say the
          device did nothing (busy, session timed out);
        * ``change`` (a request that may change the device, such as a commit): only a failure
          that proves the request never reached the device, or an answer that says nothing was
          done; anything else is settled by the caller, never by sending it again;
        * ``persist`` (reads inside :meth:`persisting`): any device error except a TLS failure.
        """
        policy = self.conn.retry
        retry: tenacity.retry_base
        if not idempotent:
            # A commit refused with "commit in progress" / "session timed out" did nothing.
            retry = tenacity.retry_if_exception_type(
                (NotSent, errors.CommitInProgress, errors.SessionTimedOut)
            )
        elif self._persist:
            retry = tenacity.retry_if_exception_type(
                errors.PanpinError
            ) & tenacity.retry_if_not_exception_type(errors.TLSError)
        else:
            retry = tenacity.retry_if_exception_type(_TRANSIENT)
        # A name that does not resolve stays unresolved: never retried, whatever the profile.
        retry = retry & tenacity.retry_if_not_exception_type(NameNotResolved)
        # Refused before the device ever answered: a wrong address, not a restart (__init__).
        retry = retry & tenacity.retry_if_exception(
            lambda exc: self._answered or not isinstance(exc, ConnectionRefused)
        )
        return tenacity.Retrying(
            retry=retry,
            stop=(
                tenacity.stop_after_attempt(policy.attempts)
                | tenacity.stop_after_delay(policy.deadline)
            ),
            wait=tenacity.wait_exponential_jitter(
                initial=policy.initial, max=policy.maximum, jitter=policy.jitter
            ),
            before_sleep=_log_retry,
            reraise=True,
        )

    def request(
        self,
        params: Mapping[str, str],
        *,
        idempotent: bool = True,
        with_key: bool = True,
        timeout: float | None = None,
    ) -> ApiResponse:
        """One API call with the retry policy; returns the success envelope or raises."""
        for attempt in self._retrying(idempotent):
            with attempt:
                return self._once(params, with_key=with_key, timeout=timeout)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    def read_stream(
        self,
        params: Mapping[str, str],
        consume: Callable[[Iterator[bytes]], _R],
        *,
        timeout: float | None = None,
    ) -> _R:
        """POST and hand the body, as it arrives, to ``consume``; return what it returns.

        For large answers (log pages) parsed as they arrive. The whole of it — sending, the HTTP
        status, reading the body through ``consume`` — is one attempt of the retry policy, so a
        connection lost half-way through the body is asked again like any transient fault; a
        ``consume`` that hands on what it read must tolerate seeing it twice (the log reader
        drops entries it has seen by their id). The PAN-OS envelope is ``consume``'s to check
        (see :func:`iterparse`).
        """
        for attempt in self._retrying(True):
            with attempt:
                response = self._send(params, with_key=True, timeout=timeout)
                try:
                    if response.status_code != 200:
                        self._interpret(self._read_body(response), response.status_code)
                    chunks = self._chunks(response)
                    try:
                        return consume(chunks)
                    finally:
                        # Now, not when collected: the recording is written on close.
                        chunks.close()
                finally:
                    self._close(response)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    # --- API verbs -----------------------------------------------------------------------------

    def keygen(self, user: str, password: str) -> str:
        """``type=keygen``: a new API key. PAN-OS may end the user's other sessions; call it once."""
        try:
            response = self.request(
                {"type": "keygen", "user": user, "password": password}, with_key=False
            )
        except errors.CredentialRefused as exc:
            raise errors.CredentialRefused(
                f"{self.conn.host}: the device refused user {user!r} with that password "
                "(Invalid Credential): check both (PAN-OS locks an admin out after repeated "
                "failures), then run `panpin login` again",
                code=exc.code,
                http_status=exc.http_status,
            ) from None
        key = response.root.findtext("result/key")
        if not key:
            raise errors.ResponseError("keygen answered success without a key")
        return key.strip()

    def op(self, cmd: str, *, vsys: str | None = None) -> ApiResponse:
        params = {"type": "op", "cmd": cmd}
        if vsys:
            params["vsys"] = vsys
        return self.request(params)

    def config(
        self, action: str, xpath: str, element: str | None = None, *, idempotent: bool = True
    ) -> ApiResponse:
        params = {"type": "config", "action": action, "xpath": xpath}
        if element is not None:
            params["element"] = element
        return self.request(params, idempotent=idempotent)

    def commit(self, cmd: str, *, action: str | None = None) -> str | None:
        """Start a commit (or push with ``action="all"``); the job id, or ``None`` if nothing to do.

        Never retried once the request may have reached the device: a duplicate commit is not
        harmless on a production firewall.
        """
        params = {"type": "commit", "cmd": cmd}
        if action:
            params["action"] = action
        response = self.request(params, idempotent=False)
        return response.job_id

    def log_start(
        self,
        log_type: str,
        query: str,
        *,
        nlogs: int,
        skip: int = 0,
        direction: str = "forward",
    ) -> str:
        params = {
            "type": "log",
            "log-type": log_type,
            "nlogs": str(nlogs),
            "skip": str(skip),
            "dir": direction,
        }
        if query:
            params["query"] = query
        response = self.request(params)
        job = response.job_id
        if not job:
            raise errors.ResponseError("log query answered success without a job id")
        return job

    def log_finish(self, job_id: str) -> None:
        """``action=finish``: delete a log job we no longer want (best effort, never raises)."""
        try:
            self._once(
                {"type": "log", "action": "finish", "job-id": job_id},
                with_key=True,
                timeout=self.conn.connect_timeout,
            )
        except errors.PanpinError as exc:
            log.debug("cancelling log job %s failed: %s", job_id, exc)


def iterparse(chunks: Iterator[bytes], *, tags: tuple[str, ...]) -> Iterator[etree._Element]:
    """Parse a streamed ``<response>`` as it arrives; yield each element of ``tags`` as it starts.

    The root's ``status`` is checked as soon as the root opens; on an error envelope the rest is
    read (bounded by the stream) and the mapped exception raised. The root itself is not
    yielded. An element is yielded when its start tag has been read: its content may still be
    on the way. It is complete once a later element of ``tags`` starts outside it, or once this
    iterator is exhausted (the whole answer was well-formed); the consumer tells which
    (:func:`panpin.scan.logs.read_page`) and frees what it is done with.

    Why start events only: with ``end`` events lxml runs an extra callback, under the GIL, for
    the end tag of every element of the page (~70 per log entry, whatever the tag filter),
    which costs more than a third of the tree building itself.
    """
    parser = etree.XMLPullParser(
        events=("start",),
        # Filter events in C: a log page has ~70 fields per entry, and a Python loop over every
        # one of their events costs more than the parse itself. The root is always included so
        # its status can be checked as soon as it opens.
        tag=("response", *tags),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    root: etree._Element | None = None
    error_envelope = False
    wanted = frozenset(tags)
    # The last bytes seen, so a declaration split across two chunks is still seen.
    tail = b""
    seam = len(b"<!DOCTYPE") - 1
    closed: object = None
    try:
        for chunk in iter_then_close(chunks):
            if chunk is None:
                closed = parser.close()
            else:
                # Each chunk is searched, and the seam with the previous one (a declaration cut in
                # two lies within its last bytes and this chunk's first), without joining them.
                # A declaration starts "<!": a chunk without "!" holds none, and that test is a
                # memchr, where the two nine-byte searches cost ~1.7 µs per log entry.
                window = tail + chunk[:seam] if tail else chunk
                if (b"!" in chunk or b"!" in window) and (
                    b"<!DOCTYPE" in chunk
                    or b"<!ENTITY" in chunk
                    or b"<!DOCTYPE" in window
                    or b"<!ENTITY" in window
                ):
                    raise errors.ResponseError("the device sent XML with a DTD; refused")
                tail = (tail + chunk)[-seam:] if len(chunk) < seam else chunk[-seam:]
                parser.feed(chunk)
            for _event, element in parser.read_events():
                if not isinstance(element, etree._Element):
                    continue  # start events are elements only (the stubs allow namespaces)
                if root is None:
                    root = element
                    if root.tag != "response":
                        raise errors.ResponseError(f"unexpected root element <{root.tag}>")
                    error_envelope = (root.get("status") or "").strip() != "success"
                elif not error_envelope and element.tag in wanted:
                    yield element
    except etree.XMLSyntaxError as exc:
        raise errors.ResponseError(f"the device sent malformed XML: {exc}") from None
    if root is None:
        if isinstance(closed, etree._Element):
            # The tag filter hides any root but <response>; name it for the error.
            raise errors.ResponseError(f"unexpected root element <{closed.tag}>")
        raise errors.ResponseError("the device sent an empty answer")
    if error_envelope:
        check_envelope(root)


def iter_then_close(chunks: Iterator[bytes]) -> Iterator[bytes | None]:
    """``chunks``, then ``None``: the point where the parser is closed and its last events read."""
    yield from chunks
    yield None


def _describe(params: Mapping[str, str]) -> str:
    """A log-safe summary of a request: never the key, password or element contents."""
    parts = [f"type={params.get('type', '?')}"]
    for name in ("action", "log-type", "job-id"):
        if name in params:
            parts.append(f"{name}={params[name]}")
    if "cmd" in params:
        parts.append(f"cmd={_first_tag(params['cmd'])}")
    if "xpath" in params:
        parts.append(f"xpath={params['xpath']}")
    return " ".join(parts)


def _first_tag(cmd: str) -> str:
    # The first two element names are enough to tell "show jobs" from "commit" in a log line.
    names: list[str] = []
    for part in cmd.split("<")[1:]:
        name = part.split(">", 1)[0].split(" ", 1)[0]
        if name and not name.startswith("/"):
            names.append(name)
        if len(names) == 2:
            break
    return "/".join(names) or "?"


def _root_cause(exc: BaseException) -> str:
    seen = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        nxt = seen.__cause__ or seen.__context__
        assert nxt is not None
        seen = nxt
    text = str(seen) or type(seen).__name__
    return text[:300]


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    """True when the TCP connection was never established, so the request cannot have been sent."""
    inner: BaseException | None = exc.args[0] if exc.args else None
    reason = getattr(inner, "reason", None)
    return isinstance(
        reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError
    ) or isinstance(inner, urllib3.exceptions.NewConnectionError)


def _is_dns_failure(exc: BaseException) -> bool:
    """A ``socket.gaierror`` anywhere in the cause chain (urllib3 wraps it as NameResolutionError)."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, socket.gaierror) or type(item).__name__ == "NameResolutionError":
            return True
        stack.extend([item.__cause__, item.__context__, getattr(item, "reason", None)])
        stack.extend(a for a in item.args if isinstance(a, BaseException))
    return False


def _tls_message(conn: Connection, exc: BaseException) -> str:
    cause = _root_cause(exc)
    if "Fingerprints did not match" in cause or "fingerprint" in cause.lower():
        return (
            f"{conn.host}: the device certificate does not match --fingerprint; refusing to "
            "connect (was the certificate replaced, or is something in the path?)"
        )
    hint = "pass --ca-file with the CA that signed the management certificate, or --fingerprint"
    return f"{conn.host}: TLS certificate verification failed ({cause}); {hint}"


def _log_retry(state: tenacity.RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    log.warning("retrying after %s (attempt %d, next in %.1fs)", exc, state.attempt_number, wait)


def sleep(seconds: float) -> None:
    """Indirection so pollers can be sped up in tests without touching global time."""
    time.sleep(seconds)
