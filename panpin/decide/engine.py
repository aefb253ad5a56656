"""Candidates + policy + the current exclusion list -> decisions. Pure and deterministic.

:func:`decide` touches neither the device nor the state database: the same inputs (in any order)
give the same :class:`DecisionSet`, byte for byte in ``json.dumps(to_dict(), sort_keys=True)``.

Each host gets exactly one decision; the first step that applies wins:

1. ``rejected``: the host is not a valid DNS name (it can never reach an xpath).
2. ``block``: a matching ``block`` rule, wherever it stands in the rulebase, or a ``never_allow``
   domain. Checked before anything else so a protected host is always reported, even when an
   existing entry already excludes it (the reason says so).
3. ``covered``: a live entry (exact or wildcard, ``exclude: yes``) already matches, or an enabled
   predefined exclusion does (where the device showed them): nothing to do.
4. ``review``: a live entry matching the host is disabled (``exclude: no``); someone chose that.
5. the causes of the host's entries (:mod:`panpin.scan.causes`): a wildcard certificate CN
   logged without SNI is ``review`` (the server's name is unknown; never a wildcard add); any
   ``untrusted-server`` or ``incomplete-chain`` entry makes the host ``review`` (the firewall
   could not verify the server: the client's refusal is the protection working); a host with no
   ``pinning`` entry is ``not-pinning``, with its causes and remedy. No rule overrides this.
6. ``insufficient-evidence``: below ``min_hits``/``min_clients``. Only strong-signal hits count,
   plus weak-signal hits when the host has at least one strong hit; other alerts never count.
   Clients are counted by the policy's ``thresholds.clients`` (user, else address folded to its
   network: :mod:`panpin.scan.clients`), so one machine's many addresses are one client.
7. the action of the first matching rule, else ``defaults.action``: ``review`` or ``allow``.
   An ``allow`` whose ``exclude_as`` does not cover the host, or whose fixed expiry date has passed,
   becomes ``review``: never a silent add. So does an ``allow`` by a rule with
   ``require_confirmation: true`` unless ``confirmations`` (from a packet capture, see
   :mod:`panpin.capture`) says ``confirmed`` for the host.

Then, over the whole run: an allowed host whose ``exclude_as`` wildcard would also cover a host decided ``block`` wants
its own name instead (a block always wins; the reason says so); hosts allowed under the same
entry name become ONE add; an exact-host
add that a planned wildcard add covers is folded into it; an add that would also cover a host
decided ``block``, or overlap a disabled entry, is turned into ``review`` for all its hosts; an add
whose entry a rollback holds out (``holds``) is ``held`` for all its hosts. panpin-owned entries whose expiry is
before ``today`` are removed, unless this run re-adds the same name (a renewal, one change).
Entries owned by a person are never removed or re-described. Finally ``max_changes_per_run`` caps
adds + removes: removals go first (they shrink what bypasses decryption, and their expiry was
approved in advance), then adds by counted hits (descending), then name. Whatever does not fit
is reported in ``cut`` and its hosts get the decision ``cut``.

"Live" entries are the current entries minus the expired panpin entries this run removes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Final, Literal

from panpin.decide.policy import Policy, Rule, Signals, rule_digest
from panpin.errors import InvalidHost
from panpin.hosts import (
    covering_entry,
    is_wildcard,
    normalize_host,
    patterns_overlap,
    public_suffix_reach,
    validate_exclusion_name,
    wildcard_matches,
)
from panpin.panos.exclusions import ExclusionEntry
from panpin.panos.marker import CHANGE_ID_RE, Marker
from panpin.scan.causes import REMEDIES, TRUST_CAUSES, Cause, describe_causes, main_cause
from panpin.scan.clients import DEFAULT_CLIENT_COUNTING, ClientCounting, fold_client
from panpin.scan.evidence import Candidate

PINNING: Final = Cause.PINNING.value

DecisionAction = Literal[
    "allow",
    "block",
    "review",
    "insufficient-evidence",
    "not-pinning",
    "covered",
    "held",  # a rollback removed this entry; its hold keeps it out (panpin release HOST)
    "rejected",
    "remove",
    "cut",
    "restore",  # a rollback plan re-adds an entry the change removed
]
# Also the order of decisions that share a host.
DECISION_ACTIONS: Final[tuple[DecisionAction, ...]] = (
    "allow",
    "block",
    "review",
    "insufficient-evidence",
    "not-pinning",
    "covered",
    "held",
    "rejected",
    "remove",
    "cut",
)
_ACTION_ORDER: Final = {action: i for i, action in enumerate(DECISION_ACTIONS)}
# What panpin.capture says about a host; kept here so decide stays free of packet parsing.
CONFIRMATION_STATUSES: Final = ("confirmed", "likely", "not-pinning", "not-seen")


@dataclass(frozen=True)
class Decision:
    """What happens to one host (or, for ``remove``, one expired entry) and why.

    ``rule`` is the rule whose action or settings produced this outcome; it is ``None`` when the
    defaults, the thresholds, an existing entry or an invalid host name decided (the reason then
    still names the rule that matched, if any). For ``remove`` it is the rule recorded in the
    entry's marker. ``entry`` is the entry added (``allow``), removed (``remove``) or deferred
    (``cut``).
    """

    host: str
    action: DecisionAction
    rule: str | None
    reason: str
    entry: ExclusionEntry | None = None
    covered_by: str | None = None
    counted_hits: int = 0
    clients: int = 0
    # What a packet capture says about the host (confirmed, likely, not-pinning, not-seen), when
    # decide() was given capture results for it.
    confirmation: str | None = None
    # The content digest of ``rule`` (panpin.decide.policy.rule_digest) on an ``allow``: the
    # journal keeps it so a rollback's hold can end when that rule changes.
    rule_sha256: str | None = None

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "host": self.host,
            "action": self.action,
            "rule": self.rule,
            "reason": self.reason,
            "entry": _entry_dict(self.entry) if self.entry is not None else None,
            "covered_by": self.covered_by,
            "counted_hits": self.counted_hits,
            "clients": self.clients,
        }
        if self.rule_sha256 is not None:
            data["rule_sha256"] = self.rule_sha256
        # Only present when a capture was consulted, so plans made without one keep their shape.
        if self.confirmation is not None:
            data["confirmation"] = self.confirmation
        return data


@dataclass(frozen=True)
class CutChange:
    """A change ``max_changes_per_run`` deferred to a later run, with the hosts it concerns."""

    change: Literal["add", "remove"]
    entry: ExclusionEntry
    hosts: tuple[str, ...]
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {
            "change": self.change,
            "entry": _entry_dict(self.entry),
            "hosts": list(self.hosts),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Hold:
    """A rollback removed entry ``entry``: runs do not add it again while the hold lasts.

    It lasts until ``until`` (inclusive), until the rule that had allowed it (``rule``, whose
    content digest was ``rule_sha256``) changes or goes, or until ``panpin release``.
    """

    entry: str
    rule: str | None
    rule_sha256: str | None
    until: date
    change_id: str  # the rollback that made the hold
    rollback_of: str  # the change whose entry it removed


def active_holds(
    holds: Iterable[Hold], policy: Policy, today: date
) -> tuple[dict[str, Hold], list[tuple[Hold, str]]]:
    """The holds that still keep their entry out (by lower-case entry name), and those that
    ended, each with why: expired, or the rule that allowed the entry changed or is gone."""
    digests = {r.name: rule_digest(r) for r in policy.rules}
    active: dict[str, Hold] = {}
    ended: list[tuple[Hold, str]] = []
    for hold in holds:
        if hold.until < today:
            ended.append((hold, f"expired on {hold.until.isoformat()}"))
        elif hold.rule is not None and hold.rule not in digests:
            ended.append((hold, f"rule {hold.rule!r} is no longer in the policy"))
        elif (
            hold.rule is not None
            and hold.rule_sha256 is not None
            and digests[hold.rule] != hold.rule_sha256
        ):
            ended.append((hold, f"rule {hold.rule!r} changed since the rollback"))
        else:
            active[hold.entry.lower()] = hold
    return active, ended


@dataclass(frozen=True)
class DecisionSet:
    """All decisions of one run, and the entry changes they amount to (at most the limit)."""

    change_id: str
    today: date
    decisions: tuple[Decision, ...]
    adds: tuple[ExclusionEntry, ...]
    removes: tuple[ExclusionEntry, ...]
    cut: tuple[CutChange, ...] = ()

    @property
    def changes(self) -> int:
        return len(self.adds) + len(self.removes)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(DECISION_ACTIONS, 0)
        for decision in self.decisions:
            counts[decision.action] += 1
        return counts

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form: fixed key order, dates as ISO strings, lists in a stable order."""
        hosts_by_entry: dict[str, list[str]] = {}
        for decision in self.decisions:
            if decision.action == "allow" and decision.entry is not None:
                hosts_by_entry.setdefault(decision.entry.name, []).append(decision.host)
        return {
            "change_id": self.change_id,
            "today": self.today.isoformat(),
            "counts": self.counts(),
            "decisions": [d.to_dict() for d in self.decisions],
            "adds": [
                {
                    **_entry_dict(e),
                    "hosts": sorted(hosts_by_entry.get(e.name, [])),
                    "reach": entry_reach(e.name),
                }
                for e in self.adds
            ],
            "removes": [_entry_dict(e) for e in self.removes],
            "cut": [c.to_dict() for c in self.cut],
        }


