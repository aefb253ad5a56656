"""A small, repeatable measure of the scan's client CPU per entry (issue 13), for before/after.

``make bench`` takes ten minutes of both cores; this takes seconds and measures the same thing
on fewer entries:

* ``python -m benchmarks.scan_micro cli --entries 50000 --reps 3``: ``panpin scan --format json``
  (and, with ``--pan-python``, the pan-python client) against the simulator in a process of its
  own, each run in a fresh process, as :mod:`benchmarks.bench_scan` does; ``--src DIR`` (again
  and again) compares copies of panpin, e.g. ``git archive HEAD~1 panpin | tar -x -C OLD``;
* ``python -m benchmarks.scan_micro pages --entries 50000 --reps 5 [--profile]``: the pages are
  fetched once, then read in this process by :func:`panpin.scan.logs.read_page` into an
  :class:`panpin.scan.evidence.Aggregator`, with no TLS or HTTP: the parse and the aggregation
  alone, optionally under cProfile.

Numbers are µs of CPU per entry; run it a few times, the machine's noise is several percent.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import tempfile
from pathlib import Path

from benchmarks.bench_scan import client_args
from benchmarks.measure import SRC_ENV, median, panpin_src, run_client, self_cpu
from benchmarks.scenarios import API_KEY, scan_scenario
from benchmarks.simproc import SimProcess


def cli(entries: int, reps: int, pan_python: bool, sources: list[Path]) -> None:
    """Each repetition runs every client once, in turn, so drift in the machine's load hits all."""
    runs = [("scan-panpin", src) for src in sources or [panpin_src()]]
    if pan_python:
        runs.append(("scan-pan-python", panpin_src()))
    values: dict[tuple[str, Path], list[float]] = {run: [] for run in runs}
    with tempfile.TemporaryDirectory(prefix="panpin-micro-") as tmp:
        scenario = scan_scenario(Path(tmp), entries)
        with SimProcess(scenario, log_act_polls=0) as sp:
            args = client_args(sp.sims[0])
            for _ in range(reps):
                for client, src in runs:
                    os.environ[SRC_ENV] = str(src)
                    timed = run_client(client, args, env={"PANPIN_API_KEY": API_KEY})
                    values[(client, src)].append(timed.cpu / int(timed.extra["entries"]) * 1e6)
    for (client, src), got in values.items():
        shown = " ".join(f"{v:.1f}" for v in got)
        label = client if client != "scan-panpin" or not sources else f"{client} {src}"
        print(f"{label:<40} µs/entry median {median(got):.1f} min {min(got):.1f}  ({shown})")


def _pages(sim: dict[str, object]) -> list[bytes]:
    import ssl

    from benchmarks.clients import NLOGS, fetch_page

    args = client_args(sim)
    context = ssl.create_default_context(cafile=str(sim["ca_file"]))
    pages = []
    skip = 0
    while True:
        body = fetch_page(args, context, skip)
        pages.append(body)
        count = body.count(b"<entry logid=")
        if count < NLOGS:
            return pages
        skip += count


def pages(entries: int, reps: int, profile: bool) -> None:
    from benchmarks.bench_scan import _query
    from panpin.scan.evidence import Aggregator
    from panpin.scan.logs import DEFAULT_SIGNALS, read_page

    with tempfile.TemporaryDirectory(prefix="panpin-micro-") as tmp:
        scenario = scan_scenario(Path(tmp), entries)
        with SimProcess(scenario, log_act_polls=0) as sp:
            bodies = _pages(sp.sims[0])
    _query()  # what the CLI imports before reading, outside the clock
    chunk = 64 * 1024  # panpin.panos.xmlapi._CHUNK: how the transport hands a page on

    def one() -> int:
        aggregator = Aggregator(signals=DEFAULT_SIGNALS)
        total = 0
        for body in bodies:
            chunks = (body[i : i + chunk] for i in range(0, len(body), chunk))
            total += read_page(chunks, aggregator.add).entries
        aggregator.split()
        return total

    values = []
    for _ in range(reps):
        cpu0 = self_cpu()
        total = one()
        values.append((self_cpu() - cpu0) / total * 1e6)
    shown = " ".join(f"{v:.1f}" for v in values)
    print(f"read_page+Aggregator µs/entry median {median(values):.1f}  ({shown}), {total} entries")
    if profile:
        profiler = cProfile.Profile()
        profiler.runcall(one)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scan_micro", description=__doc__)
    parser.add_argument("mode", choices=("cli", "pages"))
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--pan-python", action="store_true", help="cli: measure pan-python too")
    parser.add_argument("--profile", action="store_true", help="pages: cProfile one more run")
    parser.add_argument(
        "--src",
        type=Path,
        action="append",
        default=[],
        help="cli: measure the panpin package in this directory (one holding panpin/); "
        "repeat to compare copies, e.g. one exported from an earlier commit",
    )
    args = parser.parse_args()
    if args.mode == "cli":
        cli(args.entries, args.reps, args.pan_python, [p.resolve() for p in args.src])
    else:
        pages(args.entries, args.reps, args.profile)


if __name__ == "__main__":
    main()
