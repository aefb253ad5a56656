"""``panpin doctor`` over real HTTPS against the simulator in each state it must tell apart:
the verdict of the check that state is about, and the exit code (0 unless a check fails)."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cli_support import sim_args, sim_env, write_policy
from conftest import RunCli

from panpin.simulator import Simulator, SimulatorPair, load_scenario, scenario_from_dict

# A firewall whose clock is the real time, with Decryption-log entries up to a minute ago and
# nobody else's work pending: every check passes.
FIREWALL: dict[str, Any] = {
    "device": {"hostname": "fw-doctor", "clock_offset": "0s", "timezone": "UTC"},
    # A fixed key, so that one PANPIN_API_KEY serves every simulator of a fleet test.
    "admins": [
        {"name": "panpin", "password": "pw", "api_key": "LUFRPT1kb2N0b3ItdGVzdC1rZXk="},
        {"name": "alice", "password": "pw2"},
    ],
    "logs": {"pinned": [{"host": "app.vendor.example", "alerts": {"UnknownCA": 200}}]},
}


def firewall(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(FIREWALL)
    for key, value in changes.items():
        if key == "device":
            data["device"].update(value)
        else:
            data[key] = value
    return data


def custom_role(**xmlapi: bool) -> dict[str, Any]:
    return {
        "admins": [{"name": "panpin", "password": "pw", "role": "panpin-api"}],
        "roles": [{"name": "panpin-api", "xmlapi": xmlapi}],
    }


def panorama() -> dict[str, Any]:
    return {
        "mode": "panorama",
        "device": {
            "hostname": "panorama-01",
            "model": "Panorama",
            "clock_offset": "0s",
            "timezone": "UTC",
        },
        "admins": [{"name": "panpin", "password": "pw"}],
        "panorama": {
            "devices": [{"serial": "007951000111111", "hostname": "branch-fw-01"}],
            "templates": [{"name": "branch"}, {"name": "lonely"}],
            "template_stacks": [
                {"name": "branch-stack", "templates": ["branch"], "devices": ["007951000111111"]}
            ],
        },
        "logs": {"pinned": [{"host": "app.vendor.example", "alerts": {"UnknownCA": 200}}]},
    }


@dataclass(frozen=True)
class Case:
    scenario: dict[str, Any]
    check: str
    verdict: str
    code: int
    location: str | None = None
    words: tuple[str, ...] = ()
    version: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


CASES: dict[str, Case] = {
    "standalone": Case(firewall(), "ha", "pass", 0, words=("standalone",)),
    "HA active": Case(
        firewall(device={"ha": {"local_state": "active", "peer_state": "passive"}}),
        "ha",
        "pass",
        0,
        words=("active", "synchronized"),
    ),
    "HA passive": Case(
        firewall(
            device={
                "ha": {
                    "local_state": "passive",
                    "peer_state": "active",
                    "peer_mgmt_ip": "192.0.2.11/24",
                }
            }
        ),
        "ha",
        "warn",
        0,
        words=("passive", "192.0.2.11 is active"),
    ),
    "HA suspended": Case(
        firewall(device={"ha": {"local_state": "suspended", "peer_state": "active"}}),
        "ha",
        "fail",
        1,
    ),
    "HA not synchronized": Case(
        firewall(device={"ha": {"running_sync": "not synchronized"}}),
        "ha",
        "warn",
        0,
        words=("not synchronized",),
    ),
    "role without log": Case(
        firewall(**custom_role(log=False)), "permission-log", "fail", 1, words=("log",)
    ),
    "role without commit": Case(
        firewall(**custom_role(commit=False)),
        "permission-commit",
        "fail",
        1,
        words=("panpin-api", "commit"),
    ),
    "role with commit": Case(
        firewall(**custom_role()), "permission-commit", "pass", 0, words=("panpin-api",)
    ),
    "role without config": Case(
        firewall(**custom_role(config=False)),
        "permission-commit",
        "warn",
        1,
        words=("cannot tell",),
    ),
    "PAN-OS 9.1": Case(
        firewall(), "version", "fail", 1, words=("9.1.0", "no Decryption log"), version="9.1.0"
    ),
    "PAN-OS 10.0 (untested)": Case(firewall(), "version", "warn", 0, version="10.0.3"),
    "clock 2 hours off": Case(
        firewall(device={"clock_offset": "2h"}), "clock", "warn", 0, words=("2.0 h ahead",)
    ),
    "clock in an ambiguous zone": Case(
        firewall(device={"timezone": "CST"}), "clock", "warn", 0, words=("cannot compare",)
    ),
    "no recent Decryption log": Case(firewall(logs={"pinned": []}), "decryption-log", "warn", 0),
    "missing vsys": Case(firewall(), "location", "fail", 1, location="vsys:vsys9"),
    "missing template": Case(
        panorama(), "location", "fail", 1, location="template:nope", words=("does not exist",)
    ),
    "template with no devices": Case(
        panorama(), "location", "fail", 1, location="template:lonely", words=("serves no firewall",)
    ),
    "template with devices": Case(panorama(), "location", "pass", 0, location="template:branch"),
    "lock held by another admin": Case(
        firewall(locks=[{"admin": "alice", "type": "commit"}]),
        "locks",
        "warn",
        0,
        words=("alice",),
    ),
    "another admin's pending change": Case(
        firewall(
            pending=[
                {
                    "admin": "alice",
                    "xpath": "/config/shared/address",
                    "element": "<entry name='a'><ip-netmask>192.0.2.1/32</ip-netmask></entry>",
                }
            ]
        ),
        "pending-changes",
        "warn",
        0,
        words=("alice",),
    ),
    "certificate expiring soon": Case(
        firewall(), "tls", "warn", 0, words=("expires",), options={"cert_valid_days": 10}
    ),
}


def doctor_json(
    run_cli: RunCli, sim: Simulator, tmp_path: Path, *extra: str, location: str | None = None
) -> tuple[int, dict[str, Any], str]:
    result = run_cli(
        *sim_args(sim, tmp_path, location), "doctor", *extra, "--format", "json", env=sim_env(sim)
    )
    return result.code, json.loads(result.out), result.err


@pytest.mark.parametrize("name", list(CASES))
def test_doctor_tells_each_state(tmp_path: Path, run_cli: RunCli, name: str) -> None:
    case = CASES[name]
    scenario = scenario_from_dict(case.scenario, name)
    with Simulator(scenario, workdir=tmp_path / "sim", version=case.version, **case.options) as sim:
        code, doc, err = doctor_json(run_cli, sim, tmp_path, location=case.location)
        assert doc["format_version"] == 1
        checks = {c["name"]: c for c in doc["checks"]}
        found = checks[case.check]
        assert found["verdict"] == case.verdict, found
        for word in case.words:
            assert word in found["detail"], found
        if case.verdict != "pass":
            assert found["fix"], found
        assert code == case.code, (doc, err)
        # Read-only: nothing written, locked or committed.
        assert not [
            r for r in sim.requests if r.type == "commit" or r.action in ("set", "edit", "delete")
        ]
        assert "<request>" not in " ".join(r.cmd or "" for r in sim.requests)


def test_a_healthy_firewall_passes_every_check(tmp_path: Path, run_cli: RunCli) -> None:
    with Simulator(scenario_from_dict(firewall()), workdir=tmp_path / "sim") as sim:
        code, doc, err = doctor_json(run_cli, sim, tmp_path)
        assert code == 0, err
        assert {c["verdict"] for c in doc["checks"]} == {"pass"}, doc
        assert [c["name"] for c in doc["checks"]] == [
            "tls",
            "api-key",
            "permission-op",
            "permission-config",
            "permission-log",
            "permission-commit",
            "version",
            "clock",
            "location",
            "decryption-log",
            "ha",
            "locks",
            "pending-changes",
        ]
        assert set(doc["checks"][0]) == {"device", "name", "verdict", "detail", "fix"}
        assert err == ""


def test_strict_makes_warnings_fail(tmp_path: Path, run_cli: RunCli) -> None:
    case = CASES["HA passive"]
    with Simulator(scenario_from_dict(case.scenario), workdir=tmp_path / "sim") as sim:
        code, _, err = doctor_json(run_cli, sim, tmp_path)
        assert code == 0
        assert "panpin: warning: doctor: 1 warning (ha)" in err
        code, _, _ = doctor_json(run_cli, sim, tmp_path, "--strict")
        assert code == 1


def test_a_bad_key_fails_the_key_check(tmp_path: Path, run_cli: RunCli) -> None:
    with Simulator(scenario_from_dict(firewall()), workdir=tmp_path / "sim") as sim:
        result = run_cli(
            *sim_args(sim, tmp_path), "doctor", "--format", "json", env={"PANPIN_API_KEY": "nope"}
        )
        assert result.code == 1
        checks = {c["name"]: c["verdict"] for c in json.loads(result.out)["checks"]}
        assert checks == {"api-key": "fail"}


def test_the_table_and_the_passive_member_of_a_pair(tmp_path: Path, run_cli: RunCli) -> None:
    with SimulatorPair(scenario_from_dict(firewall()), workdir=tmp_path / "pair") as pair:
        result = run_cli(
            *sim_args(pair.passive, tmp_path),
            "doctor",
            "--format",
            "table",
            env=sim_env(pair.passive),
        )
        assert result.code == 0, result.err
        line = next(x for x in result.out.splitlines() if x.startswith("ha "))
        assert "warn" in line
        assert pair.active.scenario.device.ip_address in line


def test_all_checks_every_device_of_the_config(tmp_path: Path, run_cli: RunCli) -> None:
    with (
        Simulator(scenario_from_dict(firewall()), workdir=tmp_path / "a") as good,
        Simulator(scenario_from_dict(firewall()), workdir=tmp_path / "b", version="9.1.0") as old,
    ):
        config = tmp_path / "panpin.yaml"
        config.write_text(
            "version: 1\ndevices:\n"
            + "".join(
                f"  {name}:\n    host: {sim.host}\n    ca_file: {sim.ca_file}\n    admin: panpin\n"
                for name, sim in (("good", good), ("old", old))
            )
        )
        result = run_cli(
            "--config",
            str(config),
            "--state",
            str(tmp_path / "s.db"),
            "--all",
            "doctor",
            "--format",
            "json",
            env=sim_env(good),
        )
        doc = json.loads(result.out)
        versions = {c["device"]: c["verdict"] for c in doc["checks"] if c["name"] == "version"}
        assert versions == {"good": "pass", "old": "fail"}
        assert result.code == 1


def test_load_scenario_demo_still_works_with_doctor(tmp_path: Path, run_cli: RunCli) -> None:
    """The demo's fixed November clock and alice's pending change are warnings, not failures."""
    with Simulator(load_scenario("demo"), workdir=tmp_path / "sim") as sim:
        code, doc, _ = doctor_json(run_cli, sim, tmp_path)
        verdicts = {c["name"]: c["verdict"] for c in doc["checks"]}
        assert verdicts["pending-changes"] == "warn"
        assert verdicts["clock"] == "warn"
        assert code == 0


def test_run_with_a_role_without_commit_exits_1_naming_it_with_nothing_left(
    tmp_path: Path, run_cli: RunCli
) -> None:
    from cli_support import write_policy

    scenario = scenario_from_dict(firewall(**custom_role(commit=False)))
    with Simulator(scenario, workdir=tmp_path / "sim") as sim:
        result = run_cli(
            *sim_args(sim, tmp_path),
            "run",
            "--policy",
            str(write_policy(tmp_path)),
            env=sim_env(sim),
        )
        assert result.code == 1, (result.out, result.err)
        assert "lacks the XML API commit permission" in result.err
        assert not sim.device.config_locks
        assert not sim.device.commit_locks
        assert not sim.device.has_pending()


@pytest.mark.parametrize("command", ["scan", "run"])
def test_scan_and_run_refuse_pan_os_9(tmp_path: Path, run_cli: RunCli, command: str) -> None:
    with Simulator(
        scenario_from_dict(firewall()), workdir=tmp_path / "sim", version="9.1.0"
    ) as sim:
        extra = ["--policy", str(write_policy(tmp_path))] if command == "run" else []
        result = run_cli(*sim_args(sim, tmp_path), command, *extra, env=sim_env(sim))
        assert result.code == 1, result.err
        assert "PAN-OS 9.1.0, which has no Decryption log" in result.err
        assert not [r for r in sim.requests if r.type == "log"]


def test_the_library_call(tmp_path: Path) -> None:
    """Session.doctor() gives the same report, typed."""
    from panpin.change.session import Session
    from panpin.settings import DeviceSettings

    with Simulator(scenario_from_dict(firewall()), workdir=tmp_path / "sim") as sim:
        device = DeviceSettings(
            name="fw1", host=sim.host, api_key=sim.api_key, ca_file=str(sim.ca_file), admin="panpin"
        )
        with Session(device, tmp_path / "s.db") as session:
            report = session.doctor()
        assert report.device == "fw1"
        assert not report.failed and not report.warned
        assert report.verdict_of("permission-commit") == "pass"
        assert report.exit_code(strict=True) == 0
