"""What tests that run panpin commands against a simulator share: the demo policy, the global
flags that point panpin at a simulator, and the environment that carries its key."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DEMO_POLICY = str(Path(__file__).resolve().parents[1] / "panpin" / "data" / "demo-policy.yaml")


def sim_args(sim: Any, tmp_path: Path, location: str | None = None) -> list[str]:
    """Global flags for ``sim`` with a state database in ``tmp_path`` (and a location)."""
    args = [
        "--host",
        sim.host,
        "--ca-file",
        str(sim.ca_file),
        "--admin",
        sim.admin,
        "--state",
        str(tmp_path / "state.db"),
    ]
    return [*args, "--location", location] if location else args


def sim_env(sim: Any) -> dict[str, str]:
    """The key travels in the environment only, as it must in real use."""
    return {"PANPIN_API_KEY": sim.api_key}


# A small policy that allows the demo's vendor hosts on little evidence (issue-18 tests).
VENDOR_POLICY = """\
version: 1
thresholds: {min_hits: 1, min_clients: 1, window: 30d}
rules:
  - name: vendor
    match: {domain: vendor.example}
    action: allow
"""


@contextlib.contextmanager
def own_simulator(workdir: Path, scenario: Any = "demo", **options: Any) -> Iterator[Any]:
    """A simulator of the test's own (its state changes), stopped however the test ends."""
    from panpin.simulator import Simulator, load_scenario

    if isinstance(scenario, str):
        scenario = load_scenario(scenario)
    sim = Simulator(scenario=scenario, workdir=workdir, **options)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


def write_policy(tmp_path: Path, text: str = VENDOR_POLICY) -> Path:
    policy = tmp_path / "policy.yaml"
    policy.write_text(text)
    return policy


def alice_commits_after_plans(monkeypatch: Any, sim: Any, times: int) -> list[int]:
    """After each of panpin's first ``times`` plans, alice commits an entry of her own to the
    list, so the plan's base is stale at apply. Returns the count of plans made (one cell)."""
    from panpin.change.session import Session
    from panpin.panos.xmlapi import Connection, XmlApi

    real_plan = Session._plan
    made = [0]

    def plan_then_alice_commits(self: Session, *args: Any, **kw: Any) -> Any:
        plan = real_plan(self, *args, **kw)
        if made[0] < times:
            alice = XmlApi(
                Connection(host=sim.host, api_key=sim.key_for("alice"), ca_file=str(sim.ca_file))
            )
            with alice:
                alice.config(
                    "set",
                    "/config/shared/ssl-decrypt/ssl-exclude-cert",
                    f"<entry name='alice{made[0]}.example'><exclude>yes</exclude></entry>",
                )
                alice.commit(
                    "<commit><partial><admin><member>alice</member></admin></partial></commit>"
                )
        made[0] += 1
        return plan

    monkeypatch.setattr(Session, "_plan", plan_then_alice_commits)
    return made
