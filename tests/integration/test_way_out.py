"""A way out of `apply --no-commit` (issue 18): `run` names the change and what to do;
`panpin commit` / `panpin discard` settle it after checking the admin's pending changes are
exactly that change; other admins' pending work is never touched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import RunCli

from panpin.panos.exclusions import read_list
from panpin.panos.xmlapi import Connection, XmlApi
from panpin.settings import Location
from panpin.simulator import Simulator, load_scenario

POLICY = """\
version: 1
thresholds: {min_hits: 1, min_clients: 1, window: 30d}
rules:
  - name: vendor
    match: {domain: vendor.example}
    action: allow
"""


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
    sim = Simulator(scenario=load_scenario("demo"), workdir=tmp_path / "sim")
    sim.start()
    try:
        policy = tmp_path / "policy.yaml"
        policy.write_text(POLICY)
        base = [
            "--host", sim.host, "--ca-file", str(sim.ca_file), "--admin", sim.admin,
            "--state", str(tmp_path / "state.db"),
        ]  # fmt: skip
        env = {"PANPIN_API_KEY": sim.api_key}
        plan = tmp_path / "plan.json"
        assert (
            run_cli(*base, "plan", "--policy", str(policy), "--out", str(plan), env=env).code == 0
        )
        left = run_cli(*base, "apply", str(plan), "--yes", "--no-commit", env=env)
        assert left.code == 0 and json.loads(left.out)["result"] == "uncommitted", left.err
        change_id = json.loads(left.out)["change_id"]
        before_running, before_candidate = lists(sim)
        assert "app.vendor.example" in before_candidate - before_running

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
        history = json.loads(run_cli(*base, "history", "--format", "json", env=env).out)
        assert {r["change_id"]: r["result"] for r in history}[change_id] in ("committed", "aborted")
        # And the next run works again.
        again = run_cli(*base, "run", "--policy", str(policy), env=env)
        assert again.code == 0, again.err
    finally:
        sim.stop()


def test_commit_refuses_when_the_admin_has_other_pending_changes(
    tmp_path: Path, run_cli: RunCli
) -> None:
    sim = Simulator(scenario=load_scenario("demo"), workdir=tmp_path / "sim")
    sim.start()
    try:
        policy = tmp_path / "policy.yaml"
        policy.write_text(POLICY)
        base = [
            "--host", sim.host, "--ca-file", str(sim.ca_file), "--admin", sim.admin,
            "--state", str(tmp_path / "state.db"),
        ]  # fmt: skip
        env = {"PANPIN_API_KEY": sim.api_key}
        plan = tmp_path / "plan.json"
        assert (
            run_cli(*base, "plan", "--policy", str(policy), "--out", str(plan), env=env).code == 0
        )
        left = run_cli(*base, "apply", str(plan), "--yes", "--no-commit", env=env)
        change_id = json.loads(left.out)["change_id"]
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
    finally:
        sim.stop()
