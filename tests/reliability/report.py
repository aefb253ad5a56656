"""Write ``docs/reliability.md`` from the reliability suite's results (``make reliability``).

Usage: ``python tests/reliability/report.py RESULTS_DIR OUTPUT.md``

``RESULTS_DIR`` holds the JSON-lines files the suite wrote (``PANPIN_RELIABILITY_OUT``) and the
JUnit files of the two pytest runs (``suite.xml``: the suite in full mode; ``audit.xml``: the
whole test suite with ``PANPIN_SECRET_AUDIT=1``). Every figure in the document is computed here
from those files; nothing is typed in by hand.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rel_support import (
    FAST_SIGKILL_STEPS,
    FAULTS,
    FULL_TIMING,
    RESTART_REQUESTS,
    SLOW_DRIP_SECONDS,
    STEPS,
    read_results,
)

ROOT = Path(__file__).resolve().parents[2]

FAULT_NOTES = {
    "http500": "HTTP 500 with an HTML body, once. Not a transient status: not retried.",
    "http502": "HTTP 502, once (a proxy or a restarting web server). Retried.",
    "http503": "HTTP 503, once. Retried.",
    "outage": "HTTP 503 on every request of that step, for the rest of the run.",
    "reset": "TCP reset instead of an answer, once. Retried, except a commit.",
    "read_timeout": "The device accepts the request and never answers (nor acts on it); the "
    "client's read timeout fires. Retried, except a commit.",
    "code22": '`<response status="error" code="22">Session timed out`, once. Retried, a '
    "commit too (PAN-OS did nothing).",
    "stuck": "The job the request creates (log query or commit) stays ACT: panpin waits for "
    "its job timeout. The device later finishes it (the test releases it) before the next run.",
    "commit_fail": "The commit job ends FIN/FAIL with validation errors.",
    "lock_by": "alice takes the shared config lock just before the request. Before panpin "
    "holds its own lock this is exit 5; while panpin holds it she cannot; after the commit "
    "(which releases panpin's lock) she can, and panpin has nothing left to lock.",
    "commit_lock_by": "alice takes a commit lock while the step's request is in flight. It "
    "bites at the commit: before it panpin has written, so it reverts its own changes, then "
    "exits 5.",
    "restart": f"The management plane restarts: every request from the step's first one on is "
    f"refused with 403 `Invalid Credential` ({RESTART_REQUESTS} requests), then keys work again.",
    "slow": "The device answers the step's request one byte every "
    f"{SLOW_DRIP_SECONDS:g} s, headers included, so no single read times out; the request "
    "deadline (`timeouts.request`) cuts it. Not retried, except in the clean-up profile.",
    "state_fail": "The state database fails (a folder appears where the file was) while the "
    "step's request is at the device; it is mended before the next run.",
    "sigterm": "`panpin run` as a process, sent SIGTERM while the device holds back its answer "
    "to the step's request (the work is done). The run cleans up on its way out: its own lock "
    "must be gone before any next run.",
    "sigkill": "`panpin run` as a process, killed with SIGKILL while the step's request is at the "
    "device; the device then completes that request. The next run starts from whatever was left "
    "(its config lock, candidate edits, a commit it never recorded).",
}


def _junit(path: Path) -> dict[str, int] | None:
    if not path.exists():
        return None
    root = ET.parse(path).getroot()  # noqa: S314 - written by our own pytest run
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    totals: Counter[str] = Counter()
    for suite in suites:
        for key in ("tests", "failures", "errors", "skipped"):
            totals[key] += int(suite.get(key, "0"))
    return dict(totals)


def _table(header: list[str], rows: Iterable[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _codes(values: Iterable[Any]) -> str:
    seen = sorted({"killed" if v is None else str(v) for v in values})
    return "/".join(seen)


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def render(folder: Path) -> str:
    results = list(read_results(folder))
    if not results:
        raise SystemExit(f"{folder}: no results; run the suite with PANPIN_RELIABILITY_OUT set")
    modes = sorted({r["mode"] for r in results})
    matrix = [r for r in results if r["section"] == "matrix"]
    by_cell: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in matrix:
        by_cell[(row["step"], row["fault"])].append(row)
    suite = _junit(folder / "suite.xml")
    audit = _junit(folder / "audit.xml")

    runs = sum(r["runs"] for r in matrix)
    faulted = len(matrix)
    recovered = sum(1 for r in matrix if r["recovered"])
    lost = sum(r["entries_lost"] for r in matrix)
    pending_lost = sum(r["pending_lost"] for r in matrix)
    leaked = sum(r["locks_leaked"] for r in matrix)
    retried = sum(1 for r in matrix if r["retries"] > 0)
    outside = [
        r for r in matrix if r["exit_code"] is not None and r["exit_code"] not in r["allowed"]
    ]
    states = Counter(r["state"] for r in matrix)
    exits = Counter("killed" if r["exit_code"] is None else str(r["exit_code"]) for r in matrix)
    kinds = sorted({r["fault"] for r in matrix})

    out: list[str] = []
    w = out.append
    w("# Reliability\n\n")
    w(
        "A tool that writes firewall configuration from cron must do nothing harmful when the "
        "network, the device or its input misbehaves. This page is the evidence: it is written "
        "by `make reliability` from the results of `tests/reliability/`, which runs `panpin` "
        "against the PAN-OS simulator over real HTTPS and injects every fault below at every "
        "step of `panpin run`. Do not edit it by hand; run `make reliability`.\n"
    )
    w(
        f"\nGenerated {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} from commit `{_commit()}` "
        f"(plus the working tree), mode `{'`, `'.join(modes)}`.\n"
    )

    w("\n## Figures\n\n")
    w(
        _table(
            ["figure", "value"],
            [
                ["fault kinds tried", str(len(kinds))],
                ["cells (fault x step)", str(len(by_cell))],
                ["faulted runs", str(faulted)],
                ["`panpin run` invocations (faulted + the run after)", str(runs)],
                ["runs whose exit code broke the contract", str(len(outside))],
                [
                    "device state after the faulted run",
                    ", ".join(f"{k}: {v}" for k, v in sorted(states.items())),
                ],
                ["faulted runs that retried", str(retried)],
                ["next run recovered on its own", f"{recovered} of {faulted}"],
                ["**entries lost**", f"**{lost}**"],
                ["**other admins' pending changes lost**", f"**{pending_lost}**"],
                ["**locks leaked**", f"**{leaked}**"],
            ],
        )
    )
    w(
        "\n*prior* = the running list is exactly what it was before the run; *planned* = it "
        "holds the plan of a change in the journal, committed and verified. Anything else fails "
        "the suite. *Entries lost* counts entries that were on the device, were not a planned "
        "removal, and are gone or changed afterwards (a person's entry, a valid panpin entry). "
        "*Locks leaked* counts config or commit locks held by panpin's admin after the run (after "
        "the run that follows a SIGKILL: a killed process cannot release anything).\n"
    )
    if suite is not None:
        w(
            f"\nThe suite run behind these figures: {suite['tests']} tests, "
            f"{suite['failures']} failures, {suite['errors']} errors, {suite['skipped']} skipped "
            "or expected failures.\n"
        )

    w("\n## The matrix\n\n")
    w(
        "Exit code of the faulted run per cell (docs/design.md exit codes: 0 ok, 1 runtime error, "
        "4 commit failed and reverted, 5 busy, 6 manual intervention needed). ↻ = panpin "
        "retried; ✓ = the next run, with the fault gone, exited 0 with the planned state "
        "verified. Several values mean repeats differed; `n/a` = the fault does not exist at "
        "that step.\n\n"
    )
    header = ["fault", *[s.label for s in STEPS]]
    rows = []
    for fault in FAULTS:
        line = [fault.label]
        for step in STEPS:
            cell = by_cell.get((step.key, fault.key))
            if not cell:
                line.append("n/a" if step.key not in fault.steps else "not run")
                continue
            mark = _codes(r["exit_code"] for r in cell)
            if any(r["retries"] for r in cell):
                mark += " ↻"
            if all(r["recovered"] for r in cell):
                mark += " ✓"
            line.append(mark)
        rows.append(line)
    w(_table(header, rows))

    w("\n### Every cell\n\n")
    detail = []
    for fault in FAULTS:
        for step in STEPS:
            cell = by_cell.get((step.key, fault.key))
            if not cell:
                continue
            retries = sorted({r["retries"] for r in cell})
            detail.append(
                [
                    fault.label,
                    step.label,
                    str(len(cell)),
                    _codes(r["exit_code"] for r in cell),
                    "/".join(str(c) for c in cell[0]["allowed"]) or "—",
                    "-".join(str(x) for x in (retries[0], retries[-1]))
                    if len(retries) > 1
                    else str(retries[0]),
                    "/".join(sorted({r["state"] for r in cell})),
                    "/".join(sorted({" → ".join(r["journal"]) or "—" for r in cell})),
                    f"{sum(r['recovered'] for r in cell)}/{len(cell)}",
                    str(sum(r["entries_lost"] + r["locks_leaked"] for r in cell)),
                ]
            )
    w(
        _table(
            [
                "fault",
                "step",
                "runs",
                "exit",
                "allowed",
                "retries",
                "state after",
                "journal",
                "recovered",
                "lost + leaked",
            ],
            detail,
        )
    )

    w("\n### Steps and faults\n\n")
    w(
        "Each step is the request(s) of `panpin run` that the simulator's fault matcher selects; "
        "the first matching request gets the fault.\n\n"
    )
    w(
        _table(
            ["step", "request"],
            [
                [
                    s.label,
                    ", ".join(f"`{k}={v}`" for k, v in s.match.items())
                    + (f" (the {_ordinal(s.after + 1)})" if s.after else ""),
                ]
                for s in STEPS
            ],
        )
    )
    w("\n")
    w(_table(["fault", "what the device does"], [[f.label, FAULT_NOTES[f.key]] for f in FAULTS]))
    w(
        f"\nIn the full mode every cell runs several times; the client's knobs come from the "
        f"config file (`retry:`, `jobs:`, `timeouts:`): first retry after "
        f"{FULL_TIMING.retry_initial:g} s, {FULL_TIMING.retry_attempts} attempts within "
        f"{FULL_TIMING.retry_deadline:g} s, job polls every {FULL_TIMING.poll_initial:g}-"
        f"{FULL_TIMING.poll_maximum:g} s, job timeouts {FULL_TIMING.commit_timeout:g} s, read "
        f"timeout {FULL_TIMING.read_timeout:g} s. `make test` runs the same matrix once per "
        "cell with shorter knobs, and SIGKILL only at "
        + ", ".join(FAST_SIGKILL_STEPS)
        + " (`PANPIN_RELIABILITY=fast`, the default).\n"
    )
    if exits:
        w(
            "\nExit codes over all faulted runs: "
            + ", ".join(f"{k}: {v}" for k, v in sorted(exits.items()))
            + ".\n"
        )

    def section(name: str) -> list[dict[str, Any]]:
        return [r for r in results if r["section"] == name]

    xml = sorted(section("hostile-xml"), key=lambda r: str(r["case"]))
    if xml:
        w("\n## Hostile answers\n\n")
        w(
            "Served by the suite's own HTTPS server (`tests/reliability/rel_https.py`); every one "
            "is refused with a panpin error, within the time and memory bounds shown (peak "
            "measured with `tracemalloc`, server included).\n\n"
        )
        w(
            _table(
                ["answer", "refused with", "seconds", "peak MB", "bound s / MB", "message"],
                [
                    [
                        r["case"],
                        r["error"],
                        f"{r['seconds']:.2f}",
                        f"{r['peak_mb']:.1f}",
                        f"{r['bound_seconds']:g} / {r['bound_mb']:g}",
                        r["message"].replace("|", "\\|")[:110],
                    ]
                    for r in xml
                ],
            )
        )

    hostile = sorted(section("hostile-input"), key=lambda r: str(r["case"]))
    if hostile:
        w("\n## Hostile input\n\n")
        w(
            "Property tests (hypothesis) for host normalisation and validation, the PAN-OS filter "
            "builder, the policy loader and the plan loader: whatever the input, the answer is a "
            "panpin error or a value that is safe in an xpath and an element. Crafted SNI/CN "
            "values (xpath quotes and brackets, XML metacharacters, control characters, "
            "10 000-character names, homoglyph IDN) go through a real scan and run:\n\n"
        )
        rows = []
        for r in hostile:
            if r["case"].startswith("crafted"):
                rows.append(
                    [
                        r["case"],
                        f"{r['values']} values, {r['rejected']} reported as rejected, "
                        f"{r['entries_written']} valid entries written, "
                        f"{r['crafted_entries']} crafted entries",
                    ]
                )
            else:
                rows.append([r["case"], f"exit {r['exit']}, {r['writes']} writes to the device"])
        w(_table(["case", "result"], rows))

    tls = sorted(section("tls"), key=lambda r: str(r["case"]))
    if tls:
        w("\n## TLS\n\n")
        w(
            "Each refused before a request leaves the machine (the server saw none, so the key "
            "never left):\n\n"
        )
        w(_table(["certificate", "message"], [[r["case"], r["message"][:150]] for r in tls]))

    sec = section("secrets")
    if sec:
        w("\n## Secrets\n\n")
        main = [r for r in sec if r["case"] == "main flows at DEBUG"]
        for r in main:
            w(
                f"login, exclusions list, scan, plan, apply, history, rollback and run (through "
                f"HTTP 503s), then a wrong password, a revoked key, a commit FAIL, a wrong CA and "
                f"a held lock, all at `-vv` with DEBUG logging and a known key and password: "
                f"{r['texts']} outputs, messages and reprs, {r['log_records']} log records and "
                f"{r['files']} files (plans, state database, journal, config) searched; found: "
                f"{len(r['found'])}.\n\n"
            )
        modes_refused = [r["case"].split()[-1] for r in sec if r["case"].startswith("key file")]
        if modes_refused:
            w(
                "Key files readable or writable by group or others are refused with exit 2 "
                f"(modes tried: {', '.join(sorted(modes_refused))}).\n\n"
            )
    if audit is not None:
        w(
            f"The whole test suite also ran once with `PANPIN_SECRET_AUDIT=1`: DEBUG logging in "
            f"every test, and a test fails if the demo key or an admin's password appears in its "
            f"log records, in any CLI output, in the message of any panpin exception made during "
            f"it (caught or not), or in a file under its `tmp_path` other than a key file: "
            f"{audit['tests']} tests, {audit['failures'] + audit['errors']} failed. Three "
            "tests are exempt because they send the key in a URL on purpose through another "
            "client (pan-python's GET transport, raw `requests` calls that test the simulator's "
            "redaction), whose library logs the URL; they are listed in `tests/conftest.py`.\n"
        )

    conc = sorted(section("concurrency"), key=lambda r: str(r["case"]))
    if conc:
        w("\n## Concurrency\n\n")
        rows = []
        for r in conc:
            detail_text = f"exit codes {r['exits']}"
            if "correct" in r:
                detail_text += (
                    f", {r['correct']} of 20 identical to the simulator's truth, "
                    f"{r['log_jobs']} log jobs, {r['seconds']} s"
                )
            rows.append([r["case"], detail_text])
        w(_table(["case", "result"], rows))

    w("\n## Running it\n\n")
    w(
        "- `make test` (and CI) runs `tests/reliability/` in its fast mode with the rest of the "
        "suite: every cell once, short knobs, SIGKILL at four steps.\n"
        "- `make reliability` runs it with `PANPIN_RELIABILITY=full` (`PANPIN_RELIABILITY_REPEAT`"
        " runs per cell, default 3; SIGKILL at every step), writing results to "
        "`build/reliability/` (`PANPIN_RELIABILITY_OUT`); then the whole suite with "
        "`PANPIN_SECRET_AUDIT=1`; then this page (`tests/reliability/report.py`).\n"
        "- One cell: `.venv/bin/pytest tests/reliability/test_rel_matrix.py -k "
        "'http503-at-set'`.\n"
    )
    w("\n## What this does not show\n\n")
    w(
        "- The device is the simulator, whose fidelity is tested against pan-python and "
        "pan-os-python, not a firewall. A real management plane can fail in ways it does not "
        "model.\n"
        "- A read timeout is modelled as a request the device never acts on. A write that "
        "times out and is applied by the device *after* panpin's commit would leave a no-op "
        "pending change of panpin's admin; the next run that has something to change then "
        "exits 5 until it is reverted (safe, but not automatic).\n"
        "- A device restart is modelled by request count, not by time.\n"
        "- Two panpin installations (two state databases) on one device are kept apart by a tag "
        "in the config lock's comment; if one of them dies holding the lock, the other exits 5 "
        "until a person releases it. One installation recovers its own stale lock by itself.\n"
        "- A commit job that never finishes ends in exit 6: nothing can be known until the "
        "device finishes or drops it; the next run settles the journal from the running list.\n"
    )
    return "".join(out)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    folder, target = Path(argv[0]), Path(argv[1])
    target.write_text(render(folder), encoding="utf-8")
    print(f"wrote {target}", file=sys.stderr)
    return 0


def _ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th ... 11th, 12th, 13th, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
