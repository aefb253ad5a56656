"""Every fault kind, matching (times/after/substring), YAML faults and the control endpoint."""

from __future__ import annotations

import dataclasses
import time
import types
from pathlib import Path

import pytest
import requests
import sim_support as support
from sim_support import Client

from panpin.simulator import Simulator, load_scenario
from panpin.simulator import server as sim_server
from panpin.simulator.scenario import FaultSpec

# Fixtures (see sim_support: no conftest.py, to keep module names unique for mypy).
sim, pano, client, alice, pclient = (
    support.sim,
    support.pano,
    support.client,
    support.alice,
    support.pclient,
)


LIST = "/config/shared/ssl-decrypt/ssl-exclude-cert"
ENTRY = "<entry name='{n}'><exclude>yes</exclude></entry>"
INFO = "<show><system><info></info></system></show>"


def test_http_status_fires_times_then_recovers(sim: Simulator, client: Client) -> None:
    sim.faults.add("http_status", status=503, match={"type": "op"}, times=2)
    for _ in range(2):
        reply = client.op(INFO)
        assert reply.http_status == 503 and reply.root is None
        assert "503 Service Unavailable" in reply.text
    assert client.op(INFO).status == "success"
    assert client.get(LIST).code == "19"  # other types never matched
    assert [r.http_status for r in sim.requests] == [503, 503, 200, 200]
    assert sim.requests[0].faults == ("http_status",)


@pytest.mark.parametrize("status", [500, 502, 504])
def test_http_status_codes(sim: Simulator, client: Client, status: int) -> None:
    sim.faults.add("http_status", status=status)
    reply = client.op(INFO)
    assert reply.http_status == status


def test_after_skips_first_matches(sim: Simulator, client: Client) -> None:
    sim.faults.add("http_status", status=502, match={"type": "op"}, after=2, times=1)
    assert [client.op(INFO).http_status for _ in range(4)] == [200, 200, 502, 200]


def test_times_none_fires_forever_and_cmd_substring(sim: Simulator, client: Client) -> None:
    fault = sim.faults.add("http_status", status=500, match={"cmd": "<clock"}, times=None)
    assert [client.op("<show><clock/></show>").http_status for _ in range(3)] == [500] * 3
    assert client.op(INFO).http_status == 200
    assert fault.fired == 3
    sim.faults.clear()
    assert client.op("<show><clock/></show>").http_status == 200


def test_reset_closes_without_answer(sim: Simulator, client: Client) -> None:
    sim.faults.add("reset", match={"type": "config"})
    with pytest.raises(requests.ConnectionError):
        client.get(LIST)
    assert client.get(LIST).code == "19"
    assert sim.requests[0].http_status is None and sim.requests[0].faults == ("reset",)


