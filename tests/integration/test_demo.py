"""`panpin demo` walks the whole flow and leaves nothing behind."""

from __future__ import annotations

import re
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
        "1/9 Scan",
        "2/9 Plan",
        "3/9 Confirm",
        "4/9 Report",
        "5/9 Apply",
        "7/9 History",
        "8/9 Rollback",
        "Demo finished",
    ):
        assert step in result.out
    assert "*.vendor.example" in result.out
    # The capture the project ships confirms a pinning host and clears a completed one.
    assert re.search(r"api1\.partner\.example +confirmed", result.out)
    assert re.search(r"app\.vendor\.example +not-pinning", result.out)
    # The report step charts the real plan's per-day series.
    assert re.search(r"errors per day charted for [1-9]\d* host", result.out)
    assert "verified" in result.err
    assert set(Path(tempfile.gettempdir()).glob("panpin-demo-*")) == before
