"""Property tests for policy matching: first match wins, wildcard and domain semantics."""

from __future__ import annotations

import re
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from panpin.decide.policy import (
    Defaults,
    Duration,
    Expiry,
    Limits,
    Match,
    Policy,
    Rule,
    Signals,
    Thresholds,
    parse_policy,
)
from panpin.hosts import wildcard_matches

SETTINGS = settings(max_examples=100, deadline=None)

label = st.sampled_from(["a", "b", "api", "www", "x1", "eu"])
base_domain = st.sampled_from(["vendor.example", "bank.example", "partner.example"])
host = st.builds(
    lambda subs, base: ".".join([*subs, base]), st.lists(label, max_size=3), base_domain
)
pattern = st.builds(
    lambda subs, base: ".".join([*subs, base]),
    st.lists(st.one_of(label, st.just("*")), max_size=3),
    base_domain,
)
match = st.one_of(
    pattern.map(lambda p: Match(host=p)),
    st.one_of(base_domain, host).map(lambda d: Match(domain=d)),
    st.sampled_from(["api[0-9]*\\..*", "www\\.[a-z]+\\.example", ".*bank.*"]).map(
        lambda r: Match(regex=re.compile(r))
    ),
    st.sampled_from(["ssl", "incomplete"]).map(lambda a: Match(apps=(a,))),
)


def make_policy(matches: list[Match]) -> Policy:
    rules = tuple(
        Rule(name=f"r{i}", match=m, action="review", index=i) for i, m in enumerate(matches)
    )
    return Policy(
        version=1,
        signals=Signals(strong=("UnknownCA",)),
        thresholds=Thresholds(1, 1, Duration("7d", timedelta(days=7))),
        defaults=Defaults("review", Expiry("90d", after=timedelta(days=90))),
        limits=Limits(25),
        rules=rules,
    )


@SETTINGS
@given(st.lists(match, min_size=1, max_size=6), host, st.lists(st.sampled_from(["ssl", "dns"])))
def test_first_match_is_the_lowest_index_rule_that_matches(
    matches: list[Match], name: str, apps: list[str]
) -> None:
    policy = make_policy(matches)
    expected = next(
        (r for r in policy.rules if r.match.matches(name, apps, {"UnknownCA": 1})), None
    )
    assert policy.first_match(name, apps, {"UnknownCA": 1}) == expected
    # Rules after the winner never change the outcome.
    if expected is not None:
        extended = make_policy([*matches, Match(domain="example")])
        assert extended.first_match(name, apps, {"UnknownCA": 1}) == expected


@SETTINGS
@given(pattern, host)
def test_host_matcher_is_pan_os_wildcard_semantics(p: str, name: str) -> None:
    assert Match(host=p).matches(name, (), {}) == wildcard_matches(p, name)
    if Match(host=p).matches(name, (), {}):
        assert len(p.split(".")) == len(name.split("."))


@SETTINGS
@given(host, label, st.sampled_from(["evil.com", "example.net", "attacker.example"]))
def test_domain_matcher_never_matches_a_look_alike(domain: str, x: str, evil: str) -> None:
    m = Match(domain=domain)
    assert m.matches(domain, (), {})
    assert m.matches(f"{x}.{domain}", (), {})
    for look_alike in (
        f"{domain}.{evil}",
        f"not{domain}",
        f"{x}{domain}",
        f"{domain}x",
        f"{domain}-{x}.example",
    ):
        assert not m.matches(look_alike, (), {}), look_alike


def test_domain_look_alikes_from_the_issue() -> None:
    loaded = parse_policy(
        "version: 1\nrules:\n  - name: bank\n    match: {domain: bank.example}\n    action: block\n"
    )
    for look_alike in ("bank.example.evil.com", "notbank.example", "bank.examplex"):
        assert loaded.first_match(look_alike) is None
    for real in ("bank.example", "www.bank.example", "a.b.bank.example"):
        assert loaded.first_match(real) is not None
