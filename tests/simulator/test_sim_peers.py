"""Answers other PAN-OS clients expect (issue 17): entry operations, multi-config, config logs,
the whole running config, operational state (interfaces, sessions, HA, routes) and the boot-time
auto-commit job. Shapes as the reference and the peers' parsers say (panpin/simulator/opstate.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
import sim_support as support
from sim_support import Client

from panpin.simulator import HaSpec, ScenarioError, Simulator, load_scenario, scenario_from_dict

sim, pano, client, alice, pclient = (
    support.sim,
    support.pano,
    support.client,
    support.alice,
    support.pclient,
)

# Shared address objects: the demo scenario's own pending change is in vsys1.
ADDR = "/config/shared/address"
NET = "<ip-netmask>192.0.2.1/32</ip-netmask>"


def entry(name: str) -> str:
    return f"{ADDR}/entry[@name='{name}']"


def names(client: Client, xpath: str = ADDR, *, running: bool = False) -> list[str]:
    reply = client.show(xpath) if running else client.get(xpath)
    return [e.get("name") or "" for e in reply.findall("./result/address/entry")]


def config_call(client: Client, action: str, **params: str) -> support.Reply:
    return client.call({"type": "config", "action": action, **params})


# ---- whole config, names ------------------------------------------------------------------


def test_show_without_xpath_is_the_whole_running_config(client: Client) -> None:
    client.set(entry("only-candidate"), NET)
    reply = config_call(client, "show")
    assert reply.http_status == 200 and reply.status == "success"
    (config,) = reply.findall("./result/config")
    assert config.find("devices/entry[@name='localhost.localdomain']/vsys") is not None
    # Running, not candidate: the uncommitted change is not in it.
    assert "only-candidate" not in reply.text


def test_get_without_xpath_still_needs_one(client: Client) -> None:
    reply = config_call(client, "get")
    assert reply.http_status == 400 and "xpath" in reply.lines[0]


def test_name_only_xpath_lists_entry_names(client: Client) -> None:
    # pan-os-python's refreshall(name_only=True) reads .../entry/@name.
    reply = client.get("/config/devices/entry[@name='localhost.localdomain']/vsys/entry/@name")
    assert reply.code == "19"
    assert [(e.tag, dict(e.attrib)) for e in reply.find("./result")] == [
        ("entry", {"name": "vsys1"})
    ]


# ---- rename, clone, move ---------------------------------------------------------------------


def test_clone_copies_an_entry_under_a_new_name(client: Client) -> None:
    client.set(entry("web"), NET)
    reply = config_call(client, "clone", xpath=ADDR, **{"from": entry("web")}, newname="web-2")
    assert (reply.status, reply.code) == ("success", "20")
    assert names(client) == ["web", "web-2"]
    assert client.get(entry("web-2")).findtext("./result/entry/ip-netmask") == "192.0.2.1/32"
    taken = config_call(client, "clone", xpath=ADDR, **{"from": entry("web")}, newname="web-2")
    assert (taken.status, taken.code) == ("error", "12")


def test_rename_keeps_the_content(client: Client) -> None:
    client.set(entry("old"), NET)
    reply = config_call(client, "rename", xpath=entry("old"), newname="new")
    assert reply.code == "20"
    assert names(client) == ["new"]
    assert client.get(entry("new")).findtext("./result/entry/ip-netmask") == "192.0.2.1/32"
    assert client.get(entry("old")).code == "7"
    missing = config_call(client, "rename", xpath=entry("old"), newname="x")
    assert (missing.status, missing.code) == ("error", "7")
    no_name = config_call(client, "rename", xpath=entry("new"))
    assert no_name.http_status == 400 and "newname" in no_name.lines[0]


def test_move_orders_entries(client: Client) -> None:
    for n in ("a", "b", "c"):
        client.set(entry(n), NET)
    assert config_call(client, "move", xpath=entry("c"), where="top").code == "20"
    assert names(client) == ["c", "a", "b"]
    assert config_call(client, "move", xpath=entry("c"), where="after", dst="b").code == "20"
    assert names(client) == ["a", "b", "c"]
    assert config_call(client, "move", xpath=entry("a"), where="before", dst="c").code == "20"
    assert names(client) == ["b", "a", "c"]
    assert config_call(client, "move", xpath=entry("b"), where="bottom").code == "20"
    assert names(client) == ["a", "c", "b"]
    bad = config_call(client, "move", xpath=entry("a"), where="sideways")
    assert bad.http_status == 400 and "where" in bad.lines[0]
    nowhere = config_call(client, "move", xpath=entry("a"), where="after", dst="zz")
    assert nowhere.status == "error"


def test_entry_operations_reach_running_on_commit(client: Client) -> None:
    for n in ("x", "y"):
        client.set(entry(n), NET)
    config_call(client, "rename", xpath=entry("x"), newname="x1")
    config_call(client, "clone", xpath=ADDR, **{"from": entry("y")}, newname="y1")
    config_call(client, "move", xpath=entry("y1"), where="top")
    client.wait_job(client.commit().findtext("./result/job"))
    assert names(client, running=True) == ["y1", "x1", "y"]


def test_address_names_are_limited_to_63_characters(client: Client) -> None:
    assert client.set(entry("a" * 63), NET).code == "20"
    reply = client.set(entry("b" * 64), NET)
    assert (reply.status, reply.code) == ("error", "12")
    assert reply.lines[0] == f" {'b' * 64} can be at most 63 characters, but current length: 64"


# ---- multi-config ----------------------------------------------------------------------------


def multi(client: Client, body: str, strict: str | None = None) -> support.Reply:
    params = {"element": f"<multi-config>{body}</multi-config>"}
    if strict is not None:
        params["strict-transactional"] = strict
    return config_call(client, "multi-config", **params)


def test_multi_config_applies_all_and_answers_per_action(client: Client) -> None:
    reply = multi(
        client,
        f'<set id="1" xpath="{entry("m1")}">{NET}</set>'
        f'<set id="2" xpath="{entry("m2")}">{NET}</set>'
        f'<rename id="3" xpath="{entry("m2")}" newname="m3"/>',
    )
    assert (reply.status, reply.code) == ("success", "20")
    nested = reply.findall("./response")
    assert [(r.get("id"), r.get("status"), r.get("code")) for r in nested] == [
        ("1", "success", "20"),
        ("2", "success", "20"),
        ("3", "success", "20"),
    ]
    assert names(client) == ["m1", "m3"]


def test_multi_config_is_all_or_nothing(client: Client) -> None:
    reply = multi(
        client,
        f'<set id="ok" xpath="{entry("good")}">{NET}</set>'
        f'<set id="LEN-ERROR" xpath="{entry("z" * 64)}">{NET}</set>',
    )
    assert (reply.status, reply.code) == ("error", "12")
    (failed,) = reply.findall("./response")
    assert (failed.get("status"), failed.get("code"), failed.get("id")) == (
        "error",
        "12",
        "LEN-ERROR",
    )
    assert (
        failed.findtext("msg/line")
        == f" {'z' * 64} can be at most 63 characters, but current length: 64"
    )
    assert client.get(entry("good")).code == "7"


def test_strict_multi_config_first_rolls_back_own_changes(client: Client, alice: Client) -> None:
    client.set(entry("mine"), NET)
    alice.set(entry("hers"), NET)
    reply = multi(client, f'<set id="1" xpath="{entry("new")}">{NET}</set>', strict="yes")
    assert reply.status == "success"
    # Only the requesting admin's uncommitted changes are rolled back (pan-python --strict).
    assert names(client) == ["hers", "new"]


def test_strict_multi_config_refused_while_a_commit_runs(tmp_path: Path) -> None:
    with Simulator("demo", workdir=tmp_path, commit_seconds=30) as slow:
        c = Client(slow)
        c.set(entry("a"), NET)
        assert c.commit().code == "19"
        reply = multi(c, f'<set id="1" xpath="{entry("b")}">{NET}</set>', strict="yes")
        assert reply.status == "error"
        assert multi(c, f'<set id="1" xpath="{entry("b")}">{NET}</set>').status == "success"


def test_multi_config_needs_its_element(client: Client) -> None:
    assert config_call(client, "multi-config").http_status == 400
    assert multi(client, "", strict="maybe").http_status == 400


# ---- config logs -------------------------------------------------------------------------------


def config_logs(client: Client, query: str = "", **extra: str) -> list[dict[str, str]]:
    reply = client.call({"type": "log", "log-type": "config", "query": query, **extra})
    assert reply.code == "19", reply.text
    done = client.log_wait(reply.findtext("./result/job"))
    assert done.find("./result/log/logs").get("count") == str(
        len(done.findall("./result/log/logs/entry"))
    )
    return [
        {c.tag: c.text or "" for c in e if isinstance(c.tag, str)}
        for e in done.findall("./result/log/logs/entry")
    ]


def test_a_fresh_device_has_config_logs(client: Client) -> None:
    logs = config_logs(client, nlogs="1")
    assert len(logs) == 1 and logs[0]["type"] == "CONFIG"
    # Fields of the reference's config log sample, in its order.
    sample = support.load_sample("log-job-finished-config-logs.xml")
    first = sample.find("./result/log/logs/entry")
    assert first is not None
    expected = [c.tag for c in first if c.tag != "comment"]
    assert list(logs[0]) == expected


def test_changes_and_commits_are_logged_newest_first(client: Client) -> None:
    client.set(entry("logged"), NET)
    config_call(client, "rename", xpath=entry("logged"), newname="renamed")
    client.delete(entry("renamed"))
    client.commit()
    newest = config_logs(client, nlogs="4")
    assert [e["cmd"] for e in newest] == ["commit", "delete", "rename", "set"]
    assert newest[1]["full-path"] == entry("renamed")
    assert newest[1]["path"] == " shared address  renamed"
    assert {e["admin"] for e in newest} == {"panpin"}
    assert newest[0]["result"] == "Submitted" and newest[1]["result"] == "Succeeded"


def test_config_log_filter(client: Client) -> None:
    client.delete(ADDR)
    deletes = config_logs(client, "( cmd eq delete )")
    assert deletes and all(e["cmd"] == "delete" for e in deletes)
    assert config_logs(client, "( cmd eq nothing-like-this )") == []


# ---- operational state ----------------------------------------------------------------------


def test_show_interface_management(client: Client) -> None:
    reply = client.op("<show><interface>management</interface></show>")
    assert reply.status == "success"
    assert reply.findtext("./result/info/name") == "management"
    assert int(reply.findtext("./result/counters/tx-packets")) > 0
    assert reply.findtext("./result/info/ip") == "192.0.2.10/24"


def test_show_interface_all_and_one(client: Client) -> None:
    all_ = client.op("<show><interface>all</interface></show>")
    assert [e.findtext("name") for e in all_.findall("./result/hw/entry")] == [
        "ethernet1/1",
        "ethernet1/2",
    ]
    assert all_.findtext("./result/ifnet/entry/ip") == "203.0.113.2/24"
    one = client.op("<show><interface>ethernet1/1</interface></show>")
    assert one.findtext("./result/ifnet/name") == "ethernet1/1"
    assert one.findtext("./result/hw/state") == "up"
    unknown = client.op("<show><interface>ethernet1/9</interface></show>")
    assert unknown.status == "success"
    assert unknown.findtext("./result/error") == "Interface 'ethernet1/9' not found"


def test_check_full_commit_required(client: Client) -> None:
    check = "<check><full-commit-required></full-commit-required></check>"
    assert client.op(check).findtext("./result") == "no"
    client.op("<save><config><to>snap.xml</to></config></save>")
    client.op("<load><config><from>snap.xml</from></config></load>")
    assert client.op(check).findtext("./result") == "yes"
    client.wait_job(client.commit().findtext("./result/job"))
    assert client.op(check).findtext("./result") == "no"


def test_show_session_info_and_meter(client: Client) -> None:
    info = client.op("<show><session><info></info></session></show>")
    assert info.findtext("./result/num-max") == "819200"
    active = int(info.findtext("./result/num-active"))
    meter = client.op("<show><session><meter></meter></session></show>")
    entries = meter.findall("./result/entry")
    assert [e.findtext("vsys") for e in entries] == ["1"]
    assert sum(int(e.findtext("current") or "0") for e in entries) == active


def test_panorama_has_no_session_or_routes(pclient: Client) -> None:
    for cmd in (
        "<show><session><info/></session></show>",
        "<show><routing><route/></routing></show>",
    ):
        reply = pclient.op(cmd)
        assert (reply.status, reply.code) == ("error", "17"), cmd


def test_show_routing_route(client: Client) -> None:
    reply = client.op("<show><routing><route></route></routing></show>")
    routes = {e.findtext("destination"): e for e in reply.findall("./result/entry")}
    default = routes["0.0.0.0/0"]
    assert default.findtext("flags") == "A S" and default.findtext("virtual-router") == "default"
    assert default.findtext("interface") == "ethernet1/1"
    assert {e.findtext("route-table") for e in routes.values()} == {"unicast"}
    assert reply.findtext("./result/flags").startswith("flags: A:active")


@pytest.mark.parametrize("what", ["all", "state"])
def test_show_high_availability_standalone_firewall(client: Client, what: str) -> None:
    reply = client.op(f"<show><high-availability><{what}/></high-availability></show>")
    assert reply.findtext("./result/enabled") == "no"
    # A standalone firewall still has a <group> (reference ha-and-roles).
    assert reply.find("./result/group/local-info") is not None


@pytest.mark.parametrize("what", ["all", "state"])
def test_show_high_availability_standalone_panorama(pclient: Client, what: str) -> None:
    reply = pclient.op(f"<show><high-availability><{what}/></high-availability></show>")
    assert reply.findtext("./result/enabled") == "no"
    assert reply.xml.find("./result/group") is None
    assert reply.findtext("./result/local-info/encrypt-imported") == "no"


@pytest.fixture
def ha_fw(tmp_path: Path) -> Iterator[Simulator]:
    base = load_scenario("demo")
    ha = HaSpec(local_state="passive", peer_state="active", running_sync="not synchronized")
    scenario = dataclasses.replace(base, device=dataclasses.replace(base.device, ha=ha))
    with Simulator(scenario, workdir=tmp_path, options=support.FAST) as s:
        yield s


def test_show_high_availability_firewall_pair(ha_fw: Simulator) -> None:
    reply = Client(ha_fw).op("<show><high-availability><all/></high-availability></show>")
    assert reply.findtext("./result/enabled") == "yes"
    assert reply.findtext("./result/group/mode") == "Active-Passive"
    assert reply.findtext("./result/group/local-info/state") == "passive"
    assert reply.findtext("./result/group/peer-info/state") == "active"
    assert reply.findtext("./result/group/peer-info/conn-status") == "up"
    assert reply.findtext("./result/group/running-sync") == "not synchronized"


def test_show_high_availability_panorama_pair_and_unreachable_peer(tmp_path: Path) -> None:
    base = load_scenario("panorama")
    ha = HaSpec(local_state="secondary-passive", peer_state="primary-active", peer_connected=False)
    scenario = dataclasses.replace(base, device=dataclasses.replace(base.device, ha=ha))
    with Simulator(scenario, workdir=tmp_path, options=support.FAST) as s:
        reply = Client(s).op("<show><high-availability><state/></high-availability></show>")
    assert reply.xml.find("./result/group") is None
    assert reply.findtext("./result/local-info/state") == "secondary-passive"
    assert reply.findtext("./result/local-info/priority") == "secondary"
    assert reply.findtext("./result/peer-info/state") == "unknown"
    assert reply.find("./result/peer-info/mgmt-ip").text is None
    assert reply.findtext("./result/peer-info/conn-status") == "down"


def test_ha_states_are_checked_per_mode() -> None:
    with pytest.raises(ScenarioError, match=r"device\.ha\.local_state"):
        scenario_from_dict(
            {
                "admins": [{"name": "a", "password": "p"}],
                "device": {"ha": {"local_state": "primary-active"}},
            }
        )


# ---- jobs -------------------------------------------------------------------------------------


def test_a_fresh_device_lists_its_boot_auto_commit(client: Client) -> None:
    reply = client.op("<show><jobs><all></all></jobs></show>")
    (job,) = reply.findall("./result/job")
    assert job.findtext("type") == "AutoCom"
    assert (job.findtext("status"), job.findtext("result")) == ("FIN", "OK")
    assert job.findtext("progress") == "100"
    assert [x.text for x in job.findall("details/line")] == [
        "Configuration committed successfully",
        "Successfully committed last configuration",
    ]
    assert client.job(job.findtext("id") or "").findtext("./result/job/type") == "AutoCom"
    # A new commit gets the next id.
    client.set(entry("n"), NET)
    assert int(client.commit().findtext("./result/job")) == int(job.findtext("id") or "0") + 1
