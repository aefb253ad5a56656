"""decide(): every decision kind, grouping, expiry, limits, ownership and determinism."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import replace
from datetime import date

import pytest

from panpin.decide.engine import DECISION_ACTIONS, Decision, DecisionSet, decide
from panpin.decide.policy import Policy, parse_policy
from panpin.panos.exclusions import ExclusionEntry
from panpin.panos.marker import Marker, parse_marker
from panpin.scan.evidence import Candidate

TODAY = date(2026, 11, 26)
CHANGE = "c-20261126-0932-a1b2"

POLICY = """\
version: 1
signals:
  strong: [UnknownCA, BadCertificate]
  weak: [CertificateUnknown]
thresholds: {min_hits: 3, min_clients: 2, window: 7d}
defaults: {action: review, expires: 90d}
limits: {max_changes_per_run: 25}
rules:
  - name: never-bypass-banking
    match: {domain: bank.example}
    action: block
  - name: vendor-apps
    match: {host: "*.vendor.example"}
    action: allow
    exclude_as: "*.vendor.example"
    ticket: CHG-1042
    expires: 180d
  - name: partner-api
    match: {regex: '^api[0-9]*\\.partner\\.example$', apps: [incomplete]}
    action: allow
  - name: cdn
    match: {regex: '[a-z0-9.]+\\.cdn\\.example'}
    action: allow
    exclude_as: "*.cdn.example"
  - name: corp
    match: {domain: corp.example}
    action: review
  - name: sdk
    match: {host: telemetry.sdk.example}
    action: allow
    expires: 2026-01-31
  - name: shop
    # A regex block: the policy check cannot intersect it with *.shop.example, decide() can.
    match: {regex: '(.*\\.)?shop\\.example', apps: [shopping]}
    action: block
  - name: shop-wild
    match: {host: "*.shop.example"}
    action: allow
    exclude_as: "*.shop.example"
