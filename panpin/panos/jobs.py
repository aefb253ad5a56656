"""Polling PAN-OS jobs (commit, commit-all push) to completion, with a deadline and backoff.

``show jobs id`` answers ``status`` ACT/PEND/FIN and ``result`` PEND/OK/FAIL; a ``CommitAll`` job
also lists every device with its own result. Success needs the job's result OK **and** every
device's result OK (pan-os-python ``_parse_job_results``); pango keeps polling while any device is
still PEND, and so do we.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from lxml import etree

from panpin import errors
from panpin.panos.timing import Backoff
from panpin.panos.xmlapi import XmlApi, _lines

_S = TypeVar("_S")


@dataclass(frozen=True)
class DeviceResult:
    serial: str
    name: str
    status: str
    result: str
    details: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.result.upper() == "OK"


@dataclass(frozen=True)
class JobStatus:
    job_id: str
    type: str
    status: str
    result: str
    progress: str
    details: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    devices: tuple[DeviceResult, ...] = field(default=())

    @property
    def finished(self) -> bool:
        if self.status.upper() != "FIN":
            return False
        # A push is over only when no device is still pending (pango WaitForJob).
        return not any(d.result.upper() in ("PEND", "") for d in self.devices)

    @property
    def ok(self) -> bool:
        return self.result.upper() == "OK" and all(d.ok for d in self.devices)

    @property
    def failed_devices(self) -> tuple[DeviceResult, ...]:
        return tuple(d for d in self.devices if not d.ok)


def _text(node: etree._Element | None, path: str) -> str:
    if node is None:
        return ""
    return (node.findtext(path) or "").strip()


def parse_job(root: etree._Element, job_id: str) -> JobStatus:
    """Read a ``show jobs id`` answer (shapes from the reference samples)."""
    job = root.find("result/job")
    if job is None:
        raise errors.ResponseError(f"show jobs id {job_id}: answer without <job>")
    details_node = job.find("details")
    warnings_node = job.find("warnings")
    devices: list[DeviceResult] = []
    for entry in job.iterfind("devices/entry"):
        dev_details = entry.find("details")
        devices.append(
            DeviceResult(
                serial=_text(entry, "serial-no") or _text(entry, "serial"),
                name=_text(entry, "devicename") or entry.get("name", ""),
                status=_text(entry, "status"),
                result=_text(entry, "result"),
                details=tuple(_lines(dev_details)) if dev_details is not None else (),
            )
        )
    return JobStatus(
        job_id=job_id,
        type=_text(job, "type"),
        status=_text(job, "status"),
        result=_text(job, "result"),
        progress=_text(job, "progress"),
        details=tuple(_lines(details_node)) if details_node is not None else (),
        warnings=tuple(_lines(warnings_node)) if warnings_node is not None else (),
        devices=tuple(devices),
    )


def poll(
    ask: Callable[[], _S],
    *,
    finished: Callable[[_S], bool],
    backoff: Backoff,
    timeout: Callable[[_S], errors.JobTimeout],
    sleep: Callable[[float], None] = time.sleep,
) -> _S:
    """The one poller: ``ask`` until ``finished`` says so, or raise ``timeout(last)`` at the deadline.

    Commit, push and log jobs all wait here, with one deadline and one backoff (from
    ``backoff.initial`` growing by ``factor`` up to ``maximum``). ``ask`` makes one request; its
    failures are the transport's to retry, not this loop's.
    """
    started = time.monotonic()
    interval = backoff.initial
    while True:
        status = ask()
        if finished(status):
            return status
        if time.monotonic() - started + interval > backoff.deadline:
            raise timeout(status)
        sleep(interval)
        interval = min(interval * backoff.factor, backoff.maximum)


def poll_job(
    api: XmlApi,
    job_id: str,
    *,
    backoff: Backoff | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_progress: Callable[[JobStatus], None] | None = None,
) -> JobStatus:
    """Poll ``show jobs id`` until the job is finished; raise :class:`JobTimeout` at the deadline.

    The caller decides what a FAIL means (:attr:`JobStatus.ok`); this only waits.
    """
    policy = backoff or Backoff()

    def ask() -> JobStatus:
        response = api.op(f"<show><jobs><id>{int(job_id)}</id></jobs></show>")
        status = parse_job(response.root, job_id)
        if on_progress:
            on_progress(status)
        return status

    def timeout(status: JobStatus) -> errors.JobTimeout:
        return errors.JobTimeout(
            f"job {job_id} ({status.type or 'job'}) still {status.status} after "
            f"{policy.deadline:g}s (progress {status.progress or '?'})",
            job_id=job_id,
        )

    return poll(
        ask, finished=lambda status: status.finished, backoff=policy, timeout=timeout, sleep=sleep
    )