# How an allow reason ends: what the entry exempts (the report shows it in a column of its own).
REACH_NOTE: Final = "; reach on the device: "


def entry_reach(name: str) -> str:
    """What an entry really exempts, for the people who review it.

    The device matches an entry against the SNI the client asked for or the CN of the server's
    certificate, and its docs say sessions whose server CN *contains* the entry's name are
    excluded: the reach can be wider than the name reads.
    """
    return (
        f"sessions whose SNI matches {name!r}, or whose server certificate CN matches or "
        f"contains it"
    )


def _entry_dict(entry: ExclusionEntry) -> dict[str, object]:
    marker = entry.marker
    return {
        "name": entry.name,
        "description": entry.description,
        "exclude": entry.exclude,
        "owner": entry.owner,
        "rule": marker.rule if marker is not None else None,
        "expires": entry.expires.isoformat() if entry.expires is not None else None,
    }


# --- internals -----------------------------------------------------------------------------------


@dataclass
class _Evidence:
    """A candidate's evidence under its normalised host; duplicates after normalisation merge."""

    host: str
    errors: dict[str, int] = field(default_factory=dict)
    clients: set[str] = field(default_factory=set)
    apps: set[str] = field(default_factory=set)
    causes: dict[str, int] = field(default_factory=dict)
    issuer_urls: list[str] = field(default_factory=list)

    def add(self, candidate: Candidate, counting: ClientCounting = DEFAULT_CLIENT_COUNTING) -> None:
        # A candidate built without causes (a library caller's own) holds pinning hits only.
        causes = candidate.causes or ({PINNING: candidate.hits} if candidate.hits > 0 else {})
        for cause, count in causes.items():
            self.causes[cause] = self.causes.get(cause, 0) + max(count, 0)
        for url in candidate.issuer_urls:
            if url not in self.issuer_urls:
                self.issuer_urls.append(url)
        for alert, count in candidate.errors.items():
            self.errors[alert] = self.errors.get(alert, 0) + max(count, 0)
        # Counted by the policy's rule whatever the scan handed over (client keys, or bare
        # addresses from evidence stored earlier): many IPv6 addresses of one /64 are one client.
        for client in candidate.clients:
            key = fold_client(client, counting)
            if key is not None:
                self.clients.add(key)
        self.apps.update(candidate.apps)


