"""Malformed and truncated captures are a clear error (exit 2); ``panpin confirm`` output."""

from __future__ import annotations

import gzip
import io
import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from captures import Framing, PcapngWriter, PcapWriter, capture_of, completed, pinned_alert

from panpin.capture import CaptureError, analyze_capture
from panpin.errors import InputError

RunCli = Callable[..., Any]


def _good_pcap(tmp_path: Path) -> bytes:
    path = capture_of(tmp_path / "good.pcap", [pinned_alert("a.app.example")])
    return path.read_bytes()


def _pcapng(body: Callable[[PcapngWriter], None], **options: Any) -> bytes:
    buf = io.BytesIO()
    writer = PcapngWriter(buf, **options)
    body(writer)
    return buf.getvalue()


def _cases(tmp_path: Path) -> dict[str, tuple[bytes, str]]:
    good = _good_pcap(tmp_path)
    header = good[:24]
    first_len = struct.unpack("<I", good[24 + 8 : 24 + 12])[0]
    ng = _pcapng(lambda w: w.write(1.0, b"\x00" * 60))
    bad_iface = _pcapng(lambda w: w.write(1.0, b"\x00" * 60, interface=5))
    huge = header + struct.pack("<IIII", 1, 0, 10_000_000, 10_000_000)
    bad_frac = header + struct.pack("<IIII", 1, 2_000_000, 4, 4) + b"abcd"
    return {
        "empty": (b"", "the file is empty"),
        "text": (b"root:x:0:0:root:/root:/bin/bash\n", "not a pcap or pcapng capture"),
        "gzip": (gzip.compress(good), "gzip-compressed; decompress it first"),
        "short header": (good[:10], "truncated: the file ends inside the file header"),
        "cut record header": (good[: 24 + 7], "ends inside the header of packet 1"),
        "cut packet": (good[: 24 + 16 + first_len - 5], "ends inside packet 1"),
        "cut later packet": (good[:-3], "ends inside packet"),
        "huge record": (huge, "packet 1 claims 10000000 bytes"),
        "bad timestamp": (bad_frac, "packet 1 has an invalid timestamp"),
        "pcap version": (good[:4] + struct.pack("<H", 3) + good[6:], "pcap version 3"),
        "pcapng bad bom": (ng[:8] + b"\x00\x00\x00\x00" + ng[12:], "no byte-order magic"),
        "pcapng cut block": (ng[:-6], "truncated: the file ends inside"),
        "pcapng trailer": (ng[:-4] + struct.pack("<I", 999), "block lengths disagree"),
        "pcapng odd length": (ng + struct.pack("<II", 6, 13), "has an invalid length (13)"),
        "pcapng interface": (bad_iface, "names interface 5, which was not described"),
        "pcapng version": (ng[:12] + struct.pack("<H", 2) + ng[14:], "pcapng version 2"),
    }


CASE_NAMES = [
    "empty",
    "text",
    "gzip",
    "short header",
    "cut record header",
    "cut packet",
    "cut later packet",
    "huge record",
    "bad timestamp",
    "pcap version",
    "pcapng bad bom",
    "pcapng cut block",
    "pcapng trailer",
    "pcapng odd length",
    "pcapng interface",
    "pcapng version",
]


@pytest.mark.parametrize("case", CASE_NAMES)
def test_bad_capture_is_a_clear_error(tmp_path: Path, case: str, run_cli: RunCli) -> None:
    data, expected = _cases(tmp_path)[case]
    path = tmp_path / "bad.cap"
    path.write_bytes(data)
    with pytest.raises(CaptureError) as info:
        analyze_capture(path)
    assert expected in str(info.value)
    assert str(path) in str(info.value)
    assert isinstance(info.value, InputError) and info.value.exit_code == 2
    result = run_cli("confirm", str(path))
    assert result.code == 2
    assert result.out == ""
    assert expected in result.err and "Traceback" not in result.err


def test_unreadable_path_is_exit_2(tmp_path: Path, run_cli: RunCli) -> None:
    for path in (tmp_path / "missing.pcap", tmp_path):
        result = run_cli("confirm", str(path))
        assert result.code == 2
        assert "cannot read capture" in result.err or "directory" in result.err


def test_writer_formats_are_what_readers_expect() -> None:
    # The generator's writers follow the specifications: magic numbers and block framing.
    buf = io.BytesIO()
    PcapWriter(buf, nanoseconds=True, big_endian=True).write(1.5, b"x")
    assert buf.getvalue()[:4] == bytes.fromhex("a1b23c4d")
    ng = _pcapng(lambda w: None, big_endian=True)
    assert ng[:4] == bytes.fromhex("0a0d0d0a") and ng[8:12] == bytes.fromhex("1a2b3c4d")


def test_confirm_json_table_and_summary(tmp_path: Path, run_cli: RunCli) -> None:
    path = capture_of(
        tmp_path / "c.pcapng",
        [pinned_alert("pin.app.example"), completed("ok.app.example")],
        "pcapng",
        framing=Framing(mss=300),
    )
    result = run_cli("confirm", str(path), "--format", "json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["capture"] == str(path)
    assert data["stats"]["format"] == "pcapng" and data["stats"]["tls_connections"] == 2
    assert [h["host"] for h in data["hosts"]] == ["ok.app.example", "pin.app.example"]
    pin = data["hosts"][1]
    assert pin["status"] == "confirmed" and pin["evidence"][0]["alert"] == "UnknownCA"
    assert "1 confirmed, 0 likely, 1 not-pinning, 0 not-seen" in result.err

    table = run_cli(
        "confirm",
        str(path),
        "--host",
        "pin.app.example",
        "--host",
        "x.example",
        "--format",
        "table",
    )
    assert table.code == 0
    lines = table.out.splitlines()
    assert lines[0].split()[:4] == ["HOST", "STATUS", "HANDSHAKES", "VERDICTS"]
    assert lines[1].startswith("pin.app.example") and " confirmed " in lines[1]
    assert lines[2].startswith("x.example") and " not-seen " in lines[2]

    quiet = run_cli("-q", "confirm", str(path), "--format", "csv")
    assert quiet.err == "" and quiet.out.startswith("host,status,handshakes,verdicts,reason")


def test_confirm_says_when_nothing_was_found(tmp_path: Path, run_cli: RunCli) -> None:
    path = tmp_path / "empty.pcap"
    with path.open("wb") as fh:
        PcapWriter(fh)
    result = run_cli("confirm", str(path), "--format", "json")
    assert result.code == 0
    assert json.loads(result.out)["hosts"] == []
    assert "no TLS handshake found" in result.err


def test_confirm_is_listed_and_documented(run_cli: RunCli) -> None:
    result = run_cli("confirm", "--help")
    assert result.code == 0
    for word in ("confirmed", "likely", "not-pinning", "not-seen", "--host", "--format"):
        assert word in result.out