"""


def policy(text: str = POLICY, **replace: str) -> Policy:
    for old, new in replace.items():
        text = text.replace(old, new)
    return parse_policy(text, "policy.yaml")


def cand(
    host: str,
    errors: dict[str, int] | None = None,
    clients: int = 3,
    apps: Iterable[str] = ("ssl",),
) -> Candidate:
    errors = {"UnknownCA": 5} if errors is None else errors
    return Candidate(
        host=host,
        hits=sum(errors.values()),
        clients=tuple(f"10.0.0.{i}" for i in range(clients)),
        errors=errors,
        apps=tuple(apps),
        first_seen="2026/11/20 10:00:00",
        last_seen="2026/11/25 10:00:00",
    )


def panpin_entry(name: str, expires: date, rule: str | None = "old-rule") -> ExclusionEntry:
    marker = Marker("c-20260101-0000-0000", rule=rule, ticket=None, expires=expires)
    return ExclusionEntry(name=name, description=marker.render())


def run(
    candidates: Iterable[Candidate],
    entries: Iterable[ExclusionEntry] = (),
    pol: Policy | None = None,
) -> DecisionSet:
    return decide(list(candidates), pol or policy(), list(entries), today=TODAY, change_id=CHANGE)


def one(result: DecisionSet, host: str) -> Decision:
    found = [d for d in result.decisions if d.host == host]
    assert len(found) == 1, found
    return found[0]


# --- allow ---------------------------------------------------------------------------------------


def test_allow_adds_an_entry_with_the_marker_and_expiry() -> None:
    result = run([cand("api7.partner.example", apps=["incomplete"])])
    decision = one(result, "api7.partner.example")
    assert decision.action == "allow"
    assert decision.rule == "partner-api"
    assert result.adds == (decision.entry,)
    assert decision.entry is not None
    assert decision.entry.name == "api7.partner.example"
    assert decision.entry.description == (
        "panpin:c-20261126-0932-a1b2 rule=partner-api expires=2027-02-24"
    )
    assert decision.entry.owner == "panpin"
    assert decision.entry.expires == date(2027, 2, 24)  # today + defaults.expires (90d)
    assert result.removes == () and result.cut == ()


def test_hosts_under_one_exclude_as_give_one_add() -> None:
    hosts = ["a.vendor.example", "b.vendor.example", "c.vendor.example"]
    result = run([cand(h) for h in hosts])
    assert [e.name for e in result.adds] == ["*.vendor.example"]
    assert result.changes == 1
    entry = result.adds[0]
    marker = parse_marker(entry.description)
    assert marker == Marker(CHANGE, "vendor-apps", "CHG-1042", date(2027, 5, 25))
    for h in hosts:
        decision = one(result, h)
        assert decision.action == "allow" and decision.entry == entry
        assert "one entry for this and 2 other hosts" in decision.reason
    assert result.to_dict()["adds"] == [
        {
            "name": "*.vendor.example",
            "description": entry.description,
            "exclude": True,
            "owner": "panpin",
            "rule": "vendor-apps",
            "expires": "2027-05-25",
            "hosts": hosts,
            "reach": (
                "sessions whose SNI matches '*.vendor.example', or whose server certificate CN "
                "matches or contains it"
            ),
        }
    ]


def test_exact_add_is_folded_into_a_planned_wildcard() -> None:
    # pay.vendor.example asks for its own entry, but *.vendor.example, planned in the same run
    # for another host, already covers it: one add, recorded under the wildcard's rule.
    pol = policy(
        **{
            "rules:\n": "rules:\n  - name: pay\n    match: {host: pay.vendor.example}\n"
            "    action: allow\n"
        }
    )
    result = run([cand("pay.vendor.example"), cand("www.vendor.example")], pol=pol)
    assert [e.name for e in result.adds] == ["*.vendor.example"]
    pay = one(result, "pay.vendor.example")
    assert (pay.action, pay.rule) == ("allow", "pay")
    assert pay.entry == result.adds[0]
    assert "the entry is recorded under rule 'vendor-apps'" in pay.reason


def test_default_allow_names_no_rule_in_marker() -> None:
    pol = policy(**{"defaults: {action: review": "defaults: {action: allow"})
    result = run([cand("plain.example")], pol=pol)
    decision = one(result, "plain.example")
    assert decision.action == "allow" and decision.rule is None
    assert decision.entry is not None
    assert decision.entry.description == f"panpin:{CHANGE} expires=2027-02-24"
    assert "no rule matched; defaults.action allows" in decision.reason


def test_regex_host_outside_exclude_as_is_review_not_add() -> None:
    # The cdn regex also matches a.b.cdn.example, which *.cdn.example does not cover.
    result = run([cand("a.b.cdn.example"), cand("img.cdn.example")])
    deep = one(result, "a.b.cdn.example")
    assert deep.action == "review" and deep.rule == "cdn"
    assert "does not cover this host" in deep.reason
    assert [e.name for e in result.adds] == ["*.cdn.example"]


def test_rule_with_a_past_expiry_date_is_review() -> None:
    result = run([cand("telemetry.sdk.example")])
    decision = one(result, "telemetry.sdk.example")
    assert decision.action == "review" and decision.rule == "sdk"
    assert "2026-01-31 has passed" in decision.reason
    assert result.adds == ()


# --- block ---------------------------------------------------------------------------------------


def test_block_wins_even_with_little_evidence() -> None:
    result = run([cand("www.bank.example", errors={"UnknownCA": 1}, clients=1)])
    decision = one(result, "www.bank.example")
    assert decision.action == "block" and decision.rule == "never-bypass-banking"
    assert result.adds == ()


def test_block_is_reported_even_when_an_entry_already_covers_the_host() -> None:
    person = ExclusionEntry("www.bank.example", "added by Bob for INC-9")
    result = run([cand("www.bank.example")], [person])
    decision = one(result, "www.bank.example")
    assert decision.action == "block"
    assert decision.covered_by == "www.bank.example"
    assert "owned by person" in decision.reason and "review that entry" in decision.reason
    assert result.removes == ()


def test_exclude_as_over_a_regex_blocked_host_adds_the_single_hosts() -> None:
    # pay.shop.example is blocked (shopping app, a regex block); *.shop.example would exclude it
    # too, so the allowed hosts are added one by one and each reason says why.
    result = run(
        [
            cand("pay.shop.example", apps=["shopping"]),
            cand("img.shop.example"),
            cand("cdn.shop.example"),
        ]
    )
    assert one(result, "pay.shop.example").action == "block"
    for h in ("img.shop.example", "cdn.shop.example"):
        decision = one(result, h)
        assert decision.action == "allow" and decision.rule == "shop-wild"
        assert decision.entry is not None and decision.entry.name == h
        assert "added as the single host, not as '*.shop.example'" in decision.reason
        assert "would also exclude 'pay.shop.example', which rule 'shop' blocks" in decision.reason
    assert sorted(e.name for e in result.adds) == ["cdn.shop.example", "img.shop.example"]


def test_without_a_blocked_host_the_exclude_as_wildcard_is_added() -> None:
    result = run([cand("img.shop.example"), cand("cdn.shop.example")])
    assert [e.name for e in result.adds] == ["*.shop.example"]


# --- review --------------------------------------------------------------------------------------


def test_review_by_rule_and_by_default() -> None:
    result = run([cand("intranet.corp.example"), cand("unknown.example")])
    by_rule = one(result, "intranet.corp.example")
    assert (by_rule.action, by_rule.rule) == ("review", "corp")
    by_default = one(result, "unknown.example")
    assert (by_default.action, by_default.rule) == ("review", None)
    assert "defaults.action says review" in by_default.reason
    assert result.adds == ()


def test_review_host_under_a_planned_wildcard_gets_a_note() -> None:
    pol = policy(
        **{
            "rules:\n": "rules:\n  - name: careful\n    match: {host: pay.vendor.example}\n"
            "    action: review\n"
        }
    )
    result = run([cand("pay.vendor.example"), cand("www.vendor.example")], pol=pol)
    decision = one(result, "pay.vendor.example")
    assert decision.action == "review"
    assert "entry '*.vendor.example' planned in this run also covers this host" in decision.reason


def test_disabled_entry_is_respected() -> None:
    person = ExclusionEntry("*.vendor.example", "", exclude=False)
    result = run([cand("a.vendor.example")], [person])
    decision = one(result, "a.vendor.example")
    assert (decision.action, decision.rule) == ("review", None)
    assert "disabled (exclude: no)" in decision.reason
    assert result.adds == () and result.removes == ()


def test_wildcard_add_overlapping_a_disabled_entry_is_review() -> None:
    person = ExclusionEntry("secret.vendor.example", "", exclude=False)
    result = run([cand("a.vendor.example"), cand("b.vendor.example")], [person])
    assert {d.action for d in result.decisions} == {"review"}
    assert "overlaps entry 'secret.vendor.example'" in one(result, "a.vendor.example").reason
    assert result.adds == ()


# --- insufficient evidence -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("errors", "clients", "fragment"),
    [
        ({"UnknownCA": 2}, 5, "2 counted hits, fewer than min_hits 3"),
        ({"UnknownCA": 9}, 1, "1 client, fewer than min_clients 2"),
        ({"CertificateUnknown": 50}, 9, "50 weak-signal hits never count alone"),
        ({"HandshakeFailure": 50}, 9, "alerts in neither signal list do not count"),
    ],
)
def test_insufficient_evidence(errors: dict[str, int], clients: int, fragment: str) -> None:
    result = run([cand("a.vendor.example", errors=errors, clients=clients)])
    decision = one(result, "a.vendor.example")
    assert (decision.action, decision.rule) == ("insufficient-evidence", None)
    assert fragment in decision.reason
    assert "(rule 'vendor-apps' would allow)" in decision.reason
    assert result.adds == ()


def test_weak_hits_count_once_a_strong_hit_exists() -> None:
    result = run([cand("a.vendor.example", errors={"UnknownCA": 1, "CertificateUnknown": 2})])
    decision = one(result, "a.vendor.example")
    assert decision.action == "allow" and decision.counted_hits == 3


def test_duplicate_hosts_after_normalisation_merge_their_evidence() -> None:
    result = run(
        [
            cand("A.Vendor.Example", errors={"UnknownCA": 2}, clients=1),
            cand("a.vendor.example.", errors={"UnknownCA": 1}, clients=2),
        ]
    )
    decision = one(result, "a.vendor.example")
    # 3 hits; the client sets overlap (10.0.0.0) so 2 distinct clients.
    assert (decision.action, decision.counted_hits, decision.clients) == ("allow", 3, 2)


# --- covered -------------------------------------------------------------------------------------


def test_covered_by_exact_or_wildcard_entry_regardless_of_rule() -> None:
    entries = [
        ExclusionEntry("intranet.corp.example", "kept by hand"),
        panpin_entry("*.vendor.example", date(2027, 1, 1)),
    ]
    result = run([cand("intranet.corp.example"), cand("a.vendor.example")], entries)
    exact = one(result, "intranet.corp.example")
    assert (exact.action, exact.covered_by, exact.rule) == (
        "covered",
        "intranet.corp.example",
        None,
    )
    assert "owned by person" in exact.reason and "(rule 'corp' would review)" in exact.reason
    wild = one(result, "a.vendor.example")
    assert (wild.action, wild.covered_by) == ("covered", "*.vendor.example")
    assert "owned by panpin" in wild.reason
    assert result.adds == () and result.removes == ()


# --- rejected ------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["bad host.example", "[::1]", "10.0.0.1", "a'.example", "x"])
def test_invalid_hosts_are_rejected(bad: str) -> None:
    result = run([cand(bad)])
    [decision] = result.decisions
    assert decision.action == "rejected" and decision.rule is None
    assert decision.host == bad
    assert decision.reason.startswith("not a valid host name: ")


# --- expiry and ownership ------------------------------------------------------------------------


def test_expired_panpin_entries_are_removed_others_untouched() -> None:
    expired = panpin_entry("old.example", date(2026, 11, 25))
    due_today = panpin_entry("today.example", TODAY)
    person = ExclusionEntry("mine.example", "expires=2020-01-01 do not touch")
    person_empty = ExclusionEntry("bare.example", "")
    unknown_expiry = ExclusionEntry("odd.example", "panpin:c-20260101-0000-0000 expires=soon")
    result = run([], [expired, due_today, person, person_empty, unknown_expiry])
    assert result.removes == (expired,)
    decision = one(result, "old.example")
    assert decision.action == "remove" and decision.rule == "old-rule"
    assert decision.reason == (
        "panpin entry expired on 2026-11-25 (added by change c-20260101-0000-0000)"
    )
    assert result.adds == ()


def test_person_entries_are_never_removed_or_redescribed() -> None:
    people = [
        ExclusionEntry("a.vendor.example", "Bob, INC-1"),
        ExclusionEntry("*.cdn.example", ""),
        ExclusionEntry("api1.partner.example", "panpin said so"),  # no marker: a person's
    ]
    result = run(
        [cand("a.vendor.example"), cand("img.cdn.example"), cand("api1.partner.example")],
        people,
    )
    names = {e.name for e in people}
    assert not {e.name for e in result.removes} & names
    assert not {e.name for e in result.adds} & names
    assert {d.action for d in result.decisions} == {"covered"}


def test_expired_entry_reallowed_is_renewed_not_removed() -> None:
    old = panpin_entry("*.vendor.example", date(2026, 10, 1), rule="vendor-apps")
    result = run([cand("a.vendor.example")], [old])
    assert result.removes == ()
    [entry] = result.adds
    assert entry.name == "*.vendor.example" and entry.expires == date(2027, 5, 25)
    assert "renews the expired panpin entry" in one(result, "a.vendor.example").reason
    assert result.changes == 1


# --- limits --------------------------------------------------------------------------------------


def test_max_changes_cut_is_reported_removals_first_then_by_hits() -> None:
    pol = policy(**{"max_changes_per_run: 25": "max_changes_per_run: 3"})
    entries = [
        panpin_entry("old1.example", date(2026, 1, 1)),
        panpin_entry("old2.example", date(2026, 2, 1)),
    ]
    candidates = [
        cand("a.vendor.example", errors={"UnknownCA": 4}),
        cand("b.vendor.example", errors={"UnknownCA": 4}),  # group *.vendor.example: 8 hits
        cand("api1.partner.example", errors={"UnknownCA": 20}, apps=["incomplete"]),
        cand("api2.partner.example", errors={"UnknownCA": 5}, apps=["incomplete"]),
    ]
    result = run(candidates, entries, pol)
    assert result.changes == 3
    assert [e.name for e in result.removes] == ["old1.example", "old2.example"]
    assert [e.name for e in result.adds] == ["api1.partner.example"]
    assert [(c.change, c.entry.name, c.hosts) for c in result.cut] == [
        ("add", "*.vendor.example", ("a.vendor.example", "b.vendor.example")),
        ("add", "api2.partner.example", ("api2.partner.example",)),
    ]
    for cut in result.cut:
        assert "max_changes_per_run is 3" in cut.reason
    for h in ("a.vendor.example", "b.vendor.example", "api2.partner.example"):
        decision = one(result, h)
        assert decision.action == "cut"
        assert decision.entry is not None and "deferred to a later run" in decision.reason
    assert one(result, "api1.partner.example").action == "allow"


def test_limit_zero_reports_everything_as_cut() -> None:
    pol = policy(**{"max_changes_per_run: 25": "max_changes_per_run: 0"})
    result = run([cand("a.vendor.example")], [panpin_entry("old.example", date(2026, 1, 1))], pol)
    assert result.changes == 0
    assert [(c.change, c.entry.name) for c in result.cut] == [
        ("add", "*.vendor.example"),
        ("remove", "old.example"),
    ]
    assert one(result, "old.example").action == "cut"
    assert one(result, "a.vendor.example").action == "cut"


# --- determinism and the JSON form ---------------------------------------------------------------

MIXED_CANDIDATES = [
    cand("a.vendor.example"),
    cand("b.vendor.example"),
    cand("www.bank.example"),
    cand("api3.partner.example", apps=["incomplete"]),
    cand("a.b.cdn.example"),
    cand("intranet.corp.example"),
    cand("weak.example", errors={"CertificateUnknown": 10}),
    cand("bad host"),
    cand("covered.example"),
]
MIXED_ENTRIES = [
    ExclusionEntry("covered.example", "by hand"),
    panpin_entry("gone.example", date(2026, 5, 1)),
    panpin_entry("live.example", date(2027, 5, 1)),
]


def test_same_inputs_in_any_order_give_byte_identical_json() -> None:
    first = json.dumps(run(MIXED_CANDIDATES, MIXED_ENTRIES).to_dict(), sort_keys=True)
    rng = random.Random(7)
    for _ in range(5):
        cands, entries = MIXED_CANDIDATES[:], MIXED_ENTRIES[:]
        rng.shuffle(cands)
        rng.shuffle(entries)
        again = json.dumps(run(cands, entries).to_dict(), sort_keys=True)
        assert again == first


def test_every_decision_kind_and_the_json_shape() -> None:
    result = run(MIXED_CANDIDATES, MIXED_ENTRIES)
    data = result.to_dict()
    assert list(data) == ["change_id", "today", "counts", "decisions", "adds", "removes", "cut"]
    assert data["change_id"] == CHANGE and data["today"] == "2026-11-26"
    assert list(data["counts"]) == list(DECISION_ACTIONS)  # type: ignore[call-overload]
    assert data["counts"] == {
        "allow": 3,
        "block": 1,
        "review": 2,
        "insufficient-evidence": 1,
        "not-pinning": 0,
        "covered": 1,
        "held": 0,
        "rejected": 1,
        "remove": 1,
        "cut": 0,
    }
    hosts = [d.host for d in result.decisions]
    assert hosts == sorted(hosts)
    for decision in result.decisions:
        assert decision.reason
        assert list(decision.to_dict()) == [
            "host",
            "action",
            "rule",
            "reason",
            "entry",
            "covered_by",
            "counted_hits",
            "clients",
            # An allow by a rule names that rule's content digest (a rollback's hold uses it).
            *(["rule_sha256"] if decision.action == "allow" and decision.rule else []),
        ]
    json.dumps(data)  # JSON-ready as it is


def test_malformed_change_id_is_a_caller_bug() -> None:
    with pytest.raises(ValueError, match="change id"):
        decide([], policy(), [], today=TODAY, change_id="c-1 rule=evil")


# --- issue 15: evidence written by an adversary ----------------------------------------------------

ADVERSARY = """\
version: 1
thresholds: {min_hits: 3, min_clients: 2}
never_allow: [wordpress.com]
rules:
  - name: vendor
    match: {regex: '[a-z0-9]+\\.vendor\\.example'}
    action: allow
    exclude_as: "*.vendor.example"
  - name: slow
    match: {regex: '^(a+)+\\.slow\\.example$'}
    action: allow
  - name: partner
    match: {regex: '[a-z0-9.-]+'}
    action: allow
  - name: pay
    match: {regex: 'pay\\.vendor\\.example'}
    action: block
