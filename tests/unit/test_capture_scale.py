"""A capture of 10 000 handshakes is processed in bounded memory.

The analysis runs in a fresh interpreter so its peak RSS is its own: it must grow by far less
than the file (about 27 MB) or than per-connection state for 10 000 connections would take.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from captures import (
    T0,
    Exchange,
    Framing,
    Packet,
    completed,
    frame_exchange,
    merge,
    pinned_alert,
    tls13_abort,
    write_capture,
)

HANDSHAKES = 10_000
RSS_GROWTH_LIMIT_MB = 8

PROBE = textwrap.dedent(
    """
    import json, resource, sys
    from panpin.capture import analyze_capture
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = analyze_capture(sys.argv[1])
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "growth_kb": after - before,
        "stats": report.stats.to_dict(),
        "statuses": {h: r.status for h, r in report.hosts.items()},
        "handshakes": sum(r.handshakes for r in report.hosts.values()),
    }))
    """
)


def _templates() -> list[Exchange]:
    kinds = [
        lambda s: pinned_alert(s, "1.2"),
        lambda s: completed(s, "1.3"),
        lambda s: tls13_abort(s),
        lambda s: completed(s, "1.2"),
    ]
    return [kinds[i % 4](f"h{i}.app.example") for i in range(40)]


def _connections(templates: list[Exchange]) -> Iterator[list[Packet]]:
    # A new connection every 2 ms, each lasting ~60 ms: about 30 are open at any time.
    for i in range(HANDSHAKES):
        client = (f"10.{i // 60000}.{(i // 250) % 240}.{i % 250 + 1}", 40000 + i % 20000)
        framing = Framing(client=client, start=T0 + i * 0.002)
        yield frame_exchange(templates[i % len(templates)], framing, i)


@pytest.mark.slow
def test_ten_thousand_handshakes_in_bounded_memory(tmp_path: Path) -> None:
    path = write_capture(tmp_path / "big.pcapng", merge(_connections(_templates())), "pcapng")
    size_mb = path.stat().st_size / 1e6
    assert size_mb > 20
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(probe.stdout)
    assert result["stats"]["tls_connections"] == HANDSHAKES
    assert result["handshakes"] == HANDSHAKES
    assert result["stats"]["gaps"] == 0 and result["stats"]["evicted"] == 0
    statuses = result["statuses"]
    assert len(statuses) == 40
    assert sorted(set(statuses.values())) == ["confirmed", "likely", "not-pinning"]
    growth_mb = result["growth_kb"] / 1024
    assert growth_mb < RSS_GROWTH_LIMIT_MB, (
        f"RSS grew {growth_mb:.1f} MB for a {size_mb:.0f} MB file"
    )
