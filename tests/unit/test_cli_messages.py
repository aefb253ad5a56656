"""Every error and warning the CLI writes has one shape: `panpin: error: …` / `panpin: warning: …`,
click's usage errors and `policy check` included, on one line, with exit 2 for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import RunCli


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--no-such-flag",), "No such option '--no-such-flag'"),
        (("scan", "--format", "yaml"), "Invalid value for '--format'"),
        (("nosuchcommand",), "No such command 'nosuchcommand'"),
        (("rollback",), "give either CHANGE_ID or --last"),
    ],
)
def test_usage_errors_are_one_panpin_error_line(
    run_cli: RunCli, args: tuple[str, ...], needle: str
) -> None:
    result = run_cli(*args)
    assert result.code == 2
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith("panpin: error: "), lines[0]
    assert needle in lines[0]
    assert "Traceback" not in result.err and "Usage:" not in result.err


def test_policy_check_problems_use_the_same_style(run_cli: RunCli, tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("version: 1\nrules:\n  - name: x\n    action: alow\n")
    result = run_cli("policy", "check", str(bad))
    assert result.code == 2
    lines = result.err.splitlines()
    assert lines and all(line.startswith(f"panpin: error: {bad}:") for line in lines), result.err


def test_warnings_are_lowercase_like_errors(run_cli: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "panpin.yaml"
    config.write_text("version: 1\n")
    # --insecure warns on every run; the host is unreachable, so the run then fails.
    result = run_cli(
        "--config", str(config), "--host", "127.0.0.1:9", "--insecure", "exclusions", "list"
    )
    assert "panpin: warning: TLS verification is disabled" in result.err
    assert "WARNING" not in result.err
    assert result.err.splitlines()[-1].startswith("panpin: error: ")