@dataclass(frozen=True)
class _Allowed:
    """A host that passed every check and wants entry ``name``; grouped before it becomes an add."""

    host: str
    rule: Rule | None
    name: str
    expires: date
    counted_hits: int
    clients: int
    reason: str


@dataclass(frozen=True)
class _Count:
    strong: int
    weak: int
    ignored: dict[str, int]

    @property
    def counted(self) -> int:
        # Weak alerts corroborate strong ones; alone they prove nothing (e.g. a broken client).
        return self.strong + (self.weak if self.strong > 0 else 0)


def _count(errors: Mapping[str, int], signals: Signals) -> _Count:
    strong = sum(errors.get(name, 0) for name in signals.strong)
    weak = sum(errors.get(name, 0) for name in signals.weak)
    known = set(signals.strong) | set(signals.weak)
    ignored = {k: v for k, v in sorted(errors.items()) if k not in known and v > 0}
    return _Count(strong, weak, ignored)


def _is_expired(entry: ExclusionEntry, today: date) -> bool:
    # Only panpin's own entries expire; a person's entry has no marker and so no expiry.
    return entry.owner == "panpin" and entry.expires is not None and entry.expires < today


def _rule_key(rule: Rule | None) -> int:
    # Defaults rank after every rule.
    return rule.index if rule is not None else 1 << 30


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


