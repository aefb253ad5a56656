"""Panorama: templates and stacks, commit to Panorama, commit-all pushes with per-device results."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import sim_support as support
from sim_support import Client, load_sample, skeleton

from panpin.simulator import Simulator, load_scenario

# Fixtures (see sim_support: no conftest.py, to keep module names unique for mypy).
sim, pano, client, alice, pclient = (
    support.sim,
    support.pano,
    support.client,
    support.alice,
    support.pclient,
)

DEV = "/config/devices/entry[@name='localhost.localdomain']"
TPL_LIST = f"{DEV}/template/entry[@name='branch']/config/shared/ssl-decrypt/ssl-exclude-cert"
STACK_LIST = (
    f"{DEV}/template-stack/entry[@name='branch-stack']/config/shared/ssl-decrypt/ssl-exclude-cert"
)

ENTRY = "<entry name='{n}'><description>panpin:c-9</description><exclude>yes</exclude></entry>"
PUSH_TEMPLATE = "<commit-all><template><name>branch</name><description>panpin push</description></template></commit-all>"


def test_template_and_stack_exclusions_from_scenario(pclient: Client) -> None:
    names = [
        e.get("name") for e in pclient.get(TPL_LIST).findall("./result/ssl-exclude-cert/entry")
    ]
    assert names == ["*.oldvendor.example", "login.partner.example"]
    assert pclient.get(f"{STACK_LIST}/entry[@name='*.mdm.example']").code == "19"


def test_commit_then_push_template(pano: Simulator, pclient: Client) -> None:
    assert pclient.set(TPL_LIST, ENTRY.format(n="app.vendor.example")).code == "20"
    pclient.wait_job(pclient.commit_partial().findtext("./result/job"))
    assert pclient.show(f"{TPL_LIST}/entry[@name='app.vendor.example']").status == "success"
    reply = pclient.commit(PUSH_TEMPLATE, action="all")
    assert (reply.status, reply.code) == ("success", "19")
    jid = reply.findtext("./result/job")
    active = pclient.job(jid)
    if active.findtext("./result/job/status") == "ACT":
        assert {e.findtext("result") for e in active.findall(".//devices/entry")} == {"PEND"}
    done = pclient.wait_job(jid)
    job = done.find("./result/job")
    assert job.findtext("type") == "CommitAll"
    assert job.findtext("result") == "OK"
    assert job.findtext("description") == "panpin push"
    entries = job.findall("devices/entry")
    assert [e.findtext("serial-no") for e in entries] == ["007951000111111", "007951000222222"]
    assert [e.findtext("devicename") for e in entries] == ["branch-fw-01", "branch-fw-02"]
    assert {e.findtext("result") for e in entries} == {"OK"}
    msg = entries[0].find("details/msg")
    assert msg is not None and msg.get("cmd") == "push-data" and msg.get("result") == "success"
    assert msg.findtext("errors/line") == "Configuration committed successfully"


def test_commitall_job_shape_like_sample(pclient: Client) -> None:
    done = pclient.wait_job(pclient.commit(PUSH_TEMPLATE, action="all").findtext("./result/job"))

    def shape(paths: set[str]) -> set[str]:
        # The sample is a device-group push (dgname); ours is a template push (tplname).
        def norm(path: str) -> str:
            path = path.replace("dgname", "NAME").replace("tplname", "NAME")
            return re.sub(
                r"\[([^\]]*)\]", lambda m: "[" + ",".join(sorted(m.group(1).split(","))) + "]", path
            )

        return {norm(p) for p in paths if "/warnings/line" not in p}

    ours = shape(skeleton(done.xml))
    sample = shape(skeleton(load_sample("show-job-commitall-push-devices.xml")))
    assert sample <= ours, sample - ours


def test_push_template_stack_and_device_filter(pclient: Client) -> None:
    cmd = (
        "<commit-all><template-stack><name>branch-stack</name>"
        "<device><member>007951000222222</member></device></template-stack></commit-all>"
    )
    done = pclient.wait_job(pclient.commit(cmd, action="all").findtext("./result/job"))
    assert [e.findtext("serial-no") for e in done.findall(".//devices/entry")] == [
        "007951000222222"
    ]


def test_push_to_unknown_template_is_refused(pclient: Client) -> None:
    reply = pclient.commit(
        "<commit-all><template><name>nope</name></template></commit-all>", action="all"
    )
    assert (reply.status, reply.code) == ("error", "13")


def test_commit_all_on_a_firewall_is_unknown(client: Client) -> None:
    reply = client.commit(PUSH_TEMPLATE, action="all")
    assert (reply.status, reply.code) == ("error", "17")


def test_push_refused_while_commit_runs(tmp_path: Path) -> None:
    with Simulator("panorama", workdir=tmp_path, commit_seconds=5) as sim:
        client = Client(sim)
        client.set(TPL_LIST, ENTRY.format(n="x.example"))
        client.commit_partial()
        reply = client.commit(PUSH_TEMPLATE, action="all")
        assert (reply.status, reply.code) == ("error", "13")


def test_disconnected_device_fails_push_and_is_not_connected(tmp_path: Path) -> None:
    base = load_scenario("panorama")
    assert base.panorama is not None
    devices = list(base.panorama.devices)
    devices[1] = dataclasses.replace(devices[1], connected=False)
    scenario = dataclasses.replace(
        base, panorama=dataclasses.replace(base.panorama, devices=tuple(devices))
    )
    with Simulator(scenario, workdir=tmp_path, push_seconds=0.05) as sim:
        client = Client(sim)
        connected = client.op("<show><devices><connected/></devices></show>")
        assert [e.get("name") for e in connected.findall("./result/devices/entry")] == [
            "007951000111111",
            "007951000333333",
        ]
        every = client.op("<show><devices><all/></devices></show>")
        assert len(every.find("./result/devices")) == 3
        done = client.wait_job(client.commit(PUSH_TEMPLATE, action="all").findtext("./result/job"))
        results = {
            e.findtext("serial-no"): e.findtext("result") for e in done.findall(".//devices/entry")
        }
        assert results == {"007951000111111": "OK", "007951000222222": "FAIL"}


def test_panorama_pending_change_by_alice(pano: Simulator, pclient: Client) -> None:
    assert pano.device.pending_admins() == ["alice"]
    assert pclient.commit_partial().lines == ["There are no changes to commit."]
