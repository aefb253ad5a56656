"""The change lifecycle over real HTTPS against the simulator (docs/design.md, change lifecycle)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from cli_support import sim_args
from conftest import RunCli

from panpin.change.plan import list_fingerprint
from panpin.change.workflow import identify, policy_plan
from panpin.decide.policy import load_policy
from panpin.panos.exclusions import ExclusionEntry, read_list
from panpin.panos.xmlapi import Connection, XmlApi
from panpin.scan.evidence import Candidate
from panpin.settings import DeviceSettings, Location
from panpin.simulator import Simulator

DEMO_POLICY = Path(__file__).resolve().parents[2] / "panpin" / "data" / "demo-policy.yaml"
SimFactory = Callable[..., Any]


def cand(host: str, hits: int, clients: int, alert: str = "UnknownCA") -> Candidate:
    return Candidate(
        host=host,
        hits=hits,
        clients=tuple(f"10.1.0.{i}" for i in range(clients)),
        errors={alert: hits},
        apps=("incomplete",),
        first_seen="2026/11/20 10:00:00",
        last_seen="2026/11/26 09:00:00",
    )


CANDIDATES = [
    cand("app.vendor.example", 46, 12),
    cand("sync.vendor.example", 22, 7),
    cand("online.bank.example", 15, 5),
    cand("api1.partner.example", 8, 2),
]


def api_for(sim: Simulator, admin: str | None = None) -> XmlApi:
    key = sim.key_for(admin) if admin else sim.api_key
    return XmlApi(Connection(host=sim.host, api_key=key, ca_file=str(sim.ca_file)))


def device(sim: Simulator, location: str = "shared") -> DeviceSettings:
    return DeviceSettings(
        name="sim",
        host=sim.host,
        api_key=sim.api_key,
        ca_file=str(sim.ca_file),
        admin=sim.admin,
        location=Location.parse(location),
    )


def cli_args(sim: Simulator, tmp_path: Path, location: str = "shared") -> list[str]:
    return sim_args(sim, tmp_path, location)


def env(sim: Simulator) -> dict[str, str]:
    return {"PANPIN_API_KEY": sim.api_key}


def write_plan(
    sim: Simulator, tmp_path: Path, location: str = "shared", name: str = "plan.json"
) -> Path:
    dev = device(sim, location)
    with api_for(sim) as api:
        info = identify(api, dev)
        current = read_list(api, dev.location)
    plan, _ = policy_plan(
        device=dev,
        info=info,
        current=current,
        candidates=CANDIDATES,
        policy=load_policy(DEMO_POLICY),
        scan={"query": "test"},
        today=date(2026, 11, 26),
    )
    path = tmp_path / name
    path.write_text(plan.dumps())
    return path


def lists(
    sim: Simulator, location: str = "shared"
) -> tuple[list[ExclusionEntry], list[ExclusionEntry]]:
    with api_for(sim) as api:
        loc = Location.parse(location)
        return read_list(api, loc), read_list(api, loc, candidate=True)


def names(entries: list[ExclusionEntry]) -> set[str]:
    return {e.name for e in entries}


def test_clean_apply(sim_factory: SimFactory, tmp_path: Path, run_cli: RunCli) -> None:
    sim = sim_factory()
    before, _ = lists(sim)
    person_before = [e for e in before if e.owner == "person"]
    plan = write_plan(sim, tmp_path)
    sim.clear_requests()
    result = run_cli(*cli_args(sim, tmp_path), "apply", str(plan), "--yes", env=env(sim))
    assert result.code == 0, result.err
    sets = [r for r in sim.requests if r.type == "config" and r.action == "set"]
    commits = [r for r in sim.requests if r.type == "commit"]
    assert len(sets) == 1
    assert len(commits) == 1
    assert "<partial><admin><member>panpin</member></admin></partial>" in (commits[0].cmd or "")
    running, candidate = lists(sim)
    assert {"*.vendor.example", "api1.partner.example"} <= names(running)
    assert "*.oldvendor.example" not in names(running)  # expired panpin entry removed
    assert "online.bank.example" not in names(running)  # blocked
    assert [e for e in running if e.owner == "person"] == person_before
    assert list_fingerprint(running) == list_fingerprint(candidate)
    assert "alice" in sim.device.pending_admins()  # her pending work is untouched
    assert "verified" in result.err
    history = run_cli(*cli_args(sim, tmp_path), "history", "--format", "json", env=env(sim))
    assert '"result": "committed"' in history.out


def test_same_plan_twice_is_already_applied_unless_the_list_moved_on(
    sim_factory: SimFactory, tmp_path: Path, run_cli: RunCli
) -> None:
    sim = sim_factory()
    plan = write_plan(sim, tmp_path)
    assert run_cli(*cli_args(sim, tmp_path), "apply", str(plan), "--yes", env=env(sim)).code == 0
    sim.clear_requests()
    again = run_cli(*cli_args(sim, tmp_path), "apply", str(plan), "--yes", env=env(sim))
    # The journal says it was committed and the running list still holds it (issue 18).
    assert again.code == 0 and "already applied" in again.err
    assert not [r for r in sim.requests if r.type == "config" and r.action in ("set", "delete")]
    # A fresh plan now finds nothing to do.
    fresh = write_plan(sim, tmp_path, name="fresh.json")
    result = run_cli(*cli_args(sim, tmp_path), "apply", str(fresh), "--yes", env=env(sim))
    assert result.code == 0
    assert "nothing to change" in result.err


def test_stale_plan_after_someone_else_commits(
    sim_factory: SimFactory, tmp_path: Path, run_cli: RunCli
) -> None:
    sim = sim_factory()
    plan = write_plan(sim, tmp_path)
    with api_for(sim, "alice") as alice:
        alice.config(
            "set",
            "/config/shared/ssl-decrypt/ssl-exclude-cert",
            "<entry name='bob.example'><exclude>yes</exclude></entry>",
        )
        alice.commit("<commit><partial><admin><member>alice</member></admin></partial></commit>")
    import time

    time.sleep(1.0)  # let alice's commit job finish
    sim.clear_requests()
    result = run_cli(*cli_args(sim, tmp_path), "apply", str(plan), "--yes", env=env(sim))
    assert result.code == 2, result.err
    assert "stale" in result.err
    assert not [r for r in sim.requests if r.type == "config" and r.action in ("set", "delete")]
    assert not sim.device.locks_of("panpin") if hasattr(sim.device, "locks_of") else True


def test_other_admins_lock_exits_5_and_writes_nothing(
    sim_factory: SimFactory, tmp_path: Path, run_cli: RunCli
) -> None:
    sim = sim_factory()
    plan = write_plan(sim, tmp_path)
    with api_for(sim, "alice") as alice:
        alice.op(
            "<request><config-lock><add><comment>maintenance</comment></add></config-lock></request>",
            vsys="shared",
        )
    sim.clear_requests()
    result = run_cli(*cli_args(sim, tmp_path), "apply", str(plan), "--yes", env=env(sim))
    assert result.code == 5
    assert "alice" in result.err
    assert not [r for r in sim.requests if r.type in ("commit",) or r.action in ("set", "delete")]


def test_commit_failure_restores_everything(
    sim_factory: SimFactory, tmp_path: Path, run_cli: RunCli
) -> None:
    sim = sim_factory()
    running_before, candidate_before = lists(sim)
    plan = write_plan(sim, tmp_path)
    sim.faults.add(
        "commit_fail", lines=["Validation Error:", "ssl-decrypt -> ssl-exclude-cert is invalid"]
    )
    result = run_cli(*cli_args(sim, tmp_path), "apply", str(plan), "--yes", env=env(sim))
    assert result.code == 4, result.err
    assert "reverted" in result.err
    running, candidate = lists(sim)
    assert running == running_before
    assert candidate == candidate_before
    assert "alice" in sim.device.pending_admins()
    assert "panpin" not in sim.device.pending_admins()
    history = run_cli(*cli_args(sim, tmp_path), "history", "--format", "json", env=env(sim))
    assert '"result": "reverted"' in history.out


def test_rollback_restores_exact_prior_list(
    sim_factory: SimFactory, tmp_path: Path, run_cli: RunCli
) -> None:
    sim = sim_factory()
    before, _ = lists(sim)
    plan = write_plan(sim, tmp_path)
    assert run_cli(*cli_args(sim, tmp_path), "apply", str(plan), "--yes", env=env(sim)).code == 0
    dry = run_cli(*cli_args(sim, tmp_path), "rollback", "--last", "--dry-run", env=env(sim))
    assert dry.code == 3
    result = run_cli(*cli_args(sim, tmp_path), "rollback", "--last", "--yes", env=env(sim))
    assert result.code == 0, result.err
    after, candidate = lists(sim)
    assert list_fingerprint(after) == list_fingerprint(before)  # descriptions included
    assert list_fingerprint(candidate) == list_fingerprint(before)
    assert "alice" in sim.device.pending_admins()
    history = run_cli(*cli_args(sim, tmp_path), "history", "--format", "json", env=env(sim))
    assert history.out.count('"result": "committed"') == 2
    assert '"kind": "rollback"' in history.out


def test_rollback_from_device_markers_without_journal(
    sim_factory: SimFactory, tmp_path: Path, run_cli: RunCli
) -> None:
    sim = sim_factory()
    plan = write_plan(sim, tmp_path)
    assert run_cli(*cli_args(sim, tmp_path), "apply", str(plan), "--yes", env=env(sim)).code == 0
    change_id = plan.read_text().split('"change_id": "', 1)[1].split('"', 1)[0]
    (tmp_path / "state.db").unlink()
    result = run_cli(*cli_args(sim, tmp_path), "rollback", change_id, "--yes", env=env(sim))
    assert result.code == 0, result.err
    assert "not in the journal" in result.err
    running, _ = lists(sim)
    assert not [e for e in running if e.marker and e.marker.change_id == change_id]
    assert "login.partner.example" in names(running)


def test_no_commit_leaves_candidate_for_review(
    sim_factory: SimFactory, tmp_path: Path, run_cli: RunCli
) -> None:
    sim = sim_factory()
    running_before, _ = lists(sim)
    plan = write_plan(sim, tmp_path)
    result = run_cli(
        *cli_args(sim, tmp_path), "apply", str(plan), "--yes", "--no-commit", env=env(sim)
    )
    assert result.code == 0, result.err
    running, candidate = lists(sim)
    assert running == running_before
    assert "*.vendor.example" in names(candidate)
    assert not [r for r in sim.requests if r.type == "commit"]


def test_apply_needs_yes_without_a_terminal(
    sim_factory: SimFactory, tmp_path: Path, run_cli: RunCli
) -> None:
    sim = sim_factory()
    plan = write_plan(sim, tmp_path)
    result = run_cli(*cli_args(sim, tmp_path), "apply", str(plan), env=env(sim))
    assert result.code == 2
    assert "--yes" in result.err


def test_plan_for_another_device_refused(
    sim_factory: SimFactory, tmp_path: Path, run_cli: RunCli
) -> None:
    sim_a = sim_factory()
    sim_b = sim_factory("panorama")
    plan = write_plan(sim_a, tmp_path)
    result = run_cli(
        *cli_args(sim_b, tmp_path, "template:branch"), "apply", str(plan), "--yes", env=env(sim_b)
    )
    assert result.code == 2


@pytest.mark.parametrize("location", ["template:branch", "template-stack:branch-stack"])
def test_panorama_commit_and_push(
    sim_factory: SimFactory, tmp_path: Path, run_cli: RunCli, location: str
) -> None:
    sim = sim_factory("panorama")
    plan = write_plan(sim, tmp_path, location)
    sim.clear_requests()
    result = run_cli(*cli_args(sim, tmp_path, location), "apply", str(plan), "--yes", env=env(sim))
    assert result.code == 0, result.err
    pushes = [r for r in sim.requests if r.type == "commit" and r.action == "all"]
    assert len(pushes) == 1
    running, _ = lists(sim, location)
    assert "*.vendor.example" in names(running)
    assert '"result": "OK"' in result.out


def test_panorama_push_failure_reported_per_device(
    sim_factory: SimFactory, tmp_path: Path, run_cli: RunCli
) -> None:
    sim = sim_factory("panorama")
    plan = write_plan(sim, tmp_path, "template-stack:branch-stack")
    sim.faults.add("push_device_fail", serial="007951000222222")
    result = run_cli(
        *cli_args(sim, tmp_path, "template-stack:branch-stack"),
        "apply",
        str(plan),
        "--yes",
        env=env(sim),
    )
    assert result.code == 6, result.err
    assert "branch-fw-02" in result.err or "007951000222222" in result.err
    assert "branch-fw-01" not in result.err.split("failed on", 1)[1].split(".", 1)[0]
    history = run_cli(
        *cli_args(sim, tmp_path, "template-stack:branch-stack"),
        "history",
        "--format",
        "json",
        env=env(sim),
    )
    assert '"result": "push-failed"' in history.out
