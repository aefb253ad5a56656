"""``python -m benchmarks`` (``make bench``): run every comparison and write docs/benchmarks.md.

``--quick`` runs small sizes once each and writes nowhere unless ``--output`` says so: it is for
checking the benchmark itself, not for numbers.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime
from pathlib import Path

from benchmarks import bench_fleet, bench_requests, bench_scan, bench_startup
from benchmarks.measure import REPO, SRC_ENV
from benchmarks.report import Section, render

BENCHES = ("scan", "requests", "startup", "fleet")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--only", action="append", choices=BENCHES, help="run only these (repeatable)"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, one repetition")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print the pyinstrument profile of one 50 000-entry panpin scan, run nothing else",
    )
    parser.add_argument(
        "--panpin-src",
        type=Path,
        default=None,
        metavar="DIR",
        help="measure the panpin package in DIR (a directory holding panpin/) instead of this one",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="where to write the report (default docs/benchmarks.md; none with --quick)",
    )
    args = parser.parse_args(argv)
    if args.panpin_src is not None:
        os.environ[SRC_ENV] = str(args.panpin_src.resolve())
    if args.profile:
        print(bench_scan.profile(50_000))
        return 0
    chosen = args.only or list(BENCHES)
    output: Path | None = args.output
    if output is None and not args.quick:
        output = REPO / "docs" / "benchmarks.md"
    started, clock = datetime.now(), time.perf_counter()
    sections: list[Section] = []
    for name in chosen:
        print(f"benchmark: {name}", flush=True)
        if name == "scan":
            if args.quick:
                sections.append(bench_scan.run((5_000, 20_000), {5_000: 1, 20_000: 1}))
            else:
                sections.append(bench_scan.run((50_000, 500_000), {50_000: 5, 500_000: 3}))
        elif name == "requests":
            sections.append(bench_requests.run((1, 10) if args.quick else bench_requests.KS))
        elif name == "startup":
            sections.append(bench_startup.run(3 if args.quick else 20))
        elif name == "fleet":
            sections.append(
                bench_fleet.run(reps=1, devices=6) if args.quick else bench_fleet.run(reps=3)
            )
    seconds = time.perf_counter() - clock
    command = "make bench   # = .venv/bin/python -m benchmarks " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    text = render(sections, command=command.rstrip(), started=started, seconds=seconds)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        print(f"wrote {output} ({seconds / 60:.1f} minutes)")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