def test_delay(sim: Simulator, client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    # The simulator's server sleeps for a delay fault; record what it was asked to sleep (and
    # still sleep) instead of timing the answer with a stopwatch.
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    monkeypatch.setattr(sim_server, "time", types.SimpleNamespace(sleep=sleep))
    fault = sim.faults.add("delay", seconds=0.4)
    assert client.op(INFO).status == "success"
    assert slept == [0.4]
    assert fault.fired == 1
    assert sim.requests[-1].faults == ("delay",)


def test_session_timeout(sim: Simulator, client: Client) -> None:
    sim.faults.add("session_timeout", match={"type": "log"})
    reply = client.call({"type": "log", "log-type": "decryption"})
    assert (reply.http_status, reply.status, reply.code) == (200, "error", "22")
    assert reply.lines == ["Session timed out"]


def test_restart_refuses_keys_for_n_requests(sim: Simulator, client: Client) -> None:
    sim.faults.add("restart", times=3)
    assert [client.op(INFO).http_status for _ in range(4)] == [403, 403, 403, 200]


def test_job_stuck_commit(sim: Simulator, client: Client) -> None:
    sim.faults.add("job_stuck")
    client.set(LIST, ENTRY.format(n="s.example"))
    jid = client.commit_partial().findtext("./result/job")
    time.sleep(0.2)  # well past commit_seconds
    for _ in range(3):
        assert client.job(jid).findtext("./result/job/status") == "ACT"
    assert client.show(f"{LIST}/entry[@name='s.example']").lines == ["No such node"]


def test_job_stuck_log(sim: Simulator, client: Client) -> None:
    sim.faults.add("job_stuck", match={"type": "log"})
    jid = client.log_start("")
    for _ in range(4):
        assert client.log_get(jid).findtext("./result/job/status") == "ACT"


def test_commit_fail_keeps_changes_pending(sim: Simulator, client: Client) -> None:
    sim.faults.add("commit_fail", lines=["Validation Error:", " ssl-exclude-cert is invalid"])
    client.set(LIST, ENTRY.format(n="f.example"))
    done = client.wait_job(client.commit_partial().findtext("./result/job"))
    assert done.findtext("./result/job/result") == "FAIL"
    lines = [x.text for x in done.findall("./result/job/details/line")]
    assert lines == ["Validation Error:", " ssl-exclude-cert is invalid"]
    assert client.show(f"{LIST}/entry[@name='f.example']").lines == ["No such node"]
    assert client.get(f"{LIST}/entry[@name='f.example']").code == "19"
    assert "panpin" in sim.device.pending_admins()
    # The next commit works and commits the same change.
    client.wait_job(client.commit_partial().findtext("./result/job"))
    assert client.show(f"{LIST}/entry[@name='f.example']").status == "success"


def test_lock_by_other_admin(sim: Simulator, client: Client) -> None:
    sim.faults.add("lock_by", admin="alice", match={"type": "config", "action": "set"})
    reply = client.set(LIST, ENTRY.format(n="l.example"))
    assert reply.lines == ["Configuration is locked by alice"]
    locks = client.op("<show><config-locks/></show>")
    assert locks.find("./result/config-locks/entry").get("name") == "alice"


def test_pending_by_other_admin(sim: Simulator, client: Client) -> None:
    sim.faults.add("pending_by", admin="bob", match={"type": "commit"})
    client.set(LIST, ENTRY.format(n="p.example"))
    client.wait_job(client.commit_partial().findtext("./result/job"))
    assert "bob" in sim.device.pending_admins()
    assert client.show(f"{LIST}/entry[@name='p.example']").status == "success"


def test_push_device_fail(pano: Simulator, pclient: Client) -> None:
    pano.faults.add("push_device_fail", serial="007951000222222")
    reply = pclient.commit(
        "<commit-all><template><name>branch</name></template></commit-all>", action="all"
    )
    done = pclient.wait_job(reply.findtext("./result/job"))
    results = {
        e.findtext("serial-no"): e.findtext("result")
        for e in done.findall("./result/job/devices/entry")
    }
    assert results == {"007951000111111": "OK", "007951000222222": "FAIL"}
    assert done.findtext("./result/job/result") == "FAIL"


def test_unknown_fault_kind_rejected(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        sim.faults.add("meteor")
    with pytest.raises(ValueError):
        sim.faults.add("push_device_fail")


def test_faults_from_scenario_yaml(tmp_path: Path) -> None:
    base = load_scenario("demo")
    scenario = dataclasses.replace(
        base, faults=(FaultSpec(kind="http_status", status=504, match={"type": "keygen"}),)
    )
    with Simulator(scenario, workdir=tmp_path) as sim:
        reply = Client(sim).call({"type": "keygen", "user": "panpin", "password": "panpin-demo"})
        assert reply.http_status == 504


def test_control_endpoint(sim: Simulator, client: Client) -> None:
    url = sim.url + "/_sim/faults"
    verify = str(sim.ca_file)
    assert requests.post(url, json={"kind": "reset"}, verify=verify, timeout=10).status_code == 403
    headers = {"X-Sim-Token": sim.control_token}
    r = requests.post(
        url,
        json=[{"kind": "http_status", "status": 502, "match": {"type": "op"}}],
        headers=headers,
        verify=verify,
        timeout=10,
    )
    assert r.status_code == 200 and r.json()["added"][0]["kind"] == "http_status"
    assert client.op(INFO).http_status == 502
    listed = requests.get(url, headers=headers, verify=verify, timeout=10).json()
    assert listed[0]["fired"] == 1
    bad = requests.post(url, json={"kind": "nope"}, headers=headers, verify=verify, timeout=10)
    assert bad.status_code == 400
    reqs = requests.get(sim.url + "/_sim/requests", headers=headers, verify=verify, timeout=10)
    assert [r["http_status"] for r in reqs.json()] == [502]
    assert requests.delete(url, headers=headers, verify=verify, timeout=10).json() == {
        "cleared": True
    }
    assert client.op(INFO).http_status == 200
