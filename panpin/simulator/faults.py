"""Fault injection and the request log.

A fault matches requests by parameter (``type``, ``action``, ``log-type`` ... exactly; ``cmd``,
``xpath``, ``element``, ``query`` by substring), skips the first ``after`` matches, then fires on
the next ``times`` matches (``None`` = every one). Kinds:

``http_status``      answer HTTP ``status`` (500/502/503/504) with an HTML body, like a proxy or a
                     restarting web server would
``reset``            close the TCP connection without answering (RST)
``delay``            sleep ``seconds``, then answer normally
``hold_answer``      carry the request out, then sleep ``seconds`` before answering (the device
                     has done the work; the client is still waiting when it is stopped)
``drip``             answer one byte every ``seconds``, headers included: a device (or a path)
                     so slow that no single read times out
``session_timeout``  ``<response status="error" code="22">`` ``Session timed out``
``job_stuck``        the job this request creates stays ACT forever
``commit_fail``      the commit job this request creates ends FIN/FAIL with ``lines``
``push_device_fail`` device ``serial`` fails in the commit-all job this request creates
``lock_by``          ``admin`` takes the config lock (``scope``) just before the request runs
``pending_by``       ``admin`` makes a candidate change just before the request runs
``restart``          the management plane restarts: keys are refused with 403 (``times`` requests)
``cut``              the request is carried out, but its answer stops half-way with a TCP RST (a
                     finished log job read that way is gone, as PAN-OS deletes it once retrieved)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from panpin.simulator.scenario import FAULT_KINDS, FaultSpec

SUBSTRING_KEYS = frozenset({"cmd", "xpath", "element", "query"})
TERMINAL_KINDS = frozenset({"http_status", "reset", "session_timeout", "restart"})
JOB_KINDS = frozenset({"job_stuck", "commit_fail", "push_device_fail"})

_DEFAULT_MATCH: dict[str, dict[str, str]] = {
    "job_stuck": {"type": "commit"},
    "commit_fail": {"type": "commit"},
    "push_device_fail": {"type": "commit", "action": "all"},
}


@dataclass
class Fault:
    """One armed fault; ``fired`` counts how often it acted."""

    kind: str
    match: dict[str, str] = field(default_factory=dict)
    times: int | None = 1
    after: int = 0
    status: int = 503
    seconds: float = 1.0
    serial: str | None = None
    admin: str = "alice"
    scope: str = "shared"
    xpath: str | None = None
    element: str | None = None
    lines: tuple[str, ...] = ()
    seen: int = 0
    fired: int = 0

    def matches(self, params: dict[str, str]) -> bool:
        for key, want in self.match.items():
            have = params.get(key)
            if have is None:
                return False
            if key in SUBSTRING_KEYS:
                if want not in have:
                    return False
            elif have != want:
                return False
        return True

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times

    def describe(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "match": self.match,
            "times": self.times,
            "after": self.after,
            "fired": self.fired,
        }


class FaultSet:
    """The simulator's armed faults; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        kind: str,
        *,
        match: dict[str, str] | None = None,
        times: int | None = 1,
        after: int = 0,
        status: int = 503,
        seconds: float = 1.0,
        serial: str | None = None,
        admin: str = "alice",
        scope: str = "shared",
        xpath: str | None = None,
        element: str | None = None,
        lines: tuple[str, ...] | list[str] = (),
    ) -> Fault:
        """Arm a fault (see the module docstring for kinds and parameters)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
        if kind == "http_status" and not 400 <= status <= 599:
            raise ValueError("http_status needs a 4xx/5xx status")
        if kind == "push_device_fail" and not serial:
            raise ValueError("push_device_fail needs serial=")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for every match)")
        fault = Fault(
            kind=kind,
            match=dict(match) if match is not None else dict(_DEFAULT_MATCH.get(kind, {})),
            times=times,
            after=after,
            status=status,
            seconds=seconds,
            serial=serial,
            admin=admin,
            scope=scope,
            xpath=xpath,
            element=element,
            lines=tuple(lines),
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def add_spec(self, spec: FaultSpec) -> Fault:
        return self.add(
            spec.kind,
            match=spec.match or None,
            times=spec.times,
            after=spec.after,
            status=spec.status,
            seconds=spec.seconds,
            serial=spec.serial,
            admin=spec.admin,
            scope=spec.scope,
            xpath=spec.xpath,
            element=spec.element,
            lines=spec.lines,
        )

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._faults)

    def armed(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def select(self, params: dict[str, str]) -> list[Fault]:
        """Faults that fire for this request, in the order they were armed (counts updated)."""
        fired: list[Fault] = []
        with self._lock:
            for fault in self._faults:
                if fault.exhausted or not fault.matches(params):
                    continue
                fault.seen += 1
                if fault.seen <= fault.after:
                    continue
                fault.fired += 1
                fired.append(fault)
        return fired


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the simulator received it; secrets (``key``, ``password``) redacted."""

    method: str
    path: str
    query_string: str
    params: dict[str, str]
    form: dict[str, str]
    header_names: tuple[str, ...]
    has_x_pan_key: bool
    key_in_query: bool
    basic_auth: bool
    http_status: int | None
    status: str | None
    code: str | None
    admin: str | None
    faults: tuple[str, ...]
    time: float = field(default_factory=time.time)

    @property
    def type(self) -> str | None:
        return self.params.get("type")

    @property
    def action(self) -> str | None:
        return self.params.get("action")

    @property
    def cmd(self) -> str | None:
        return self.params.get("cmd")

    def as_dict(self) -> dict[str, object]:
        return {
            "method": self.method,
            "path": self.path,
            "query_string": self.query_string,
            "params": self.params,
            "form": self.form,
            "header_names": list(self.header_names),
            "has_x_pan_key": self.has_x_pan_key,
            "key_in_query": self.key_in_query,
            "basic_auth": self.basic_auth,
            "http_status": self.http_status,
            "status": self.status,
            "code": self.code,
            "admin": self.admin,
            "faults": list(self.faults),
            "time": self.time,
        }


class RequestLog:
    """Every ``/api/`` request the simulator received, in order; thread-safe.

    The listener appends and tests read, from different threads, so both go through one lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def all(self) -> list[RecordedRequest]:
        """A copy, so a reader never sees the list change under it."""
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
