"""A Decryption log exported as CSV from the web UI (Monitor > Logs > Decryption > Export to CSV).

The export's header holds display names ("Receive Time", "Server Name Indication", "Serial #"...);
files massaged by other tools use the log variable names (``receive_time``, ``sni``). Both are
mapped, case-insensitively, and a UTF-8 BOM (Excel) is tolerated. Rows become the same entry
mapping the XML API path produces, so the evidence is computed by the same
:class:`~panpin.scan.evidence.Aggregator`. Reads a local file only.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from panpin.errors import InputError
from panpin.scan.logs import file_time

# entry field -> header names it may have (display names from the Decryption Log Fields doc, then
# the variable names; compared after _norm()).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "receive_time": ("Receive Time", "receive_time", "Time Received"),
    "serial": ("Serial #", "Serial Number", "Serial", "serial"),
    "seqno": ("Sequence Number", "seqno"),
    "logid": ("Log ID", "logid"),
    "src": ("Source address", "Source Address", "Source", "Source IP", "src"),
    "srcuser": ("Source User", "srcuser"),
    "app": ("Application", "app"),
    "rule": ("Rule", "Security Rule", "rule"),
    "policy_name": ("Policy Name", "Decryption Rule", "policy_name"),
    "sni": ("Server Name Indication", "SNI", "sni"),
    "cn": ("Subject Common Name", "Common Name", "CN", "cn"),
    "error": ("Error", "error"),
    "err_index": ("Error Index", "err_index"),
    "device_name": ("Device Name", "device_name"),
    # What tells pinning from other failures (panpin.scan.causes): an export without these
    # columns gives entries of cause "unknown", shown but never counted as pinning.
    "proxy_type": ("Proxy Type", "proxy_type"),
    "root_status": ("Root Status", "root_status"),
    "chain_status": ("Chain Status", "chain_status"),
    "sni_len": ("SNI Length", "sni_len"),
    "cn_len": ("Common Name Length", "cn_len"),
    "vsys": ("Virtual System", "vsys"),
}


def _norm(name: str) -> str:
    # "Receive Time", "receive_time" and " RECEIVE-TIME " are one column.
    text = name.replace("\ufeff", "").strip().lower().replace("_", " ").replace("-", " ")
    return re.sub(r"\s+", " ", text)


_LOOKUP: dict[str, str] = {
    _norm(alias): field for field, aliases in COLUMN_ALIASES.items() for alias in aliases
}


@dataclass
class CsvStats:
    rows: int = 0  # data rows in the file
    read: int = 0  # rows within the window handed to the sink
    truncated: bool = False


def map_header(header: list[str], path: str | Path) -> dict[str, int]:
    """Entry field → column index; raises :class:`InputError` when a needed column is missing."""
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        field = _LOOKUP.get(_norm(name))
        if field is not None and field not in columns:
            columns[field] = index
    if "error" not in columns:
        raise InputError(f"{path}: no Error column (header: {_header_text(header)})")
    if "sni" not in columns and "cn" not in columns:
        raise InputError(
            f"{path}: no Server Name Indication (SNI) or Subject Common Name (CN) column "
            f"(header: {_header_text(header)})"
        )
    return columns


def _header_text(header: list[str]) -> str:
    text = ", ".join(h.strip() for h in header)
    return text[:300] + ("…" if len(text) > 300 else "")


def read_csv(
    path: str | Path,
    *,
    sink: Callable[[Mapping[str, str]], None],
    since: str | None = None,
    until: str | None = None,
    max_logs: int | None = None,
) -> CsvStats:
    """Feed every row of the export within ``[since, until]`` (device-local) to ``sink``.

    Times are normalised to ``YYYY/MM/DD HH:MM:SS``; a time that cannot be read is an
    :class:`InputError` naming ``file:line``.
    """
    stats = CsvStats()
    try:
        fh = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InputError(f"--from-csv {path}: {exc.strerror or exc}") from None
    with fh:
        reader = csv.reader(fh)
        try:
            header = next(reader, None)
            if header is None:
                raise InputError(f"{path}: empty file (expected a Decryption log CSV export)")
            columns = map_header(header, path)
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                stats.rows += 1
                entry = {
                    field: row[index] if index < len(row) else ""
                    for field, index in columns.items()
                }
                when = file_time(entry.get("receive_time", ""), f"{path}:{reader.line_num}")
                if when:
                    entry["receive_time"] = when
                if (since and when and when < since) or (until and when and when > until):
                    continue
                if max_logs is not None and stats.read >= max_logs:
                    stats.truncated = True
                    break
                stats.read += 1
                sink(entry)
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: not UTF-8 text ({exc.reason})") from None
        except csv.Error as exc:
            raise InputError(f"{path}:{reader.line_num}: malformed CSV: {exc}") from None
    return stats
