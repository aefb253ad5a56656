"""Per-admin candidate changes, partial/full commit, revert, load, pending changes, commit jobs."""

from __future__ import annotations

import time

import sim_support as support
from sim_support import Client, canon, load_sample, skeleton

from panpin.simulator import Simulator

# Fixtures (see sim_support: no conftest.py, to keep module names unique for mypy).
sim, pano, client, alice, pclient = (
    support.sim,
    support.pano,
    support.client,
    support.alice,
    support.pclient,
)

LIST = "/config/shared/ssl-decrypt/ssl-exclude-cert"
ALICE_ADDR = (
    "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']"
    "/address/entry[@name='alice-web01']"
)

ENTRY = "<entry name='{n}'><description>panpin:c-1</description><exclude>yes</exclude></entry>"


def test_pending_changes_yes_and_no_like_samples(sim: Simulator, client: Client) -> None:
    yes = client.op("<check><pending-changes></pending-changes></check>")
    assert yes.findtext("./result") == "yes"  # alice's scenario change is pending
    sample = load_sample("check-pending-changes-yes.xml")
    assert skeleton(yes.xml, attrs=False) == skeleton(sample, attrs=False)
    client.op("<revert><config></config></revert>")
    no = client.op("<check><pending-changes></pending-changes></check>")
    assert no.findtext("./result") == "no"
    assert yes.status == "success"  # pan-python refuses an answer without status


def test_partial_commit_commits_only_own_changes(sim: Simulator, client: Client) -> None:
    client.set(LIST, ENTRY.format(n="app.vendor.example"))
    reply = client.commit_partial(description="panpin:c-1 add app.vendor.example")
    assert (reply.status, reply.code) == ("success", "19")
    jid = reply.findtext("./result/job")
    assert reply.lines == [f"Commit job enqueued with jobid {jid}"]
    done = client.wait_job(jid)
    assert done.findtext("./result/job/result") == "OK"
    assert done.findtext("./result/job/description") == "panpin:c-1 add app.vendor.example"
    assert done.findtext("./result/job/user") == "panpin"
    assert client.show(f"{LIST}/entry[@name='app.vendor.example']").status == "success"
    # alice's change is still pending and still not running.
    assert client.show(ALICE_ADDR).lines == ["No such node"]
    assert client.get(ALICE_ADDR).code == "19"
    assert sim.device.pending_admins() == ["alice"]
    assert client.op("<check><pending-changes/></check>").findtext("./result") == "yes"


def test_partial_commit_with_action_partial_param(client: Client) -> None:
    client.set(LIST, ENTRY.format(n="p.example"))
    cmd = "<commit><partial><admin><member>panpin</member></admin></partial></commit>"
    reply = client.commit(cmd, action="partial")
    client.wait_job(reply.findtext("./result/job"))
    assert client.show(f"{LIST}/entry[@name='p.example']").status == "success"


def test_nothing_to_commit_for_admin_like_sample(client: Client) -> None:
    reply = client.commit_partial()  # panpin has no changes; alice's do not count
    assert reply.root is not None
    assert canon(reply.xml) == canon(load_sample("commit-no-changes.xml"))


def test_full_commit_commits_everyone(sim: Simulator, client: Client) -> None:
    client.set(LIST, ENTRY.format(n="f.example"))
    jid = client.commit().findtext("./result/job")
    client.wait_job(jid)
    assert client.show(ALICE_ADDR).status == "success"
    assert sim.device.pending_admins() == []
    assert client.commit().lines == ["There are no changes to commit."]


def test_running_changes_only_when_job_finishes(tmp_path: object) -> None:
    with Simulator("demo", commit_seconds=0.6) as sim:
        client = Client(sim)
        client.set(LIST, ENTRY.format(n="late.example"))
        jid = client.commit_partial().findtext("./result/job")
        active = client.job(jid)
        assert active.findtext("./result/job/status") == "ACT"
        assert active.findtext("./result/job/result") == "PEND"
        assert active.findtext("./result/job/tfin") == "Still Active"
        assert client.show(f"{LIST}/entry[@name='late.example']").lines == ["No such node"]
        assert skeleton(active.xml) == skeleton(load_sample("show-job-commit-active.xml"))
        # Another commit while this one runs is refused with code 13.
        busy = Client(sim, "alice").commit_partial("alice")
        assert (busy.status, busy.code) == ("error", "13")
        assert busy.lines == ["Another commit/validate is in progress. Please try again later"]
        client.wait_job(jid)
        assert client.show(f"{LIST}/entry[@name='late.example']").status == "success"


def test_finished_job_shape_like_sample(client: Client) -> None:
    client.set(LIST, ENTRY.format(n="s.example"))
    done = client.wait_job(client.commit_partial().findtext("./result/job"))
    assert skeleton(done.xml) == skeleton(load_sample("show-job-commit-finished-ok.xml"))
    lines = [x.text for x in done.findall("./result/job/details/line")]
    assert lines[-1] == "Configuration committed successfully"
    assert done.findtext("./result/job/stoppable") == "no"
    assert done.findtext("./result/job/progress") == "100"


