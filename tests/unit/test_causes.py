"""The cause of a Decryption-log entry, and what decide makes of each (pure)."""

from __future__ import annotations

from datetime import date

import pytest

from panpin.decide.engine import decide
from panpin.decide.policy import parse_policy
from panpin.errors import PolicyError
from panpin.scan.causes import CAUSE_VALUES, REMEDIES, classify, issuer_url
from panpin.scan.evidence import Aggregator, Candidate

SIGNALS = ("UnknownCA", "BadCertificate")
PINNING = {
    "error": "Received fatal alert UnknownCA from client",
    "err_index": "Certificate",
    "proxy_type": "Forward",
    "root_status": "trusted",
    "chain_status": "Trusted",
    "sni": "app.vendor.example",
    "sni_len": "18",
    "cn": "app.vendor.example",
    "cn_len": "18",
}


@pytest.mark.parametrize(
    ("changes", "cause"),
    [
        ({}, "pinning"),
        ({"error": "Received fatal alert BadCertificate from client"}, "pinning"),
        # The real texts carry a CA Issuer URL suffix with root_status trusted: a hint only.
        ({"error": PINNING["error"] + ". CA Issuer URL: http://r3.i.lencr.org/"}, "pinning"),
        ({"error": "Received fatal alert UnknownCA from server"}, "server-alert"),
        ({"proxy_type": "GlobalProtect"}, "not-forward-proxy"),
        ({"proxy_type": "Inbound"}, "not-forward-proxy"),
        ({"proxy_type": "No Decrypt"}, "not-forward-proxy"),
        ({"root_status": "untrusted", "chain_status": "Untrusted"}, "untrusted-server"),
        ({"chain_status": "Untrusted"}, "untrusted-server"),
        ({"chain_status": "Incomplete"}, "incomplete-chain"),
        ({"sni": "app.vendor.exa", "sni_len": "18"}, "truncated-name"),
        ({"sni": "", "cn": "app.vendor", "cn_len": "18"}, "truncated-name"),
        # A PAN-OS 12.1 wording without a direction, and a narrow export without trust fields.
        ({"error": "Client rejected the certificate (UnknownCA)"}, "unknown"),
        ({"root_status": "", "chain_status": ""}, "unknown"),
        ({"chain_status": "Uninspected"}, "unknown"),
        ({"error": "Received fatal alert HandshakeFailure from client"}, "unknown"),
    ],
)
def test_each_cause_from_the_fields_a_device_writes(changes: dict[str, str], cause: str) -> None:
    assert classify({**PINNING, **changes}, SIGNALS).cause == cause


def test_an_entry_without_the_proxy_field_is_never_pinning() -> None:
    entry = {k: v for k, v in PINNING.items() if k != "proxy_type"}
    assert classify(entry, SIGNALS).cause == "unknown"


def test_issuer_urls_are_read_but_only_plain_http_urls() -> None:
    assert issuer_url("... CA Issuer URL: http://r3.i.lencr.org/") == "http://r3.i.lencr.org/"
    assert issuer_url("... CA Issuer URL (truncated):http://x.example/a") == "http://x.example/a"
    assert issuer_url("Received fatal alert UnknownCA from client. CA Issuer URL:") == ""
    assert issuer_url("CA Issuer URL: javascript:alert(1)") == ""


def test_every_cause_has_a_remedy() -> None:
    assert set(REMEDIES) == set(CAUSE_VALUES)
    assert "intermediate" in REMEDIES["incomplete-chain"]


def candidate(host: str, causes: dict[str, int], clients: int = 5) -> Candidate:
    pinning = causes.get("pinning", 0)
    return Candidate(
        host=host,
        hits=pinning,
        clients=tuple(f"10.0.0.{i}" for i in range(clients if pinning else 0)),
        errors={"UnknownCA": pinning} if pinning else {},
        apps=("ssl",),
        first_seen="2026/11/20 10:00:00",
        last_seen="2026/11/25 10:00:00",
        causes=causes,
        issuer_urls=("http://ca.example/int.crt",) if "incomplete-chain" in causes else (),
    )


