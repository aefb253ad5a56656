"""Aggregation of Decryption log entries into per-host candidates (pure)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from panpin.scan.evidence import (
    Aggregator,
    Candidate,
    merge_candidates,
    safe_text,
    with_coverage,
)

SIGNALS = ("UnknownCA", "BadCertificate")


def entry(
    sni: str = "app.vendor.example",
    *,
    cn: str = "",
    alert: str = "UnknownCA",
    error: str | None = None,
    src: str = "10.0.0.1",
    when: str = "2026/11/20 10:00:00",
    seqno: int = 1,
    serial: str = "0079",
    app: str = "incomplete",
    user: str = "",
    err_index: str = "Certificate",
    proxy_type: str = "Forward",
    root_status: str = "trusted",
    chain_status: str = "Trusted",
) -> dict[str, str]:
    return {
        "logid": str(9000 + seqno),
        "receive_time": when,
        "serial": serial,
        "seqno": str(seqno),
        "src": src,
        "srcuser": user,
        "app": app,
        "rule": "LAN Outbound",
        "policy_name": "decrypt-outbound",
        "sni": sni,
        "cn": cn,
        "error": error if error is not None else f"Received fatal alert {alert} from client",
        "err_index": err_index,
        "proxy_type": proxy_type,
        "root_status": root_status,
        "chain_status": chain_status,
    }


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("Received fatal alert UnknownCA from client", "UnknownCA"),
        ("Received fatal alert BadCertificate from client", "BadCertificate"),
        ("received fatal alert unknownca from client", "unknownca"),
        ("Received fatal alert UnknownCA from client.", "UnknownCA"),
        (
            "Received fatal alert UnknownCA from client. CA Issuer URL: http://r3.i.lencr.org/",
            "UnknownCA",
        ),
    ],
)
def test_pinning_alerts_are_counted_under_their_name(error: str, expected: str) -> None:
    agg = Aggregator(signals=SIGNALS)
    agg.add(entry(error=error))
    (only,) = agg.candidates()
    assert only.errors == {expected: 1}
    assert only.causes == {"pinning": 1}


def test_counts_per_host() -> None:
    agg = Aggregator(signals=SIGNALS)
    agg.add(entry(src="10.0.0.1", seqno=1, when="2026/11/20 10:00:00", user="acme\\ana"))
    agg.add(entry(src="10.0.0.2", seqno=2, when="2026/11/19 08:00:00", alert="BadCertificate"))
    agg.add(entry(src="10.0.0.1", seqno=3, when="2026/11/21 12:00:00", serial="0080"))
    agg.add(entry("sync.vendor.example", seqno=4))
    (first, second) = agg.candidates()
    assert first == Candidate(
        host="app.vendor.example",
        hits=3,
        # A client is its user where the log names one, else its address (issue 15).
        clients=("addr:10.0.0.1/32", "addr:10.0.0.2/32", "user:acme\\ana"),
        errors={"BadCertificate": 1, "UnknownCA": 2},
        apps=("incomplete",),
        first_seen="2026/11/19 08:00:00",
        last_seen="2026/11/21 12:00:00",
        devices=("0079", "0080"),
        users=("acme\\ana",),
        rules=("LAN Outbound", "decrypt-outbound"),
        sample_log_ids=("9001", "9002", "9003"),
        causes={"pinning": 3},
    )
    assert second.host == "sync.vendor.example" and second.hits == 1


def test_sni_variants_fold_into_one_host_and_cn_stands_in_for_a_missing_sni() -> None:
    agg = Aggregator()
    agg.add(entry("APP.Vendor.Example", seqno=1))
    agg.add(entry("app.vendor.example.", seqno=2))
    agg.add(entry("", cn="app.vendor.example", seqno=3))
    agg.add(entry("-", cn="app.vendor.example", seqno=4))
    (only,) = agg.candidates()
    assert only.host == "app.vendor.example" and only.hits == 4


def test_sorted_by_hits_then_host() -> None:
    agg = Aggregator()
    for i, host in enumerate(["b.example.com", "a.example.com", "c.example.com", "c.example.com"]):
        agg.add(entry(host, seqno=i))
    assert [c.host for c in agg.candidates()] == ["c.example.com", "a.example.com", "b.example.com"]


def test_local_signal_filter() -> None:
    agg = Aggregator(signals=("UnknownCA",))
    agg.add(entry(alert="UnknownCA", seqno=1))
    agg.add(entry(alert="BadCertificate", seqno=2))
    agg.add(entry(error="Certificate Expired", seqno=3))
    (only,) = agg.candidates()
    assert only.errors == {"UnknownCA": 1}
    assert agg.filtered == 2


HOSTILE = [
    ("a'b.example", "has characters not allowed"),
    ("x']/../entry[@name='y", "characters"),
    ("evil.example\n<script>", "control"),
    ("10.1.2.3", "IP literal"),
    ("localhost", "two labels"),
    ("\u0430pple.com", "mixes scripts"),  # Cyrillic a: a homoglyph
    ("a" * 10_000 + ".example", "longer than"),
]


@pytest.mark.parametrize(("raw", "reason"), HOSTILE)
def test_hostile_hosts_are_rejected_never_candidates(raw: str, reason: str) -> None:
    agg = Aggregator()
    agg.add(entry(raw, seqno=1))
    agg.add(entry(raw, seqno=2))
    assert agg.candidates() == ()
    (rejected,) = agg.rejected()
    assert reason in rejected.reason
    assert rejected.count == 2
    assert rejected.value == safe_text(raw)
    assert len(rejected.value) < 130
    assert all(ch.isprintable() for ch in rejected.value)


def test_entry_without_sni_or_cn_is_rejected_with_a_reason() -> None:
    agg = Aggregator()
    agg.add(entry("", cn=""))
    assert agg.rejected()[0].reason == "no SNI or certificate CN"


def test_rejected_list_is_bounded() -> None:
    agg = Aggregator(max_rejected=3)
    for i in range(10):
        agg.add(entry(f"bad'{i}.example", seqno=i))
    assert len(agg.rejected()) == 3 and agg.rejected_overflow == 7


def test_untrusted_field_text_is_made_printable() -> None:
    agg = Aggregator()
    agg.add(entry(user="acme\\eve\x1b[31m", app="inc\u202eomplete"))
    (c,) = agg.candidates()
    assert c.users == ("acme\\eve\\x1b[31m",)
    assert c.apps == ("inc\\u202eomplete",)


def test_samples_are_capped() -> None:
    agg = Aggregator()
    for i in range(20):
        agg.add(entry(seqno=i))
    assert len(agg.candidates()[0].sample_log_ids) == 5


def test_covered_by_prefers_an_exact_entry_over_a_wildcard() -> None:
    agg = Aggregator()
    agg.add(entry("app.vendor.example", seqno=1))
    agg.add(entry("deep.app.vendor.example", seqno=2))
    names = ["*.vendor.example", "app.vendor.example"]
    by_host = {c.host: c.covered_by for c in agg.candidates(names)}
    assert by_host == {"app.vendor.example": "app.vendor.example", "deep.app.vendor.example": None}
    (c,) = with_coverage([agg.candidates()[0]], ["*.vendor.example"])
    assert c.covered_by == "*.vendor.example"


def test_daily_evidence_merges_back_to_the_same_candidates() -> None:
    agg = Aggregator(by_day=True)
    plain = Aggregator()
    for i, when in enumerate(
        ["2026/11/19 23:59:59", "2026/11/20 00:00:00", "2026/11/20 12:00:00", "2026/11/22 01:00:00"]
    ):
        for a in (agg, plain):
            a.add(entry(src=f"10.0.0.{i % 2}", seqno=i, when=when))
    days = agg.daily()
    assert [d for d, _ in days] == ["2026/11/19", "2026/11/20", "2026/11/22"]
    assert merge_candidates(c for _, c in days) == plain.candidates() == agg.candidates()


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a.example.com", "b.example.com", "A.EXAMPLE.COM", "bad'x.com"]),
            st.sampled_from(["UnknownCA", "BadCertificate"]),
            st.integers(0, 5),
            st.integers(0, 3),
        ),
        max_size=40,
    )
)
def test_totals_are_preserved(rows: list[tuple[str, str, int, int]]) -> None:
    agg = Aggregator(by_day=True)
    for i, (host, alert, client, day) in enumerate(rows):
        agg.add(
            entry(
                host, alert=alert, src=f"10.0.0.{client}", seqno=i, when=f"2026/11/2{day} 10:00:00"
            )
        )
    total = sum(c.hits for c in agg.candidates())
    assert total + sum(r.count for r in agg.rejected()) == len(rows)
    for c in agg.candidates():
        assert sum(c.errors.values()) == c.hits
    # Samples are "a few ids"; which few depends on the merge order.
    assert _no_samples(merge_candidates(c for _, c in agg.daily())) == _no_samples(agg.candidates())


def _no_samples(cands: tuple[Candidate, ...]) -> list[Candidate]:
    return [replace(c, sample_log_ids=()) for c in cands]


def test_safe_text() -> None:
    assert safe_text("plain.example") == "plain.example"
    assert safe_text("a\x00b\u2028c") == "a\\x00b\\u2028c"
    long = safe_text("x" * 500)
    assert long.startswith("x" * 100) and long.endswith("(500 chars)")
