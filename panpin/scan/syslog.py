"""PAN-OS DECRYPTION syslog lines (log forwarding to a syslog server or a SIEM), read from files.

Each line is a syslog header (BSD ``<14>Nov 30 16:09:33 HOST `` or RFC 5424 ``<14>1 TS HOST APP
PROCID MSGID SD ``), or none, before the log's CSV, whose fields may be double-quoted with embedded
commas. Fields are read by the documented column positions of the Decryption log (0-based,
counting the leading FUTURE_USE ``1``; docs/causes.md), confirmed up to ``error`` by real lines;
positions after ``error`` drift between versions and are not read. Lines of other log types
(TRAFFIC, THREAT...) are skipped and counted. A DECRYPTION line in another layout (the Strata
Logging Service's forwarding format puts the type one column later) is an error naming
``file:line``: read by the wrong positions it would give wrong hosts. gzip files are read as such.
Rows become the same entry mapping the XML API gives, for the same Aggregator. Reads local files.
"""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from panpin.errors import InputError
from panpin.scan.logs import file_time

# entry field -> column (docs/causes.md: the 11.1+ Decryption log format, checked against the
# Elastic PA-220 line).
COLUMNS: Mapping[str, int] = {
    "receive_time": 1,
    "serial": 2,
    "type": 3,
    "src": 7,
    "rule": 11,
    "srcuser": 12,
    "app": 14,
    "vsys": 15,
    "policy_name": 43,
    "err_index": 45,
    "root_status": 46,
    "chain_status": 47,
    "proxy_type": 48,
    "cn_len": 55,
    "sni_len": 58,
    "cn": 60,
    "sni": 63,
    "error": 64,
}
MIN_FIELDS = COLUMNS["error"] + 1
LOG_TYPE = "DECRYPTION"

_BSD = re.compile(r"^<\d{1,3}>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ ")
_RFC5424 = re.compile(r"^<\d{1,3}>1 \S+ \S+ \S+ \S+ \S+ (?:-|(?:\[(?:[^\]\\]|\\.)*\])+) ?")
# Where the CSV starts once the header is gone: the FUTURE_USE field and a receive time.
_CSV_START = re.compile(r"^\s*\d+,")
_MAX_LINE = 64 * 1024


@dataclass
class SyslogStats:
    lines: int = 0  # non-empty lines in the files
    read: int = 0  # DECRYPTION entries within the window handed to the sink
    other_types: dict[str, int] = field(default_factory=dict)  # skipped, per log type
    short: int = 0  # DECRYPTION lines cut before the error column (syslog size limits)
    other_serials: int = 0  # another firewall's lines (plan --from-syslog)
    truncated: bool = False


def strip_header(line: str) -> str:
    """The CSV part of a syslog line: the header (BSD or RFC 5424), if any, removed."""
    for pattern in (_RFC5424, _BSD):
        match = pattern.match(line)
        if match:
            return line[match.end() :]
    return line


def _lines(path: Path) -> Iterator[str]:
    try:
        with path.open("rb") as probe:
            magic = probe.read(2)
        opener = gzip.open if magic == b"\x1f\x8b" else open
        with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
            yield from fh
    except OSError as exc:
        raise InputError(f"--from-syslog {path}: {exc.strerror or exc}") from None
    except EOFError:
        raise InputError(f"--from-syslog {path}: the gzip file is cut short") from None


def read_syslog(
    paths: Iterable[str | Path],
    *,
    sink: Callable[[Mapping[str, str]], None],
    since: str | None = None,
    until: str | None = None,
    max_logs: int | None = None,
    serial: str | None = None,
) -> SyslogStats:
    """Feed every DECRYPTION line within ``[since, until]`` (device-local) to ``sink``.

    ``serial`` keeps only that firewall's lines (column 2). A DECRYPTION line in a layout panpin
    does not know, or whose receive time is no time, is an :class:`InputError` naming
    ``file:line``; nothing is fed after it.
    """
    stats = SyslogStats()
    for name in paths:
        path = Path(name)
        if not path.is_file():
            raise InputError(f"--from-syslog {path}: no such file")
        for number, raw in enumerate(_lines(path), start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            stats.lines += 1
            if len(line) > _MAX_LINE:
                raise InputError(f"{path}:{number}: a line of {len(line)} characters is no log")
            text = strip_header(line)
            if not _CSV_START.match(text):
                raise InputError(
                    f"{path}:{number}: not a PAN-OS syslog line (no known header before the "
                    f"log's CSV): {text[:60]!r}"
                )
            fields = next(csv.reader([text]), [])
            # The Strata Logging Service writes zero-width spaces after each comma.
            fields = [f.replace("\u200b", "") for f in fields]
            kind = fields[3].strip().upper() if len(fields) > 3 else ""
            if kind != LOG_TYPE:
                if LOG_TYPE in (f.strip().upper() for f in fields[:8]):
                    raise InputError(
                        f"{path}:{number}: a DECRYPTION line in a layout panpin does not know "
                        "(the log type is not in column 3; the Strata Logging Service's "
                        "forwarding format?): read by the wrong positions it would give wrong "
                        "hosts; forward the firewall's own syslog format instead"
                    )
                key = kind[:20] or "?"
                stats.other_types[key] = stats.other_types.get(key, 0) + 1
                continue
            if len(fields) < MIN_FIELDS:
                stats.short += 1
                continue
            entry = {name: fields[index] for name, index in COLUMNS.items() if name != "type"}
            if serial is not None and entry["serial"].strip() != serial:
                stats.other_serials += 1
                continue
            entry["receive_time"] = when = file_time(entry["receive_time"], f"{path}:{number}")
            entry["logid"] = f"{path.name}:{number}"
            if (since and when < since) or (until and when > until):
                continue
            if max_logs is not None and stats.read >= max_logs:
                stats.truncated = True
                return stats
            stats.read += 1
            sink(entry)
    return stats
