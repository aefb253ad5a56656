"""`panpin run`: the cron one-shot, incremental, idempotent, and across a fleet."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cli_support import DEMO_POLICY, sim_args
from conftest import RunCli

SimFactory = Callable[..., Any]


def base(sim: Any, tmp_path: Path) -> list[str]:
    return sim_args(sim, tmp_path)


def writes(sim: Any) -> list[Any]:
    return [r for r in sim.requests if r.type == "commit" or r.action in ("set", "delete", "edit")]


def test_run_applies_then_second_run_changes_nothing(
    sim_factory: SimFactory, tmp_path: Path, run_cli: RunCli
) -> None:
    sim = sim_factory()
    env = {"PANPIN_API_KEY": sim.api_key}
    dry = run_cli(*base(sim, tmp_path), "run", "--policy", DEMO_POLICY, "--dry-run", env=env)
    assert dry.code == 3, dry.err
    assert writes(sim) == []
    first = run_cli(
        *base(sim, tmp_path), "run", "--policy", DEMO_POLICY, "--format", "json", env=env
    )
    assert first.code == 0, first.err
    rows = json.loads(first.out)["results"]
    assert rows[0]["result"] == "committed"
    assert "*.vendor.example" in rows[0]["adds"]
    sim.clear_requests()
    second = run_cli(*base(sim, tmp_path), "run", "--policy", DEMO_POLICY, env=env)
    assert second.code == 0, second.err
    assert second.out == ""  # quiet when nothing happened
    assert writes(sim) == []
    # The second run read only logs newer than the watermark.
    log_jobs = [r for r in sim.requests if r.type == "log" and r.action is None]
    assert log_jobs and all("receive_time geq" in (r.params.get("query") or "") for r in log_jobs)


def test_fleet_reports_each_device_and_worst_exit(
    sim_factory: SimFactory, tmp_path: Path, run_cli: RunCli
) -> None:
    ok_sim = sim_factory()
    busy_sim = sim_factory()
    from panpin.panos.xmlapi import Connection, XmlApi

    with XmlApi(
        Connection(
            host=busy_sim.host, api_key=busy_sim.key_for("alice"), ca_file=str(busy_sim.ca_file)
        )
    ) as alice:
        alice.op(
            "<request><config-lock><add><comment>change window</comment></add></config-lock></request>",
            vsys="shared",
        )
    config = tmp_path / "panpin.yaml"
    config.write_text(
        "version: 1\n"
        f"state: {tmp_path / 'state.db'}\n"
        "defaults: {admin: panpin}\n"
        "devices:\n"
        f"  fw-ok: {{host: '{ok_sim.host}', ca_file: '{ok_sim.ca_file}'}}\n"
        f"  fw-busy: {{host: '{busy_sim.host}', ca_file: '{busy_sim.ca_file}'}}\n"
    )
    # Both demo scenarios share the fixed key of the panpin admin.
    assert ok_sim.api_key == busy_sim.api_key
    result = run_cli(
        "--config",
        str(config),
        "--all",
        "run",
        "--policy",
        DEMO_POLICY,
        "--format",
        "json",
        env={"PANPIN_API_KEY": ok_sim.api_key},
    )
    assert result.code == 5, result.err
    rows = {r["device"]: r for r in json.loads(result.out)["results"]}
    assert rows["fw-ok"]["result"] == "committed" and rows["fw-ok"]["exit_code"] == 0
    assert rows["fw-busy"]["exit_code"] == 5
    assert "alice" in rows["fw-busy"]["error"]
    assert writes(busy_sim) == []


def test_worst_exit_order() -> None:
    from panpin.cli.change import worst_exit

    assert worst_exit([0, 3]) == 3
    assert worst_exit([3, 5]) == 5
    assert worst_exit([5, 1]) == 1
    assert worst_exit([1, 4]) == 4
    assert worst_exit([4, 6, 0]) == 6
    assert worst_exit([]) == 0
