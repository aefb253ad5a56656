"""decide() with capture results: ``require_confirmation`` rules and the ``confirmation`` field."""

from __future__ import annotations

import json
from datetime import date

import pytest

from panpin.decide.engine import Decision, DecisionSet, decide
from panpin.decide.policy import parse_policy
from panpin.errors import PolicyError
from panpin.scan.evidence import Candidate

TODAY = date(2026, 11, 26)
CHANGE = "c-20261126-0932-a1b2"

POLICY = """\
version: 1
thresholds: {min_hits: 3, min_clients: 2, window: 7d}
rules:
  - name: bank
    match: {domain: bank.example}
    action: block
  - name: partner
    match: {host: "*.partner.example"}
    action: allow
    require_confirmation: true
  - name: vendor
    match: {host: "*.vendor.example"}
    action: allow
    exclude_as: "*.vendor.example"
    require_confirmation: false
"""


def cand(host: str, hits: int = 5, clients: int = 3) -> Candidate:
    return Candidate(
        host=host,
        hits=hits,
        clients=tuple(f"10.0.0.{i}" for i in range(clients)),
        errors={"UnknownCA": hits},
        apps=("ssl",),
        first_seen="2026/11/25 10:00:00",
        last_seen="2026/11/26 09:00:00",
    )


def run(confirmations: dict[str, str] | None, *hosts: str) -> DecisionSet:
    policy = parse_policy(POLICY, "policy.yaml")
    return decide(
        [cand(h) for h in hosts],
        policy,
        [],
        today=TODAY,
        change_id=CHANGE,
        confirmations=confirmations,
    )


def by_host(result: DecisionSet) -> dict[str, Decision]:
    return {d.host: d for d in result.decisions}


def test_rule_allows_only_confirmed_hosts() -> None:
    result = run(
        {
            "a.partner.example": "confirmed",
            "b.partner.example": "likely",
            "c.partner.example": "not-pinning",
            "d.partner.example": "not-seen",
        },
        "a.partner.example",
        "b.partner.example",
        "c.partner.example",
        "d.partner.example",
        "e.partner.example",
    )
    got = by_host(result)
    assert got["a.partner.example"].action == "allow"
    assert [e.name for e in result.adds] == ["a.partner.example"]
    for host, said in [
        ("b.partner.example", "the capture says likely"),
        ("c.partner.example", "the capture says not-pinning"),
        ("d.partner.example", "the capture says not-seen"),
        ("e.partner.example", "the capture does not cover this host"),
    ]:
        decision = got[host]
        assert decision.action == "review"
        assert decision.rule == "partner"
        assert decision.reason.startswith("needs confirmation by capture")
        assert said in decision.reason
        assert "5 counted hits from 3 clients" in decision.reason
    assert got["e.partner.example"].confirmation is None


def test_without_a_capture_the_rule_waits() -> None:
    decision = by_host(run(None, "a.partner.example"))["a.partner.example"]
    assert decision.action == "review"
    assert "no capture was given (plan --confirm CAPTURE)" in decision.reason
    assert decision.confirmation is None


def test_rules_without_the_flag_ignore_the_capture_but_show_it() -> None:
    result = run(
        {"x.vendor.example": "not-pinning", "login.bank.example": "confirmed"},
        "x.vendor.example",
        "login.bank.example",
    )
    got = by_host(result)
    assert got["x.vendor.example"].action == "allow"
    assert got["x.vendor.example"].confirmation == "not-pinning"
    assert got["login.bank.example"].action == "block"
    assert got["login.bank.example"].confirmation == "confirmed"


def test_thresholds_still_come_first() -> None:
    policy = parse_policy(POLICY, "policy.yaml")
    result = decide(
        [cand("a.partner.example", hits=1)],
        policy,
        [],
        today=TODAY,
        change_id=CHANGE,
        confirmations={"a.partner.example": "confirmed"},
    )
    decision = result.decisions[0]
    assert decision.action == "insufficient-evidence"
    assert decision.confirmation == "confirmed"


def test_confirmation_keys_are_normalised() -> None:
    got = by_host(run({"A.Partner.Example.": "confirmed"}, "a.partner.example"))
    assert got["a.partner.example"].action == "allow"
    assert got["a.partner.example"].confirmation == "confirmed"


def test_unknown_status_is_a_caller_bug() -> None:
    with pytest.raises(ValueError, match="unknown confirmation status"):
        run({"a.partner.example": "yes"}, "a.partner.example")


def test_to_dict_carries_confirmation_only_when_known() -> None:
    result = run({"a.partner.example": "confirmed"}, "a.partner.example", "x.vendor.example")
    got = by_host(result)
    with_result = got["a.partner.example"].to_dict()
    assert list(with_result)[-1] == "confirmation" and with_result["confirmation"] == "confirmed"
    # Plans made without a capture keep the shape they always had.
    assert "confirmation" not in got["x.vendor.example"].to_dict()
    json.dumps(result.to_dict())


def test_same_inputs_same_bytes() -> None:
    confirmations = {"a.partner.example": "confirmed", "b.partner.example": "likely"}
    hosts = ("b.partner.example", "a.partner.example", "x.vendor.example")
    first = json.dumps(run(confirmations, *hosts).to_dict(), sort_keys=True)
    again = json.dumps(
        run(dict(reversed(confirmations.items())), *reversed(hosts)).to_dict(), sort_keys=True
    )
    assert first == again


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        (
            "    action: block\n    require_confirmation: true\n",
            "rules[0].require_confirmation: only an allow rule can require confirmation; "
            "this rule's action is block",
        ),
        (
            "    action: allow\n    require_confirmation: yes please\n",
            "rules[0].require_confirmation: expected true or false, got a string ('yes please')",
        ),
        (
            "    action: allow\n    require_confirmation: 1\n",
            "rules[0].require_confirmation: expected true or false, got an integer ('1')",
        ),
    ],
)
def test_policy_validates_require_confirmation(snippet: str, message: str) -> None:
    text = "version: 1\nrules:\n  - name: r\n    match: {host: a.example}\n" + snippet
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.yaml")
    assert f"p.yaml:6: {message}" in str(info.value)


def test_policy_reads_require_confirmation() -> None:
    policy = parse_policy(POLICY, "policy.yaml")
    assert [r.require_confirmation for r in policy.rules] == [False, True, False]
    # A block rule may say false: it promises nothing.
    parse_policy(
        "version: 1\nrules:\n  - name: r\n    match: {host: a.example}\n    action: block\n"
        "    require_confirmation: false\n"
    )
