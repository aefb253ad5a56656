"""``simulator serve``: one JSON line on stdout, runs until SIGTERM/SIGINT."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import requests
from click.testing import CliRunner

from panpin.simulator.cli import simulator

LAUNCH = "from panpin.simulator.cli import simulator; simulator()"


def _serve(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", LAUNCH, "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop(proc: subprocess.Popen[str], sig: int) -> int:
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=10)
    finally:
        if proc.poll() is None:  # pragma: no cover
            proc.kill()


def test_serve_prints_one_json_line_and_stops_on_sigterm(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    proc = _serve("--workdir", str(tmp_path / "w"), "--control-token-file", str(token_file))
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert set(info) >= {"url", "ca_file", "api_key", "admin"}
        assert info["admin"] == "panpin" and info["url"].startswith("https://127.0.0.1:")
        r = requests.post(
            info["url"] + "/api/",
            data={"type": "op", "cmd": "<show><clock/></show>"},
            headers={"X-PAN-KEY": info["api_key"]},
            verify=info["ca_file"],
            timeout=10,
        )
        assert r.status_code == 200 and "2026" in r.text
        assert oct(os.stat(token_file).st_mode & 0o777) == "0o600"
        token = token_file.read_text().strip()
        reqs = requests.get(
            info["url"] + "/_sim/requests",
            headers={"X-Sim-Token": token},
            verify=info["ca_file"],
            timeout=10,
        )
        assert len(reqs.json()) == 1
    finally:
        code = _stop(proc, signal.SIGTERM)
    assert code == 0
    assert proc.stdout is not None and proc.stdout.read() == ""  # nothing but the JSON line


def test_serve_panorama_and_sigint(tmp_path: Path) -> None:
    proc = _serve("--scenario", "panorama", "--workdir", str(tmp_path))
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["mode"] == "panorama"
    finally:
        code = _stop(proc, signal.SIGINT)
    assert code == 0


def test_bad_scenario_is_a_usage_error() -> None:
    result = CliRunner().invoke(simulator, ["serve", "--scenario", "nope"])
    assert result.exit_code == 2
    assert "unknown scenario 'nope'" in result.output


def _serve_via_panpin(tmp_path: Path, *args: str) -> tuple[str, str]:
    """Run ``panpin simulator serve ARGS`` (the top-level CLI configures logging first), make
    one request with the key, stop it; its stderr and the key."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from panpin.cli import main; main()",
            "simulator",
            "serve",
            "--workdir",
            str(tmp_path),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        r = requests.post(
            info["url"] + "/api/",
            data={"type": "op", "cmd": "<show><system><info/></system></show>"},
            headers={"X-PAN-KEY": info["api_key"]},
            verify=info["ca_file"],
            timeout=10,
        )
        assert r.status_code == 200
    finally:
        _stop(proc, signal.SIGTERM)
    assert proc.stderr is not None
    return proc.stderr.read(), info["api_key"]


def test_verbose_serve_logs_each_request_without_the_key(tmp_path: Path) -> None:
    err, key = _serve_via_panpin(tmp_path, "-v")
    assert 'POST type=op cmd="show system info" -> HTTP 200 success' in err
    assert key not in err


def test_quiet_serve_logs_no_requests(tmp_path: Path) -> None:
    err, _ = _serve_via_panpin(tmp_path)
    assert "simulator listening" in err
    assert "type=op" not in err
