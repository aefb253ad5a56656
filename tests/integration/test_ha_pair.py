"""An HA pair in the config (`ha_peer:`), against a simulated pair over real HTTPS (issue 16):
`run` works on whichever member is active, reads both members' logs, records both serials and
the peer's sync; a failover between plan and apply lands on the new active member."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import VENDOR_POLICY, write_policy
from conftest import RunCli

from panpin.simulator import Simulator, SimulatorPair, load_scenario


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[SimulatorPair]:
    with SimulatorPair(load_scenario("demo"), workdir=tmp_path / "pair", commit_seconds=0) as p:
        yield p


def config_for(pair: SimulatorPair, tmp_path: Path) -> Path:
    a, b = pair.members
    config = tmp_path / "panpin.yaml"
    config.write_text(
        "version: 1\ndevices:\n"
        f"  fw-a:\n    host: {a.host}\n    ca_file: {a.ca_file}\n    admin: {a.admin}\n"
        "    ha_peer: fw-b\n"
        f"  fw-b:\n    host: {b.host}\n    ca_file: {b.ca_file}\n    admin: {b.admin}\n"
        "    ha_peer: fw-a\n"
    )
    return config


def cli(pair: SimulatorPair, tmp_path: Path, device: str) -> list[str]:
    config = config_for(pair, tmp_path)
    return ["--config", str(config), "--device", device, "--state", str(tmp_path / "state.db")]


def env(pair: SimulatorPair) -> dict[str, str]:
    return {"PANPIN_API_KEY": pair.members[0].api_key}


def writes(sim: Simulator) -> list[object]:
    return [r for r in sim.requests if r.type == "commit" or r.action in ("set", "delete")]


def names(sim: Simulator) -> set[str]:
    found = sim.device.running.xpath("//ssl-exclude-cert/entry/@name")
    assert isinstance(found, list)
    return {str(n) for n in found}


def test_run_named_at_the_passive_member_changes_the_active_one(
    pair: SimulatorPair, tmp_path: Path, run_cli: RunCli
) -> None:
    active, passive = pair.active, pair.passive
    policy = write_policy(tmp_path, VENDOR_POLICY)
    passive_name = "fw-b" if passive is pair.members[1] else "fw-a"
    done = run_cli(*cli(pair, tmp_path, passive_name), "run", "--policy", str(policy),
                   "--format", "json", env=env(pair))  # fmt: skip
    assert done.code == 0, done.err
    (row,) = json.loads(done.out)["results"]
    assert row["adds"] and row["result"] == "committed"
    assert "working on its HA peer" in done.err
    # The change went to the active member only; config sync carried it to the passive one.
    assert writes(active) and not writes(passive)
    assert set(row["adds"]) <= names(active)
    assert set(row["adds"]) <= names(passive)
    # Both members' logs were read (each keeps the log of what passed through it).
    assert [r for r in active.requests if r.type == "log"]
    assert [r for r in passive.requests if r.type == "log"]
    history = json.loads(run_cli(*cli(pair, tmp_path, "fw-a"), "history", "--format", "json",
                                 env=env(pair)).out)["changes"]  # fmt: skip
    (change,) = history
    assert change["serial"] == active.scenario.device.serial
    assert change["detail"].startswith("HA peer synchronized (running-sync)")


def test_the_plan_names_both_serials_and_a_failover_lands_on_the_new_active(
    pair: SimulatorPair, tmp_path: Path, run_cli: RunCli
) -> None:
    first, second = pair.active, pair.passive
    policy = write_policy(tmp_path, VENDOR_POLICY)
    plan = tmp_path / "plan.json"
    name_of = {id(pair.members[0]): "fw-a", id(pair.members[1]): "fw-b"}
    made = run_cli(*cli(pair, tmp_path, name_of[id(first)]), "plan", "--policy", str(policy),
                   "--out", str(plan), env=env(pair))  # fmt: skip
    assert made.code == 0, made.err
    device = json.loads(plan.read_text())["device"]
    assert device["serial"] == first.scenario.device.serial
    assert device["ha_peer_serial"] == second.scenario.device.serial

    pair.failover()
    assert pair.active is second
    first.clear_requests()
    applied = run_cli(*cli(pair, tmp_path, name_of[id(first)]), "apply", str(plan), "--yes",
                      env=env(pair))  # fmt: skip
    assert applied.code == 0, applied.err
    assert json.loads(applied.out)["result"] == "committed"
    assert "the active member now" in applied.err
    assert writes(second) and not writes(first)


def test_a_pair_with_no_active_member_changes_nothing(
    pair: SimulatorPair, tmp_path: Path, run_cli: RunCli
) -> None:
    import dataclasses

    for member in pair.members:
        with member.device.lock:
            assert member.device.ha is not None
            member.device.ha = dataclasses.replace(
                member.device.ha, local_state="suspended", peer_state="suspended"
            )
    policy = write_policy(tmp_path, VENDOR_POLICY)
    done = run_cli(*cli(pair, tmp_path, "fw-a"), "run", "--policy", str(policy), env=env(pair))
    assert done.code == 5, done.err
    assert "this HA member is suspended" in done.err
    assert not any(writes(m) for m in pair.members)


def test_both_members_in_a_fleet_run_are_one_unit(
    pair: SimulatorPair, tmp_path: Path, run_cli: RunCli
) -> None:
    policy = write_policy(tmp_path, VENDOR_POLICY)
    config = config_for(pair, tmp_path)
    done = run_cli("--config", str(config), "--all", "--state", str(tmp_path / "state.db"),
                   "run", "--policy", str(policy), "--format", "json", env=env(pair))  # fmt: skip
    assert done.code == 0, done.err
    rows = json.loads(done.out)["results"]
    assert len(rows) == 1 and rows[0]["result"] == "committed"
    assert sum(1 for m in pair.members for r in m.requests if r.type == "commit") == 1


def test_ha_peer_must_name_another_device(tmp_path: Path, run_cli: RunCli) -> None:
    config = tmp_path / "panpin.yaml"
    config.write_text("version: 1\ndevices:\n  fw-a:\n    host: 192.0.2.1\n    ha_peer: fw-z\n")
    result = run_cli("--config", str(config), "exclusions", "list")
    assert result.code == 2
    assert "devices.fw-a.ha_peer: 'fw-z' is not another device" in result.err


def test_sync_disabled_is_a_warning_recorded_with_the_change(
    tmp_path: Path, run_cli: RunCli
) -> None:
    with SimulatorPair(load_scenario("demo"), workdir=tmp_path / "pair", commit_seconds=0,
                       running_sync_enabled=False) as pair:  # fmt: skip
        policy = write_policy(tmp_path, VENDOR_POLICY)
        done = run_cli(*cli(pair, tmp_path, "fw-a"), "run", "--policy", str(policy),
                       env=env(pair))  # fmt: skip
        assert done.code == 0, done.err
        assert "HA running-config sync is disabled" in done.err
        # panpin never starts a sync itself.
        assert not [
            r for m in pair.members for r in m.requests if "sync-to-remote" in (r.cmd or "")
        ]
        (change,) = json.loads(run_cli(*cli(pair, tmp_path, "fw-a"), "history", "--format",
                                       "json", env=env(pair)).out)["changes"]  # fmt: skip
        assert "sync is disabled" in change["detail"]


def test_the_passive_member_alone_exits_5_naming_the_active_one(
    pair: SimulatorPair, tmp_path: Path, run_cli: RunCli
) -> None:
    passive, active = pair.passive, pair.active
    policy = write_policy(tmp_path, VENDOR_POLICY)
    done = run_cli("--host", passive.host, "--ca-file", str(passive.ca_file), "--admin",
                   passive.admin, "--state", str(tmp_path / "state.db"), "run", "--policy",
                   str(policy), env=env(pair))  # fmt: skip
    assert done.code == 5, done.err
    assert "this HA member is passive" in done.err
    assert f"its peer {active.scenario.device.ip_address} is active" in done.err
    assert not writes(passive) and not writes(active)
