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


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_every_command_the_demo_prints_runs_as_printed(run_cli: RunCli, tmp_path: Path) -> None:
    """The `$` lines of the demo, copied into a shell against `panpin simulator serve`."""
    import json
    import os
    import shlex
    import subprocess
    import sys

    port = _free_port()
    shown = run_cli("demo", "--port", str(port))
    assert shown.code == 0, shown.err
    dollar = [line.split("$ ", 1)[1] for line in shown.out.splitlines() if "$ " in line]
    serve, export, *commands = dollar
    assert serve.startswith("mkdir -p ") and "panpin simulator serve" in serve
    assert export.startswith("export ") and len(commands) == 9
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for name in ("PANPIN_CONFIG", "PANPIN_DEVICE", "PANPIN_LOCATION", "PANPIN_API_KEY_FILE"):
        env.pop(name, None)
    env["HOME"] = str(tmp_path)  # no user config is read
    for pair in shlex.split(export)[1:]:
        key, _, value = pair.partition("=")
        env[key] = value
    server = subprocess.Popen(
        ["bash", "-c", serve.replace("&& panpin", "&& exec panpin")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        ready = json.loads(server.stdout.readline())
        assert ready["host"] == env["PANPIN_HOST"]
        for command in commands:
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, f"$ {command}\n{done.stderr}"
            assert "Traceback" not in done.stderr
        # The replay did what the demo did: a plan, a report, and a change then its rollback.
        assert (tmp_path / "panpin-demo" / "report.html").is_file()
        history = subprocess.run(["bash", "-c", "panpin history --format json"], cwd=tmp_path,
                                 env=env, capture_output=True, text=True, check=True)  # fmt: skip
        kinds = [c["kind"] for c in json.loads(history.stdout)["changes"]]
        assert kinds == ["policy", "rollback"]
    finally:
        server.terminate()
        server.communicate(timeout=30)