def test_unknown_job_like_sample(client: Client) -> None:
    reply = client.job(19)
    assert reply.root is not None
    assert canon(reply.xml) == canon(load_sample("show-job-not-found-code7.xml"))


def test_partial_revert_drops_only_that_admin(sim: Simulator, client: Client) -> None:
    client.set(LIST, ENTRY.format(n="r.example"))
    reply = client.op(
        "<revert><config><partial><admin><member>panpin</member></admin></partial></config></revert>"
    )
    assert reply.root is not None
    assert canon(reply.xml) == canon(load_sample("revert-config-ok.xml"))
    assert client.get(f"{LIST}/entry[@name='r.example']").code == "7"
    assert client.get(ALICE_ADDR).code == "19"
    assert sim.device.pending_admins() == ["alice"]


def test_full_revert_drops_everyone(sim: Simulator, client: Client) -> None:
    client.set(LIST, ENTRY.format(n="r.example"))
    client.op("<revert><config></config></revert>")
    assert client.get(ALICE_ADDR).code == "7"
    assert sim.device.pending_admins() == []


def test_revert_refused_while_commit_runs() -> None:
    with Simulator("demo", commit_seconds=5) as sim:
        client = Client(sim)
        client.set(LIST, ENTRY.format(n="x.example"))
        client.commit_partial()
        reply = client.op("<revert><config></config></revert>")
        assert reply.root is not None
        assert canon(reply.xml) == canon(load_sample("revert-config-failed.xml"))


def test_load_running_config_discards_everyones_work(sim: Simulator, client: Client) -> None:
    client.set(LIST, ENTRY.format(n="l.example"))
    reply = client.op("<load><config><from>running-config.xml</from></config></load>")
    assert reply.status == "success"
    assert skeleton(reply.xml) == skeleton(load_sample("load-partial-config-ok.xml"))
    assert sim.device.pending_admins() == []
    assert client.get(ALICE_ADDR).code == "7"


def test_save_and_load_named_config(sim: Simulator, client: Client) -> None:
    client.op("<save><config><to>before.xml</to></config></save>")
    client.delete(f"{LIST}/entry[@name='*.mdm.example']")
    client.wait_job(client.commit().findtext("./result/job"))
    assert client.show(f"{LIST}/entry[@name='*.mdm.example']").lines == ["No such node"]
    client.op("<load><config><from>before.xml</from></config></load>")
    client.wait_job(client.commit().findtext("./result/job"))
    assert client.show(f"{LIST}/entry[@name='*.mdm.example']").status == "success"


def test_show_config_list_changes(client: Client) -> None:
    client.set(LIST, ENTRY.format(n="c.example"))
    reply = client.op("<show><config><list><changes></changes></list></config></show>")
    owners = [e.findtext("owner") for e in reply.findall("./result/journal/entry")]
    assert owners == ["alice", "panpin"]


def test_failed_partial_replay_keeps_other_admins_pending(sim: Simulator, client: Client) -> None:
    alice = Client(sim, "alice")
    alice.set(LIST, ENTRY.format(n="alice.example"))
    client.set(f"{LIST}/entry[@name='alice.example']", "<description>panpin touched</description>")
    # panpin's op depends on alice's uncommitted entry; committing panpin alone applies it alone.
    client.wait_job(client.commit_partial().findtext("./result/job"))
    assert client.show(f"{LIST}/entry[@name='alice.example']/description").status == "success"
    assert client.get(f"{LIST}/entry[@name='alice.example']/exclude").code == "19"


def test_job_ids_increase_across_log_and_commit_jobs(client: Client) -> None:
    first = int(client.log_start("(app eq ssl)"))
    client.set(LIST, ENTRY.format(n="j.example"))
    second = int(client.commit_partial().findtext("./result/job"))
    third = int(client.log_start(""))
    assert first < second < third


def test_show_jobs_all_lists_commit_jobs(client: Client) -> None:
    client.set(LIST, ENTRY.format(n="a.example"))
    jid = client.commit_partial().findtext("./result/job")
    reply = client.op("<show><jobs><all/></jobs></show>")
    # Newest first, down to the auto-commit the device ran when it booted.
    jobs = reply.findall("./result/job")
    assert [j.findtext("id") for j in jobs] == [jid, "1"]
    assert jobs[1].findtext("type") == "AutoCom"


def test_device_clock_advances(sim: Simulator, client: Client) -> None:
    first = client.op("<show><clock/></show>").findtext("./result")
    assert first == "Thu Nov 26 09:30:00 UTC 2026\n"
    sim.device.clock_forward(65)  # pretend 65 seconds passed
    assert client.op("<show><clock/></show>").findtext("./result").startswith("Thu Nov 26 09:31:05")


def test_jobs_finish_without_polling(sim: Simulator, client: Client) -> None:
    client.set(LIST, ENTRY.format(n="bg.example"))
    jid = int(client.commit_partial().findtext("./result/job"))
    requests_before = len(sim.requests)
    deadline = time.monotonic() + 5
    while sim.device.jobs[jid].status != "FIN":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert sim.device.running.xpath(f"{LIST}/entry[@name='bg.example']")
    assert len(sim.requests) == requests_before
