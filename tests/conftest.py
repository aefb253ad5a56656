"""Fixtures shared by every test directory: running the CLI in-process and a simulator."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from panpin.cli import main


@dataclass
class CliResult:
    code: int
    out: str
    err: str


RunCli = Callable[..., CliResult]


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> RunCli:
    """Run ``panpin ARGS`` in this process; returns exit code, stdout and stderr.

    Environment variables are set for the one call only (``env={...}``).
    """

    def run(*args: str, env: dict[str, str] | None = None) -> CliResult:
        capsys.readouterr()
        with monkeypatch.context() as m:
            for key in [k for k in os.environ if k.startswith("PANPIN_")]:
                m.delenv(key)
            for key, value in (env or {}).items():
                m.setenv(key, value)
            try:
                main(list(args))
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def sim_factory(tmp_path: Path) -> Iterator[Callable[..., object]]:
    """Start simulators for one test; each is stopped at the end."""
    from panpin.simulator import Simulator

    started: list[Simulator] = []

    def start(scenario: str = "demo", **kw: object) -> Simulator:
        sim = Simulator(scenario=scenario, workdir=tmp_path / f"sim{len(started)}", **kw)  # type: ignore[arg-type]
        sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()
