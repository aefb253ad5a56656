"""Aggregation of Decryption log entries into per-host candidates.

The dataclasses here are the contract between scan (which fills them), decide (which reads them) and
the output formats (docs/design.md ``scan --format json``). :class:`Aggregator` folds entries one at a
time and keeps only per-host counters and sets, so memory grows with the number of hosts and
distinct clients, never with the number of entries read. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from panpin.errors import InvalidHost
from panpin.hosts import covering_entry, host_of_entry, normalize_host
from panpin.scan.clients import ClientKeys


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
    """A value from a log entry that could not be used as a host, and why.

    ``value`` is display-safe (control characters escaped, cut to about 100 characters);
    ``count`` is how many entries carried it.
    """

    value: str
    reason: str
    count: int = 1


@dataclass(frozen=True)
class ScanResult:
    query: str
    logs_read: int
    candidates: tuple[Candidate, ...]
    rejected: tuple[Rejected, ...] = field(default=())
    # The --max-logs cap stopped the read before the window was exhausted.
    truncated: bool = False
    # The window actually read (device-local), when known.
    since: str | None = None
    until: str | None = None


# --- text from logs ------------------------------------------------------------------------------

DISPLAY_LIMIT = 100


def safe_text(value: str, limit: int = DISPLAY_LIMIT) -> str:
    """``value`` fit for a terminal, a CSV cell or a ticket: no raw control or format characters.

    Unprintable characters (C0/C1 controls, bidi overrides, line separators...) are written as
    Python escapes; longer values are cut to ``limit`` characters with a note of the real length.
    Backslashes stay as they are: ``DOMAIN\\user`` is how PAN-OS writes a user.
    """
    if len(value) <= limit and value.isprintable():
        return value  # the common case, checked in C
    out: list[str] = []
    for ch in value[:limit]:
        if ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            out.append(
                f"\\x{code:02x}"
                if code < 0x100
                else (f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
            )
    text = "".join(out)
    if len(value) > limit:
        text += f"… ({len(value)} chars)"
    return text


_ALERT_RE = re.compile(r"Received fatal alert\s+([A-Za-z0-9_]+)\s+from\s+client", re.IGNORECASE)
_NO_INDEX = frozenset({"", "none", "-", "n/a"})


def alert_of(error: str, err_index: str = "", signals: Sequence[str] = ()) -> str:
    """The name an entry is counted under in ``errors``.

    ``Received fatal alert UnknownCA from client`` (with any suffix, such as ``. CA Issuer URL:
    ...``) gives ``UnknownCA``. Other wording (PAN-OS 12.1 "simplified" messages) falls back to
    the first chosen signal the text contains, so a pinning hit is still counted as one; then to
    the ``err_index`` category; then to ``other``.
    """
    match = _ALERT_RE.search(error)
    if match:
        return match[1]
    lowered = error.lower()
    for name in signals:
        if name.lower() in lowered:
            return name
    index = err_index.strip()
    if index.lower() not in _NO_INDEX:
        return safe_text(index, 40)
    return "other"


def matches_signals(error: str, signals: Sequence[str]) -> bool:
    """Local ``( error contains 'NAME' ) or ...``; case-insensitive, like the device."""
    lowered = error.lower()
    return any(name.lower() in lowered for name in signals)


# --- accumulation ---------------------------------------------------------------------------------

MAX_SAMPLES = 5
_FIELD_LIMIT = 200


def _clean(value: str | None) -> str:
    if not value:
        return ""
    value = value.strip()
    if len(value) <= _FIELD_LIMIT and value.isprintable():
        return value  # what safe_text would return, without the call: this runs per field
    return safe_text(value, _FIELD_LIMIT)


# The fields of a log entry that evidence is made of (the page reader keeps only these, plus
# ``logid``, an attribute of <entry>).
ENTRY_FIELDS: frozenset[str] = frozenset(
    {
        "receive_time",
        "serial",
        "seqno",
        "src",
        "srcuser",
        "app",
        "rule",
        "policy_name",
        "sni",
        "cn",
        "error",
        "err_index",
        "device_name",
    }
)

# raw field value -> _clean(value), for the values add() sees again and again (a site's
# clients, users, apps, rules). Bounded like the aggregator's memos; a value that cleans to ""
# is not kept (whitespace), so a miss and an empty result both recompute.
_CLEANED: dict[str, str] = {}
_CLEANED_LIMIT = 20_000


def _clean_new(value: str) -> str:
    result = _clean(value)
    if len(value) <= _FIELD_LIMIT:
        if len(_CLEANED) >= _CLEANED_LIMIT:
            _CLEANED.clear()
        _CLEANED[value] = result
    return result


def _earliest(a: str, b: str) -> str:
    # "YYYY/MM/DD HH:MM:SS" sorts as text; "" means unknown and never wins.
    if not a:
        return b
    if not b:
        return a
    return min(a, b)


def _latest(a: str, b: str) -> str:
    return max(a, b)


@dataclass
class HostEvidence:
    """Mutable evidence for one host (optionally one day); becomes a :class:`Candidate`."""

    host: str
    hits: int = 0
    clients: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    apps: set[str] = field(default_factory=set)
    errors: dict[str, int] = field(default_factory=dict)
    devices: set[str] = field(default_factory=set)
    rules: set[str] = field(default_factory=set)
    samples: list[str] = field(default_factory=list)
    first_seen: str = ""
    last_seen: str = ""

    def merge(self, other: HostEvidence | Candidate) -> None:
        self.hits += other.hits
        for alert, count in other.errors.items():
            self.errors[alert] = self.errors.get(alert, 0) + count
        self.clients.update(other.clients)
        self.users.update(other.users)
        self.apps.update(other.apps)
        self.devices.update(other.devices)
        self.rules.update(other.rules)
        extra = other.samples if isinstance(other, HostEvidence) else other.sample_log_ids
        for logid in extra:
            if len(self.samples) >= MAX_SAMPLES:
                break
            if logid not in self.samples:
                self.samples.append(logid)
        self.first_seen = _earliest(self.first_seen, other.first_seen)
        self.last_seen = _latest(self.last_seen, other.last_seen)

    def to_candidate(self, covered_by: str | None = None) -> Candidate:
        return Candidate(
            host=self.host,
            hits=self.hits,
            clients=tuple(sorted(self.clients)),
            errors=dict(sorted(self.errors.items())),
            apps=tuple(sorted(self.apps)),
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            devices=tuple(sorted(self.devices)),
            users=tuple(sorted(self.users)),
            rules=tuple(sorted(self.rules)),
            sample_log_ids=tuple(self.samples),
            covered_by=covered_by,
        )


def sort_candidates(candidates: Iterable[Candidate]) -> tuple[Candidate, ...]:
    """By hits (descending), then host: the order of every scan output."""
    return tuple(sorted(candidates, key=lambda c: (-c.hits, c.host)))


def with_coverage(
    candidates: Iterable[Candidate], covering_names: Sequence[str]
) -> tuple[Candidate, ...]:
    """Set ``covered_by`` from the names of the live exclusion entries (exact beats wildcard)."""
    names = list(covering_names)
    out = []
    for c in candidates:
        covered = covering_entry(c.host, names) if names else None
        out.append(c if covered == c.covered_by else replace(c, covered_by=covered))
    return tuple(out)


def merge_candidates(candidates: Iterable[Candidate]) -> tuple[Candidate, ...]:
    """Candidates of the same host (e.g. one per day) merged into one each, sorted."""
    merged: dict[str, HostEvidence] = {}
    for c in candidates:
        slot = merged.get(c.host)
        if slot is None:
            slot = merged[c.host] = HostEvidence(c.host)
        slot.merge(c)
    return sort_candidates(h.to_candidate() for h in merged.values())


MAX_REJECTED = 1000
_CACHE_LIMIT = 20_000
# Values longer than this (hostile, never a real host name or alert text) are not memoised, so
# the memos stay small however long the values in a log are.
_MEMO_KEY_LIMIT = 1024


class Aggregator:
    """Folds Decryption log entries into per-host evidence.

    ``signals`` (when given) drops entries whose ``error`` names none of them — the query does
    that on the device; a CSV export needs it done here. ``by_day`` keeps evidence per
    receive-time day as well, for the state database's history. Hosts come from the SNI, else the
    certificate CN, through :func:`normalize_host`; values that fail are counted under
    :meth:`rejected`, never as candidates.
    """

    def __init__(
        self,
        *,
        signals: Sequence[str] | None = None,
        by_day: bool = False,
        max_rejected: int = MAX_REJECTED,
    ) -> None:
        self._signals = tuple(signals) if signals else ()
        self._by_day = by_day
        self._max_rejected = max_rejected
        self._acc: dict[tuple[str, str], HostEvidence] = {}
        self._rejected: dict[tuple[str, str], int] = {}
        # Memos of pure functions of an entry's values, which repeat across a scan's entries:
        # (sni, cn) -> (host or None, reason, raw host text) and (error, err_index) -> the alert
        # the entry counts under, or None when the local signal filter drops it. Bounded in
        # entries and key length: hostile logs could carry endless distinct, long values.
        self._hosts: dict[tuple[str | None, str | None], tuple[str | None, str, str]] = {}
        self._alerts: dict[tuple[str, str], str | None] = {}
        # A client is a user where the log names one, else an address with IPv6 folded to its
        # /64 (panpin.scan.clients): one laptop with many privacy addresses is one client.
        self._client_keys = ClientKeys()
        self.entries = 0  # offered to add()
        self.counted = 0  # attributed to a host
        self.filtered = 0  # dropped by the local signal filter
        self.rejected_entries = 0
        self.rejected_overflow = 0  # rejected entries whose value did not fit in the list

    def _host(self, sni: str | None, cn: str | None) -> tuple[str | None, str, str]:
        raw = host_of_entry(sni, cn)
        try:
            result: tuple[str | None, str, str] = (normalize_host(raw), "", raw)
        except InvalidHost as exc:
            reason = "no SNI or certificate CN" if not raw.strip() else exc.reason
            result = (None, reason, raw)
        if len(sni or "") + len(cn or "") <= _MEMO_KEY_LIMIT:
            if len(self._hosts) >= _CACHE_LIMIT:
                self._hosts.clear()
            self._hosts[(sni, cn)] = result
        return result

    def _alert(self, error: str, err_index: str) -> str | None:
        alert: str | None = None
        if not self._signals or matches_signals(error, self._signals):
            alert = alert_of(error, err_index, self._signals)
        if len(error) + len(err_index) <= _MEMO_KEY_LIMIT:
            if len(self._alerts) >= _CACHE_LIMIT:
                self._alerts.clear()
            self._alerts[(error, err_index)] = alert
        return alert

    def add(self, entry: Mapping[str, str]) -> None:
        """Fold one entry (field name → text, as :func:`panpin.scan.logs.entry_fields` gives).

        The loop a scan spends its time in after reading (500 000 times for a busy week), so it
        is written out field by field, with locals for every lookup; the cleaned value of a field
        comes from a memo, as the same few values repeat across entries.
        """
        alerts, hosts, acc = self._alerts, self._hosts, self._acc
        by_day = self._by_day
        cleaned, clean_new = _CLEANED.get, _clean_new
        get = entry.get
        logid, when, serial = get("logid", ""), get("receive_time", ""), get("serial", "")
        src, user, app = get("src", ""), get("srcuser", ""), get("app", "")
        rule, policy = get("rule", ""), get("policy_name", "")
        sni, cn, error, index = (
            get("sni", ""),
            get("cn", ""),
            get("error", ""),
            get("err_index", ""),
        )
        self.entries += 1
        try:
            alert = alerts[(error, index)]
        except KeyError:
            alert = self._alert(error, index)
        if alert is None:
            self.filtered += 1
            return
        try:
            host, reason, raw = hosts[(sni, cn)]
        except KeyError:
            host, reason, raw = self._host(sni, cn)
        if host is None:
            self._reject(raw, reason)
            return
        when = when.strip()
        key = (when[:10] if by_day else "", host)
        slot = acc.get(key)
        if slot is None:
            slot = acc[key] = HostEvidence(host)
        slot.hits += 1
        errors = slot.errors
        errors[alert] = errors.get(alert, 0) + 1
        client = self._client_keys(src, user)
        if client is not None:
            slot.clients.add(client)
        if user:
            user = cleaned(user) or clean_new(user)
            if user:
                slot.users.add(user)
        if app:
            app = cleaned(app) or clean_new(app)
            if app:
                slot.apps.add(app)
        if serial:
            serial = cleaned(serial) or clean_new(serial)
            if serial:
                slot.devices.add(serial)
        if rule:
            rule = cleaned(rule) or clean_new(rule)
            if rule:
                slot.rules.add(rule)
        if policy:
            policy = cleaned(policy) or clean_new(policy)
            if policy:
                slot.rules.add(policy)
        # "YYYY/MM/DD HH:MM:SS" sorts as text; "" (unknown) never wins (see _earliest).
        if when:
            if not slot.first_seen or when < slot.first_seen:
                slot.first_seen = when
            if when > slot.last_seen:
                slot.last_seen = when
        samples = slot.samples
        if len(samples) < MAX_SAMPLES:
            logid = _clean(logid)
            if logid and logid not in samples:
                samples.append(logid)
        self.counted += 1

    def _reject(self, raw: str, reason: str) -> None:
        self.rejected_entries += 1
        key = (safe_text(raw), reason)
        if key in self._rejected:
            self._rejected[key] += 1
        elif len(self._rejected) < self._max_rejected:
            self._rejected[key] = 1
        else:
            self.rejected_overflow += 1

    def hosts(self) -> dict[str, HostEvidence]:
        """Evidence per host over every day."""
        if not self._by_day:
            return {host: ev for (_, host), ev in self._acc.items()}
        merged: dict[str, HostEvidence] = {}
        for (_, host), ev in self._acc.items():
            slot = merged.get(host)
            if slot is None:
                slot = merged[host] = HostEvidence(host)
            slot.merge(ev)
        return merged

    def daily(self) -> list[tuple[str, Candidate]]:
        """``(YYYY/MM/DD, candidate)`` per day and host (needs ``by_day=True``)."""
        if not self._by_day:
            raise ValueError("Aggregator(by_day=True) is needed for daily evidence")
        return [(day, ev.to_candidate()) for (day, _), ev in sorted(self._acc.items())]

    def candidates(self, covering_names: Sequence[str] = ()) -> tuple[Candidate, ...]:
        """Per-host candidates, sorted by hits (descending) then host, with ``covered_by`` set."""
        names = list(covering_names)
        return sort_candidates(
            ev.to_candidate(covering_entry(host, names) if names else None)
            for host, ev in self.hosts().items()
        )

    def rejected(self) -> tuple[Rejected, ...]:
        """Values that are no host name, once each with their count, most frequent first."""
        items = sorted(self._rejected.items(), key=lambda kv: (-kv[1], kv[0]))
        return tuple(Rejected(value, reason, count) for (value, reason), count in items)


def candidate_dict(c: Candidate) -> dict[str, Any]:
    """One candidate as in docs/design.md's ``scan --format json``; ``clients`` is a count there."""
    return {
        "host": c.host,
        "hits": c.hits,
        "clients": len(c.clients),
        "errors": dict(c.errors),
        "apps": list(c.apps),
        "first_seen": c.first_seen,
        "last_seen": c.last_seen,
        "devices": list(c.devices),
        "covered_by": c.covered_by,
        # Extras, after the required keys.
        "users": list(c.users),
        "rules": list(c.rules),
        "sample_log_ids": list(c.sample_log_ids),
    }