@dataclass(frozen=True)
class _View:
    """The current list as decide() sees it: live entries, and what this run removes."""

    expired: tuple[ExclusionEntry, ...]
    live: tuple[ExclusionEntry, ...]
    predefined: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, entries: Iterable[ExclusionEntry], today: date, predefined: Iterable[str] = ()
    ) -> _View:
        ordered = sorted(entries, key=lambda e: (e.name.lower(), e.description, e.exclude))
        return cls(
            expired=tuple(e for e in ordered if _is_expired(e, today)),
            live=tuple(e for e in ordered if not _is_expired(e, today)),
            predefined=tuple(sorted(predefined)),
        )

    def predefined_covering(self, host: str) -> str | None:
        return covering_entry(host, self.predefined) if self.predefined else None

    def covering(self, host: str) -> ExclusionEntry | None:
        name = covering_entry(host, [e.name for e in self.live if e.exclude])
        return next((e for e in self.live if e.exclude and e.name == name), None)

    def disabled_matching(self, pattern: str) -> ExclusionEntry | None:
        return next(
            (e for e in self.live if not e.exclude and patterns_overlap(pattern, e.name)), None
        )


def decide(
    candidates: Iterable[Candidate],
    policy: Policy,
    current_entries: Iterable[ExclusionEntry],
    *,
    today: date,
    change_id: str,
    confirmations: Mapping[str, str] | None = None,
    predefined: Iterable[str] = (),
    holds: Mapping[str, Hold] | None = None,
) -> DecisionSet:
    """Decide every candidate host and the entry changes that follow; pure, touches nothing.

    ``predefined`` names the enabled predefined exclusions where the device showed them: a host
    one covers is ``covered`` by it (step 3). ``holds`` (from :func:`active_holds`, by lower-case
    entry name) keep entries a rollback removed out: their hosts are ``held``.

    ``current_entries`` is the exclusion list as it is now at the location; ``today`` dates the
    expiry of added entries and finds expired ones; ``change_id`` goes into every added marker.
    ``confirmations`` maps hosts to what a packet capture says (``confirmed``, ``likely``,
    ``not-pinning``, ``not-seen``); ``None`` means no capture was given. Rules with
    ``require_confirmation`` allow only ``confirmed`` hosts, and every decision whose host has a
    result carries it in ``confirmation``.
    """
    if not CHANGE_ID_RE.match(change_id):
        # It is written into every marker, which is split on spaces: a caller bug, not input.
        raise ValueError(f"malformed change id {change_id!r}")
    view = _View.of(current_entries, today, predefined)
    confirmed = _confirmations(confirmations)
    decisions: list[Decision] = []
    evidence: dict[str, _Evidence] = {}
    rejected: dict[str, str] = {}
    unnamed: dict[str, _Evidence] = {}
    for candidate in candidates:
        try:
            host = normalize_host(candidate.host)
        except InvalidHost as exc:
            wild = _unnamed_wildcard(candidate.host)
            if wild is not None:
                # A wildcard certificate CN logged without SNI (panpin.scan.evidence).
                unnamed.setdefault(wild, _Evidence(wild)).add(candidate, policy.thresholds.clients)
                continue
            rejected[candidate.host] = exc.reason
            continue
        evidence.setdefault(host, _Evidence(host)).add(candidate, policy.thresholds.clients)
    for value, reason in rejected.items():
        decisions.append(Decision(value, "rejected", None, f"not a valid host name: {reason}"))
    for name, ev in sorted(unnamed.items()):
        decisions.append(
            Decision(
                name,
                "review",
                None,
                f"no SNI: the server's name is unknown (the certificate's CN is the wildcard "
                f"{name!r}; {describe_causes(ev.causes)}); panpin never adds a wildcard from "
                "a log; find the name the clients ask for (a capture) and decide that host",
                counted_hits=ev.causes.get(PINNING, 0),
                clients=len(ev.clients),
            )
        )

    allowed: list[_Allowed] = []
    blocked: dict[str, str] = {}  # host -> what blocks it ("rule 'x'", "the never_allow list")
    for host in sorted(evidence):
        outcome = _judge(evidence[host], policy, view, today, confirmed)
        if isinstance(outcome, _Allowed):
            allowed.append(outcome)
            continue
        if outcome.action == "block":
            blocked[host] = (
                f"rule {outcome.rule!r}" if outcome.rule is not None else "the never_allow list"
            )
        decisions.append(outcome)

    allowed = _singles_where_blocked(allowed, blocked)
    groups = _group(allowed)
    for name in sorted(groups):
        conflict = _conflict(name, blocked, view)
        if conflict is None:
            continue
        for member in groups.pop(name):
            decisions.append(
                _member_decision(member, "review", None, f"{member.reason}; {conflict}")
            )

    for name in sorted(groups):
        hold = (holds or {}).get(name.lower())
        if hold is None:
            continue
        members = groups.pop(name)
        # The entry it would have added, so a reviewer sees what the hold keeps out.
        kept_out = _entry_for(name, members, change_id)
        for member in members:
            decisions.append(
                _member_decision(
                    member,
                    "held",
                    kept_out,
                    f"{member.reason}; but rollback {hold.change_id} removed {name!r} (added by "
                    f"{hold.rollback_of}) and holds it out until {hold.until.isoformat()}; "
                    f"`panpin release {name}` ends the hold",
                )
            )

    planned = {name: _entry_for(name, members, change_id) for name, members in groups.items()}
    renewed = {e.name.lower() for e in view.expired} & {n.lower() for n in planned}
    removals = [e for e in view.expired if e.name.lower() not in renewed]

    # Removals first, then adds by evidence; see the module docstring for why.
    ordered: list[tuple[Literal["add", "remove"], ExclusionEntry]] = [
        ("remove", e) for e in sorted(removals, key=lambda e: (e.expires or today, e.name))
    ]
    ordered += [
        ("add", planned[name])
        for name in sorted(groups, key=lambda n: (-sum(m.counted_hits for m in groups[n]), n))
    ]
    limit = policy.limits.max_changes_per_run
    kept, deferred = ordered[:limit], ordered[limit:]
    cut_reason = (
        f"deferred to a later run: max_changes_per_run is {limit} and this run already has "
        f"{_plural(len(kept), 'change')}"
    )

    adds: list[ExclusionEntry] = []
    removes: list[ExclusionEntry] = []
    cuts: list[CutChange] = []
    for kind, entry in kept:
        if kind == "remove":
            removes.append(entry)
            decisions.append(_removal(entry, "remove", _expired_reason(entry)))
            continue
        adds.append(entry)
        members = groups[entry.name]
        for member in members:
            reason = _allow_reason(member, entry, members, renewed)
            decisions.append(_member_decision(member, "allow", entry, reason))
    for kind, entry in deferred:
        if kind == "remove":
            cuts.append(CutChange("remove", entry, (entry.name,), cut_reason))
            reason = f"{_expired_reason(entry)}; removal {cut_reason}"
            decisions.append(_removal(entry, "cut", reason))
            continue
        members = groups[entry.name]
        reason = f"adding {entry.name!r} {cut_reason}"
        if entry.name.lower() in renewed:
            reason += "; the expired entry of that name stays until then"
        cuts.append(CutChange("add", entry, tuple(m.host for m in members), reason))
        for member in members:
            decisions.append(_member_decision(member, "cut", entry, f"{member.reason}; {reason}"))

    decisions = [_note_planned(d, adds) for d in decisions]
    if confirmed is not None:
        decisions = [
            replace(d, confirmation=confirmed[d.host.lower()]) if d.host.lower() in confirmed else d
            for d in decisions
        ]
    decisions.sort(key=lambda d: (d.host, _ACTION_ORDER[d.action], d.reason))
    return DecisionSet(
        change_id=change_id,
        today=today,
        decisions=tuple(decisions),
        adds=tuple(sorted(adds, key=lambda e: e.name)),
        removes=tuple(sorted(removes, key=lambda e: e.name)),
        cut=tuple(sorted(cuts, key=lambda c: (c.change, c.entry.name))),
    )


