"""What differs by PAN-OS version, in one table: each behaviour, the versions it holds for, and
where that is known from.

Pure: no I/O. :func:`parse_version` reads ``sw-version`` (``11.1.4-h7``); :func:`supports` and
:func:`check_version` answer from :data:`BEHAVIOURS`. Sources are named as in
docs/panos-api.md (the reference files live under ``tests/data/``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from panpin import errors


@dataclass(frozen=True, order=True)
class Version:
    """A PAN-OS release: ``major.minor.patch`` and the hotfix (``-h7``), compared in that order."""

    major: int
    minor: int
    patch: int = 0
    hotfix: int = 0

    @property
    def feature(self) -> tuple[int, int]:
        """The feature release (``11.1``), which is what behaviours change with."""
        return (self.major, self.minor)

    def __str__(self) -> str:
        hotfix = f"-h{self.hotfix}" if self.hotfix else ""
        return f"{self.major}.{self.minor}.{self.patch}{hotfix}"


# "11.1.4-h7", "10.2.0", "9.1.0-b4" (a beta build), "12.1" (a feature release alone).
_VERSION_RE = re.compile(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?(?:-h(\d+))?(?:[-.][A-Za-z0-9.\-]*)?\s*$")


def parse_version(text: str) -> Version:
    """Parse a ``sw-version``; :class:`~panpin.errors.ResponseError` for anything else."""
    match = _VERSION_RE.match(text)
    if match is None:
        raise errors.ResponseError(f"cannot read the PAN-OS version {text[:40]!r}")
    major, minor, patch, hotfix = match.groups()
    return Version(int(major), int(minor), int(patch or 0), int(hotfix or 0))


@dataclass(frozen=True)
class Behaviour:
    """One row of the table: ``name`` holds from ``since`` (a feature release) up to and
    including ``until`` (``None``: still holds), as ``source`` says."""

    name: str
    summary: str
    since: tuple[int, int]
    until: tuple[int, int] | None
    source: str

    def holds_for(self, version: Version) -> bool:
        if version.feature < self.since:
            return False
        return self.until is None or version.feature <= self.until


DECRYPTION_LOG = "decryption-log"
EXCLUDE_CACHE_XML = "exclude-cache-xml"
HA_SYNC_QUEUED_ON_PEER = "ha-sync-queued-on-peer"
SHOW_LOCKS_VSYS_ALL = "show-locks-vsys-all"
DECRYPTION_LOG_121_FIELDS = "decryption-log-12.1-fields"
TESTED = "tested"

BEHAVIOURS: tuple[Behaviour, ...] = (
    Behaviour(
        DECRYPTION_LOG,
        "the Decryption log (log-type=decryption) exists; panpin needs it",
        (10, 0),
        None,
        "Decryption Log Fields (PAN-OS 10.0+ docs); pan-os-python's 10.0.0 profile adds the log "
        "type; the first XML API release that accepts it is assumed (docs/panos-api.md: log jobs)",
    ),
    Behaviour(
        EXCLUDE_CACHE_XML,
        "`show system setting ssl-decrypt exclude-cache` accepts `xml yes`",
        (11, 2),
        None,
        "tests/data/ha-and-roles/README.md (its output format is not public)",
    ),
    Behaviour(
        HA_SYNC_QUEUED_ON_PEER,
        "HA sync-to-remote answers 'HA synchronization job has been queued on peer'",
        (7, 1),
        None,
        "tests/data/ha-and-roles/README.md",
    ),
    Behaviour(
        SHOW_LOCKS_VSYS_ALL,
        "`show config-locks` / `show commit-locks` take `<vsys>all</vsys>`",
        (9, 1),
        None,
        "pango v0 xmlapi/lock.go (its 9.1+ fix); docs/panos-api.md: locks",
    ),
    Behaviour(
        DECRYPTION_LOG_121_FIELDS,
        "Decryption-log error texts simplified, client-/server-prefixed fields added "
        "(names not public)",
        (12, 1),
        None,
        "PAN-OS 12.1 release notes, Decryption Features (docs/panos-api.md: log fields)",
    ),
    Behaviour(
        TESTED,
        "panpin has test data (simulator scenarios and samples) for this release",
        (10, 1),
        (12, 1),
        "tests/data/ (samples from 10.1 to 12.1 devices and docs)",
    ),
)

_BY_NAME = {b.name: b for b in BEHAVIOURS}
MINIMUM = _BY_NAME[DECRYPTION_LOG].since


def behaviour(name: str) -> Behaviour:
    """The table's row ``name`` (KeyError for a name the table does not have)."""
    return _BY_NAME[name]


def supports(version: Version | str, name: str) -> bool:
    """Whether behaviour ``name`` holds for ``version``."""
    parsed = parse_version(version) if isinstance(version, str) else version
    return behaviour(name).holds_for(parsed)


def tested(version: Version | str) -> bool:
    """Whether ``version`` lies in the releases panpin has test data for."""
    return supports(version, TESTED)


def check_version(sw_version: str, where: str = "the device") -> Version:
    """Refuse a release without the Decryption log (below 10.0): nothing to scan there.

    :class:`~panpin.errors.DeviceError` (exit 1) naming the version; an unreadable version is
    let through as 10.0 so that a new format never blocks a run (the log query still tells).
    """
    try:
        version = parse_version(sw_version)
    except errors.ResponseError:
        return Version(*MINIMUM)
    if not supports(version, DECRYPTION_LOG):
        raise errors.DeviceError(
            f"{where} runs PAN-OS {sw_version}, which has no Decryption log (PAN-OS "
            f"{MINIMUM[0]}.{MINIMUM[1]} and later have one); upgrade it, or scan a CSV export "
            "with --from-csv"
        )
    return version