"""


def test_a_block_below_a_matching_allow_still_blocks() -> None:
    result = run([cand("pay.vendor.example")], pol=policy(ADVERSARY))
    decision = one(result, "pay.vendor.example")
    assert (decision.action, decision.rule) == ("block", "pay")
    assert result.adds == ()


def test_never_allow_hosts_are_blocked_whatever_rule_allows_them() -> None:
    result = run([cand("attacker.wordpress.com")], pol=policy(ADVERSARY))
    decision = one(result, "attacker.wordpress.com")
    assert decision.action == "block" and decision.rule is None
    assert "in never_allow domain 'wordpress.com'" in decision.reason
    assert "(rule 'partner' would allow)" in decision.reason
    assert result.adds == ()


@pytest.mark.parametrize("host", ["github.io", "s3.amazonaws.com", "amazonaws.com", "co.uk"])
def test_a_regex_never_adds_a_public_suffix_itself(host: str) -> None:
    result = run([cand(host)], pol=policy(ADVERSARY))
    decision = one(result, host)
    assert decision.action == "review" and decision.rule == "partner"
    assert "public suffix" in decision.reason and "never added automatically" in decision.reason
    assert result.adds == ()


def test_what_a_regex_allows_is_added_host_by_host() -> None:
    result = run([cand("attacker.github.io"), cand("x1.cloudfront.net")], pol=policy(ADVERSARY))
    assert sorted(e.name for e in result.adds) == ["attacker.github.io", "x1.cloudfront.net"]


def test_a_regex_blocked_host_turns_the_wildcard_into_single_hosts() -> None:
    result = run(
        [cand("pay.vendor.example"), cand("a.vendor.example"), cand("b.vendor.example")],
        pol=policy(ADVERSARY),
    )
    assert [e.name for e in result.adds] == ["a.vendor.example", "b.vendor.example"]
    for host in ("a.vendor.example", "b.vendor.example"):
        reason = one(result, host).reason
        assert "not as '*.vendor.example'" in reason
        assert "would also exclude 'pay.vendor.example', which rule 'pay' blocks" in reason


def test_a_long_sni_against_a_catastrophic_pattern_is_decided() -> None:
    # A run of a's and then an x: 2^50 ways to split the run for a backtracking engine before
    # it fails. The decision simply arrives (RE2); the test asserts what it decides, not how
    # long it took.
    sni = "a" * 50 + "x.slow.example"
    result = run([cand(sni)], pol=policy(ADVERSARY))
    assert one(result, sni).rule == "partner"  # the slow rule did not match; the next did
    assert type(policy(ADVERSARY).rules[1].match.regex).__module__ == "re2"


def test_many_ipv6_addresses_of_one_slash_64_are_one_client() -> None:
    # What the scan hands over may be bare addresses (evidence stored before client keys): the
    # policy's counting applies to them too, so one laptop's privacy addresses stay one client.
    laptop = replace(
        cand("a.vendor.example"), clients=tuple(f"2001:db8:1:2::{i:x}" for i in range(1, 40))
    )
    decision = one(run([laptop]), "a.vendor.example")
    assert decision.action == "insufficient-evidence" and decision.clients == 1
    assert "1 client, fewer than min_clients 2" in decision.reason
    two_users = replace(cand("a.vendor.example"), clients=("user:corp\\alice", "user:corp\\bob"))
    assert one(run([two_users]), "a.vendor.example").action == "allow"
