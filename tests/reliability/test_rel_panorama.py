"""Panorama: a push that fails on one firewall leaves Panorama committed (exit 6, the firewall
named, no lock of panpin's left), and the next run pushes again until every firewall has it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_support import DEMO_POLICY, sim_args, sim_env
from conftest import RunCli

LOCATION = "template-stack:branch-stack"
FAILING = "007951000222222"  # branch-fw-02 in the panorama scenario
SimFactory = Callable[..., Any]


def args(sim: Any, tmp_path: Path) -> list[str]:
    return sim_args(sim, tmp_path, LOCATION)


def history(run_cli: RunCli, sim: Any, tmp_path: Path) -> list[dict[str, Any]]:
    shown = run_cli(*args(sim, tmp_path), "history", "--format", "json", env=sim_env(sim))
    assert shown.code == 0, shown.err
    rows: list[dict[str, Any]] = json.loads(shown.out)["changes"]
    return rows


def pushes(sim: Any) -> list[Any]:
    return [r for r in sim.requests if r.type == "commit" and r.action == "all"]


@pytest.mark.parametrize("failures", [1, 2], ids=["fixed-at-once", "fails-twice"])
def test_a_failed_push_is_pushed_again_by_the_next_run(
    sim_factory: SimFactory, tmp_path: Path, run_cli: RunCli, failures: int
) -> None:
    sim = sim_factory("panorama")
    sim.faults.add("push_device_fail", serial=FAILING, times=failures)
    first = run_cli(*args(sim, tmp_path), "run", "--policy", DEMO_POLICY, env=sim_env(sim))
    assert first.code == 6, first.err
    assert "branch-fw-02" in first.err or FAILING in first.err
    assert not any(lock.admin == sim.admin for lock in sim.device.config_locks.values())
    assert [r["result"] for r in history(run_cli, sim, tmp_path)] == ["push-failed"]

    sim.clear_requests()
    second = run_cli(*args(sim, tmp_path), "run", "--policy", DEMO_POLICY, env=sim_env(sim))
    assert len(pushes(sim)) == 1  # nothing new to change: only the push again
    writes = [r for r in sim.requests if r.type == "config" and r.action in ("set", "delete")]
    assert writes == []
    if failures == 1:
        assert second.code == 0, second.err
        assert "re-pushed" in second.err
        assert [r["result"] for r in history(run_cli, sim, tmp_path)] == ["committed"]
    else:
        assert second.code == 6, second.err
        assert "failed again" in second.err
        assert [r["result"] for r in history(run_cli, sim, tmp_path)] == ["push-failed"]
        third = run_cli(*args(sim, tmp_path), "run", "--policy", DEMO_POLICY, env=sim_env(sim))
        assert third.code == 0, third.err
        assert [r["result"] for r in history(run_cli, sim, tmp_path)] == ["committed"]
    assert not any(lock.admin == sim.admin for lock in sim.device.config_locks.values())
