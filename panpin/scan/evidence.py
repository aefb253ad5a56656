"""Aggregation of Decryption log entries into per-host candidates.

The dataclasses here are the contract between scan (which fills them), decide (which reads them) and
the output formats (docs/design.md ``scan --format json``). :class:`Aggregator` folds entries one at a
time and keeps only per-host counters and sets, so memory grows with the number of hosts and
distinct clients, never with the number of entries read. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from panpin.errors import InvalidHost
from panpin.hosts import covering_entry, host_of_entry, normalize_host, validate_exclusion_name
from panpin.scan.causes import (
    BEFORE_NAMES,
    DEFAULT_PINNING_ALERTS,
    MAX_ISSUER_URLS,
    REMEDIES,
    TRUST_CAUSES,
    Cause,
    Reading,
    classify_text,
    is_truncated,
    main_cause,
)
from panpin.scan.clients import ClientKeys


@dataclass(frozen=True)
class Candidate:
    """Evidence that clients of ``host`` rejected the firewall's impersonation certificate.

    ``hits``, ``errors`` (entries per TLS alert name, e.g. ``{"UnknownCA": 12}``), ``clients``
    and ``users`` count the host's ``pinning`` entries only (panpin.scan.causes); ``causes``
    counts every entry of the host by its cause, pinning included, and ``issuer_urls`` holds the
    CA Issuer URLs the error texts named. A host with no pinning entry is not a candidate: scan
    reports it under ``not_pinning``. ``first_seen``/``last_seen`` are device-local
    ``YYYY/MM/DD HH:MM:SS`` strings as PAN-OS writes them, over all the host's entries;
    ``covered_by`` names an existing exclusion entry that already matches the host. A host that
    starts with ``*.`` is a wildcard certificate CN logged without SNI: the server's real name
    is unknown.
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
    causes: dict[str, int] = field(default_factory=dict)
    issuer_urls: tuple[str, ...] = ()


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
    # Hosts whose entries hold no pinning cause, most entries first (panpin.scan.causes).
    not_pinning: tuple[Candidate, ...] = field(default=())
    # Whose entries were counted: "every vsys", "vsys vsys2", "firewalls 0079..., 0079...".
    scope: str = "every entry the query returned"
    # Entries of the window that were outside that scope (not counted).
    out_of_scope: int = 0
    # Pinning entries per host and receive day: {host: [("YYYY/MM/DD", count), ...]} (the
    # report's chart of a real plan).
    timeline: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
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
# ``logid``, an attribute of <entry>). Nothing more: each tag asked for costs the reader work in
# every entry (lxml builds its tag filter per entry), so ``err_index`` and ``device_name`` are
# not taken: the cause does not depend on them, and devices are told apart by serial.
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
        # What tells pinning from other failures (panpin.scan.causes) and the entry's vsys.
        "proxy_type",
        "root_status",
        "chain_status",
        "sni_len",
        "cn_len",
        "vsys",
    }
)
# At least one of these is in every Decryption-log entry panpin can read; a page whose entries
# carry none of them is a format panpin does not know (a renamed field would otherwise read as
# "no pinning found").
KEY_FIELDS: tuple[str, ...] = ("error", "sni", "cn")

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


@dataclass(slots=True)
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
    causes: dict[str, int] = field(default_factory=dict)
    issuer_urls: list[str] = field(default_factory=list)

    def merge(self, other: HostEvidence | Candidate) -> None:
        self.hits += other.hits
        for cause, count in other.causes.items():
            self.causes[cause] = self.causes.get(cause, 0) + count
        for url in other.issuer_urls:
            if url not in self.issuer_urls and len(self.issuer_urls) < MAX_ISSUER_URLS:
                self.issuer_urls.append(url)
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
            causes=dict(sorted(self.causes.items())),
            issuer_urls=tuple(self.issuer_urls),
        )


def sort_candidates(candidates: Iterable[Candidate]) -> tuple[Candidate, ...]:
    """By hits (descending), then entries of any cause, then host: every scan output's order."""
    return tuple(sorted(candidates, key=lambda c: (-c.hits, -sum(c.causes.values()), c.host)))


