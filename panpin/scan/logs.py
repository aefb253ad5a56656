"""The Decryption log: filter-query builder, paged log jobs, streaming parse of entries.

Pure parts (query building, ``--since``/``--until`` parsing, reading one poll answer) are free of
I/O. :func:`read_logs` talks to the device, and only through :mod:`panpin.panos.xmlapi`.

How a window is read (docs/panos-api.md: log jobs):

* one log job per page: ``type=log&log-type=decryption&nlogs=5000&dir=forward&skip=N&query=...``;
  ``dir=forward`` gives oldest-first, so logs arriving during the scan land after the pages
  already read instead of shifting them;
* each job is polled with ``action=get`` under a deadline, the interval growing from 0.5 s by
  x1.5 up to 2 s (pango warns that polling faster than every 2 s slows PAN-OS down; pan-python
  starts at 0.5 s, so short jobs still finish quickly);
* every poll answer is parsed to its end, as it streams in, never held whole; ``<job><status>``
  precedes ``<log>`` in the document, so by the time ``<logs>`` opens we know whether this answer
  is the final one (``FIN`` and, when the attribute is there, ``progress="100"`` — Panorama may
  say FIN while its collectors still answer). The entries of a final answer are read as they
  stream in (:func:`read_page`) and handed to the caller; any other answer is read to its end,
  its entries ignored, and the job polled again;
* a job we give up on (deadline, Ctrl-C, any error) is deleted with ``action=finish``;
* pages continue with ``skip += count`` until one returns fewer than ``nlogs`` entries. Entries
  are deduplicated by ``serial/seqno`` (falling back to ``logid``) against the previous and the
  current page, which is where an insertion into the window or a retried page could repeat them;
  the memory this costs is bounded by two pages, not by the size of the window.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain
from typing import TYPE_CHECKING, Protocol, TypeVar

from panpin import errors
from panpin.panos.timing import Backoff
from panpin.scan.causes import DEFAULT_PINNING_ALERTS
from panpin.scan.evidence import ENTRY_FIELDS, KEY_FIELDS, safe_text

if TYPE_CHECKING:
    from lxml import etree

    from panpin.panos.device import DeviceInfo
    from panpin.panos.xmlapi import XmlApi
    from panpin.scan.evidence import ScanResult
    from panpin.settings import Location
    from panpin.state import StateDB, Watermark

log = logging.getLogger("panpin.scan.logs")
_T = TypeVar("_T")

LOG_TYPE = "decryption"
NLOGS = 5000  # the PAN-OS maximum per job (docs/panos-api.md: log jobs)
DEFAULT_SIGNALS: tuple[str, ...] = DEFAULT_PINNING_ALERTS
TIME_FORMAT = "%Y/%m/%d %H:%M:%S"

# Per job: a Decryption-log query over a week on a busy firewall can take minutes.
LOG_BACKOFF = Backoff(initial=0.5, factor=1.5, maximum=2.0, deadline=300.0)

# The entry fields panpin reads; everything else in an entry is skipped while parsing.
LOG_FIELDS = ENTRY_FIELDS
_LOG_FIELD_TAGS = tuple(sorted(LOG_FIELDS))

LogEntry = Mapping[str, str]


# --- query building (pure) -----------------------------------------------------------------------

_SIGNAL_RE = re.compile(r"^[A-Za-z0-9_]+$")
_TIME_RE = re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}$")


def validate_signal(name: str) -> str:
    """A signal is a TLS alert name (``UnknownCA``); anything else is refused before a query."""
    if not isinstance(name, str) or not _SIGNAL_RE.match(name):
        raise errors.InputError(
            f"--signal {name!r}: a signal is a TLS alert name of letters, digits and '_' "
            "(e.g. UnknownCA, BadCertificate)"
        )
    return name


def validate_signals(names: Iterable[str]) -> tuple[str, ...]:
    """Validated, de-duplicated signals in their given order; empty means the defaults."""
    chosen = tuple(dict.fromkeys(validate_signal(n) for n in names))
    return chosen or DEFAULT_SIGNALS


def quote(value: str) -> str:
    """A PAN-OS filter value in single quotes: ``'`` becomes ``\\'`` (as pan-os-python writes it).

    A backslash is doubled as well: otherwise a value ending in ``\\`` would escape the closing
    quote and swallow the rest of the query.
    """
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise errors.InputError(f"filter value {value[:40]!r} contains control characters")
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def check_user_filter(expr: str) -> str:
    """Refuse a ``--filter`` that could escape the parentheses panpin wraps it in.

    ``a eq b) or (receive_time geq '1970/01/01 00:00:00'`` would otherwise widen the time window.
    Parentheses must balance outside quoted values and every quote must close.
    """
    text = expr.strip()
    if not text:
        raise errors.InputError("--filter is empty")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise errors.InputError("--filter contains control characters")
    depth = 0
    i = 0
    quote_start = -1
    while i < len(text):
        ch = text[i]
        if quote_start >= 0:
            if ch == "\\" and i + 1 < len(text):
                i += 2
                continue
            if ch == "'":
                quote_start = -1
        elif ch == "'":
            quote_start = i
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise errors.InputError(
                    f"--filter: unbalanced ')' at position {i} in {text[:200]!r}"
                )
        i += 1
    if quote_start >= 0:
        raise errors.InputError(
            f"--filter: quote opened at position {quote_start} is never closed in {text[:200]!r}"
        )
    if depth:
        raise errors.InputError(f"--filter: {depth} '(' never closed in {text[:200]!r}")
    return text


def signal_query(signals: Sequence[str]) -> str:
    """``( error contains 'UnknownCA' ) or ( error contains 'BadCertificate' )``.

    The error text is free text whose suffix varies (``. CA Issuer URL: ...``), so ``contains``,
    never ``eq`` (docs/panos-api.md: decryption log fields).
    """
    chosen = validate_signals(signals)
    return " or ".join(f"( error contains {quote(s)} )" for s in chosen)


def _check_time(value: str, what: str) -> str:
    if not _TIME_RE.match(value):
        raise errors.InputError(f"{what} {value!r}: expected YYYY/MM/DD HH:MM:SS")
    return value


def build_query(
    signals: Sequence[str],
    *,
    since: str | None = None,
    until: str | None = None,
    user_filter: str | None = None,
) -> str:
    """The Decryption-log query: the signals, ANDed with the window and the user's filter.

    ``since``/``until`` are device-local ``YYYY/MM/DD HH:MM:SS`` (both ends inclusive). Without a
    window or filter the result is the bare signal query.
    """
    signal_part = signal_query(signals)
    parts: list[str] = []
    if since is not None:
        parts.append(f"( receive_time geq {quote(_check_time(since, '--since'))} )")
    if until is not None:
        parts.append(f"( receive_time leq {quote(_check_time(until, '--until'))} )")
    if user_filter is not None:
        parts.append(f"( {check_user_filter(user_filter)} )")
    if not parts:
        return signal_part
    return " and ".join([f"( {signal_part} )", *parts])


# --- --since / --until (pure) --------------------------------------------------------------------

_DURATION_RE = re.compile(r"^\s*(\d{1,6})\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_STAMP_FORMATS = (TIME_FORMAT, "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d", "%Y-%m-%d")


def is_duration(text: str) -> bool:
    return bool(_DURATION_RE.match(text))


def parse_duration(text: str) -> timedelta | None:
    """``24h``, ``7d``, ``30m``, ``90s``, ``2w`` → timedelta; ``None`` if ``text`` is none."""
    match = _DURATION_RE.match(text)
    if not match:
        return None
    return timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2].lower()])


def parse_stamp(text: str) -> datetime | None:
    """A timestamp in the PAN-OS form (or ISO, or a bare date) → naive datetime; else ``None``."""
    value = text.strip()
    for fmt in _STAMP_FORMATS:
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    return None


def format_time(value: datetime) -> str:
    return value.strftime(TIME_FORMAT)


def file_time(text: str, where: str) -> str:
    """A receive time read from a file, as ``YYYY/MM/DD HH:MM:SS``; ``where`` is ``file:line``.

    ``""`` stays ``""`` (unknown); anything else that is no time is an :class:`InputError`.
    """
    when = text.strip()
    if not when:
        return ""
    stamp = parse_stamp(when)
    if stamp is None:
        raise errors.InputError(
            f"{where}: receive time {when[:40]!r} is not a time (expected YYYY/MM/DD HH:MM:SS)"
        )
    return format_time(stamp)


def check_when(text: str, option: str = "--since") -> str:
    """Refuse a malformed ``--since``/``--until`` before anything talks to the device."""
    if parse_duration(text) is None and parse_stamp(text) is None:
        raise errors.InputError(
            f"{option} {text!r}: expected a duration (24h, 7d, 30m) or a timestamp "
            "YYYY/MM/DD HH:MM:SS"
        )
    return text


def parse_when(text: str, *, now: datetime | None, option: str = "--since") -> str:
    """``--since``/``--until`` → device-local ``YYYY/MM/DD HH:MM:SS``.

    A duration counts back from ``now``, which must be the DEVICE's clock (log times are the
    device's local time); a timestamp is taken as device-local as it is.
    """
    check_when(text, option)
    delta = parse_duration(text)
    if delta is not None:
        if now is None:
            raise errors.InputError(f"{option} {text!r}: a duration needs the device clock")
        return format_time(now - delta)
    stamp = parse_stamp(text)
    assert stamp is not None  # check_when said it is one or the other
    return format_time(stamp)


# --- one poll answer (pure over parse events) ----------------------------------------------------


@dataclass(frozen=True)
class PollAnswer:
    """What one ``action=get`` answer said. ``entries`` counts those handed to the sink."""

    status: str
    progress: int | None
    final: bool
    entries: int


def entry_id(entry: LogEntry) -> str | None:
    """A log entry's identity: ``serial/seqno`` (seqno is per firewall), else its ``logid``."""
    serial = entry.get("serial", "")
    seqno = entry.get("seqno", "")
    if seqno:
        return f"{serial}/{seqno}"
    logid = entry.get("logid", "")
    return f"logid:{logid}" if logid else None


def entry_fields(element: etree._Element) -> dict[str, str]:
    """The fields panpin reads from one ``<entry>`` element, plus ``logid``."""
    out = {"logid": element.get("logid", "")}
    # iterchildren(*tags) filters in C; an entry has ~70 fields and panpin reads 13.
    for child in element.iterchildren(*_LOG_FIELD_TAGS):
        out[child.tag] = child.text or ""
    if "error" not in out and "sni" not in out and "cn" not in out:  # KEY_FIELDS, per entry
        # Not a Decryption-log entry panpin knows: keep what it holds for the error message
        # (a space cannot be in an XML name, so this key never meets a field).
        out[SEEN_TAGS] = ",".join(
            sorted({str(c.tag) for c in element.iterchildren() if isinstance(c.tag, str)})
        )
    return out


SEEN_TAGS = " seen"


def _unknown_format(entry: Mapping[str, str]) -> str:
    seen = [t for t in entry.get(SEEN_TAGS, "").split(",") if t]
    shown = ", ".join(seen[:100]) + (f" (and {len(seen) - 100} more)" if len(seen) > 100 else "")
    return (
        "the Decryption log answered entries with none of the fields "
        f"{', '.join(KEY_FIELDS)}: a format panpin does not know, not 'no pinning found'; "
        f"fields seen: {safe_text(shown, 1500) or 'none'}"
    )


def _progress_of(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw.strip())
    except ValueError:
        return None


# --- one poll answer, streamed -----------------------------------------------------------------

PAGE_TAGS: tuple[str, ...] = ("job", "logs", "entry")


def read_page(chunks: Iterable[bytes], on_entry: Callable[[dict[str, str]], None]) -> PollAnswer:
    """Read one ``action=get`` answer as it arrives: the one way panpin reads a log page.

    lxml's hardened pull parser (:func:`panpin.panos.xmlapi.iterparse`: no DTD, no entities, no
    network) reports only ``<job>``, ``<logs>`` and ``<entry>`` as they start (the tag filter
    runs in C). An element has ended once a later one of those starts outside it, or once the
    parse is over; each entry's fields are taken then and the element freed, so memory stays
    flat however many entries a page holds. The answer is never held whole.

    Entries reach ``on_entry`` only when the answer is final (FIN, progress 100 when given), so a
    half-done Panorama result is never read; the whole answer is parsed either way, so one that
    is not well-formed is an error, final or not. ``on_entry`` may raise to stop early; the
    exception propagates.
    """
    from panpin.panos.xmlapi import iterparse

    status = ""
    progress: int | None = None
    final: bool | None = None
    # The page's <logs>: the first one. Only its <entry> children are log entries; a <logs> or
    # an <entry> nested anywhere else (inside an entry, say) is not, whatever it holds.
    logs: etree._Element | None = None
    count = 0
    # The started elements not yet ended, outermost first: each encloses the next.
    open_: list[etree._Element] = []
    # After the last element, None: the parse is over and the answer well-formed, so whatever
    # is still open has ended (None encloses nothing), innermost first.
    for element in chain(iterparse(iter(chunks), tags=PAGE_TAGS), (None,)):
        parent = None if element is None else element.getparent()
        # Every open element that does not enclose this one has ended before it. The usual
        # case, one entry after another, is settled by the first two comparisons.
        while open_:
            last = open_[-1]
            if last is parent:
                break
            up = last.getparent()
            if up is not parent and _encloses(last, parent):
                break
            del open_[-1]
            # ``last`` is complete: read it, then free it.
            tag = last.tag
            if tag == "entry":
                # (The trailing <meta><devices> has <entry> elements too: not children of
                # <logs>.)
                if final and up is logs:
                    on_entry(entry_fields(last))
                    count += 1
            elif tag == "job" and logs is None:
                status = (last.findtext("status") or "").strip().upper()
            last.clear()
            if up is not None:
                up.remove(last)
        if element is None:
            break
        if logs is None and element.tag == "logs":
            logs = element
            progress = _progress_of(element.get("progress"))
            final = status == "FIN" and (progress is None or progress >= 100)
        open_.append(element)
    if final is None:
        # No <logs> at all: a pending job (the docs' example omits <log> while pending), or a
        # finished job that matched nothing.
        final = status == "FIN"
    return PollAnswer(status=status, progress=progress, final=final, entries=count)


def _encloses(outer: etree._Element, element: etree._Element | None) -> bool:
    """``outer`` is ``element`` or one of its ancestors."""
    while element is not None:
        if element is outer:
            return True
        element = element.getparent()
    return False


# --- reading from the device ---------------------------------------------------------------------


class LogJobApi(Protocol):
    """The part of :class:`panpin.panos.xmlapi.XmlApi` that log jobs use."""

    def log_start(
        self, log_type: str, query: str, *, nlogs: int, skip: int = 0, direction: str = "forward"
    ) -> str: ...

    def read_stream(
        self,
        params: Mapping[str, str],
        consume: Callable[[Iterator[bytes]], PollAnswer],
        *,
        timeout: float | None = None,
    ) -> PollAnswer: ...

    def log_finish(self, job_id: str) -> None: ...


# Told of each answer of a log job that is not final yet: (job id, status, progress or None).
PollHook = Callable[[str, str, "int | None"], None]


@dataclass
class ReadStats:
    """What :func:`read_logs` did. ``logs_read`` counts distinct entries handed to the sink."""

    logs_read: int = 0
    duplicates: int = 0
    pages: int = 0
    jobs: int = 0
    truncated: bool = False


class _CapReached(Exception):
    """Raised inside a page when ``max_logs`` entries have been read."""


def run_log_job(
    api: LogJobApi,
    query: str,
    *,
    skip: int,
    nlogs: int,
    on_entry: Callable[[dict[str, str]], None],
    backoff: Backoff = LOG_BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
    on_job: Callable[[str], None] | None = None,
    on_poll: PollHook | None = None,
) -> int:
    """Start one log job, wait for its final answer and stream its entries to ``on_entry``.

    Returns the number of entries the page held. Reads the device; writes nothing. The job is
    waited for by the one poller (:func:`panpin.panos.jobs.poll`) under ``backoff``'s deadline;
    each poll is one request, retried by the transport alone. PAN-OS deletes a job once its final
    answer was fetched, so when a fetch was cut off half-way (and asked again by the transport)
    the job may be gone: the page is then asked for with a new job, under the same deadline
    (``on_entry`` drops what it already saw by id). Whatever ends this early (the deadline →
    :class:`JobTimeout`, Ctrl-C, any error, ``on_entry`` raising) deletes the job with
    ``action=finish``.
    """
    from panpin.panos.jobs import poll

    job = [""]

    def start() -> None:
        job[0] = api.log_start(LOG_TYPE, query, nlogs=nlogs, skip=skip, direction="forward")
        if on_job is not None:
            on_job(job[0])

    def consume(chunks: Iterator[bytes]) -> PollAnswer:
        return read_page(chunks, on_entry)

    def ask() -> PollAnswer:
        try:
            answer = api.read_stream({"type": "log", "action": "get", "job-id": job[0]}, consume)
            if not answer.final:
                # A slow query is otherwise silent for many seconds (seen at -v).
                shown = "?" if answer.progress is None else f"{answer.progress}%"
                log.info("log query job %s: %s, %s", job[0], answer.status or "?", shown)
                if on_poll is not None:
                    on_poll(job[0], answer.status, answer.progress)
            return answer
        except errors.NotPresent:
            log.info("log job %s is gone on the device; asking for the page again", job[0])
            start()
            return PollAnswer(status="", progress=None, final=False, entries=0)

    def timeout(last: PollAnswer) -> errors.JobTimeout:
        progress = "?" if last.progress is None else f"{last.progress}%"
        return errors.JobTimeout(
            f"log query job {job[0]} did not finish within {backoff.deadline:g}s "
            f"(status {last.status or '?'}, progress {progress}); cancelled it",
            job_id=job[0],
        )

    start()
    done = False
    try:
        answer = poll(
            ask, finished=lambda a: a.final, backoff=backoff, timeout=timeout, sleep=sleep
        )
        done = True  # a job whose final answer was fetched is deleted by the device itself
        return answer.entries
    finally:
        if not done:
            api.log_finish(job[0])


def read_logs(
    api: LogJobApi,
    query: str,
    *,
    sink: Callable[[LogEntry], None],
    max_logs: int | None = None,
    known_ids: Collection[str] = (),
    backoff: Backoff = LOG_BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[int], None] | None = None,
    nlogs: int = NLOGS,
    on_poll: PollHook | None = None,
) -> ReadStats:
    """Read every Decryption-log entry matching ``query`` (oldest first) into ``sink``.

    Pages of ``nlogs`` with ``skip``; each distinct entry reaches ``sink`` once, as a dict
    (:func:`entry_fields`), in order. ``known_ids`` (the incremental watermark's entries at its
    boundary second) are skipped like duplicates. ``max_logs`` caps the distinct entries read;
    ``truncated`` says the cap cut the window short. ``progress`` gets the running count.
    Reads the device; writes nothing.
    """
    if not 1 <= nlogs <= NLOGS:
        raise ValueError(f"nlogs must be 1..{NLOGS}")
    if max_logs is not None and max_logs < 1:
        raise errors.InputError("--max-logs must be at least 1")
    stats = ReadStats()
    known = frozenset(known_ids)
    previous: set[str] = set()
    current: set[str] = set()

    def on_entry(entry: dict[str, str]) -> None:
        if SEEN_TAGS in entry:
            # entry_fields found none of KEY_FIELDS: a renamed field must not read as "no
            # pinning found".
            raise errors.UnknownLogFormat(_unknown_format(entry))
        if max_logs is not None and stats.logs_read >= max_logs:
            stats.truncated = True
            raise _CapReached
        key = entry_id(entry)
        if key is not None:
            # The previous page (an insertion into the window shifts entries into this one)
            # and this page (a page asked again after a cut answer) may repeat entries.
            if key in known or key in previous or key in current:
                stats.duplicates += 1
                return
            current.add(key)
        stats.logs_read += 1
        sink(entry)
        if progress is not None and stats.logs_read % 1000 == 0:
            progress(stats.logs_read)

    def jobs_counted(job_id: str) -> None:
        stats.jobs += 1

    skip = 0
    while True:
        page_size = nlogs
        if max_logs is not None:
            # Read no more than the cap needs, plus the boundary entries we will drop, plus one:
            # that one tells a window cut by the cap from one that ends exactly at it.
            page_size = max(1, min(nlogs, max_logs - stats.logs_read + len(known) + 1))
        try:
            count = run_log_job(
                api,
                query,
                skip=skip,
                nlogs=page_size,
                on_entry=on_entry,
                backoff=backoff,
                sleep=sleep,
                on_job=jobs_counted,
                on_poll=on_poll,
            )
        except _CapReached:
            stats.pages += 1
            if progress is not None:
                progress(stats.logs_read)
            return stats
        stats.pages += 1
        if progress is not None:
            progress(stats.logs_read)
        if count < page_size:
            return stats
        if max_logs is not None and stats.logs_read >= max_logs:
            # A full page ended exactly at the cap: more entries may exist beyond it.
            stats.truncated = True
            return stats
        skip += count
        previous, current = current, set()