def _confirmations(raw: Mapping[str, str] | None) -> dict[str, str] | None:
    if raw is None:
        return None
    result: dict[str, str] = {}
    for host, status in raw.items():
        if status not in CONFIRMATION_STATUSES:
            # A caller bug (the capture module only returns these), not user input.
            raise ValueError(f"unknown confirmation status {status!r} for {host!r}")
        try:
            key = normalize_host(host)
        except InvalidHost:
            key = host.lower().rstrip(".")
        result[key] = status
    return result


def _needs_confirmation(
    rule: Rule | None, host: str, confirmed: dict[str, str] | None
) -> str | None:
    """Why an allow by ``rule`` must wait for a capture, or ``None`` when it may go ahead."""
    if rule is None or not rule.require_confirmation:
        return None
    status = confirmed.get(host) if confirmed is not None else None
    if status == "confirmed":
        return None
    if confirmed is None:
        said = "no capture was given (plan --confirm CAPTURE)"
    elif status is None:
        said = "the capture does not cover this host"
    else:
        said = f"the capture says {status}"
    return (
        f"needs confirmation by capture: rule {rule.name!r} allows only confirmed hosts and {said}"
    )


def _judge(
    ev: _Evidence,
    policy: Policy,
    view: _View,
    today: date,
    confirmed: dict[str, str] | None = None,
) -> Decision | _Allowed:
    """Steps 2-6 of the module docstring for one host: a final decision, or an allow to group."""
    host = ev.host
    # A block rule decides wherever it stands in the rulebase (Policy.deciding_rule).
    rule = policy.deciding_rule(host, sorted(ev.apps), ev.errors, ev.causes)
    count = _count(ev.errors, policy.signals)
    clients = len(ev.clients)
    # Outcomes decided by something other than the rule (an entry, the thresholds) name no rule
    # but still say which rule matched, so a reviewer sees what will happen once that changes.
    would = f" (rule {rule.name!r} would {rule.action})" if rule is not None else ""

    def decision(
        action: DecisionAction,
        reason: str,
        covered_by: str | None = None,
        *,
        by_rule: bool = True,
    ) -> Decision:
        name = rule.name if rule is not None and by_rule else None
        return Decision(host, action, name, reason, None, covered_by, count.counted, clients)

    cover = view.covering(host)
    shipped = view.predefined_covering(host)
    if rule is not None and rule.action == "block":
        reason = f"rule {rule.name!r} blocks this host; panpin never excludes it"
        if cover is not None:
            reason += (
                f"; note: existing entry {cover.name!r} (owned by {cover.owner}) already "
                "excludes it and panpin does not remove it: review that entry"
            )
        return decision("block", reason, cover.name if cover is not None else None)
    never = policy.never_allowed(host)
    if never is not None:
        reason = f"in never_allow domain {never!r}; panpin never excludes it{would}"
        if cover is not None:
            reason += f"; note: existing entry {cover.name!r} (owned by {cover.owner}) excludes it"
        return decision("block", reason, cover.name if cover is not None else None, by_rule=False)
    if cover is not None:
        reason = f"already excluded by existing entry {cover.name!r} (owned by {cover.owner})"
        return decision("covered", reason + would, cover.name, by_rule=False)
    if shipped is not None:
        reason = (
            f"already excluded by the predefined exclusion {shipped!r} (shipped with content "
            "updates and enabled at this location)"
        )
        return decision("covered", reason + would, shipped, by_rule=False)
    off = view.disabled_matching(host)
    if off is not None:
        return decision(
            "review",
            f"existing entry {off.name!r} (owned by {off.owner}) matches this host but is "
            f"disabled (exclude: no); panpin does not override that choice{would}",
            by_rule=False,
        )
    by_cause = _cause_outcome(ev)
    if by_cause is not None:
        action, reason = by_cause
        return decision(action, reason + would, by_rule=False)
    shortfall = _shortfall(count, clients, policy)
    if shortfall is not None:
        return decision("insufficient-evidence", shortfall + would, by_rule=False)
    evidence_text = f"{_plural(count.counted, 'counted hit')} from {_plural(clients, 'client')}"
    others = {c: n for c, n in ev.causes.items() if c != PINNING and n > 0}
    if others:
        evidence_text += f" (not counted: {describe_causes(others)})"
    action = rule.action if rule is not None else policy.defaults.action
    origin = f"rule {rule.name!r}" if rule is not None else "no rule matched; defaults.action"
    if action == "review":
        return decision("review", f"{origin} says review; {evidence_text}")
    name = rule.exclude_as if rule is not None and rule.exclude_as else host
    if not wildcard_matches(name, host):
        # Only a regex rule gets here: the policy check proves host matchers covered.
        return decision(
            "review",
            f"{origin} would add {name!r}, but that entry does not cover this host "
            "(one '*' is one label); add a rule for it or widen the match",
        )
    if not is_wildcard(name):
        # A wildcard name was judged by the policy check; a single host is judged here, as a
        # regex or the defaults can allow any name the log carries (``github.io`` itself).
        suffix = public_suffix_reach(name)
        if suffix is not None:
            return decision(
                "review",
                f"{origin} would add {name!r}, but it is or holds the public suffix {suffix!r} "
                "(Public Suffix List), and the device also exempts every certificate whose name "
                "contains it; never added automatically",
            )
    expiry = rule.expires if rule is not None and rule.expires else policy.defaults.expires
    expires = expiry.date_from(today)
    if expires < today:
        return decision(
            "review",
            f"{origin} would allow, but its expiry date {expires.isoformat()} has passed; "
            "update the policy",
        )
    waiting = _needs_confirmation(rule, host, confirmed)
    if waiting is not None:
        return decision("review", f"{waiting}; {evidence_text}")
    return _Allowed(
        host, rule, name, expires, count.counted, clients, f"{origin} allows; {evidence_text}"
    )


