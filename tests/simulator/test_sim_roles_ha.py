"""Admin roles (403 per request type, code 13 for a custom role's empty commit), the PAN-OS
version a simulator answers as, its clock offset, and HA pairs (sync after commit, failover)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree
from sim_support import Client

from panpin.simulator import Simulator, SimulatorPair, load_scenario, scenario_from_dict
from panpin.simulator.scenario import ScenarioError

ROLES = Path(__file__).resolve().parents[1] / "data" / "ha-and-roles"
SAMPLE_403 = "hashicorp-consul-terraform-sync__handler_panos_test.go.403-commit-not-authorized.txt"
ADDRESS = "/config/shared/address"


def role_scenario(**xmlapi: bool) -> dict[str, object]:
    return {
        "admins": [
            {"name": "panpin", "password": "pw", "role": "panpin-api"},
            {"name": "admin", "password": "admin"},
        ],
        "roles": [
            {"name": "panpin-api", "xmlapi": {k.replace("_", "-"): v for k, v in xmlapi.items()}}
        ],
    }


@pytest.fixture
def no_commit(tmp_path: Path) -> Iterator[Simulator]:
    scenario = scenario_from_dict(role_scenario(commit=False))
    with Simulator(scenario, workdir=tmp_path / "sim") as sim:
        yield sim


def test_a_type_the_role_lacks_answers_403_as_the_reference_sample(no_commit: Simulator) -> None:
    reply = Client(no_commit, "panpin").commit()
    assert reply.http_status == 403
    # Byte for byte what the sample shows, spaces and single quotes included (the sample's
    # author cut it after "role" with " etc").
    sample = (ROLES / SAMPLE_403).read_text()
    shown = "<response status = 'error' code = '403'><result><msg>Type [commit] not authorized for user role"
    assert shown in sample.replace("` +\n\t\t\t\t`", "")
    assert reply.text == shown + "</msg></result></response>"


def test_the_types_the_role_has_still_answer(no_commit: Simulator) -> None:
    client = Client(no_commit, "panpin")
    assert client.op("<show><system><info></info></system></show>").status == "success"
    assert (
        client.set(ADDRESS, "<entry name='x'><ip-netmask>192.0.2.1/32</ip-netmask></entry>").code
        == "20"
    )
    assert client.logs("", nlogs="1") is not None
    # A superuser on the same device is not limited.
    assert Client(no_commit, "admin").commit().status == "success"


@pytest.mark.parametrize("flag", ["log", "config", "op"])
def test_each_flag_guards_its_request_type(tmp_path: Path, flag: str) -> None:
    scenario = scenario_from_dict(role_scenario(**{flag: False}))
    with Simulator(scenario, workdir=tmp_path / "sim") as sim:
        client = Client(sim, "panpin")
        requests = {
            "log": {"type": "log", "log-type": "decryption", "nlogs": "1"},
            "config": {"type": "config", "action": "get", "xpath": ADDRESS},
            "op": {"type": "op", "cmd": "<show><clock></clock></show>"},
        }
        reply = client.call(requests[flag])
        assert reply.http_status == 403
        assert reply.lines == [f"Type [{flag}] not authorized for user role"]


def test_a_custom_roles_empty_commit_answers_code_13(tmp_path: Path) -> None:
    scenario = scenario_from_dict(role_scenario())
    with Simulator(scenario, workdir=tmp_path / "sim") as sim:
        custom = Client(sim, "panpin").commit()
        assert (custom.status, custom.code) == ("success", "13")
        assert custom.lines == ["The result of this commit would be the same as the previous"]
        superuser = Client(sim, "admin").commit()
        assert (superuser.status, superuser.code) == ("success", "19")


def test_the_role_is_in_the_config_where_roles_live(tmp_path: Path) -> None:
    scenario = scenario_from_dict(role_scenario(commit=False))
    with Simulator(scenario, workdir=tmp_path / "sim") as sim:
        client = Client(sim, "panpin")
        user = client.show("/config/mgt-config/users/entry[@name='panpin']/permissions")
        assert user.findtext(".//role-based/custom/profile") == "panpin-api"
        role = client.show("/config/shared/admin-role/entry[@name='panpin-api']/role/device/xmlapi")
        assert role.findtext(".//xmlapi/commit") == "disable"
        assert role.findtext(".//xmlapi/log") == "enable"
        admin = client.show("/config/mgt-config/users/entry[@name='admin']/permissions")
        assert admin.findtext(".//role-based/superuser") == "yes"


def test_roles_are_validated() -> None:
    with pytest.raises(ScenarioError, match="unknown flag 'comit'"):
        scenario_from_dict(role_scenario(comit=False))
    with pytest.raises(ScenarioError, match="no role 'nope'"):
        scenario_from_dict({"admins": [{"name": "a", "password": "b", "role": "nope"}]})


def test_pan_os_9_has_no_decryption_log(tmp_path: Path) -> None:
    with Simulator("demo", workdir=tmp_path / "sim", version="9.1.0") as sim:
        client = Client(sim)
        info = client.op("<show><system><info></info></system></show>")
        assert info.findtext("./result/system/sw-version") == "9.1.0"
        reply = client.call({"type": "log", "log-type": "decryption", "nlogs": "1"})
        assert reply.http_status == 400
        assert reply.lines == ['Illegal value for parameter "log-type" [decryption].']
        # Other log types are still there.
        assert client.call({"type": "log", "log-type": "traffic", "nlogs": "1"}).code == "19"


def test_the_clock_can_be_set_relative_to_now(tmp_path: Path) -> None:
    scenario = scenario_from_dict({"device": {"clock_offset": "2h", "timezone": "UTC"}}, "offset")
    with Simulator(scenario, workdir=tmp_path / "sim") as sim:
        text = Client(sim).op("<show><clock></clock></show>").findtext("./result")
        shown = time.mktime(
            time.strptime(" ".join(text.split()[1:4] + text.split()[5:6]), "%b %d %H:%M:%S %Y")
        )
        now = time.mktime(time.gmtime())
        assert abs(shown - now - 7200) < 60
        assert " UTC " in text
    with pytest.raises(ScenarioError, match="clock_offset"):
        scenario_from_dict({"device": {"clock_offset": "two hours"}})


def ha_of(sim: Simulator) -> etree._Element:
    return (
        Client(sim)
        .op("<show><high-availability><state></state></high-availability></show>")
        .find("./result/group")
    )


def test_a_pair_names_each_other_syncs_after_a_commit_and_fails_over(tmp_path: Path) -> None:
    with SimulatorPair(load_scenario("demo"), workdir=tmp_path, sync_seconds=0.3) as pair:
        active, passive = pair.active, pair.passive
        a, p = ha_of(active), ha_of(passive)
        assert (a.findtext("local-info/state"), a.findtext("peer-info/state")) == (
            "active",
            "passive",
        )
        assert (p.findtext("local-info/state"), p.findtext("peer-info/state")) == (
            "passive",
            "active",
        )
        assert a.findtext("peer-info/mgmt-ip") == f"{passive.scenario.device.ip_address}/24"
        assert p.findtext("peer-info/mgmt-ip") == f"{active.scenario.device.ip_address}/24"
        assert active.scenario.device.serial != passive.scenario.device.serial
        assert pair.peer_of(active) is passive

        client = Client(active, "panpin")
        entry = "<entry name='synced'><ip-netmask>192.0.2.9/32</ip-netmask></entry>"
        assert client.set(ADDRESS, entry).code == "20"
        client.wait_job(client.commit_partial().findtext("./result/job"))
        seen = {ha_of(active).findtext("running-sync")}
        deadline = time.monotonic() + 5
        while ha_of(active).findtext("running-sync") != "synchronized":
            seen.add(ha_of(passive).findtext("running-sync"))
            assert time.monotonic() < deadline, "never synchronized"
            time.sleep(0.02)
        assert "synchronization in progress" in seen
        assert ha_of(passive).findtext("running-sync") == "synchronized"
        assert Client(passive).show(f"{ADDRESS}/entry[@name='synced']").status == "success"

        pair.failover()
        assert pair.active is passive
        assert ha_of(passive).findtext("local-info/state") == "active"
        assert ha_of(active).findtext("local-info/state") == "passive"


def test_each_member_keeps_its_own_decryption_log(tmp_path: Path) -> None:
    with SimulatorPair(load_scenario("demo"), workdir=tmp_path) as pair:
        a = Client(pair.active).logs("", nlogs="5")
        b = Client(pair.passive).logs("", nlogs="5")
        assert {e["serial"] for e in a} == {pair.active.scenario.device.serial}
        assert {e["serial"] for e in b} == {pair.passive.scenario.device.serial}


def test_without_running_sync_a_commit_leaves_the_pair_not_synchronized(tmp_path: Path) -> None:
    with SimulatorPair("demo", workdir=tmp_path, running_sync_enabled=False) as pair:
        client = Client(pair.active, "panpin")
        client.set(ADDRESS, "<entry name='x'><ip-netmask>192.0.2.9/32</ip-netmask></entry>")
        client.wait_job(client.commit_partial().findtext("./result/job"))
        assert ha_of(pair.active).findtext("running-sync") == "not synchronized"
        assert ha_of(pair.active).findtext("running-sync-enabled") == "no"
