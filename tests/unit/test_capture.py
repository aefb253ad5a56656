"""panpin.capture on generated captures: every classification, framing and file-format variant.

Each capture holds real TLS handshakes (see tests/captures.py); frame numbers are checked
against an independent reader (dpkt's own pcap reader), so they match what Wireshark shows.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any, Literal

import dpkt
import pytest
from captures import (
    T0,
    Exchange,
    Flight,
    Framing,
    Link,
    PcapngWriter,
    capture_of,
    completed,
    completed_then_closed,
    frame_exchange,
    merge,
    pinned_alert,
    server_flight_only,
    tls13_abort,
)

from panpin.capture import (
    CERTIFICATE_ALERTS,
    STATUSES,
    VERDICT_STATUS,
    HostConfirmation,
    analyze_capture,
    confirm_hosts,
    statuses_of,
)
from panpin.decide.engine import CONFIRMATION_STATUSES


@cache
def exchanges() -> dict[str, Exchange]:
    """One real exchange per behaviour; made once, framed many ways."""
    return {
        "alert12": pinned_alert("alert12.app.example", "1.2"),
        "alert13": pinned_alert("alert13.app.example", "1.3"),
        "hrr13": pinned_alert("hrr13.app.example", "1.3", hrr=True),
        "enc13": tls13_abort("enc13.app.example"),
        "rst13": tls13_abort("rst13.app.example", how="RST"),
        "fin13": tls13_abort("fin13.app.example", how="FIN"),
        "ok12": completed("ok12.app.example", "1.2"),
        "ok13": completed("ok13.app.example", "1.3"),
        "okhrr": completed("okhrr.app.example", "1.3", hrr=True),
        "pin12": completed_then_closed("pin12.app.example", "1.2"),
        "pin13": completed_then_closed("pin13.app.example", "1.3"),
    }


EXPECTED = {
    "alert12.app.example": ("confirmed", "certificate-alert"),
    "alert13.app.example": ("confirmed", "certificate-alert"),
    "hrr13.app.example": ("confirmed", "certificate-alert"),
    "enc13.app.example": ("likely", "encrypted-alert"),
    "rst13.app.example": ("likely", "closed-after-flight"),
    "fin13.app.example": ("likely", "closed-after-flight"),
    "ok12.app.example": ("not-pinning", "completed"),
    "ok13.app.example": ("not-pinning", "completed"),
    "okhrr.app.example": ("not-pinning", "completed"),
    "pin12.app.example": ("likely", "closed-after-handshake"),
    "pin13.app.example": ("likely", "closed-after-handshake"),
}

FRAMINGS = {
    "plain": Framing(),
    # Records split across segments, one segment sent twice, two delivered out of order.
    "segmented": Framing(mss=90, retransmit=True, reorder=True),
    "ipv6-vlan": Framing(
        client=("2001:db8::10", 50000), server=("2001:db8:1::443", 443), vlan=42, mss=500
    ),
    # Capture started after the SYN; sequence numbers wrap around 2**32 mid-stream.
    "no-syn": Framing(handshake=False, server_isn=0xFFFF_FFF0, client_isn=0xFFFF_FF80),
}


def _check(results: dict[str, HostConfirmation]) -> None:
    got = {h: (r.status, r.evidence[0].verdict) for h, r in results.items()}
    assert got == EXPECTED


@pytest.mark.parametrize("framing", sorted(FRAMINGS))
@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("pcap", {}),
        ("pcap", {"nanoseconds": True, "big_endian": True}),
        ("pcapng", {}),
        ("pcapng", {"big_endian": True, "tsresol": 9}),
    ],
    ids=["pcap", "pcap-ns-be", "pcapng", "pcapng-ns-be"],
)
def test_every_classification(
    tmp_path: Path, fmt: Literal["pcap", "pcapng"], options: dict[str, Any], framing: str
) -> None:
    path = capture_of(
        tmp_path / f"c.{fmt}",
        list(exchanges().values()),
        fmt,
        framing=FRAMINGS[framing],
        **options,
    )
    report = analyze_capture(path)
    _check(report.hosts)
    assert report.stats.format == fmt
    assert report.stats.tls_connections == len(EXPECTED)
    if framing == "segmented":
        assert report.stats.retransmissions > 0


@pytest.mark.parametrize("link", ["sll", "sll2", "raw", "null"])
def test_other_link_layers(tmp_path: Path, link: Link) -> None:
    exs = [exchanges()[k] for k in ("alert12", "enc13", "ok13")]
    for fmt, client, server in (
        ("pcap", "10.9.9.9", "192.0.2.1"),
        ("pcapng", "2001:db8::9", "2001:db8::443"),
    ):
        framing = Framing(link=link, client=(client, 40000), server=(server, 443))
        path = capture_of(tmp_path / f"c.{fmt}", exs, fmt, framing=framing)  # type: ignore[arg-type]
        statuses = {h: r.status for h, r in confirm_hosts(path).items()}
        assert statuses == {
            "alert12.app.example": "confirmed",
            "enc13.app.example": "likely",
            "ok13.app.example": "not-pinning",
        }, (link, fmt)


def test_pcapng_with_interfaces_of_different_link_types(tmp_path: Path) -> None:
    # dumpcap -i eth0 -i any: each packet names its interface, and so its link type.
    eth = frame_exchange(exchanges()["alert12"], Framing(), 0)
    sll = frame_exchange(
        exchanges()["ok13"], Framing(link="sll2", client=("10.7.7.7", 40001), start=T0 + 0.001), 1
    )
    path = tmp_path / "two.pcapng"
    with path.open("wb") as fh:
        writer = PcapngWriter(fh, linktypes=(1, 276))
        for packet in merge([eth, sll]):
            writer.write(packet.time, packet.frame, interface=0 if packet in eth else 1)
    statuses = {h: r.status for h, r in confirm_hosts(path).items()}
    assert statuses == {"alert12.app.example": "confirmed", "ok13.app.example": "not-pinning"}


def test_evidence_points_at_the_right_frames(tmp_path: Path) -> None:
    path = capture_of(tmp_path / "c.pcap", [exchanges()["alert12"]], framing=Framing(mss=120))
    result = confirm_hosts(path)["alert12.app.example"]
    hs = result.evidence[0]
    assert (hs.alert, hs.alert_code, hs.version) == ("UnknownCA", 48, "TLS 1.2")
    assert hs.client == "10.1.2.3:51000" and hs.server == "203.0.113.10:443"
    assert hs.wireshark_filter == (
        "ip.addr==10.1.2.3 && tcp.port==51000 && ip.addr==203.0.113.10 && tcp.port==443"
    )
    assert hs.delay_ms is not None and 0 < hs.delay_ms < 50
    packets = dict(hs.packets)
    assert list(packets) == ["client_hello", "server_hello", "certificate", "client_alert"]
    with path.open("rb") as fh:
        frames = {n: buf for n, (_, buf) in enumerate(dpkt.pcap.Reader(fh), start=1)}

    def payload(n: int) -> bytes:
        return bytes(dpkt.ethernet.Ethernet(frames[n]).data.data.data)

    # The alert frame carries the cleartext fatal UnknownCA alert record.
    assert payload(packets["client_alert"]) == bytes([21, 3, 3, 0, 2, 2, 48])
    # The ClientHello ends in its frame (mss 120 splits it); the certificate frame comes after
    # the ServerHello and before the alert.
    assert packets["client_hello"] < packets["server_hello"] <= packets["certificate"]
    assert packets["certificate"] < packets["client_alert"]
    assert f"packets {packets['client_hello']}-{packets['client_alert']}" in result.reason
    data: Any = result.to_dict()
    assert data["status"] == "confirmed" and data["evidence"][0]["alert"] == "UnknownCA"
    assert data["evidence"][0]["start"].startswith("2026-11-20T09:30:00")


def test_tls13_encrypted_alert_is_one_short_record(tmp_path: Path) -> None:
    path = capture_of(tmp_path / "c.pcapng", [exchanges()["enc13"]], "pcapng")
    hs = confirm_hosts(path)["enc13.app.example"].evidence[0]
    assert hs.version == "TLS 1.3"
    assert hs.alert is None  # encrypted: the kind is hidden
    assert "1 encrypted record (19 bytes" in hs.detail
    assert "client_close" in dict(hs.packets)


def test_hosts_filter_wildcards_and_not_seen(tmp_path: Path) -> None:
    path = capture_of(
        tmp_path / "c.pcap",
        [exchanges()[k] for k in ("alert12", "ok13", "pin13", "ok12")],
    )
    results = confirm_hosts(path, ["OK13.app.example.", "*.app.example", "missing.example", "  "])
    assert list(results) == ["*.app.example", "missing.example", "ok13.app.example"]
    assert results["ok13.app.example"].status == "not-pinning"
    wildcard = results["*.app.example"]
    # Mixed evidence: the strongest status wins, the counts keep the rest.
    assert wildcard.status == "confirmed" and wildcard.handshakes == 4
    assert dict(wildcard.verdicts) == {
        "certificate-alert": 1,
        "completed": 2,
        "closed-after-handshake": 1,
    }
    assert "1 of 4 handshakes confirmed" in wildcard.reason
    assert [h.status for h in wildcard.evidence] == ["confirmed", "likely", "not-pinning"]
    missing = results["missing.example"]
    assert missing.status == "not-seen" and missing.handshakes == 0
    assert "no TLS handshake" in missing.reason
    assert statuses_of(results) == {
        "*.app.example": "confirmed",
        "missing.example": "not-seen",
        "ok13.app.example": "not-pinning",
    }


def test_inconclusive_handshakes_leave_the_host_not_seen(tmp_path: Path) -> None:
    flight = tuple(server_flight_only("srv.app.example"))
    exs = [
        # The server resets the connection after its flight: not the client's doing.
        Exchange("srv.app.example", flight, close=("s", "RST")),
        # The client answers nothing and the capture ends.
        Exchange("quiet.app.example", tuple(server_flight_only("quiet.app.example"))),
        # The client leaves, but 30 s later: a timeout, not a certificate check.
        Exchange(
            "late.app.example",
            tuple(server_flight_only("late.app.example")),
            close=("c", "FIN"),
            close_pause=30.0,
        ),
        # Only the ClientHello was captured.
        Exchange("lonely.app.example", flight[:1], close=("c", "RST")),
    ]
    path = capture_of(tmp_path / "c.pcap", exs, spacing=60.0)
    results = confirm_hosts(path)
    verdicts = {h: (r.status, r.evidence[0].verdict) for h, r in results.items()}
    # The ClientHello-only connection has the same SNI as the first: both count for that host,
    # and two inconclusive handshakes are still inconclusive.
    assert verdicts == {
        "srv.app.example": ("not-seen", "server-closed"),
        "quiet.app.example": ("not-seen", "no-client-response"),
        "late.app.example": ("not-seen", "closed-late"),
    }
    assert dict(results["srv.app.example"].verdicts) == {
        "server-closed": 1,
        "closed-before-certificate": 1,
    }
    assert "none reached the client's answer" in results["late.app.example"].reason


def test_missing_segments_and_snaplen_are_gaps(tmp_path: Path) -> None:
    ex = exchanges()["alert12"]
    dropped = capture_of(tmp_path / "d.pcap", [ex], framing=Framing(mss=100, drop_segment=2))
    # 400 bytes keep the ClientHello whole but cut the server's certificate short.
    cut = capture_of(tmp_path / "s.pcap", [ex], framing=Framing(snaplen=400))
    for path in (dropped, cut):
        report = analyze_capture(path)
        result = report.hosts["alert12.app.example"]
        assert (result.status, result.evidence[0].verdict) == ("not-seen", "gap")
        assert report.stats.gaps == 1
    # Cut inside the ClientHello, the host name itself is lost: the summary says why.
    tiny = capture_of(tmp_path / "t.pcap", [ex], framing=Framing(snaplen=96))
    report = analyze_capture(tiny, ["alert12.app.example"])
    assert report.hosts["alert12.app.example"].status == "not-seen"
    assert report.stats.gaps == 1 and report.stats.tls_connections == 0


def test_handshake_without_sni_is_counted(tmp_path: Path) -> None:
    ex = exchanges()["ok13"]
    ch = ex.flights[0].data
    # Rename the server_name extension (type 0) to an unknown type: same lengths, no SNI.
    # Its header sits 9 bytes before the name: type, length, list length, name type, name length.
    pos = ch.find(b"ok13.app.example") - 9
    assert ch[pos : pos + 2] == b"\x00\x00"
    no_sni = ch[:pos] + b"\xfa\xfa" + ch[pos + 2 :]
    flights = (Flight("c", no_sni), *ex.flights[1:])
    path = capture_of(tmp_path / "c.pcap", [replace(ex, flights=flights)])
    report = analyze_capture(path)
    assert report.hosts == {}
    assert report.stats.handshakes_without_sni == 1 and report.stats.tls_connections == 1


def test_non_tls_traffic_is_ignored(tmp_path: Path) -> None:
    http = Exchange(
        "plain",
        (
            Flight("c", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            Flight("s", b"HTTP/1.1 200 OK\r\n\r\n"),
        ),
        close=("c", "FIN"),
    )
    path = capture_of(
        tmp_path / "c.pcap",
        [http, exchanges()["alert12"]],
        framing=Framing(server=("198.51.100.7", 8443)),  # TLS on any port
    )
    report = analyze_capture(path)
    assert set(report.hosts) == {"alert12.app.example"}
    assert report.stats.tls_connections == 1


def test_statuses_agree_with_decide() -> None:
    assert STATUSES == CONFIRMATION_STATUSES
    assert set(VERDICT_STATUS.values()) <= set(STATUSES)
    assert frozenset({42, 43, 44, 45, 46, 48}) == CERTIFICATE_ALERTS