def _singles_where_blocked(
    allowed: Iterable[_Allowed], blocked: Mapping[str, str]
) -> list[_Allowed]:
    """Allowed hosts, each wanting its own name where its wildcard would cover a blocked host.

    The policy check refuses an ``exclude_as`` over what a ``host``/``domain`` block names; a
    ``regex`` block can only be checked against the hosts this run saw. A block always wins, so
    the wildcard is not added: each allowed host is added on its own, and its reason says why.
    """
    result: list[_Allowed] = []
    for item in allowed:
        hit = (
            next((h for h in sorted(blocked) if wildcard_matches(item.name, h)), None)
            if is_wildcard(item.name)
            else None
        )
        if hit is None:
            result.append(item)
            continue
        reason = (
            f"{item.reason}; added as the single host, not as {item.name!r}, because that "
            f"wildcard would also exclude {hit!r}, which {blocked[hit]} blocks"
        )
        result.append(replace(item, name=item.host, reason=reason))
    return result


def _conflict(name: str, blocked: Mapping[str, str], view: _View) -> str | None:
    """Why adding entry ``name`` would undo a decision someone made, or ``None``.

    A wildcard reaches hosts beyond the ones that asked for it: it must not exclude a host a
    block rule protects, nor bypass an entry a person disabled on purpose.
    """
    hit = next((h for h in sorted(blocked) if wildcard_matches(name, h)), None)
    if hit is not None:
        return f"but entry {name!r} would also exclude {hit!r}, which {blocked[hit]} blocks"
    off = view.disabled_matching(name)
    if off is not None:
        return (
            f"but entry {name!r} overlaps entry {off.name!r} (owned by {off.owner}), "
            "which is disabled (exclude: no)"
        )
    return None