def split_pinning(
    candidates: Iterable[Candidate],
) -> tuple[tuple[Candidate, ...], tuple[Candidate, ...]]:
    """``(pinning hosts, the others)``: a host with no pinning entry is never a candidate."""
    items = sort_candidates(candidates)
    return (
        tuple(c for c in items if c.hits > 0),
        tuple(c for c in items if c.hits <= 0),
    )


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
    """Folds Decryption log entries into per-host evidence, each entry under its cause.

    ``signals`` are the client alerts that point to pinning; entries whose ``error`` names none
    of them are dropped (``filtered``): the query does that on the device, a file needs it done
    here. ``by_day`` keeps evidence per receive-time day as well, for the state database's
    history. ``vsys``/``serials`` limit the entries counted to the list a change serves (a vsys;
    the firewalls a Panorama template serves); the others are counted in ``out_of_scope`` only.
    Hosts come from the SNI, else the certificate CN, through :func:`normalize_host`; a wildcard
    CN with no SNI is kept under its ``*.`` name (decide reviews it: the server's name is
    unknown); other values that fail are counted under :meth:`rejected`, never as candidates.
    """

    def __init__(
        self,
        *,
        signals: Sequence[str] | None = None,
        by_day: bool = False,
        max_rejected: int = MAX_REJECTED,
        vsys: str | None = None,
        serials: Iterable[str] | None = None,
    ) -> None:
        self._signals = tuple(signals) if signals else ()
        # What counts as a pinning alert: the signals, else the default ones (no local filter).
        self._pinning_alerts = self._signals or DEFAULT_PINNING_ALERTS
        self._by_day = by_day
        self._max_rejected = max_rejected
        self._vsys = vsys
        self._serials = frozenset(serials) if serials is not None else None
        self._acc: dict[tuple[str, str], HostEvidence] = {}
        self._rejected: dict[tuple[str, str], int] = {}
        # Memos of pure functions of an entry's values, which repeat across a scan's entries:
        # (sni, cn, sni_len, cn_len) -> (host or None, reason, raw host text, name truncated)
        # and the fields that decide the cause (error, proxy, root, chain) -> the reading, or
        # None when the local signal filter drops the entry. Bounded in entries and key length:
        # hostile logs could carry endless distinct, long values.
        self._hosts: dict[tuple[str, str, str, str], tuple[str | None, str, str, bool]] = {}
        self._readings: dict[tuple[str, str | None, str, str], Reading | None] = {}
        # A client is a user where the log names one, else an address with IPv6 folded to its
        # /64 (panpin.scan.clients): one laptop with many privacy addresses is one client.
        self._client_keys = ClientKeys()
        self.entries = 0  # offered to add()
        self.counted = 0  # attributed to a host
        self.filtered = 0  # dropped by the local signal filter
        self.out_of_scope = 0  # another vsys' or firewall's entries
        self.rejected_entries = 0
        self.rejected_overflow = 0  # rejected entries whose value did not fit in the list
        # (host, YYYY/MM/DD) -> pinning entries: the per-day series a plan carries.
        self._per_day: dict[tuple[str, str], int] = {}

    @property
    def scope(self) -> str:
        if self._vsys is not None:
            return f"vsys {self._vsys}"
        if self._serials is not None:
            serials = ", ".join(sorted(self._serials)) or "none"
            return f"firewalls {serials}"
        return "every entry the query returned"

    def _host(self, key: tuple[str, str, str, str]) -> tuple[str | None, str, str, bool]:
        sni, cn, sni_len, cn_len = key
        raw = host_of_entry(sni, cn)
        try:
            host: str | None = normalize_host(raw)
            reason = ""
        except InvalidHost as exc:
            host, reason = None, exc.reason
            if not raw.strip():
                reason = "no SNI or certificate CN"
            elif not sni.strip() and raw.strip().startswith("*."):
                # A wildcard certificate and no SNI: the name the client asked for is unknown.
                # Kept (validated as an exclusion pattern) so decide can say so; never added.
                try:
                    host, reason = validate_exclusion_name(raw.strip()), ""
                except InvalidHost as wild:
                    reason = wild.reason
        # The name the cause's truncated-name rule looks at (panpin.scan.causes.classify): the
        # SNI when there is one, else the CN, with its logged length. Kept here because it is a
        # function of this key alone, so add() need not parse a length per entry.
        name, length = (sni, sni_len) if sni.strip() else (cn, cn_len)
        result = (host, reason, raw, bool(length) and is_truncated(name, length))
        if sum(map(len, key)) <= _MEMO_KEY_LIMIT:
            if len(self._hosts) >= _CACHE_LIMIT:
                self._hosts.clear()
            self._hosts[key] = result
        return result

    def _read(self, key: tuple[str, str | None, str, str]) -> Reading | None:
        error, proxy, root, chain = key
        reading: Reading | None = None
        if not self._signals or matches_signals(error, self._signals):
            fields = {"error": error, "root_status": root, "chain_status": chain}
            if proxy is not None:
                fields["proxy_type"] = proxy
            reading = classify_text(fields, self._pinning_alerts)
        if sum(len(v or "") for v in key) <= _MEMO_KEY_LIMIT:
            if len(self._readings) >= _CACHE_LIMIT:
                self._readings.clear()
            self._readings[key] = reading
        return reading

    def add(self, entry: Mapping[str, str]) -> None:
        """Fold one entry (field name → text, as :func:`panpin.scan.logs.entry_fields` gives).

        The loop a scan spends its time in after reading (500 000 times for a busy week), so it
        is written out field by field, with locals for every lookup: two memo lookups give the
        entry's reading (from its error and trust fields) and its host (from its names), and
        the cleaned value of a field comes from a memo, as the same few values repeat across
        entries.
        """
        get = entry.get
        self.entries += 1
        if self._vsys is not None and get("vsys", "").strip() != self._vsys:
            self.out_of_scope += 1
            return
        if self._serials is not None and get("serial", "").strip() not in self._serials:
            self.out_of_scope += 1
            return
        key = (
            get("error", ""),
            get("proxy_type"),
            get("root_status", ""),
            get("chain_status", ""),
        )
        try:
            reading = self._readings[key]
        except KeyError:
            reading = self._read(key)
        if reading is None:
            self.filtered += 1
            return
        names = (get("sni", ""), get("cn", ""), get("sni_len", ""), get("cn_len", ""))
        try:
            host, reason, raw, truncated = self._hosts[names]
        except KeyError:
            host, reason, raw, truncated = self._host(names)
        if host is None:
            self._reject(raw, reason)
            return
        # causes.with_name, from the memo: a name cut short overrides all but two causes.
        cause = reading.cause
        if truncated and cause not in BEFORE_NAMES:
            cause = _TRUNCATED
        when = get("receive_time", "").strip()
        slot_key = (when[:10] if self._by_day else "", host)
        acc = self._acc
        slot = acc.get(slot_key)
        if slot is None:
            slot = acc[slot_key] = HostEvidence(host)
        causes = slot.causes
        causes[cause] = causes.get(cause, 0) + 1
        url = reading.issuer_url
        if url:
            urls = slot.issuer_urls
            if url not in urls and len(urls) < MAX_ISSUER_URLS:
                urls.append(url)
        cleaned = _CLEANED.get
        serial = get("serial", "")
        if serial:
            serial = cleaned(serial) or _clean_new(serial)
            if serial:
                slot.devices.add(serial)
        # "YYYY/MM/DD HH:MM:SS" sorts as text; "" (unknown) never wins (see _earliest).
        if when:
            if not slot.first_seen or when < slot.first_seen:
                slot.first_seen = when
            if when > slot.last_seen:
                slot.last_seen = when
        samples = slot.samples
        if len(samples) < MAX_SAMPLES:
            logid = _clean(get("logid", ""))
            if logid and logid not in samples:
                samples.append(logid)
        self.counted += 1
        if cause != _PINNING:
            # Thresholds count pinning entries only: the rest is shown under its cause.
            return
        slot.hits += 1
        day_key = (host, when[:10])
        per_day = self._per_day
        per_day[day_key] = per_day.get(day_key, 0) + 1
        errors = slot.errors
        errors[reading.alert] = errors.get(reading.alert, 0) + 1
        user = get("srcuser", "")
        client = self._client_keys(get("src", ""), user)
        if client is not None:
            slot.clients.add(client)
        if user:
            user = cleaned(user) or _clean_new(user)
            if user:
                slot.users.add(user)
        app = get("app", "")
        if app:
            app = cleaned(app) or _clean_new(app)
            if app:
                slot.apps.add(app)
        for rule in (get("rule", ""), get("policy_name", "")):
            if rule:
                rule = cleaned(rule) or _clean_new(rule)
                if rule:
                    slot.rules.add(rule)

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
        """``(YYYY/MM/DD, candidate)`` per day and host (needs ``by_day=True``), every cause."""
        if not self._by_day:
            raise ValueError("Aggregator(by_day=True) is needed for daily evidence")
        return [(day, ev.to_candidate()) for (day, _), ev in sorted(self._acc.items())]

    def split(
        self, covering_names: Sequence[str] = ()
    ) -> tuple[tuple[Candidate, ...], tuple[Candidate, ...]]:
        """``(candidates, not_pinning)`` in one pass over the hosts, ``covered_by`` set."""
        names = list(covering_names)
        return split_pinning(
            ev.to_candidate(covering_entry(host, names) if names else None)
            for host, ev in self.hosts().items()
        )

    def candidates(self, covering_names: Sequence[str] = ()) -> tuple[Candidate, ...]:
        """Hosts with pinning entries, by hits (descending) then host, ``covered_by`` set."""
        return self.split(covering_names)[0]

    def not_pinning(self, covering_names: Sequence[str] = ()) -> tuple[Candidate, ...]:
        """Hosts whose entries hold no pinning cause, most entries first."""
        return self.split(covering_names)[1]

    def result(
        self,
        *,
        query: str,
        logs_read: int,
        truncated: bool,
        since: str | None,
        until: str | None,
        covering_names: Sequence[str] = (),
    ) -> ScanResult:
        """What the entries folded so far amount to, as one scan's result."""
        pinning, others = self.split(covering_names)
        return ScanResult(
            query=query,
            logs_read=logs_read,
            candidates=pinning,
            rejected=self.rejected(),
            truncated=truncated,
            since=since,
            until=until,
            not_pinning=others,
            scope=self.scope,
            out_of_scope=self.out_of_scope,
            timeline=self.timeline(),
        )

    def timeline(self) -> dict[str, list[tuple[str, int]]]:
        """Pinning entries per host and day, days in order (entries without a time left out)."""
        return timeline_of(
            (host, day, count) for (host, day), count in self._per_day.items() if day
        )

    def rejected(self) -> tuple[Rejected, ...]:
        """Values that are no host name, once each with their count, most frequent first."""
        items = sorted(self._rejected.items(), key=lambda kv: (-kv[1], kv[0]))
        return tuple(Rejected(value, reason, count) for (value, reason), count in items)


