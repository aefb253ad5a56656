"""A way out of `apply --no-commit` (issue 18): `run` names the change and what to do;
`panpin commit` / `panpin discard` settle it after checking the admin's pending changes are
exactly that change; other admins' pending work is never touched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import own_simulator, sim_args, sim_env, write_policy
from conftest import RunCli

from panpin.panos.exclusions import read_list
from panpin.panos.xmlapi import Connection, XmlApi
from panpin.settings import Location
from panpin.simulator import Simulator


def leave_uncommitted(
    sim: Simulator, tmp_path: Path, run_cli: RunCli
) -> tuple[list[str], dict[str, str], Path, str]:
    """Plan, then `apply --no-commit`: panpin's change waits in the candidate."""
    policy = write_policy(tmp_path)
    base, env = sim_args(sim, tmp_path), sim_env(sim)
    plan = tmp_path / "plan.json"
    assert run_cli(*base, "plan", "--policy", str(policy), "--out", str(plan), env=env).code == 0
    left = run_cli(*base, "apply", str(plan), "--yes", "--no-commit", env=env)
    assert left.code == 0 and json.loads(left.out)["result"] == "uncommitted", left.err
    return base, env, policy, str(json.loads(left.out)["change_id"])


def lists(sim: Simulator) -> tuple[set[str], set[str]]:
    api = XmlApi(Connection(host=sim.host, api_key=sim.api_key, ca_file=str(sim.ca_file)))
    with api:
        running = {e.name for e in read_list(api, Location("shared"))}
        candidate = {e.name for e in read_list(api, Location("shared"), candidate=True)}
    return running, candidate


@pytest.mark.parametrize("verb", ["commit", "discard"])
def test_no_commit_then_run_names_the_way_out_and_it_works(
    tmp_path: Path, run_cli: RunCli, verb: str
) -> None:
    with own_simulator(tmp_path / "sim") as sim:
        base, env, policy, change_id = leave_uncommitted(sim, tmp_path, run_cli)
        before_running, before_candidate = lists(sim)
        assert "app.vendor.example" in before_candidate - before_running

        # A dry run meets the same pre-checks and exits as the real run would (not 3, pending).
        sim.clear_requests()
        dry = run_cli(*base, "run", "--policy", str(policy), "--dry-run", env=env)
        assert dry.code == 5, dry.err
        assert f"panpin commit {change_id}" in dry.err
        assert not [r for r in sim.requests if r.type == "commit" or r.action in ("set", "delete")]
        assert lists(sim) == (before_running, before_candidate)

        blocked = run_cli(*base, "run", "--policy", str(policy), env=env)
        assert blocked.code == 5
        assert f"panpin commit {change_id}" in blocked.err
        assert f"panpin discard {change_id}" in blocked.err

        done = run_cli(*base, verb, change_id, "--yes", env=env)
        assert done.code == 0, done.err
        running, candidate = lists(sim)
        if verb == "commit":
            assert json.loads(done.out)["result"] == "committed"
            assert running == candidate == before_candidate
        else:
            assert json.loads(done.out)["result"] == "aborted"
            assert running == candidate == before_running
        # alice's pending address object (the demo scenario's) is still pending.
        assert "alice" in sim.device.pending_admins()
        history = json.loads(run_cli(*base, "history", "--format", "json", env=env).out)["changes"]
        assert {r["change_id"]: r["result"] for r in history}[change_id] in ("committed", "aborted")
        # And the next run works again.
        again = run_cli(*base, "run", "--policy", str(policy), env=env)
        assert again.code == 0, again.err


def test_commit_refuses_when_the_admin_has_other_pending_changes(
    tmp_path: Path, run_cli: RunCli
) -> None:
    with own_simulator(tmp_path / "sim") as sim:
        base, env, _, change_id = leave_uncommitted(sim, tmp_path, run_cli)
        api = XmlApi(Connection(host=sim.host, api_key=sim.api_key, ca_file=str(sim.ca_file)))
        with api:  # the same admin edits something else by hand
            api.config(
                "set",
                "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']"
                "/address",
                "<entry name='by-hand'><ip-netmask>192.0.2.99/32</ip-netmask></entry>",
            )
        sim.clear_requests()
        refused = run_cli(*base, "commit", change_id, "--yes", env=env)
        assert refused.code == 5, refused.err
        assert "other uncommitted changes" in refused.err
        assert not [r for r in sim.requests if r.type == "commit"]
