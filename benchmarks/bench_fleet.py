"""4. Fleet: ``panpin run --dry-run --all`` over 50 firewalls against the same devices one by one.

50 simulated firewalls (a branch firewall each: a few pinned apps, a bank, noise; log jobs that
answer ACT once before FIN, like a device) are served by two simulator processes. One generated
``--config`` names them all; the key comes from ``PANPIN_API_KEY``. Both ways start from a fresh
``--state`` and run the cron one-shot with ``panpin/data/demo-policy.yaml``:

* fleet: ``panpin --config C --all run --dry-run --policy P`` (one process, devices concurrently);
* sequential: ``panpin --config C --device fwNN run --dry-run --policy P`` for each device in
  turn, what a shell loop in cron would do.

Every run exits 3 (changes pending), as a dry run with pending changes should. The empty state
database is created before each measured run (see ``_create_state``: a new file opened by a
fleet run's threads at once can fail one device with "database is locked", a bug reported with
this benchmark).
"""

from __future__ import annotations

import contextlib
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.measure import REPO, client_env, median, panpin_src, run_measured
from benchmarks.report import Section, Verdict
from benchmarks.scenarios import ADMIN, API_KEY, small_scenario
from benchmarks.simproc import SimProcess

DEVICES = 50
PROCESSES = 2
TARGET = 0.25
POLICY = REPO / "panpin" / "data" / "demo-policy.yaml"
EXIT_PENDING = 3


def write_config(path: Path, sims: list[dict[str, object]]) -> list[str]:
    names = [f"fw{i + 1:02d}" for i in range(len(sims))]
    lines = ["version: 1", "defaults:", f"  admin: {ADMIN}", "devices:"]
    for name, sim in zip(names, sims, strict=True):
        lines.append(f"  {name}: {{host: '{sim['host']}', ca_file: '{sim['ca_file']}'}}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return names


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _create_state(path: Path) -> None:
    """Create the (empty) state database before a measured run, outside the clock.

    A state database that does not exist yet, opened by the eight threads of a fleet run at once,
    can fail one device with "database is locked": ``StateDB.ensure_schema`` switches a new file
    to WAL, and SQLite gives that switch no busy wait while another connection holds a lock
    (reproduced with 8 threads: 29 of 300 fresh files). Created first, the file is still empty,
    and both ways of running get the same.
    """
    code = "import sys; from panpin.state import StateDB; StateDB(sys.argv[1]).schema_version()"
    subprocess.run(
        [sys.executable, "-c", code, str(path)], env=client_env(), cwd=panpin_src(), check=True
    )


def _panpin(config: Path, state: Path, *selector: str) -> tuple[float, float]:
    """Run ``panpin run --dry-run`` for ``selector``; (wall, client CPU); exit 3 is required."""
    cmd = [
        str(Path(sys.executable).with_name("panpin")),
        "-q",
        "--config",
        str(config),
        "--state",
        str(state),
        *selector,
        "run",
        "--dry-run",
        "--policy",
        str(POLICY),
    ]
    cpu0, start = _children_cpu(), time.perf_counter()
    proc = run_measured(cmd, {"PANPIN_API_KEY": API_KEY})
    wall, cpu = time.perf_counter() - start, _children_cpu() - cpu0
    if proc.returncode != EXIT_PENDING:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {proc.returncode}, expected {EXIT_PENDING}:\n"
            f"{proc.stderr[-3000:]}"
        )
    return wall, cpu


def run(reps: int = 3, devices: int = DEVICES) -> Section:
    fleet: list[tuple[float, float]] = []
    sequential: list[tuple[float, float]] = []
    with (
        tempfile.TemporaryDirectory(prefix="panpin-bench-fleet-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        folder = Path(tmp)
        scenario = small_scenario(folder)
        per = -(-devices // PROCESSES)
        sims: list[dict[str, object]] = []
        for start in range(0, devices, per):
            sp = stack.enter_context(SimProcess(scenario, count=min(per, devices - start)))
            sims += sp.sims
        config = folder / "panpin.yaml"
        names = write_config(config, sims)
        for rep in range(reps):
            state = folder / f"fleet-{rep}.db"
            _create_state(state)
            wall, cpu = _panpin(config, state, "--all")
            fleet.append((wall, cpu))
            print(f"  fleet --all       {wall:6.1f}s (client CPU {cpu:.1f}s)", flush=True)
            state = folder / f"seq-{rep}.db"
            _create_state(state)
            walls = cpus = 0.0
            for name in names:
                w, c = _panpin(config, state, "--device", name)
                walls += w
                cpus += c
            sequential.append((walls, cpus))
            print(f"  fleet one by one  {walls:6.1f}s (client CPU {cpus:.1f}s)", flush=True)
    f_wall, s_wall = median([w for w, _ in fleet]), median([w for w, _ in sequential])
    f_cpu, s_cpu = median([c for _, c in fleet]), median([c for _, c in sequential])
    ratio = f_wall / s_wall
    return Section(
        title="4. Fleet",
        intro=__doc__.split("\n\n", 1)[1] if __doc__ else "",
        headers=["how", "devices", "runs", "median wall s", "client CPU s", "÷ one by one"],
        rows=[
            [
                "`panpin --all run --dry-run`",
                str(devices),
                str(reps),
                f"{f_wall:.1f}",
                f"{f_cpu:.1f}",
                f"{ratio:.2f}",
            ],
            [
                "`panpin --device fwNN run --dry-run`, one by one",
                str(devices),
                str(reps),
                f"{s_wall:.1f}",
                f"{s_cpu:.1f}",
                "1.00",
            ],
        ],
        verdicts=[
            Verdict(
                f"4. fleet wall time, {devices} firewalls, vs one by one",
                f"{ratio:.2f}x ({f_wall:.1f} vs {s_wall:.1f} s)",
                f"≤ {TARGET}x",
                ratio <= TARGET,
            )
        ],
    )
