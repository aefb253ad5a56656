"""The Aggregator's memos (host per SNI/CN, alert per error text) never change what it counts.

Checked against a plain fold written with the pure helpers, over values that repeat (memo hits),
long hostile values (never memoised) and more distinct values than a memo holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panpin.errors import InvalidHost
from panpin.hosts import host_of_entry, normalize_host
from panpin.scan import evidence
from panpin.scan.causes import DEFAULT_PINNING_ALERTS, classify
from panpin.scan.clients import client_key
from panpin.scan.evidence import Aggregator, matches_signals

SIGNALS = ("UnknownCA", "BadCertificate")
HOSTS = [
    "app.vendor.example",
    "APP.Vendor.example.",
    "",
    "-",
    "N/A",
    " pad.example ",
    "bad host",
    "xn--bcher-kva.example",
    "bücher.example",
    "x" * 2000,
    "a." * 600 + "example",
]
ERRORS = [
    "Received fatal alert UnknownCA from client",
    "Received fatal alert BadCertificate from client. CA Issuer URL: http://r3.example/",
    "Certificate Expired",
    "client said (unknownca)",
    "",
    "Received fatal alert UnknownCA from client" + "!" * 1500,
]

entries = st.lists(
    st.fixed_dictionaries(
        {
            "sni": st.sampled_from(HOSTS),
            "cn": st.sampled_from(HOSTS),
            "error": st.sampled_from(ERRORS),
            "err_index": st.sampled_from(["Protocol", "", "none", "Certificate"]),
            "proxy_type": st.sampled_from(["Forward", "GlobalProtect", "forward"]),
            "root_status": st.sampled_from(["trusted", "untrusted", ""]),
            "chain_status": st.sampled_from(["Trusted", "Incomplete", "Untrusted"]),
            "src": st.sampled_from(["10.0.0.1", " 10.0.0.2", "", "z" * 300]),
            "receive_time": st.sampled_from(["2026/11/20 10:00:00", "", "2026/11/19 09:00:00"]),
        }
    ),
    max_size=60,
)


def reference(rows: Sequence[Mapping[str, str]], signals: tuple[str, ...]) -> dict[str, object]:
    hosts: dict[str, tuple[int, dict[str, int], set[str]]] = {}
    rejected = 0
    for row in rows:
        if signals and not matches_signals(row["error"], signals):
            continue
        raw = host_of_entry(row["sni"], row["cn"])
        try:
            host = normalize_host(raw)
        except InvalidHost:
            rejected += 1
            continue
        reading = classify(row, signals or DEFAULT_PINNING_ALERTS)
        if reading.cause != "pinning":
            continue
        hits, errors, clients = hosts.get(host, (0, {}, set()))
        alert = reading.alert
        errors[alert] = errors.get(alert, 0) + 1
        client = client_key(row["src"], row.get("srcuser", ""))
        if client is not None:
            clients.add(client)
        hosts[host] = (hits + 1, errors, clients)
    return {
        "hosts": {h: (n, dict(sorted(e.items())), sorted(c)) for h, (n, e, c) in hosts.items()},
        "rejected": rejected,
    }


def folded(rows: Sequence[Mapping[str, str]], signals: tuple[str, ...]) -> dict[str, object]:
    agg = Aggregator(signals=signals or None)
    for row in rows:
        agg.add(row)
    return {
        "hosts": {c.host: (c.hits, c.errors, list(c.clients)) for c in agg.candidates()},
        "rejected": agg.rejected_entries,
    }


@settings(max_examples=300)
@given(rows=entries, signals=st.sampled_from([SIGNALS, (), ("CertificateUnknown",)]))
def test_memos_change_nothing(rows: list[Mapping[str, str]], signals: tuple[str, ...]) -> None:
    # Twice over: the second pass is served from the memos.
    assert folded(rows + rows, signals) == reference(rows + rows, signals)


def test_more_distinct_values_than_a_memo_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evidence, "_CACHE_LIMIT", 7)
    rows = [
        {
            "sni": f"h{i % 23}.example",
            "cn": "",
            "error": ERRORS[i % 3],
            "err_index": f"e{i % 11}",
            "proxy_type": "Forward",
            "root_status": "trusted",
            "chain_status": ("Trusted", "Incomplete")[i % 2],
        }
        for i in range(500)
    ]
    assert folded(rows, SIGNALS) == reference(
        [{**r, "src": "", "receive_time": ""} for r in rows], SIGNALS
    )
