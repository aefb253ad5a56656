"""HA pairs: panpin changes only the active member. On a passive (or suspended, initial,
non-functional) firewall or a passive Panorama it writes nothing and exits 5 naming the peer."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import DEMO_POLICY, sim_args, sim_env
from conftest import RunCli

from panpin.panos.device import parse_ha_state
from panpin.panos.xmlapi import parse_xml
from panpin.simulator import Simulator, load_scenario
from panpin.simulator.scenario import HaSpec

SAMPLES = Path(__file__).parents[1] / "data" / "ha-and-roles"


def ha_sim(tmp_path: Path, scenario: str, ha: HaSpec) -> Simulator:
    base = load_scenario(scenario)
    return Simulator(
        dataclasses.replace(base, device=dataclasses.replace(base.device, ha=ha)),
        workdir=tmp_path / "sim",
    )


def writes(sim: Simulator) -> list[object]:
    return [r for r in sim.requests if r.type == "commit" or r.action in ("set", "delete")]


@pytest.fixture
def passive(tmp_path: Path) -> Iterator[Simulator]:
    ha = HaSpec(local_state="passive", peer_state="active", peer_mgmt_ip="192.0.2.11/24")
    with ha_sim(tmp_path, "demo", ha) as sim:
        yield sim


@pytest.mark.parametrize("state", ["passive", "suspended", "initial", "non-functional"])
def test_a_member_that_is_not_active_is_never_changed(
    tmp_path: Path, run_cli: RunCli, state: str
) -> None:
    ha = HaSpec(local_state=state, peer_state="active", peer_mgmt_ip="192.0.2.11/24")
    with ha_sim(tmp_path, "demo", ha) as sim:
        result = run_cli(*sim_args(sim, tmp_path), "run", "--policy", DEMO_POLICY, env=sim_env(sim))
        assert result.code == 5, result.err
        assert f"this HA member is {state}" in result.err
        assert "192.0.2.11 is active" in result.err
        assert writes(sim) == []
        assert not any(lock.admin == sim.admin for lock in sim.device.config_locks.values())


def test_the_active_member_is_changed(tmp_path: Path, run_cli: RunCli) -> None:
    ha = HaSpec(local_state="active", peer_state="passive")
    with ha_sim(tmp_path, "demo", ha) as sim:
        result = run_cli(*sim_args(sim, tmp_path), "run", "--policy", DEMO_POLICY, env=sim_env(sim))
        assert result.code == 0, result.err
        assert writes(sim)


def test_a_passive_panorama_is_never_changed(tmp_path: Path, run_cli: RunCli) -> None:
    ha = HaSpec(local_state="secondary-passive", peer_state="primary-active")
    with ha_sim(tmp_path, "panorama", ha) as sim:
        result = run_cli(
            *sim_args(sim, tmp_path, "template-stack:branch-stack"),
            "run",
            "--policy",
            DEMO_POLICY,
            env=sim_env(sim),
        )
        assert result.code == 5, result.err
        assert "secondary-passive" in result.err
        assert writes(sim) == []


@pytest.mark.parametrize(
    ("sample", "enabled", "local", "changeable"),
    [
        ("gregfoletta-Device-Firewall-PaloAlto__t_xml_op_ha_ha_enabled.xml", True, "active", True),
        ("gregfoletta-Device-Firewall-PaloAlto__t_xml_op_ha_ha_disabled.xml", False, "", True),
        (
            "metacpan-Device-PaloAlto-Firewall__t_07-high_availability.t.ha_active.xml",
            True,
            "active",
            True,
        ),
        ("demisto-content__Panorama_test_data_show_ha_state_disabled.xml", False, "", True),
    ],
)
def test_real_answers(sample: str, enabled: bool, local: str, changeable: bool) -> None:
    text = (SAMPLES / sample).read_text()
    body = text[text.index("<response") :].encode()
    state = parse_ha_state(parse_xml(body))
    assert state.enabled is enabled
    assert state.local_state == local or not enabled
    assert state.changeable is changeable
