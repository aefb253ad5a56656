"""However the TCP stream is cut, repeated or reordered, a handshake gets the same verdict."""

from __future__ import annotations

import tempfile
from functools import cache
from pathlib import Path
from typing import Literal

from captures import Exchange, Framing, capture_of, completed, pinned_alert, tls13_abort
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from panpin.capture import STATUSES, CaptureError, confirm_hosts


@cache
def _exchanges() -> tuple[Exchange, ...]:
    return (
        pinned_alert("p12.app.example", "1.2"),
        tls13_abort("e13.app.example"),
        completed("c13.app.example", "1.3"),
        completed("c12.app.example", "1.2"),
    )


EXPECTED = {
    "p12.app.example": "confirmed",
    "e13.app.example": "likely",
    "c13.app.example": "not-pinning",
    "c12.app.example": "not-pinning",
}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    mss=st.integers(min_value=7, max_value=1500),
    retransmit=st.booleans(),
    reorder=st.booleans(),
    fmt=st.sampled_from(["pcap", "pcapng"]),
    isn=st.integers(min_value=0, max_value=2**32 - 1),
    spacing=st.sampled_from([0.0001, 0.01, 1.0]),
)
def test_segmentation_does_not_change_verdicts(
    tmp_path: Path,
    mss: int,
    retransmit: bool,
    reorder: bool,
    fmt: Literal["pcap", "pcapng"],
    isn: int,
    spacing: float,
) -> None:
    framing = Framing(
        mss=mss, retransmit=retransmit, reorder=reorder, server_isn=isn, client_isn=isn ^ 0xABCD
    )
    # Small spacing interleaves the connections' packets in the file.
    path = capture_of(
        tmp_path / f"p.{fmt}",
        _exchanges(),
        fmt,
        framing=framing,
        spacing=spacing,
    )
    assert {h: r.status for h, r in confirm_hosts(path).items()} == EXPECTED


@cache
def _capture_bytes(fmt: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        framing = Framing(mss=200, retransmit=True, reorder=True)
        path = capture_of(Path(tmp) / f"f.{fmt}", _exchanges(), fmt, framing=framing)  # type: ignore[arg-type]
        return path.read_bytes()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    fmt=st.sampled_from(["pcap", "pcapng"]),
    edits=st.lists(
        st.tuples(st.integers(min_value=24), st.integers(min_value=0, max_value=255)),
        min_size=1,
        max_size=20,
    ),
    cut=st.one_of(st.none(), st.integers(min_value=0)),
)
def test_corrupt_captures_fail_cleanly(
    tmp_path: Path, fmt: str, edits: list[tuple[int, int]], cut: int | None
) -> None:
    """Any corruption gives a result or a CaptureError (exit 2), never a crash."""
    data = bytearray(_capture_bytes(fmt))
    for pos, value in edits:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[: cut % len(data)]
    path = tmp_path / f"corrupt.{fmt}"
    path.write_bytes(bytes(data))
    try:
        results = confirm_hosts(path)
    except CaptureError:
        return
    assert all(r.status in STATUSES for r in results.values())
