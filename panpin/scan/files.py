"""Scans of local files: a web-UI CSV export, or forwarded DECRYPTION syslog lines.

The same evidence, causes and result as a device scan (:func:`panpin.scan.logs.scan_device`);
durations count back from THIS machine's clock, as a file has no device clock. Reads local files
only; nothing here talks to a device or writes the state database.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from panpin.scan.evidence import Aggregator, ScanResult
from panpin.scan.logs import build_query, parse_when, validate_signals

log = logging.getLogger(__name__)


def _window(since: str | None, until: str | None) -> tuple[str | None, str | None]:
    now = datetime.now()
    start = parse_when(since, now=now, option="--since") if since else None
    end = parse_when(until, now=now, option="--until") if until else None
    return start, end


def _result(
    aggregator: Aggregator,
    signals: Sequence[str],
    start: str | None,
    end: str | None,
    *,
    read: int,
    truncated: bool,
) -> ScanResult:
    return aggregator.result(
        # The query a device would have been asked; applied here to the file's rows.
        query=build_query(signals, since=start, until=end),
        logs_read=read,
        truncated=truncated,
        since=start,
        until=end,
    )


def scan_csv(
    path: str,
    *,
    since: str | None,
    until: str | None,
    signals: Sequence[str],
    max_logs: int | None,
) -> ScanResult:
    """The evidence of a web-UI CSV export of the Decryption log."""
    from panpin.scan.csvlog import read_csv

    chosen = validate_signals(signals)
    start, end = _window(since, until)
    aggregator = Aggregator(signals=chosen)
    stats = read_csv(path, sink=aggregator.add, since=start, until=end, max_logs=max_logs)
    return _result(aggregator, chosen, start, end, read=stats.read, truncated=stats.truncated)


def scan_syslog(
    paths: Sequence[str],
    *,
    since: str | None,
    until: str | None,
    signals: Sequence[str],
    max_logs: int | None,
    serial: str | None = None,
    vsys: str | None = None,
) -> ScanResult:
    """The evidence of forwarded DECRYPTION syslog lines (:mod:`panpin.scan.syslog`).

    ``serial`` keeps one firewall's lines; ``vsys`` counts only that vsys' entries (the scope of
    a change at ``vsys:NAME``). Skipped lines (other log types, other firewalls, lines cut before
    the error column) are logged as warnings: a file that held nothing readable must not look
    like "no pinning found".
    """
    from panpin.scan.syslog import read_syslog

    chosen = validate_signals(signals)
    start, end = _window(since, until)
    aggregator = Aggregator(signals=chosen, vsys=vsys)
    stats = read_syslog(
        paths, sink=aggregator.add, since=start, until=end, max_logs=max_logs, serial=serial
    )
    if stats.other_types:
        skipped = ", ".join(f"{n} {kind}" for kind, n in sorted(stats.other_types.items()))
        log.info("skipped lines of other log types: %s", skipped)
    if stats.short:
        log.warning(
            "%d DECRYPTION line(s) end before the error column (cut by a syslog size limit?): "
            "not counted",
            stats.short,
        )
    if stats.other_serials:
        log.info("skipped %d line(s) of other firewalls than %s", stats.other_serials, serial)
    if stats.lines and not stats.read and not aggregator.entries:
        log.warning(
            "no DECRYPTION line in the window was read from %d line(s) of %s",
            stats.lines,
            ", ".join(paths),
        )
    return _result(aggregator, chosen, start, end, read=stats.read, truncated=stats.truncated)