def _unnamed_wildcard(host: str) -> str | None:
    if not is_wildcard(host):
        return None
    try:
        return validate_exclusion_name(host)
    except InvalidHost:
        return None


def _cause_outcome(ev: _Evidence) -> tuple[DecisionAction, str] | None:
    """Step 5 of the module docstring: what the causes of the host's entries settle, if anything."""
    trust = {c: n for c, n in ev.causes.items() if c in TRUST_CAUSES and n > 0}
    if trust:
        worst = main_cause(trust)
        reason = (
            f"the firewall could not verify this server ({describe_causes(trust)} "
            f"{'entry' if sum(trust.values()) == 1 else 'entries'}): the client refused the "
            f"forward-untrust certificate, as intended; never allowed; "
            f"{REMEDIES[worst]}"
        )
        if ev.issuer_urls:
            reason += f" (CA Issuer URL from the server's certificate: {ev.issuer_urls[0]})"
        return "review", reason
    if ev.causes.get(PINNING, 0) <= 0:
        cause = main_cause(ev.causes)
        return "not-pinning", (
            f"no pinning evidence ({describe_causes(ev.causes)}); {REMEDIES[cause]}"
        )
    return None


def _shortfall(count: _Count, clients: int, policy: Policy) -> str | None:
    """Why the evidence is not enough, or ``None`` when it meets the thresholds."""
    thresholds = policy.thresholds
    problems: list[str] = []
    if count.strong == 0:
        problems.append(
            f"no hits from a strong signal ({', '.join(policy.signals.strong)})"
            + (
                f"; {_plural(count.weak, 'weak-signal hit')} never count alone"
                if count.weak
                else ""
            )
        )
    elif count.counted < thresholds.min_hits:
        problems.append(
            f"{_plural(count.counted, 'counted hit')}, fewer than min_hits {thresholds.min_hits}"
        )
    if clients < thresholds.min_clients:
        problems.append(
            f"{_plural(clients, 'client')}, fewer than min_clients {thresholds.min_clients}"
        )
    if not problems:
        return None
    if count.ignored:
        ignored = ", ".join(f"{k}={v}" for k, v in count.ignored.items())
        problems.append(f"alerts in neither signal list do not count ({ignored})")
    return "; ".join(problems)


