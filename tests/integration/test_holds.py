"""Rollback that lasts (issue 18): a rollback holds the entries it removed out of later runs until
the hold expires, the rule that allowed them changes, or `panpin release HOST`. Driven through
the CLI over real HTTPS against the simulator."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from cli_support import VENDOR_POLICY, own_simulator, sim_args, write_policy
from conftest import RunCli

from panpin.simulator import Simulator


def running_names(sim: Simulator) -> set[str]:
    found = sim.device.running.xpath("//ssl-exclude-cert/entry/@name")
    assert isinstance(found, list)
    return {str(n) for n in found}


def run_json(run_cli: RunCli, sim: Simulator, tmp_path: Path, policy: Path) -> dict[str, Any]:
    done = run_cli(*sim_args(sim, tmp_path), "run", "--policy", str(policy), "--format", "json",
                   env={"PANPIN_API_KEY": sim.api_key})  # fmt: skip
    assert done.code == 0, done.err
    (row,) = json.loads(done.out)["results"]
    return dict(row)


def history(run_cli: RunCli, sim: Simulator, tmp_path: Path) -> dict[str, Any]:
    shown = run_cli(*sim_args(sim, tmp_path), "history", "--format", "json",
                    env={"PANPIN_API_KEY": sim.api_key})  # fmt: skip
    assert shown.code == 0, shown.err
    doc: dict[str, Any] = json.loads(shown.out)
    assert doc["format_version"] == 1
    return doc


def plan_decisions(run_cli: RunCli, sim: Simulator, tmp_path: Path, policy: Path) -> list[Any]:
    made = run_cli(*sim_args(sim, tmp_path), "plan", "--policy", str(policy), "--format", "json",
                   env={"PANPIN_API_KEY": sim.api_key})  # fmt: skip
    assert made.code == 0, made.err
    return list(json.loads(made.out)["decisions"])


def rolled_back(run_cli: RunCli, sim: Simulator, tmp_path: Path, *extra: str) -> list[str]:
    """Run (adds the vendor hosts), then roll that change back; returns the names it added."""
    policy = write_policy(tmp_path, VENDOR_POLICY)
    first = run_json(run_cli, sim, tmp_path, policy)
    added = list(first["adds"])
    assert added and set(added) <= running_names(sim)
    undone = run_cli(*sim_args(sim, tmp_path), "rollback", "--last", "--yes", *extra,
                     env={"PANPIN_API_KEY": sim.api_key})  # fmt: skip
    assert undone.code == 0, undone.err
    assert sorted(json.loads(undone.out)["removes"]) == sorted(added)
    assert not set(added) & running_names(sim)
    return added


def test_a_rolled_back_entry_stays_out_until_released(tmp_path: Path, run_cli: RunCli) -> None:
    with own_simulator(tmp_path / "sim") as sim:
        added = rolled_back(run_cli, sim, tmp_path)
        policy = tmp_path / "policy.yaml"
        # The next run does not add them again, and the plan says why.
        again = run_json(run_cli, sim, tmp_path, policy)
        # (It may remove again what the rollback restored: the demo's expired panpin entry.)
        assert again["adds"] == []
        assert not set(added) & running_names(sim)
        held = [d for d in plan_decisions(run_cli, sim, tmp_path, policy) if d["action"] == "held"]
        assert sorted(d["entry"]["name"] for d in held) == sorted(added)
        assert all("panpin release" in d["reason"] for d in held)
        holds = history(run_cli, sim, tmp_path)["holds"]
        assert sorted(h["entry"] for h in holds) == sorted(added)
        assert {h["rule"] for h in holds} == {"vendor"} and all(h["ended"] is None for h in holds)
        # The policy's defaults.expires (90d unless the policy says) was recorded with the change.
        assert {h["until"] for h in holds} == {(date.today() + timedelta(days=90)).isoformat()}
        table = run_cli(*sim_args(sim, tmp_path), "history", "--format", "table",
                        env={"PANPIN_API_KEY": sim.api_key}).out  # fmt: skip
        assert "Holds" in table and added[0] in table

        # Releasing one: the next run adds that one, and only that one.
        released = run_cli(*sim_args(sim, tmp_path), "release", added[0])
        assert released.code == 0, released.err
        assert f"released {added[0]}" in released.err
        back = run_json(run_cli, sim, tmp_path, policy)
        assert back["adds"] == [added[0]]
        assert running_names(sim) & set(added) == {added[0]}
        ended = {h["entry"]: h for h in history(run_cli, sim, tmp_path)["holds"]}
        assert ended[added[0]]["ended_why"] == "released"


def test_changing_the_rule_ends_the_hold(tmp_path: Path, run_cli: RunCli) -> None:
    with own_simulator(tmp_path / "sim") as sim:
        added = rolled_back(run_cli, sim, tmp_path)
        # Another rule added elsewhere in the file: the vendor rule is unchanged, the hold holds.
        moved = write_policy(
            tmp_path,
            VENDOR_POLICY
            + "  - name: other\n    match: {domain: other.example}\n    action: review\n",
        )
        assert run_json(run_cli, sim, tmp_path, moved)["adds"] == []
        # The rule itself changes (a ticket now backs it): the hold ends and the run adds again.
        edited = write_policy(tmp_path, VENDOR_POLICY + "    ticket: CHG-7\n")
        again = run_json(run_cli, sim, tmp_path, edited)
        assert sorted(again["adds"]) == sorted(added)
        holds = history(run_cli, sim, tmp_path)["holds"]
        assert {h["ended_why"] for h in holds} == {"rule 'vendor' changed since the rollback"}


def test_hold_for_sets_how_long(tmp_path: Path, run_cli: RunCli) -> None:
    with own_simulator(tmp_path / "sim") as sim:
        rolled_back(run_cli, sim, tmp_path, "--hold-for", "3d")
        holds = history(run_cli, sim, tmp_path)["holds"]
        assert {h["until"] for h in holds} == {(date.today() + timedelta(days=3)).isoformat()}


def test_bad_hold_for_and_unknown_release_are_input_errors(tmp_path: Path, run_cli: RunCli) -> None:
    with own_simulator(tmp_path / "sim") as sim:
        policy = write_policy(tmp_path, VENDOR_POLICY)
        run_json(run_cli, sim, tmp_path, policy)
        sim.clear_requests()
        bad = run_cli(*sim_args(sim, tmp_path), "rollback", "--last", "--yes", "--hold-for",
                      "soon", env={"PANPIN_API_KEY": sim.api_key})  # fmt: skip
        assert bad.code == 2 and "--hold-for" in bad.err and "Traceback" not in bad.err
        assert sim.requests == []
        unknown = run_cli(*sim_args(sim, tmp_path), "release", "nothing.example")
        assert unknown.code == 2
        assert unknown.err.strip() == "panpin: error: nothing.example is not held (nothing is held)"
