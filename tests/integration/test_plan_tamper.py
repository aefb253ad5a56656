"""A plan edited after review, its digest recomputed, is refused by `apply` (exit 2) and nothing
on the device changes: the digest proves nothing against someone who recomputes it, so apply
checks what the plan does (issue 15)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_support import DEMO_POLICY, sim_args, sim_env
from conftest import RunCli

from panpin.change.plan import digest_of

SimFactory = Callable[..., Any]


def resigned(doc: dict[str, Any]) -> str:
    body = {k: v for k, v in doc.items() if k != "digest"}
    doc["digest"] = digest_of(body)
    return json.dumps(doc)


def remove_a_persons_entry(doc: dict[str, Any]) -> None:
    person = next(e for e in doc["base"] if not e["description"].startswith("panpin:"))
    doc["changes"]["remove"].append(person)


def rollback_adding_a_suffix_wildcard(doc: dict[str, Any]) -> None:
    doc["kind"] = "rollback"
    doc["rollback_of"] = "c-20260101-0000-dead"
    doc["changes"]["add"].append(
        {"name": "*.co.uk", "description": "panpin:c-20260101-0000-dead rule=x", "exclude": True}
    )


def no_serial(doc: dict[str, Any]) -> None:
    doc["device"]["serial"] = ""


@pytest.mark.parametrize(
    "tamper", [remove_a_persons_entry, rollback_adding_a_suffix_wildcard, no_serial]
)
def test_a_tampered_plan_with_a_recomputed_digest_is_refused(
    sim_factory: SimFactory, tmp_path: Path, run_cli: RunCli, tamper: Callable[..., None]
) -> None:
    sim = sim_factory()
    plan = tmp_path / "plan.json"
    made = run_cli(
        *sim_args(sim, tmp_path),
        "plan",
        "--policy",
        DEMO_POLICY,
        "--out",
        str(plan),
        env=sim_env(sim),
    )
    assert made.code == 0, made.err
    doc = json.loads(plan.read_text())
    tamper(doc)
    plan.write_text(resigned(doc))
    sim.clear_requests()
    result = run_cli(*sim_args(sim, tmp_path), "apply", str(plan), "--yes", env=sim_env(sim))
    assert result.code == 2, result.err
    assert "Traceback" not in result.err
    writes = [r for r in sim.requests if r.type == "commit" or r.action in ("set", "delete")]
    assert writes == []
    assert not any(lock.admin == sim.admin for lock in sim.device.config_locks.values())
