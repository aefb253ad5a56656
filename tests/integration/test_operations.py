"""What operations rely on: the run's metrics file (Prometheus textfile collector) parses with
prometheus_client's own parser and says what the run did; --log-format json gives one JSON object
per stderr line, the final error included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cli_support import DEMO_POLICY, sim_args, sim_env
from conftest import RunCli
from prometheus_client.parser import text_string_to_metric_families

PANPIN = Path(sys.executable).parent / "panpin"
SimFactory = Callable[..., Any]


def samples(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_run_writes_a_textfile_the_prometheus_parser_reads(
    sim_factory: SimFactory, tmp_path: Path, run_cli: RunCli
) -> None:
    sim = sim_factory()
    prom = tmp_path / "panpin.prom"
    args, env = sim_args(sim, tmp_path), sim_env(sim)
    dry = run_cli(
        *args, "run", "--policy", DEMO_POLICY, "--dry-run", "--metrics", str(prom), env=env
    )
    assert dry.code == 3, dry.err
    got = samples(prom)
    device = (("device", sim.host),)
    assert got[("panpin_run_exit_code", ())] == 3
    assert got[("panpin_device_adds", device)] == 2
    assert got[("panpin_device_removes", device)] == 1
    assert got[("panpin_device_hosts", (("decision", "allow"), ("device", sim.host)))] == 4
    assert got[("panpin_device_hosts", (("decision", "block"), ("device", sim.host)))] == 1
    assert got[("panpin_run_last_timestamp_seconds", ())] > 1.7e9

    done = run_cli(*args, "run", "--policy", DEMO_POLICY, "--metrics", str(prom), env=env)
    assert done.code == 0, done.err
    again = samples(prom)
    assert again[("panpin_run_exit_code", ())] == 0
    assert again[("panpin_device_exit_code", device)] == 0
    assert again[("panpin_device_adds", device)] == 2
    assert sim.api_key not in prom.read_text()

    nowhere = run_cli(
        *args, "run", "--policy", DEMO_POLICY, "--metrics", str(tmp_path / "no" / "x.prom"), env=env
    )
    assert nowhere.code == 2 and "--metrics" in nowhere.err


def test_json_logs_are_one_object_per_line(tmp_path: Path) -> None:
    from cli_support import own_simulator

    with own_simulator(tmp_path / "sim") as sim:
        # A busy management plane (HTTP 503) on every try: a retry warning, then the error.
        sim.faults.add("http_status", status=503, match={"type": "config"}, times=5)
        config = tmp_path / "panpin.yaml"
        config.write_text(
            f"version: 1\ndevices:\n  fw:\n    host: {sim.host}\n    admin: panpin\n"
            f"    ca_file: {sim.ca_file}\n"
            "    retry: {attempts: 2, initial: 0.01, maximum: 0.01, jitter: 0}\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("PANPIN_")}
        env["PANPIN_API_KEY"] = "not-a-real-key-0123456789"
        proc = subprocess.run(
            [str(PANPIN), "--config", str(config), "--log-format", "json", "exclusions", "list"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert proc.returncode == 1
    lines = [json.loads(line) for line in proc.stderr.splitlines() if line.strip()]
    assert lines, proc.stderr
    assert all({"level", "message"} <= set(line) for line in lines)
    assert any(line["level"] == "warning" and "retrying" in line["message"] for line in lines)
    assert lines[-1]["level"] == "error" and "HTTP 503" in lines[-1]["message"]
    assert "not-a-real-key" not in proc.stderr
