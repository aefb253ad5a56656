"""Scenario YAML: strict loading, errors naming the key, bundled scenarios, defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from panpin.simulator import (
    ScenarioError,
    Simulator,
    bundled_scenarios,
    load_scenario,
    scenario_from_dict,
)


def test_bundled_scenarios() -> None:
    assert {"demo", "panorama"} <= set(bundled_scenarios())
    demo = load_scenario("demo")
    assert demo.mode == "firewall" and demo.admins[0].name == "panpin"
    hosts = {p.host for p in demo.logs.pinned}
    assert {"app.vendor.example", "online.bank.example", "api1.partner.example"} <= hosts
    assert demo.logs.hostile and demo.logs.noise > 0
    descriptions = [x.description or "" for x in demo.exclusions["shared"]]
    assert any(d.startswith("panpin:") and "expires=2026-08-01" in d for d in descriptions)
    assert any(not d.startswith("panpin:") for d in descriptions)
    pano = load_scenario("panorama")
    assert pano.mode == "panorama" and pano.panorama is not None
    assert pano.panorama.templates[0].name == "branch"
    assert pano.panorama.template_stacks[0].name == "branch-stack"


def test_load_from_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"name": "mine", "admins": [{"name": "ops", "password": "pw"}]}))
    scenario = load_scenario(path)
    assert scenario.name == "mine" and scenario.admins[0].name == "ops"
    assert load_scenario(str(path)).name == "mine"


def test_empty_scenario_has_factory_defaults(tmp_path: Path) -> None:
    scenario = scenario_from_dict(None)
    assert scenario.admins[0].name == "admin"
    with Simulator(scenario, workdir=tmp_path) as sim:
        assert sim.admin == "admin" and len(sim.logs) == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"nmae": "x"}, "scenario: unknown key 'nmae'"),
        (
            {"logs": {"pinned": [{"host": "a", "alerts": {"UnknownCA": 1}, "hitz": 3}]}},
            "logs.pinned[0]: unknown key 'hitz'",
        ),
        ({"device": {"sw_version": 11.1}}, "device.sw_version: expected a string"),
        ({"mode": "router"}, "mode: 'router' is not one of"),
        ({"admins": []}, "at least one admin"),
        ({"admins": [{"name": "a"}]}, "admins[0]: missing key 'password'"),
        ({"exclusions": {"dg:x": []}}, "exclusions.dg:x: unknown location"),
        ({"device": {"clock": "yesterday"}}, "device.clock: invalid time"),
        (
            {
                "logs": {
                    "pinned": [{"host": "a", "alerts": {"UnknownCA": 1}, "variants": {"weird": 1}}]
                }
            },
            "unknown variant 'weird'",
        ),
        ({"logs": {"noise": "lots"}}, "logs.noise: expected an integer"),
        ({"faults": [{"kind": "meteor"}]}, "unknown fault kind 'meteor'"),
        ({"mode": "panorama"}, "panorama: required"),
        (
            {"exclusions": {"shared": [{"name": "a", "exclude": "yes"}]}},
            "exclusions.shared[0].exclude: expected true or false",
        ),
    ],
)
def test_invalid_scenarios_name_the_key(data: object, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data, "test.yaml")
    assert message in str(info.value)
    assert str(info.value).startswith("test.yaml: ")


def test_hyphenated_keys_are_accepted() -> None:
    scenario = scenario_from_dict({"device": {"sw-version": "10.2.9"}})
    assert scenario.device.sw_version == "10.2.9"


def test_unknown_bundled_name_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="unknown scenario 'nope'"):
        load_scenario("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match="invalid YAML"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario(tmp_path / "missing.yaml")


def test_pending_change_errors_surface_as_scenario_errors() -> None:
    scenario = scenario_from_dict(
        {
            "admins": [{"name": "a", "password": "p"}],
            "pending": [{"admin": "a", "xpath": "/config/shared/address", "element": "<broken"}],
        }
    )
    with pytest.raises(ScenarioError, match=r"pending\[0\]"):
        Simulator(scenario)
    scenario = scenario_from_dict(
        {"pending": [{"admin": "ghost", "xpath": "/config/shared", "element": "<a/>"}]}
    )
    with pytest.raises(ScenarioError, match="unknown admin 'ghost'"):
        Simulator(scenario)
