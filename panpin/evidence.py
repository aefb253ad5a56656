"""Aggregation of Decryption log entries into per-host candidates.

The dataclasses here are the contract between scan (which fills them), decide (which reads them) and
the output formats (DESIGN.md ``scan --format json``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Candidate:
    """Evidence that clients of ``host`` rejected the firewall's impersonation certificate.

    ``errors`` counts log entries per TLS alert name parsed from the ``error`` field (e.g.
    ``{"UnknownCA": 12, "BadCertificate": 1}``); ``first_seen``/``last_seen`` are device-local
    ``YYYY/MM/DD HH:MM:SS`` strings as PAN-OS writes them; ``covered_by`` names an existing
    exclusion entry that already matches the host.
    """

    host: str
    hits: int
    clients: tuple[str, ...]
    errors: dict[str, int]
    apps: tuple[str, ...]
    first_seen: str
    last_seen: str
    devices: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    sample_log_ids: tuple[str, ...] = ()
    covered_by: str | None = None


@dataclass(frozen=True)
class Rejected:
    """A value from a log entry that could not be used as a host, and why."""

    value: str
    reason: str


@dataclass(frozen=True)
class ScanResult:
    query: str
    logs_read: int
    candidates: tuple[Candidate, ...]
    rejected: tuple[Rejected, ...] = field(default=())