def _group(allowed: Iterable[_Allowed]) -> dict[str, list[_Allowed]]:
    """Hosts by the entry name they want; an exact name a wildcard group covers joins that group.

    One entry per name keeps the list short and counts as one change; folding exact names into a
    planned wildcard avoids adding an entry the wildcard already makes redundant.
    """
    groups: dict[str, list[_Allowed]] = {}
    for item in allowed:
        groups.setdefault(item.name, []).append(item)
    wildcards = sorted(name for name in groups if is_wildcard(name))
    for name in sorted(n for n in groups if not is_wildcard(n)):
        target = next((w for w in wildcards if wildcard_matches(w, name)), None)
        if target is not None:
            groups[target].extend(groups.pop(name))
    for members in groups.values():
        members.sort(key=lambda m: m.host)
    return groups


def _lead(name: str, members: Iterable[_Allowed]) -> _Allowed:
    """The member whose rule writes entry ``name``'s marker (ticket, expiry).

    Among the hosts that asked for this very name (not those folded in from an exact name), the
    earliest rule wins: the same rule that first-match order puts first.
    """
    own = [m for m in members if m.name == name]
    return min(own, key=lambda m: (_rule_key(m.rule), m.host))


def _entry_for(name: str, members: list[_Allowed], change_id: str) -> ExclusionEntry:
    lead = _lead(name, members)
    marker = Marker(
        change_id=change_id,
        rule=lead.rule.name if lead.rule is not None else None,
        ticket=lead.rule.ticket if lead.rule is not None else None,
        expires=lead.expires,
    )
    return ExclusionEntry(name=name, description=marker.render(), exclude=True)


def _allow_reason(
    member: _Allowed, entry: ExclusionEntry, members: list[_Allowed], renewed: set[str]
) -> str:
    expires = entry.expires.isoformat() if entry.expires is not None else "never"
    reason = f"{member.reason}; add {entry.name!r} expiring {expires}"
    others = len(members) - 1
    if others:
        reason += f" (one entry for this and {_plural(others, 'other host')})"
    lead = _lead(entry.name, members)
    if lead.rule is not member.rule:
        who = f"rule {lead.rule.name!r}" if lead.rule is not None else "the defaults"
        reason += f"; the entry is recorded under {who}"
    if entry.name.lower() in renewed:
        reason += "; renews the expired panpin entry of that name"
    # The reviewer must see what the entry really exempts, not only its name.
    return f"{reason}{REACH_NOTE}{entry_reach(entry.name)}"


def _member_decision(
    member: _Allowed, action: DecisionAction, entry: ExclusionEntry | None, reason: str
) -> Decision:
    return Decision(
        member.host,
        action,
        member.rule.name if member.rule is not None else None,
        reason,
        entry,
        None,
        member.counted_hits,
        member.clients,
        rule_sha256=(
            rule_digest(member.rule) if action == "allow" and member.rule is not None else None
        ),
    )


def _expired_reason(entry: ExclusionEntry) -> str:
    marker = entry.marker
    expires = entry.expires.isoformat() if entry.expires is not None else "?"
    change = f" by change {marker.change_id}" if marker is not None else ""
    return f"panpin entry expired on {expires} (added{change})"


def _removal(entry: ExclusionEntry, action: DecisionAction, reason: str) -> Decision:
    marker = entry.marker
    return Decision(entry.name, action, marker.rule if marker else None, reason, entry)


def _note_planned(decision: Decision, adds: Iterable[ExclusionEntry]) -> Decision:
    # A reviewer must know when an entry planned for other hosts also bypasses this one.
    if decision.action not in ("review", "insufficient-evidence"):
        return decision
    names = sorted(e.name for e in adds if wildcard_matches(e.name, decision.host))
    if not names:
        return decision
    note = f"; note: entry {names[0]!r} planned in this run also covers this host"
    return replace(decision, reason=decision.reason + note)