ALLOW_ALL = """\
version: 1
thresholds: {min_hits: 1, min_clients: 1, window: 7d}
defaults: {action: allow, expires: 30d}
rules:
  - name: everything-by-rule
    match: {regex: '.*'}
    action: allow
"""


@pytest.mark.parametrize(
    ("causes", "action", "fragment"),
    [
        ({"pinning": 9}, "allow", "allows"),
        ({"pinning": 9, "untrusted-server": 1}, "review", "could not verify this server"),
        ({"pinning": 9, "incomplete-chain": 2}, "review", "http://ca.example/int.crt"),
        ({"untrusted-server": 9}, "review", "never allowed"),
        ({"server-alert": 9}, "not-pinning", "the server refused"),
        ({"not-forward-proxy": 9}, "not-pinning", "forward proxy only"),
        ({"truncated-name": 9}, "not-pinning", "cut short"),
        ({"unknown": 9}, "not-pinning", "cannot place"),
        ({"pinning": 9, "server-alert": 4}, "allow", "not counted: 4 server-alert"),
    ],
)
def test_decide_never_adds_for_evidence_that_is_not_pinning(
    causes: dict[str, int], action: str, fragment: str
) -> None:
    policy = parse_policy(ALLOW_ALL, "allow.yaml")
    result = decide(
        [candidate("app.vendor.example", causes)],
        policy,
        [],
        today=date(2026, 11, 26),
        change_id="c-20261126-0930-abcd",
    )
    (decision,) = result.decisions
    assert decision.action == action, decision.reason
    assert fragment in decision.reason
    assert bool(result.adds) == (action == "allow")


def test_a_wildcard_cn_without_sni_is_review_never_a_wildcard_add() -> None:
    agg = Aggregator(signals=SIGNALS)
    for i in range(5):
        agg.add({**PINNING, "sni": "", "sni_len": "0", "cn": "*.badssl.com", "cn_len": "12",
                 "src": f"10.0.0.{i}", "seqno": str(i)})  # fmt: skip
    (wild,) = agg.candidates()
    assert wild.host == "*.badssl.com" and wild.hits == 5
    policy = parse_policy(ALLOW_ALL, "allow.yaml")
    result = decide([wild], policy, [], today=date(2026, 11, 26), change_id="c-20261126-0930-abcd")
    (decision,) = result.decisions
    assert decision.action == "review"
    assert decision.reason.startswith("no SNI: the server's name is unknown")
    assert result.adds == ()


def test_the_policy_matches_on_cause() -> None:
    text = ALLOW_ALL.replace(
        "rules:\n",
        "rules:\n  - name: no-server-alerts\n    match: {causes: [server-alert]}\n"
        "    action: block\n",
    )
    policy = parse_policy(text, "p.yaml")
    assert policy.rules[0].match.causes == ("server-alert",)
    result = decide(
        [candidate("a.example.com", {"pinning": 3, "server-alert": 1}),
         candidate("b.example.com", {"pinning": 3})],
        policy, [], today=date(2026, 11, 26), change_id="c-20261126-0930-abcd",
    )  # fmt: skip
    actions = {d.host: d.action for d in result.decisions}
    assert actions == {"a.example.com": "block", "b.example.com": "allow"}


def test_an_unknown_cause_in_the_policy_names_its_line() -> None:
    text = ALLOW_ALL.replace("{regex: '.*'}", "{causes: [pinnning]}")
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.yaml")
    assert "p.yaml:6" in str(info.value) and "unknown cause 'pinnning'" in str(info.value)


def test_a_pinning_host_with_an_untrusted_entry_gets_the_trust_remedy() -> None:
    from panpin.scan.evidence import remedy_of

    mixed = candidate("a.example.com", {"pinning": 9, "server-alert": 5, "untrusted-server": 1})
    assert remedy_of(mixed).startswith("review: fix the server's certificate")
