"""The library example in docs/library.md runs as written against the simulator, and the
Session verbs keep the contracts their first lines state (reads change nothing; writes lock)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from panpin import RunResult, Session, load_policy, load_settings, run_fleet
from panpin.change.results import ChangeResult
from panpin.errors import RunLocked
from panpin.settings import DeviceSettings, Location
from panpin.simulator import Simulator
from panpin.state import run_lock

ROOT = Path(__file__).parents[2]
DEMO_POLICY = ROOT / "panpin" / "data" / "demo-policy.yaml"


def example() -> str:
    text = (ROOT / "docs" / "library.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1, "docs/library.md holds one runnable example"
    return str(blocks[0])


def workdir_for(sim: Simulator, tmp_path: Path) -> Path:
    work = tmp_path / "work"
    (work / "configs").mkdir(parents=True)
    key = work / "fw1.key"
    key.write_text(sim.api_key + "\n")
    key.chmod(0o600)
    (work / "configs" / "panpin.yaml").write_text(
        "version: 1\n"
        f"state: {work / 'state.db'}\n"
        "devices:\n"
        "  fw1:\n"
        f"    host: {sim.host}\n"
        f"    ca_file: {sim.ca_file}\n"
        f"    api_key_file: {key}\n"
        f"    admin: {sim.admin}\n"
    )
    shutil.copy(DEMO_POLICY, work / "configs" / "policy.yaml")
    return work


def run_example(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANPIN_")}
    return subprocess.run(
        [sys.executable, "-c", example(), *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def running_names(sim: Simulator, tmp_path: Path) -> set[str]:
    # exclusions() neither locks nor writes state: the path is never opened.
    with session_for(sim, tmp_path / "probe.db") as s:
        return {e.name for e in s.exclusions()}


def session_for(sim: Simulator, state: Path, location: str = "shared") -> Session:
    device = DeviceSettings(
        name="fw1",
        host=sim.host,
        api_key=sim.api_key,
        ca_file=str(sim.ca_file),
        admin=sim.admin,
        location=Location.parse(location),
    )
    return Session(device, state)


def test_the_documented_example_plans_then_applies(sim_factory: object, tmp_path: Path) -> None:
    assert callable(sim_factory)
    sim = sim_factory("demo")
    assert isinstance(sim, Simulator)
    work = workdir_for(sim, tmp_path)
    before = running_names(sim, tmp_path)

    dry = run_example(work)
    assert dry.returncode == 0, dry.stderr
    assert "pa-branch-01: PA-440" in dry.stdout
    assert "would add *.vendor.example" in dry.stdout
    assert "would remove *.oldvendor.example" in dry.stdout
    assert running_names(sim, tmp_path) == before  # plan reads only

    applied = run_example(work, "--apply")
    assert applied.returncode == 0, applied.stderr
    assert re.search(r"c-\d{8}-\d{4}-[0-9a-f]{4}: committed", applied.stdout)
    assert "verified: the running list holds the planned state" in applied.stdout
    after = running_names(sim, tmp_path)
    assert "*.vendor.example" in after and "*.oldvendor.example" not in after
    assert sim.api_key not in applied.stdout + applied.stderr


def test_reads_change_nothing_and_writes_take_the_run_lock(
    sim_factory: object, tmp_path: Path
) -> None:
    assert callable(sim_factory)
    sim = sim_factory("demo")
    assert isinstance(sim, Simulator)
    state = tmp_path / "state.db"
    policy = load_policy(DEMO_POLICY)
    with session_for(sim, state) as s:
        before = s.exclusions()
        result = s.scan(since="7d")
        assert {c.host for c in result.candidates} >= {"app.vendor.example"}
        plan = s.plan(policy)
        assert plan.has_changes
        assert s.exclusions() == before
        assert s.exclusions(candidate=True) == before
        with run_lock(state), pytest.raises(RunLocked):
            s.apply(plan)  # another panpin holds the lock: nothing is written
        assert s.exclusions(candidate=True) == before
        outcome = s.apply(plan)
        assert outcome.result is ChangeResult.COMMITTED
        assert [r.result for r in s.history()] == [ChangeResult.COMMITTED]
        undone = s.rollback(last=True)
        assert undone.result is ChangeResult.COMMITTED
        assert {e.name for e in s.exclusions()} == {e.name for e in before}


def test_run_fleet_reports_each_device_and_holds_one_lock(
    sim_factory: object, tmp_path: Path
) -> None:
    assert callable(sim_factory)
    one, two = sim_factory("demo"), sim_factory("demo")
    assert isinstance(one, Simulator) and isinstance(two, Simulator)
    state = tmp_path / "state.db"
    policy = load_policy(DEMO_POLICY)
    sessions = [session_for(one, state), session_for(two, state)]
    dry = run_fleet(sessions, policy, since="7d", dry_run=True)
    assert [r.result for r in dry] == ["pending", "pending"]
    assert all(isinstance(r, RunResult) and r.exit_code == 3 for r in dry)
    with run_lock(state), pytest.raises(RunLocked):
        run_fleet(sessions, policy, since="7d")
    done = run_fleet(sessions, policy, since="7d")
    assert [r.result for r in done] == [ChangeResult.COMMITTED, ChangeResult.COMMITTED]
    assert all("*.vendor.example" in r.adds for r in done)
    for s in sessions:
        s.close()


def test_settings_build_the_session_without_the_network(tmp_path: Path) -> None:
    config = tmp_path / "panpin.yaml"
    config.write_text("version: 1\ndevices:\n  fw1: {host: 192.0.2.1, admin: panpin}\n")
    session = Session.from_settings(load_settings(str(config)), "fw1")
    assert session.device.host == "192.0.2.1"
    assert session._api is None  # nothing opened until a verb needs the device
