"""Property tests for decide(): order independence and the safety invariants of every run."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from panpin.decide.engine import DecisionSet, decide
from panpin.decide.policy import Policy, parse_policy
from panpin.errors import InvalidHost
from panpin.hosts import normalize_host, wildcard_matches
from panpin.panos.exclusions import ExclusionEntry
from panpin.panos.marker import Marker, parse_marker
from panpin.scan.evidence import Candidate

TODAY = date(2026, 11, 26)
CHANGE = "c-20261126-0932-a1b2"
SETTINGS = settings(max_examples=80, deadline=None)

POLICY = """\
version: 1
signals: {strong: [UnknownCA, BadCertificate], weak: [CertificateUnknown]}
thresholds: {min_hits: 3, min_clients: 2}
defaults: {action: DEFAULT_ACTION, expires: 30d}
limits: {max_changes_per_run: LIMIT}
rules:
  - name: bank
    match: {domain: bank.example}
    action: block
  - name: shop-app
    # A regex block: the policy check cannot intersect it with *.shop.example, decide() can.
    match: {regex: '(.*\\.)?shop\\.example', apps: [shopping]}
    action: block
  - name: pay
    match: {host: pay.vendor.example}
    action: allow
    expires: 7d
  - name: vendor
    match: {host: "*.vendor.example"}
    action: allow
    exclude_as: "*.vendor.example"
    ticket: CHG-1
  - name: cdn
    match: {regex: '[a-z0-9.]+\\.cdn\\.example'}
    action: allow
    exclude_as: "*.cdn.example"
  - name: shop
    match: {host: "*.shop.example"}
    action: allow
    exclude_as: "*.shop.example"
  - name: corp
    match: {domain: corp.example}
    action: review
"""

BASES = [
    "vendor.example",
    "bank.example",
    "cdn.example",
    "shop.example",
    "corp.example",
    "o.example",
]
SUBS = ["a", "pay", "www", "api1", "x.y"]
ALERTS = ["UnknownCA", "BadCertificate", "CertificateUnknown", "HandshakeFailure"]

host = st.one_of(
    st.builds(lambda s, b: f"{s}.{b}", st.sampled_from(SUBS), st.sampled_from(BASES)),
    st.sampled_from(["WWW.Vendor.Example.", "bad host", "[::1]", "o.example"]),
)
candidate = st.builds(
    lambda h, errors, clients, apps: Candidate(
        host=h,
        hits=sum(errors.values()),
        clients=tuple(f"10.0.0.{i}" for i in range(clients)),
        errors=errors,
        apps=tuple(apps),
        first_seen="2026/11/20 10:00:00",
        last_seen="2026/11/25 10:00:00",
    ),
    host,
    st.dictionaries(st.sampled_from(ALERTS), st.integers(0, 6), max_size=3),
    st.integers(1, 4),
    st.lists(st.sampled_from(["ssl", "shopping", "incomplete"]), max_size=2, unique=True),
)
entry_name = st.one_of(
    st.builds(lambda s, b: f"{s}.{b}", st.sampled_from(SUBS), st.sampled_from(BASES)),
    st.sampled_from(["*.vendor.example", "*.cdn.example", "*.shop.example"]),
)
entry_body = st.one_of(
    st.builds(
        lambda days, exclude: (
            Marker("c-20260101-0000-0000", "old", None, TODAY + timedelta(days=days)).render(),
            exclude,
        ),
        st.integers(-30, 30),
        st.booleans(),
    ),
    st.tuples(st.sampled_from(["", "by hand", "expires=2020-01-01"]), st.booleans()),
)
entries = st.dictionaries(entry_name, entry_body, max_size=5).map(
    lambda d: [ExclusionEntry(name, desc, exclude) for name, (desc, exclude) in d.items()]
)
policies = st.builds(
    lambda action, limit: parse_policy(
        POLICY.replace("DEFAULT_ACTION", action).replace("LIMIT", str(limit)), "p.yaml"
    ),
    st.sampled_from(["review", "allow"]),
    st.integers(0, 4),
)


def dump(result: DecisionSet) -> str:
    return json.dumps(result.to_dict(), sort_keys=True)


@SETTINGS
@given(st.lists(candidate, max_size=8), entries, policies, st.randoms(use_true_random=False))
def test_order_of_inputs_never_changes_the_output(
    cands: list[Candidate], current: list[ExclusionEntry], pol: Policy, rnd: random.Random
) -> None:
    first = decide(cands, pol, current, today=TODAY, change_id=CHANGE)
    shuffled_c, shuffled_e = cands[:], current[:]
    rnd.shuffle(shuffled_c)
    rnd.shuffle(shuffled_e)
    again = decide(shuffled_c, pol, shuffled_e, today=TODAY, change_id=CHANGE)
    assert dump(again) == dump(first)


@SETTINGS
@given(st.lists(candidate, max_size=8), entries, policies)
def test_safety_invariants(
    cands: list[Candidate], current: list[ExclusionEntry], pol: Policy
) -> None:
    result = decide(cands, pol, current, today=TODAY, change_id=CHANGE)
    by_name = {e.name: e for e in current}

    # The limit holds, and nothing is dropped silently: each planned change is applied or cut.
    assert result.changes <= pol.limits.max_changes_per_run
    assert len({e.name for e in result.adds}) == len(result.adds)

    # Person entries are never removed or rewritten; only expired panpin entries are removed.
    for entry in result.removes:
        assert entry in current and entry.owner == "panpin"
        assert entry.expires is not None and entry.expires < TODAY
    for entry in result.adds:
        existing = by_name.get(entry.name)
        assert existing is None or (
            existing.owner == "panpin" and existing.expires is not None and existing.expires < TODAY
        )
        marker = parse_marker(entry.description)
        assert marker is not None and marker.change_id == CHANGE
        assert marker.expires is not None and marker.expires >= TODAY

    # One decision per valid host, one per invalid raw value.
    valid: set[str] = set()
    invalid: set[str] = set()
    for c in cands:
        try:
            valid.add(normalize_host(c.host))
        except InvalidHost:
            invalid.add(c.host)
    host_decisions = [
        d
        for d in result.decisions
        if not (d.action in ("remove", "cut") and d.entry is not None and d.entry in current)
    ]
    assert sorted(d.host for d in host_decisions) == sorted(valid | invalid)

    blocked = [d.host for d in result.decisions if d.action == "block"]
    for decision in result.decisions:
        assert decision.reason
        if decision.action == "allow":
            assert decision.entry in result.adds
            assert wildcard_matches(decision.entry.name, decision.host)
        if decision.action == "insufficient-evidence":
            assert decision.rule is None
    # No entry this run adds excludes a host this run blocks.
    for entry in result.adds:
        assert not any(wildcard_matches(entry.name, h) for h in blocked)
