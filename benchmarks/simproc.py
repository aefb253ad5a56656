"""Serve one or more simulators from a process of their own.

``python -m benchmarks.simproc --scenario FILE [--count N] [--option KEY=VALUE]...`` starts N
simulators of the scenario, generates their logs up front (so no client pays for generation),
prints one JSON line ``{"sims": [{"host", "port", "ca_file", "api_key", "admin", "token"}]}``
and serves until its stdin closes. Tying its life to stdin means a benchmark that dies cannot
leave simulators behind.

The benchmark side is :class:`SimProcess`; it also reads the server's own CPU time from
``/proc`` so reports can show the simulator's cost apart from the client's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.request import Request, urlopen

from benchmarks.measure import proc_cpu_seconds


def _option_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv: list[str] | None = None) -> None:
    from panpin.simulator import Simulator, load_scenario

    parser = argparse.ArgumentParser(prog="python -m benchmarks.simproc")
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    options = {
        key: _option_value(value) for key, _, value in (item.partition("=") for item in args.option)
    }
    scenario = load_scenario(Path(args.scenario))
    sims: list[Simulator] = []
    try:
        for i in range(args.count):
            sim = Simulator(scenario, workdir=Path(args.workdir) / f"sim{i}", **options).start()
            sims.append(sim)
            # Generate the log store now: the first client must not pay (or wait) for it.
            sim.logs.ensure()
        line = {
            "sims": [
                {
                    "host": sim.host,
                    "port": sim.port,
                    "ca_file": str(sim.ca_file),
                    "api_key": sim.api_key,
                    "admin": sim.admin,
                    "token": sim.control_token,
                    "logs": len(sim.logs),
                }
                for sim in sims
            ]
        }
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        sys.stdin.read()  # until the benchmark closes our stdin (or dies)
    finally:
        for sim in sims:
            sim.stop()


class SimProcess:
    """``with SimProcess(scenario_file, count=N, log_act_polls=0) as sp: sp.sims[0]["host"]``."""

    def __init__(self, scenario: Path, *, count: int = 1, **options: Any) -> None:
        self.scenario = scenario
        self.count = count
        self.options = options
        self.sims: list[dict[str, Any]] = []
        self._proc: subprocess.Popen[str] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> Self:
        self._tmp = tempfile.TemporaryDirectory(prefix="panpin-bench-sim-")
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.simproc",
            "--scenario",
            str(self.scenario),
            "--count",
            str(self.count),
            "--workdir",
            self._tmp.name,
        ]
        for key, value in self.options.items():
            cmd += ["--option", f"{key}={json.dumps(value)}"]
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONPATH": _repo_path()},
            # The simulator is always this checkout's, whichever panpin is measured.
            cwd=Path(__file__).resolve().parents[1],
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self.__exit__(None, None, None)
            raise RuntimeError(f"simulator process failed to start: {' '.join(cmd)}")
        self.sims = json.loads(line)["sims"]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            assert proc.stdin is not None
            proc.stdin.close()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def cpu_seconds(self) -> float:
        """User + system CPU the simulator process has used so far."""
        return proc_cpu_seconds(self.pid)

    def requests(self, index: int = 0) -> list[dict[str, Any]]:
        """The request log of simulator ``index`` (``/_sim/requests``)."""
        return list(self._control(index, "GET"))

    def clear_requests(self, index: int = 0) -> None:
        self._control(index, "DELETE")

    def _control(self, index: int, method: str) -> Any:
        import ssl

        sim = self.sims[index]
        context = ssl.create_default_context(cafile=sim["ca_file"])
        request = Request(
            f"https://{sim['host']}/_sim/requests",
            method=method,
            headers={"X-Sim-Token": sim["token"]},
        )
        with urlopen(request, context=context, timeout=30) as answer:  # noqa: S310 (https only)
            return json.loads(answer.read())


def _repo_path() -> str:
    root = str(Path(__file__).resolve().parents[1])
    current = os.environ.get("PYTHONPATH")
    return f"{root}{os.pathsep}{current}" if current else root


if __name__ == "__main__":
    main()
