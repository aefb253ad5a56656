"""3. Start-up for cron: ``panpin --help`` and ``panpin --version`` against ``import click``.

Each command runs N times as a fresh process (interleaved, so a noisy moment hits all three);
the table gives the median wall time. ``python -c "import click"`` is the floor for any click
program: panpin's commands import requests, lxml and pan-os-python only when they run.
"""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks.measure import median, wall_of
from benchmarks.report import Section, Verdict

TARGET = 1.5


def commands() -> dict[str, list[str]]:
    panpin = str(Path(sys.executable).with_name("panpin"))
    return {
        'python -c "import click"': [sys.executable, "-c", "import click"],
        "panpin --help": [panpin, "--help"],
        "panpin --version": [panpin, "--version"],
    }


def run(n: int = 20) -> Section:
    cmds = commands()
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for cmd in cmds.values():  # warm the page cache once, unmeasured
        wall_of(cmd)
    for _ in range(n):
        for name, cmd in cmds.items():
            wall, code = wall_of(cmd)
            if code != 0:
                raise RuntimeError(f"{name} exited {code}")
            times[name].append(wall)
    base = median(times['python -c "import click"'])
    rows = []
    verdicts = []
    for name in cmds:
        med = median(times[name])
        rows.append([f"`{name}`", str(n), f"{med * 1000:.1f}", f"{med / base:.2f}"])
        if name.startswith("panpin"):
            verdicts.append(
                Verdict(
                    f"3. `{name}` wall time vs `import click`",
                    f"{med / base:.2f}x ({med * 1000:.0f} vs {base * 1000:.0f} ms)",
                    f"≤ {TARGET}x",
                    med / base <= TARGET,
                )
            )
        print(f"  startup {name:<28} {med * 1000:6.1f} ms", flush=True)
    return Section(
        title="3. Start-up",
        intro=__doc__.split("\n\n", 1)[1] if __doc__ else "",
        headers=["command", "runs", "median wall ms", "÷ import click"],
        rows=rows,
        verdicts=verdicts,
    )
