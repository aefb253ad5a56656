"""Decryption log CSV exports (web UI display names or variable names) → the same evidence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from panpin import errors
from panpin.scan.csvlog import map_header, read_csv
from panpin.scan.evidence import Aggregator

DATA = Path(__file__).parent.parent / "data" / "csv"
SIGNALS = ("UnknownCA", "BadCertificate")


def evidence(name: str, **kw: object) -> Aggregator:
    agg = Aggregator(signals=SIGNALS)
    read_csv(DATA / name, sink=agg.add, **kw)  # type: ignore[arg-type]
    return agg


def test_display_names_with_bom() -> None:
    agg = evidence("export-display.csv")
    app, push = agg.candidates()
    assert app.host == "app.vendor.example"
    # 10.20.0.5 is ana.smith's machine: counted as the user the log names (issue 15).
    assert (app.hits, app.clients) == (3, ("addr:10.20.0.6/32", "user:acme\\ana.smith"))
    assert app.errors == {"BadCertificate": 1, "UnknownCA": 2}
    assert (app.first_seen, app.last_seen) == ("2026/11/20 10:00:01", "2026/11/21 08:00:00")
    assert app.devices == ("007951000345678",)
    assert app.users == ("acme\\ana.smith",)
    assert push.host == "push.vendor.example"  # no SNI: the CN names it
    assert push.errors == {"BadCertificate": 1}
    assert agg.filtered == 1  # Certificate Expired is not a signal
    (rejected,) = agg.rejected()
    assert rejected.value == "a'b.example"


def test_variable_names_give_the_same_evidence() -> None:
    assert (
        evidence("export-varnames.csv").candidates() == evidence("export-display.csv").candidates()
    )


def test_window_and_cap_apply_to_rows() -> None:
    agg = evidence("export-display.csv", since="2026/11/21 00:00:00", until="2026/11/21 23:59:59")
    assert {c.host: c.hits for c in agg.candidates()} == {
        "app.vendor.example": 1,
        "push.vendor.example": 1,
    }
    agg = Aggregator(signals=SIGNALS)
    stats = read_csv(DATA / "export-display.csv", sink=agg.add, max_logs=2)
    assert stats.read == 2 and stats.truncated


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("missing-error.csv", r"missing-error\.csv: no Error column"),
        ("missing-host.csv", r"missing-host\.csv: no Server Name Indication \(SNI\) or Subject"),
        ("bad-time.csv", r"bad-time\.csv:3: receive time 'yesterday noon'"),
        ("does-not-exist.csv", r"does-not-exist\.csv"),
    ],
)
def test_bad_files_are_input_errors_naming_file_and_place(name: str, match: str) -> None:
    with pytest.raises(errors.InputError, match=match):
        read_csv(DATA / name, sink=lambda e: None)


def test_not_utf8_and_empty(tmp_path: Path) -> None:
    binary = tmp_path / "x.csv"
    binary.write_bytes(b"Error,SNI\n\xff\xfe\x00bad\n")
    with pytest.raises(errors.InputError, match="not UTF-8"):
        read_csv(binary, sink=lambda e: None)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(errors.InputError, match="empty file"):
        read_csv(empty, sink=lambda e: None)


def test_header_mapping_is_case_and_separator_insensitive() -> None:
    cols = map_header(
        ["\ufeffRECEIVE TIME", "server-name-indication", "ERROR", "Serial Number"], "f"
    )
    assert cols == {"receive_time": 0, "sni": 1, "error": 2, "serial": 3}


def test_cli_from_csv(run_cli: Any) -> None:
    result = run_cli("scan", "--from-csv", str(DATA / "export-display.csv"), "--format", "json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["logs_read"] == 6
    assert [(c["host"], c["hits"], c["clients"]) for c in doc["candidates"]] == [
        ("app.vendor.example", 3, 2),
        ("push.vendor.example", 1, 1),
    ]
    assert doc["rejected"][0]["value"] == "a'b.example"


def test_cli_from_csv_bad_column_exits_2(run_cli: Any) -> None:
    result = run_cli("scan", "--from-csv", str(DATA / "missing-error.csv"))
    assert result.code == errors.EXIT_USAGE
    assert "missing-error.csv: no Error column" in result.err


def test_cli_from_csv_refuses_device_only_options(run_cli: Any) -> None:
    path = str(DATA / "export-display.csv")
    assert run_cli("scan", "--from-csv", path, "--incremental").code == 2
    assert run_cli("scan", "--from-csv", path, "--filter", "(app eq ssl)").code == 2
