"""Panorama: a change for a template that does not exist, or serves no firewall, is refused
before anything is written (issue 18); without a location panpin names the templates."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
import yaml
from cli_support import VENDOR_POLICY, own_simulator, write_policy
from conftest import RunCli

from panpin.simulator import Simulator, scenario_from_dict

POLICY = VENDOR_POLICY


@pytest.fixture(scope="module")
def pano(tmp_path_factory: pytest.TempPathFactory) -> object:
    data = yaml.safe_load(
        (resources.files("panpin.simulator") / "scenarios" / "panorama.yaml").read_text()
    )
    data["panorama"]["templates"].append({"name": "lab"})  # in no stack: serves no firewall
    with own_simulator(tmp_path_factory.mktemp("pano"), scenario_from_dict(data)) as sim:
        yield sim


@pytest.mark.parametrize(
    ("location", "code", "says"),
    [
        ("template:nonexist", 2, "template:nonexist does not exist on this Panorama"),
        ("template-stack:nope", 2, "template-stack:nope does not exist"),
        ("template:lab", 2, "template:lab serves no firewall"),
        ("shared", 2, "templates: branch, dc, lab; stacks: branch-stack, dc-stack"),
    ],
)
@pytest.mark.parametrize("command", ["plan", "run"])
def test_a_location_that_reaches_no_firewall_is_refused_before_any_write(
    pano: Simulator, tmp_path: Path, run_cli: RunCli, location: str, code: int, says: str,
    command: str,
) -> None:  # fmt: skip
    policy = write_policy(tmp_path, POLICY)
    pano.clear_requests()
    result = run_cli(
        "--host", pano.host, "--ca-file", str(pano.ca_file), "--admin", pano.admin,
        "--state", str(tmp_path / "state.db"), "--location", location,
        command, "--policy", str(policy), env={"PANPIN_API_KEY": pano.api_key},
    )  # fmt: skip
    assert result.code == code, result.err
    assert says in result.err and "Traceback" not in result.err
    writes = [r for r in pano.requests if r.type in ("commit",) or r.action in ("set", "edit")]
    assert writes == []
    assert not [r for r in pano.requests if r.type == "log"]  # refused before the scan


def test_a_template_in_a_stack_with_firewalls_plans(
    pano: Simulator, tmp_path: Path, run_cli: RunCli
) -> None:
    policy = write_policy(tmp_path, POLICY)
    result = run_cli(
        "--host", pano.host, "--ca-file", str(pano.ca_file), "--admin", pano.admin,
        "--location", "template:branch", "plan", "--policy", str(policy),
        env={"PANPIN_API_KEY": pano.api_key},
    )  # fmt: skip
    assert result.code == 0, result.err
