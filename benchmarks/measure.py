"""Measuring a process: CPU time, peak RSS, and running a measured client in a fresh process.

Peak RSS is a high-water mark per process (``VmHWM``, ``ru_maxrss``), so every measured client
runs in a process of its own; one measurement can never inherit another's peak.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
_TICKS = os.sysconf("SC_CLK_TCK")
# Another copy of the panpin package to measure instead of this one (``--panpin-src``), for
# before/after numbers: a directory holding ``panpin/``.
SRC_ENV = "PANPIN_BENCH_SRC"


def panpin_src() -> Path:
    return Path(os.environ.get(SRC_ENV) or REPO)


def client_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a measured process: panpin from :func:`panpin_src`, benchmarks from here."""
    src = panpin_src()
    path = str(REPO) if src == REPO else f"{src}{os.pathsep}{REPO}"
    return {**os.environ, "PYTHONPATH": path, **(extra or {})}


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid`` (and of its reaped children) from ``/proc/PID/stat``."""
    text = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces; the fields after its ')' are positional.
    fields = text.rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _TICKS


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (VmHWM; ru_maxrss where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def self_cpu() -> float:
    """CPU seconds (user + system) of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Timed:
    wall: float
    cpu: float
    rss_mb: float
    extra: dict[str, Any]


def run_measured(
    cmd: Sequence[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` to completion with the measured panpin (:func:`client_env`), output captured."""
    return subprocess.run(
        list(cmd),
        capture_output=True,
        text=True,
        env=client_env(env),
        # ``-m`` puts the working directory first on sys.path: it decides which panpin runs.
        cwd=panpin_src(),
        check=False,
    )


def run_client(kind: str, args: dict[str, Any], env: dict[str, str] | None = None) -> Timed:
    """Run ``python -m benchmarks.clients KIND`` with ``args`` (JSON); return what it measured."""
    cmd = [sys.executable, "-m", "benchmarks.clients", kind, json.dumps(args)]
    proc = run_measured(cmd, env)
    if proc.returncode != 0:
        raise RuntimeError(f"client {kind} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    return Timed(
        wall=float(data.pop("wall")),
        cpu=float(data.pop("cpu")),
        rss_mb=float(data.pop("rss_mb")),
        extra=data,
    )


def wall_of(cmd: Sequence[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall time of one command run to completion, and its exit code (output discarded)."""
    start = time.perf_counter()
    proc = subprocess.run(
        list(cmd),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=client_env(env),
        cwd=panpin_src(),
        check=False,
    )
    return time.perf_counter() - start, proc.returncode


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))