def timeline_of(rows: Iterable[tuple[str, str, int]]) -> dict[str, list[tuple[str, int]]]:
    """``(host, day, count)`` rows as ``{host: [(day, count), ...]}``, hosts and days sorted."""
    series: dict[str, dict[str, int]] = {}
    for host, day, count in rows:
        if count > 0:
            days = series.setdefault(host, {})
            days[day] = days.get(day, 0) + count
    return {host: sorted(days.items()) for host, days in sorted(series.items())}


_PINNING = Cause.PINNING.value
_TRUNCATED = Cause.TRUNCATED_NAME.value


def remedy_of(c: Candidate) -> str:
    """The one-line remedy for a host: pinning's when it is a candidate, else its main cause's."""
    cause = _PINNING if c.hits > 0 else main_cause(c.causes)
    text = REMEDIES[cause]
    trust = {cause: n for cause, n in c.causes.items() if cause in TRUST_CAUSES and n > 0}
    if c.hits > 0 and trust:
        # The review decide gives such a host is about the trust causes: their remedy, not
        # that of whichever other cause has more entries.
        text = "review: " + REMEDIES[main_cause(trust)]
    if Cause.INCOMPLETE_CHAIN.value in c.causes and c.issuer_urls:
        text += f" ({c.issuer_urls[0]}, named by the server's certificate)"
    return text


def candidate_dict(c: Candidate) -> dict[str, object]:
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
        "causes": dict(c.causes),
        "remedy": remedy_of(c),
        "issuer_urls": list(c.issuer_urls),
    }


def not_pinning_dict(c: Candidate) -> dict[str, object]:
    """A host reported under its cause (scan JSON ``not_pinning``)."""
    return {
        "host": c.host,
        "cause": main_cause(c.causes),
        "entries": sum(c.causes.values()),
        "causes": dict(c.causes),
        "remedy": remedy_of(c),
        "issuer_urls": list(c.issuer_urls),
        "first_seen": c.first_seen,
        "last_seen": c.last_seen,
        "devices": list(c.devices),
        "covered_by": c.covered_by,
    }
