"""What tests that run panpin commands against a simulator share: the demo policy, the global
flags that point panpin at a simulator, and the environment that carries its key."""

from __future__ import annotations

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
