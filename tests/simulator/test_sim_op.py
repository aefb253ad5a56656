"""Operational commands: system info, clock, version, admins, unknown/malformed commands."""

from __future__ import annotations

import sim_support as support
from sim_support import Client

from panpin.simulator import Simulator

# Fixtures (see sim_support: no conftest.py, to keep module names unique for mypy).
sim, pano, client, alice, pclient = (
    support.sim,
    support.pano,
    support.client,
    support.alice,
    support.pclient,
)


def test_system_info_firewall(client: Client) -> None:
    reply = client.op("<show><system><info></info></system></show>")
    system = reply.find("./result/system")
    assert system.findtext("hostname") == "pa-branch-01"
    assert system.findtext("devicename") == "pa-branch-01"
    assert system.findtext("serial") == "007951000345678"
    assert system.findtext("sw-version") == "11.1.4-h7"
    assert system.findtext("model") == "PA-440"
    assert system.findtext("family") == "400"
    assert system.findtext("multi-vsys") == "off"
    assert system.find("app-version") is not None
    assert system.find("system-mode") is None


def test_system_info_panorama(pclient: Client) -> None:
    system = pclient.op("<show><system><info/></system></show>").find("./result/system")
    assert system.findtext("model") == "Panorama"
    assert system.findtext("system-mode") == "panorama"


def test_firewall_scenario_served_as_panorama(tmp_path: object) -> None:
    with Simulator("demo", panorama=True) as sim:
        client = Client(sim)
        system = client.op("<show><system><info/></system></show>").find("./result/system")
        assert system.findtext("system-mode") == "panorama"
        assert system.findtext("model") == "Panorama"
        devices = client.op("<show><devices><connected/></devices></show>")
        assert len(devices.find("./result/devices")) == 2


def test_clock_format(client: Client) -> None:
    assert client.op("<show><clock></clock></show>").findtext("./result") == (
        "Thu Nov 26 09:30:00 UTC 2026\n"
    )


def test_clock_day_is_space_padded(tmp_path: object) -> None:
    import dataclasses

    from panpin.simulator import load_scenario

    base = load_scenario("demo")
    scenario = dataclasses.replace(
        base, device=dataclasses.replace(base.device, clock="2026/11/05 07:08:09", timezone="PST")
    )
    with Simulator(scenario) as sim:
        assert Client(sim).op("<show><clock/></show>").findtext("./result") == (
            "Thu Nov  5 07:08:09 PST 2026\n"
        )


def test_version_type(client: Client) -> None:
    reply = client.call({"type": "version"})
    assert reply.findtext("./result/sw-version") == "11.1.4-h7"
    assert reply.findtext("./result/model") == "PA-440"


def test_show_admins_marks_self(client: Client) -> None:
    entry = client.op("<show><admins/></show>").find("./result/admins/entry")
    assert entry.findtext("admin") == "panpin" and entry.find("self") is not None


def test_unknown_op_is_code17(client: Client) -> None:
    reply = client.op("<show><bogus><thing/></bogus></show>")
    assert (reply.http_status, reply.status, reply.code) == (200, "error", "17")
    assert "show -> bogus" in reply.lines[0]


def test_malformed_cmd_is_code18(client: Client) -> None:
    for cmd in ("<show><clock>", "show clock", '<!DOCTYPE x [<!ENTITY a "b">]><show>&a;</show>'):
        reply = client.op(cmd)
        assert (reply.status, reply.code) == ("error", "18"), cmd


def test_cmd_with_xml_declaration_is_accepted(client: Client) -> None:
    reply = client.op("<?xml version='1.0' encoding='utf-8'?>\n<show><clock/></show>")
    assert reply.status == "success"


def test_validate_job(client: Client) -> None:
    reply = client.op("<validate><full></full></validate>")
    done = client.wait_job(reply.findtext("./result/job"))
    assert done.findtext("./result/job/type") == "Validate"
    assert done.findtext("./result/job/result") == "OK"


def test_show_devices_on_firewall_is_unknown(client: Client) -> None:
    assert client.op("<show><devices><connected/></devices></show>").code == "17"
