"""Config and commit locks (docs/panos-api.md: locks and pending changes) and how they block other admins."""

from __future__ import annotations

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
ADD_CONFIG = (
    "<request><config-lock><add><comment>panpin run</comment></add></config-lock></request>"
)

REMOVE_CONFIG = "<request><config-lock><remove></remove></config-lock></request>"
ADD_COMMIT = "<request><commit-lock><add><comment>panpin</comment></add></commit-lock></request>"
REMOVE_COMMIT = "<request><commit-lock><remove></remove></commit-lock></request>"
ENTRY = "<entry name='{n}'><exclude>yes</exclude></entry>"


def _with_admin(sample: str, admin: str) -> str:
    return canon(load_sample(sample)).replace("xxx", admin)


def test_config_lock_cycle_messages_like_samples(client: Client) -> None:
    assert canon(client.op(ADD_CONFIG, vsys="shared").xml) == _with_admin(
        "config-lock-acquired.xml", "panpin"
    )
    again = client.op(ADD_CONFIG)
    assert again.status == "error"
    assert again.lines == ["You already own a config lock for scope shared"]
    assert canon(client.op(REMOVE_CONFIG).xml) == _with_admin("config-lock-released.xml", "panpin")
    assert canon(client.op(REMOVE_CONFIG).xml) == canon(load_sample("config-lock-not-held.xml"))


def test_show_locks_like_samples(client: Client, alice: Client) -> None:
    none = client.op("<show><config-locks></config-locks></show>")
    assert canon(none.xml) == canon(load_sample("show-config-locks-none.xml"))
    alice.op(ADD_CONFIG)
    alice.op("<request><commit-lock><add></add></commit-lock></request>")
    config = client.op("<show><config-locks><vsys>all</vsys></config-locks></show>")
    assert skeleton(config.xml) == skeleton(load_sample("show-config-locks-present.xml"))
    entry = config.find("./result/config-locks/entry")
    assert entry.get("name") == "alice"
    assert entry.findtext("comment") == "panpin run"
    assert entry.findtext("type") == "shared"
    commit = client.op("<show><commit-locks/></show>")
    assert skeleton(commit.xml) == skeleton(load_sample("show-commit-locks-present.xml"))
    assert commit.findtext("./result/commit-locks/entry/comment") == "(null)"
    assert "<![CDATA[(null)]]>" in commit.text


def test_other_admins_config_lock_blocks_writes_and_lock(client: Client, alice: Client) -> None:
    assert alice.op(ADD_CONFIG).status == "success"
    reply = client.set(LIST, ENTRY.format(n="b.example"))
    assert reply.status == "error"
    assert reply.lines == ["Configuration is locked by alice"]
    taken = client.op(ADD_CONFIG)
    assert taken.lines == ["Config for scope shared is currently locked by alice"]
    # Read access is unaffected.
    assert client.get(LIST).code == "19"
    # The lock holder can still write.
    assert alice.set(LIST, ENTRY.format(n="a.example")).code == "20"


def test_vsys_scoped_lock_blocks_only_that_vsys(client: Client, alice: Client) -> None:
    assert alice.op(ADD_CONFIG, vsys="vsys1").status == "success"
    vsys_list = (
        "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']"
        "/ssl-decrypt/ssl-exclude-cert"
    )
    assert client.set(vsys_list, ENTRY.format(n="v.example")).status == "error"
    assert client.set(LIST, ENTRY.format(n="s.example")).code == "20"


def test_commit_lock_by_other_admin_is_code14_like_sample(client: Client, alice: Client) -> None:
    acquired = alice.op(ADD_COMMIT)
    assert canon(acquired.xml) == _with_admin("commit-lock-acquired.xml", "alice")
    client.set(LIST, ENTRY.format(n="c.example"))
    reply = client.commit_partial()
    assert canon(reply.xml) == canon(load_sample("commit-error-code14-commit-locks.xml"))
    assert alice.op(REMOVE_COMMIT).findtext("./result") == "Commit lock released for alice"
    assert client.commit_partial().code == "19"


def test_commit_lock_not_held_message(client: Client) -> None:
    assert client.op(REMOVE_COMMIT).lines == ["Commit lock is not currently held"]
    assert client.op(ADD_COMMIT).status == "success"
    assert client.op(ADD_COMMIT).lines == ["Commit lock is already held by panpin"]


def test_superuser_can_remove_other_admins_commit_lock(client: Client, alice: Client) -> None:
    alice.op(ADD_COMMIT)
    reply = client.op(
        "<request><commit-lock><remove><admin>alice</admin></remove></commit-lock></request>"
    )
    assert reply.status == "success"
    assert client.op("<show><commit-locks/></show>").find("./result/commit-locks") is not None
    assert len(client.op("<show><commit-locks/></show>").find("./result/commit-locks")) == 0


def test_config_lock_by_other_blocks_commit(client: Client, alice: Client) -> None:
    client.set(LIST, ENTRY.format(n="c.example"))
    alice.op(ADD_CONFIG)
    reply = client.commit_partial()
    assert reply.status == "error"
    assert reply.lines == ["Configuration is locked by alice"]


def test_commit_releases_committers_locks(sim: Simulator, client: Client) -> None:
    client.op(ADD_CONFIG)
    client.op(ADD_COMMIT)
    client.set(LIST, ENTRY.format(n="c.example"))
    client.wait_job(client.commit_partial().findtext("./result/job"))
    assert sim.device.config_locks == {}
    assert sim.device.commit_locks == []


def test_scenario_locks_are_seeded(tmp_path: object) -> None:
    from panpin.simulator import load_scenario
    from panpin.simulator.scenario import LockSpec

    base = load_scenario("demo")
    scenario = type(base)(
        **{
            **base.__dict__,
            "locks": (LockSpec(admin="alice", type="commit", comment="change window"),),
        }
    )
    with Simulator(scenario) as sim:
        reply = Client(sim).op("<show><commit-locks/></show>")
        assert reply.find("./result/commit-locks/entry").get("name") == "alice"
        assert reply.findtext("./result/commit-locks/entry/comment") == "change window"


def test_panorama_lock_conflict_wording(pano: Simulator) -> None:
    Client(pano, "alice").op(ADD_CONFIG)
    reply = Client(pano).op(ADD_CONFIG)
    assert canon(reply.xml) == _with_admin("config-lock-already-held.xml", "alice")
