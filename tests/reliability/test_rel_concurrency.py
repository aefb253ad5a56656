"""Concurrency: two ``panpin run`` at once on one device (one works, the other exits 5 before it
sends a single request), and 20 concurrent scans against one simulator that all agree with the
simulator's own truth."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from rel_support import (
    ADMIN,
    PANPIN_BIN,
    classify,
    observe,
    record,
    run_args,
    start_sim,
    wait_until,
    write_config,
)

SCANS = 20
HOLD = 2.0
SECOND_RUN_KEY = "SECOND-RUN-KEY-NOT-ON-THE-DEVICE"
SINCE, UNTIL = "2026/11/19 00:00:00", "2026/11/26 09:29:00"


def _env(key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANPIN_")}
    env["PANPIN_API_KEY"] = key
    return env


def _start(args: list[str], key: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(PANPIN_BIN), *args],
        env=_env(key),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_runs_at_once_one_works_the_other_exits_5(tmp_path: Path) -> None:
    sim = start_sim(tmp_path / "sim")
    try:
        prior = observe(sim)
        args = ["--config", str(write_config(tmp_path, sim)), "--device", "sim", *run_args()]
        # Hold the first run's first request so it is surely inside the run lock when the
        # second starts.
        hold = sim.faults.add(
            "delay", match={"type": "op", "cmd": "<system><info>"}, times=1, seconds=HOLD
        )
        first = _start(args, sim.api_key)
        wait_until(lambda: hold.fired >= 1, 30, "the first run's first request")
        started = time.monotonic()
        # The second run gets a key of its own (not valid on the device): any request it sent
        # would stand out in the simulator's record, however long either run takes.
        second = _start(args, SECOND_RUN_KEY)
        _, second_err = second.communicate(timeout=60)
        second_seconds = time.monotonic() - started
        _, first_err = first.communicate(timeout=60)
        after = observe(sim)
        record(
            "concurrency",
            {
                "case": "two runs at once, one state file",
                "exits": sorted([first.returncode, second.returncode]),
                "second_seconds": round(second_seconds, 3),
            },
        )
        assert second.returncode == 5, second_err
        assert "another panpin run holds" in second_err
        assert first.returncode == 0, first_err
        # The lock is taken before the device is contacted, shown by work done rather than by
        # racing the hold's clock: every request the device saw was the first run's.
        assert sim.requests and all(
            r.admin == ADMIN and r.http_status != 403 for r in sim.requests
        ), [(r.admin, r.http_status, r.cmd) for r in sim.requests if r.admin != ADMIN]
        assert sim.requests[0].faults == ("delay",)  # the held request was the first one seen
        assert len([r for r in sim.requests if r.type == "commit"]) == 1
        assert classify(after, prior, tmp_path / "state.db") == "planned"
        assert not after.leftovers and after.panpin_locks == 0
    finally:
        sim.stop()


def test_two_installations_on_one_device_one_works_the_other_exits_5(tmp_path: Path) -> None:
    """Two state databases (two cron hosts, say) share panpin's admin on one device: the run lock
    cannot see the other, so the device's config lock, tagged per installation, decides."""
    sim = start_sim(tmp_path / "sim")
    try:
        prior = observe(sim)
        first_args = ["--config", str(write_config(tmp_path / "a", sim)), "--device", "sim"]
        second_args = ["--config", str(write_config(tmp_path / "b", sim)), "--device", "sim"]
        # Hold the first at its write, with the config lock taken.
        hold = sim.faults.add(
            "delay", match={"type": "config", "action": "set"}, times=1, seconds=HOLD
        )
        first = _start([*first_args, *run_args()], sim.api_key)
        wait_until(lambda: hold.fired >= 1, 30, "the first installation's write")
        second = _start([*second_args, *run_args()], sim.api_key)
        _, second_err = second.communicate(timeout=60)
        _, first_err = first.communicate(timeout=60)
        after = observe(sim)
        record(
            "concurrency",
            {
                "case": "two runs at once, two state files",
                "exits": sorted([first.returncode, second.returncode]),
            },
        )
        assert second.returncode == 5, second_err
        assert "another panpin installation" in second_err
        assert first.returncode == 0, first_err
        assert len([r for r in sim.requests if r.type == "commit"]) == 1
        assert classify(after, prior, tmp_path / "a" / "state.db") == "planned"
        assert not after.leftovers and after.panpin_locks == 0
    finally:
        sim.stop()


def test_twenty_concurrent_scans_all_correct(tmp_path: Path) -> None:
    sim = start_sim(tmp_path / "sim")
    try:
        args = [
            "--config",
            str(write_config(tmp_path, sim)),
            "--device",
            "sim",
            "scan",
            "--since",
            SINCE,
            "--until",
            UNTIL,
            "--format",
            "json",
        ]
        started = time.monotonic()
        procs = [_start(args, sim.api_key) for _ in range(SCANS)]
        outputs = [p.communicate(timeout=120) for p in procs]
        seconds = time.monotonic() - started
        codes = [p.returncode for p in procs]
        truth = sim.logs.expected(since=SINCE, until=UNTIL)
        want = {h: (e.hits, len(e.clients), e.errors) for h, e in truth.items()}
        docs = [json.loads(out) for out, _ in outputs if out]
        got = [
            {c["host"]: (c["hits"], c["clients"], c["errors"]) for c in doc["candidates"]}
            for doc in docs
        ]
        jobs = [r for r in sim.requests if r.type == "log" and r.action is None]
        record(
            "concurrency",
            {
                "case": f"{SCANS} concurrent scans",
                "exits": sorted(set(codes)),
                "correct": sum(1 for g in got if g == want),
                "log_jobs": len(jobs),
                "seconds": round(seconds, 2),
            },
        )
        assert codes == [0] * SCANS, [err for _, err in outputs if err]
        assert len(got) == SCANS
        assert all(g == want for g in got), "a scan disagrees with the simulator's truth"
        assert all(d["logs_read"] == docs[0]["logs_read"] for d in docs)
        assert len(jobs) == SCANS  # one log job each, none shared or lost
    finally:
        sim.stop()
