"""`panpin demo` walks the whole flow and leaves nothing behind."""

from __future__ import annotations

import tempfile
from pathlib import Path

from conftest import RunCli


def test_demo_runs_to_the_end_and_cleans_up(
    run_cli: RunCli, tmp_path: Path, monkeypatch: object
) -> None:
    before = set(Path(tempfile.gettempdir()).glob("panpin-demo-*"))
    result = run_cli("demo")
    assert result.code == 0, result.err
    for step in (
        "1/7 Scan",
        "2/7 Plan",
        "3/7 Apply",
        "5/7 History",
        "6/7 Rollback",
        "Demo finished",
    ):
        assert step in result.out
    assert "*.vendor.example" in result.out
    assert "verified" in result.err
    assert set(Path(tempfile.gettempdir()).glob("panpin-demo-*")) == before