# --- the scan ------------------------------------------------------------------------------------

DEFAULT_SINCE = "7d"


def scan_device(
    api: XmlApi,
    *,
    since: str | None,
    until: str | None,
    signals: Sequence[str],
    user_filter: str | None,
    max_logs: int | None,
    location: Location | str | None,
    state: StateDB | None = None,
    incremental: bool = False,
    progress: Callable[[int], None] | None = None,
    device_key: str | None = None,
    backoff: Backoff = LOG_BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
    info: DeviceInfo | None = None,
    covering_names: Sequence[str] | None = None,
    scope_serials: Collection[str] | None = None,
    on_poll: PollHook | None = None,
) -> ScanResult:
    """Scan one device's Decryption log (a firewall's, or Panorama's store) into candidates.

    ``since``/``until``: durations count back from the device's own clock (``show clock``), or
    device-local timestamps; ``None`` leaves that end open. ``location`` is where the exclusion list
    is read to fill ``covered_by`` (``None``: not read), unless the caller has read it already and
    passes the names of its live entries as ``covering_names``.

    Only the entries of the list's scope count: for ``vsys:NAME`` the entries of that vsys (the
    ``vsys`` field); with ``scope_serials`` (a Panorama template's firewalls) the entries of
    those serials. The result's ``scope`` and ``out_of_scope`` say what was counted.

    ``incremental`` (needs ``state``): start at the stored watermark of (device, location) — or at
    ``since`` when that is later, or on the first run — drop the entries already read at the
    watermark's second, then in one transaction fold the new evidence into the daily history,
    advance the watermark and record the run. The caller holds the run lock. Without it, the state
    is neither read nor written.

    Reads the device (system info, clock, log jobs, the list); never writes to it. ``device_key``
    names the device in the state database (default: its serial).
    """
    from panpin.panos.device import device_clock, system_info
    from panpin.scan.evidence import Aggregator
    from panpin.settings import Location
    from panpin.state import Watermark

    chosen = validate_signals(signals)
    if user_filter is not None:
        check_user_filter(user_filter)
    if max_logs is not None and max_logs < 1:
        raise errors.InputError("--max-logs must be at least 1")
    if incremental and state is None:
        raise errors.InputError("an incremental scan needs the state database")
    if isinstance(location, str):
        location = Location.parse(location)
    for text, option in ((since, "--since"), (until, "--until")):
        if text:
            check_when(text, option)

    info = info or system_info(api)
    if info.kind == "panorama":
        # Panorama answers log queries from its own store (no `target`): every managed
        # firewall's entries, told apart by serial. Its exclusion lists live in templates.
        log.info("%s is a Panorama: reading its log store", info.hostname or api.conn.host)
        if location is not None and not location.on_panorama:
            log.warning(
                "covered_by is read from %s on Panorama; use --location template:NAME or "
                "template-stack:NAME for the list the firewalls get",
                location,
            )
    clock: datetime | None = None

    def when(text: str, option: str) -> str:
        nonlocal clock
        if is_duration(text) and clock is None:
            clock = device_clock(api)
        return parse_when(text, now=clock, option=option)

    start = when(since, "--since") if since else None
    end = when(until, "--until") if until else None
    if start is not None and end is not None and start > end:
        raise errors.InputError(f"--since {start} is after --until {end}")

    if (
        scope_serials is None
        and info.kind == "panorama"
        and location is not None
        and location.on_panorama
        and location.name
    ):
        from panpin.panos.device import template_serials

        # Panorama's store holds every managed firewall's entries; a template's list serves
        # only some of them.
        scope_serials = template_serials(api, location.kind, location.name)
        if not scope_serials:
            log.warning("%s serves no firewall: no entry counts for its list", location)
    key = device_key or info.serial or api.conn.host
    where = str(location) if location is not None else "shared"
    known: frozenset[str] = frozenset()
    mark: Watermark | None = None
    if incremental:
        assert state is not None
        mark = state.watermark(key, where)
        if mark is not None and (start is None or mark.receive_time >= start):
            start = mark.receive_time
            known = mark.seen_ids
    query = build_query(chosen, since=start, until=end, user_filter=user_filter)

    # Whose entries count for a change at ``location``: a vsys' own; on Panorama, the entries
    # of the firewalls the template serves (``scope_serials``); on a firewall, every vsys.
    aggregator = Aggregator(
        signals=chosen,
        by_day=incremental,
        vsys=location.name if location is not None and location.kind == "vsys" else None,
        serials=scope_serials,
    )
    edge = _Boundary(mark)
    # The next watermark is only kept by an incremental scan; a plain one hands entries straight
    # to the aggregator.
    sink: Callable[[LogEntry], None] = aggregator.add
    if incremental:

        def sink(entry: LogEntry) -> None:
            aggregator.add(entry)
            edge.see(entry)

    run_id = state.start_run(key, where) if incremental and state is not None else None
    try:
        stats = read_logs(
            api,
            query,
            sink=sink,
            max_logs=max_logs,
            known_ids=known,
            backoff=backoff,
            sleep=sleep,
            progress=progress,
            on_poll=on_poll,
        )
        names = (
            list(covering_names) if covering_names is not None else _covering_names(api, location)
        )
    except BaseException as exc:
        if state is not None and run_id is not None:
            result = "interrupted" if isinstance(exc, KeyboardInterrupt) else "error"
            state.finish_run(run_id, logs_read=aggregator.entries, result=result, detail=str(exc))
        raise
    if state is not None and run_id is not None:
        with state.transaction() as db:
            state.add_evidence(key, where, aggregator.daily(), db=db)
            if edge.time:
                state.set_watermark(
                    key, where, Watermark(edge.time, frozenset(edge.ids)), query=query, db=db
                )
            state.finish_run(
                run_id,
                logs_read=stats.logs_read,
                result="truncated" if stats.truncated else "ok",
                db=db,
            )
    if aggregator.rejected_overflow:
        log.warning(
            "%d more entries had values that are no host name (not listed)",
            aggregator.rejected_overflow,
        )
    if aggregator.out_of_scope:
        log.info(
            "%d entries were outside %s (not counted)", aggregator.out_of_scope, aggregator.scope
        )
    return aggregator.result(
        query=query,
        logs_read=stats.logs_read,
        truncated=stats.truncated,
        since=start,
        until=end,
        covering_names=names,
    )


class _Boundary:
    """Tracks the newest receive second read and the ids read at it: the next watermark."""

    def __init__(self, mark: Watermark | None) -> None:
        self.time = mark.receive_time if mark else ""
        self.ids: set[str] = set(mark.seen_ids) if mark else set()

    def see(self, entry: LogEntry) -> None:
        when = entry.get("receive_time", "").strip()
        if not _TIME_RE.match(when) or when < self.time:
            return
        if when > self.time:
            self.time = when
            self.ids = set()
        key = entry_id(entry)
        if key is not None:
            self.ids.add(key)


def _covering_names(api: XmlApi, location: Location | None) -> list[str]:
    """Names of the live entries (``exclude: yes``) of the list at ``location``."""
    if location is None:
        return []
    from panpin.panos.exclusions import read_list

    try:
        entries = read_list(api, location)
    except errors.ApiError as exc:
        # A log-reader role may lack config rights; the scan is still worth having.
        log.warning(
            "cannot read the exclusion list at %s (%s); covered_by left empty", location, exc
        )
        return []
    return [e.name for e in entries if e.exclude]
