"""The fault matrix: each fault at each step of ``panpin run``, against the simulator over HTTPS.

For every cell: the exit code is one the contract allows for that fault at that step; the device
afterwards holds either the verified planned change or exactly the prior list; the other admin's
pending change is intact; panpin holds no lock; and a second run, with the fault gone, ends at
exit 0 with the planned state verified. A run killed with SIGKILL mid-step is followed by a run
that finds what the dead one left (its config lock, candidate edits, an unrecorded commit) and
completes. Every cell is written to the results for ``docs/reliability.md``.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import RunCli
from rel_support import (
    ADMIN,
    FULL,
    KILL_HOLD_SECONDS,
    OTHER_ADMIN,
    PANPIN_BIN,
    REPEAT,
    SIGNAL_FAULTS,
    STEP_BY_KEY,
    TERM_HOLD_SECONDS,
    DeviceState,
    Reference,
    Row,
    allowed_exits,
    arm,
    break_state,
    cells,
    classify,
    count_retries,
    entries_lost,
    finish_stuck_jobs,
    journal_results,
    mend_state,
    observe,
    pending_lost,
    record_row,
    reference,
    release_other_locks,
    run_args,
    start_sim,
    wait_until,
    write_config,
)

from panpin.change.journal import ChangeJournal
from panpin.change.results import UNFINISHED
from panpin.simulator import Simulator
from panpin.simulator.faults import Fault

FAULT_CELLS = [
    pytest.param(step, fault, n, id=f"{fault}-at-{step}" + (f"-{n}" if REPEAT > 1 else ""))
    for step, fault in cells()
    if fault not in SIGNAL_FAULTS
    for n in range(REPEAT)
]
TERM_CELLS = [
    pytest.param(step, n, id=f"sigterm-at-{step}" + (f"-{n}" if REPEAT > 1 else ""))
    for step, fault in cells()
    if fault == "sigterm"
    for n in range(REPEAT)
]
KILL_CELLS = [
    pytest.param(step, n, id=f"sigkill-at-{step}" + (f"-{n}" if REPEAT > 1 else ""))
    for step, fault in cells()
    if fault == "sigkill"
    for n in range(REPEAT)
]


@pytest.fixture(scope="module")
def ref(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    return reference(str(tmp_path_factory.mktemp("reference")))


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    s = start_sim(tmp_path / "sim")
    try:
        yield s
    finally:
        s.stop()


def _invariants(where: str, state: DeviceState, prior: DeviceState, removed: set[str]) -> None:
    """What must hold after any run, however it ended."""
    assert pending_lost(prior, state) == 0, f"{where}: {OTHER_ADMIN}'s pending change was lost"
    assert OTHER_ADMIN in state.pending_admins, f"{where}: {OTHER_ADMIN}'s change is gone"
    assert entries_lost(prior, state, removed) == 0, f"{where}: entries lost or altered"


def _recover(
    sim: Simulator,
    run_cli: RunCli,
    args: list[str],
    env: dict[str, str],
    prior: DeviceState,
    ref: Reference,
    state_db: Path,
) -> tuple[int, DeviceState]:
    """The fault is gone (another admin's lock released, a stuck job over): run again."""
    sim.faults.clear()
    release_other_locks(sim)
    finish_stuck_jobs(sim)
    again = run_cli(*args, env=env)
    final = observe(sim)
    assert again.code == 0, f"the next run did not recover (exit {again.code}): {again.err}"
    assert {e.name for e in final.running} == ref.final_names
    assert classify(final, prior, state_db) == "planned"
    assert not final.leftovers, "panpin's edits left in the candidate after recovery"
    assert final.panpin_locks == 0, "panpin still holds a lock after recovery"
    _invariants("after recovery", final, prior, set(ref.removed))
    unfinished = [r for r in journal_results(state_db) if r in UNFINISHED]
    assert not unfinished, f"journal still holds unsettled changes: {unfinished}"
    return again.code, final


@pytest.mark.parametrize(("step", "fault", "repeat"), FAULT_CELLS)
def test_fault_at_step(
    step: str,
    fault: str,
    repeat: int,
    sim: Simulator,
    ref: Reference,
    tmp_path: Path,
    run_cli: RunCli,
    caplog: pytest.LogCaptureFixture,
) -> None:
    the_step = STEP_BY_KEY[step]
    prior = observe(sim)
    state_db = tmp_path / "state.db"
    args = ["--config", str(write_config(tmp_path, sim)), "--device", "sim", *run_args()]
    env = {"PANPIN_API_KEY": sim.api_key}
    armed = arm(sim, the_step, fault, ref.index_of(the_step))
    caplog.set_level(logging.INFO, logger="panpin")
    caplog.clear()

    broken: list[Path] = []
    breaker: threading.Thread | None = None
    if fault == "state_fail":

        def break_at_step() -> None:
            wait_until(lambda: armed.fired >= 1, 60, "the step")
            broken.append(break_state(state_db))

        breaker = threading.Thread(target=break_at_step, daemon=True)
        breaker.start()

    started = time.monotonic()
    result = run_cli(*args, env=env)
    seconds = time.monotonic() - started
    if breaker is not None:
        breaker.join(timeout=60)
        assert broken, "the state database was never broken: the cell tested nothing"
        mend_state(state_db, broken[0])  # as a person would, before the next run
    retries = count_retries([r.getMessage() for r in caplog.records], sim.requests)
    after = observe(sim)
    state = classify(after, prior, state_db)
    allowed = allowed_exits(step, fault)
    row = Row(
        step=step,
        fault=fault,
        repeat=repeat,
        exit_code=result.code,
        allowed=sorted(allowed),
        retries=retries,
        fault_fired=armed.fired,
        state=state,
        leftovers=after.leftovers,
        locks_leaked=after.panpin_locks,
        entries_lost=entries_lost(prior, after, set(ref.removed) if state == "planned" else set()),
        pending_lost=pending_lost(prior, after),
        recovery_exit=-1,
        recovered=False,
        runs=1,
        seconds=round(seconds, 3),
        journal=journal_results(state_db),
        message=(result.err.strip().splitlines() or [""])[-1][:300],
    )
    try:
        assert armed.fired >= 1, "the fault never fired: the cell tested nothing"
        assert result.code in allowed, f"exit {result.code} not in {sorted(allowed)}: {result.err}"
        assert "Traceback" not in result.err
        assert state in ("prior", "planned"), "the list is neither the prior nor a planned state"
        if result.code == 0:
            assert state == "planned"
        elif result.code in (1, 4, 5):
            assert state == "prior", f"exit {result.code} but the list changed"
        if result.code != 6:
            # Only a commit panpin cannot follow to its end may leave anything in the candidate.
            assert not after.leftovers, "panpin's edits were left in the candidate"
        assert after.panpin_locks == 0, "panpin left a lock held"
        _invariants(
            "after the fault", after, prior, set(ref.removed) if state == "planned" else set()
        )
        if fault in ("http502", "http503", "reset", "read_timeout", "code22") and result.code == 0:
            assert retries >= 1, "a blip was absorbed without a retry?"
        # A commit is never made twice: at most one commit request reached the device's handler
        # (a retried one was refused by the fault before PAN-OS did anything).
        refused = {"http_status", "reset", "session_timeout", "restart"}
        handled = [r for r in sim.requests if r.type == "commit" and not refused & set(r.faults)]
        assert len(handled) <= 1, "the commit was sent to the device twice"

        row.recovery_exit, _ = _recover(sim, run_cli, args, env, prior, ref, state_db)
        row.recovered = True
        row.runs = 2
    finally:
        record_row(row)


def _subprocess_env(key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANPIN_")}
    env["PANPIN_API_KEY"] = key
    return env


def _signalled_run(
    sim: Simulator, tmp_path: Path, step: str, fault: str, repeat: int, kind: str, seconds: float
) -> tuple[list[str], Fault, subprocess.Popen[str], Row, float]:
    """Start `panpin run` as a process with the step's request held (``kind``) at the device;
    the caller sends the signal. Returns the run's args, the hold, the process, its row, start."""
    the_step = STEP_BY_KEY[step]
    args = ["--config", str(write_config(tmp_path, sim)), "--device", "sim", *run_args()]
    hold = sim.faults.add(
        kind, match=dict(the_step.match), after=the_step.after, times=1, seconds=seconds
    )
    started = time.monotonic()
    proc = subprocess.Popen(
        [str(PANPIN_BIN), *args],
        env=_subprocess_env(sim.api_key),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    row = Row(
        step=step,
        fault=fault,
        repeat=repeat,
        exit_code=None,
        allowed=sorted(allowed_exits(step, fault)) if fault != "sigkill" else [],
        retries=0,
        fault_fired=0,
        state="?",
        leftovers=False,
        locks_leaked=0,
        entries_lost=0,
        pending_lost=0,
        recovery_exit=-1,
        recovered=False,
        runs=1,
        seconds=0.0,
    )
    return args, hold, proc, row, started


@pytest.mark.parametrize(("step", "repeat"), TERM_CELLS)
def test_sigterm_at_step(
    step: str,
    repeat: int,
    sim: Simulator,
    ref: Reference,
    tmp_path: Path,
    run_cli: RunCli,
) -> None:
    """SIGTERM (what `timeout` and systemd send) while the device holds the step's answer: the
    run cleans up on its way out, so no lock of panpin's is left, without waiting for the next."""
    prior = observe(sim)
    state_db = tmp_path / "state.db"
    args, hold, proc, row, started = _signalled_run(
        sim, tmp_path, step, "sigterm", repeat, "hold_answer", TERM_HOLD_SECONDS
    )
    try:
        wait_until(lambda: hold.fired >= 1 or proc.poll() is not None, 60, "the step")
        assert proc.poll() is None, f"panpin ended before the step: {proc.communicate()[1]!r}"
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        row.exit_code = proc.returncode
        row.seconds = round(time.monotonic() - started, 3)
        row.fault_fired = hold.fired
        row.message = (err.strip().splitlines() or [""])[-1][:300]
        wait_until(lambda: not observe(sim).commit_running, 30, "the commit job")
        after = observe(sim)
        row.state = classify(after, prior, state_db)
        row.leftovers = after.leftovers
        row.locks_leaked = after.panpin_locks
        row.pending_lost = pending_lost(prior, after)
        row.journal = journal_results(state_db)
        assert proc.returncode in row.allowed, f"exit {proc.returncode}: {err}"
        assert "Traceback" not in err
        assert row.state in ("prior", "planned")
        if step == "commit" and proc.returncode == 6:
            # Stopped before the commit request was answered, though the device started the
            # job: the journal keeps the job's id, found among the running commit jobs.
            (record,) = ChangeJournal(state_db).records()
            assert record.job_id, f"no job id in the journal: {record.detail}"
        if proc.returncode in (4, 143) and step not in ("verify", "unlock"):
            assert row.state == "prior", f"exit {proc.returncode} but the list changed"
        assert not after.leftovers, "panpin's edits were left in the candidate"
        # The point of the cell: the dying run released its own lock.
        assert after.panpin_locks == 0, "SIGTERM left panpin's lock on the device"
        _invariants(
            "after SIGTERM", after, prior, set(ref.removed) if row.state == "planned" else set()
        )
        row.recovery_exit, _ = _recover(
            sim, run_cli, args, {"PANPIN_API_KEY": sim.api_key}, prior, ref, state_db
        )
        row.recovered = True
        row.runs = 2
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        record_row(row)


@pytest.mark.parametrize(("step", "repeat"), KILL_CELLS)
def test_sigkill_at_step(
    step: str,
    repeat: int,
    sim: Simulator,
    ref: Reference,
    tmp_path: Path,
    run_cli: RunCli,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SIGKILL while the step's request is at the device; the request then completes there."""
    prior = observe(sim)
    state_db = tmp_path / "state.db"
    args, hold, proc, row, started = _signalled_run(
        sim, tmp_path, step, "sigkill", repeat, "delay", KILL_HOLD_SECONDS
    )
    try:
        wait_until(lambda: hold.fired >= 1 or proc.poll() is not None, 60, "the step")
        assert proc.poll() is None, f"panpin ended before the step: {proc.communicate()[1]!r}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        row.seconds = round(time.monotonic() - started, 3)
        row.fault_fired = hold.fired
        # The request the process was waiting on reaches the device after all.
        wait_until(lambda: any("delay" in r.faults for r in sim.requests), 30, "held request")
        wait_until(lambda: not observe(sim).commit_running, 30, "the commit job")
        after = observe(sim)
        row.state = classify(after, prior, state_db)
        row.leftovers = after.leftovers
        row.entries_lost = entries_lost(
            prior, after, set(ref.removed) if row.state == "planned" else set()
        )
        row.pending_lost = pending_lost(prior, after)
        assert row.state in ("prior", "planned")
        _invariants(
            "after the kill", after, prior, set(ref.removed) if row.state == "planned" else set()
        )
        stale_lock = after.panpin_locks > 0

        caplog.set_level(logging.INFO, logger="panpin")
        caplog.clear()
        row.recovery_exit, final = _recover(
            sim, run_cli, args, {"PANPIN_API_KEY": sim.api_key}, prior, ref, state_db
        )
        messages = "\n".join(r.getMessage() for r in caplog.records)
        if stale_lock:
            # The dead run's lock is found as our own, reused and released.
            assert "reusing the config lock" in messages
        # Locks are judged after the run that follows the kill: the dead one cannot release.
        row.locks_leaked = final.panpin_locks
        row.recovered = True
        row.runs = 2
        row.journal = journal_results(state_db)
        row.message = "stale lock released by the next run" if stale_lock else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        record_row(row)


def test_matrix_covers_the_issue() -> None:
    """Every fault of the issue is tried at every step it applies to (SIGKILL: all in full)."""
    tried = set(cells())
    for fault in ("http500", "http502", "http503", "reset", "read_timeout", "code22", "restart"):
        for step in STEP_BY_KEY:
            assert (step, fault) in tried
    assert ("log_start", "stuck") in tried and ("commit", "stuck") in tried
    assert ("commit", "commit_fail") in tried
    assert ("lock", "lock_by") in tried
    kills = {s for s, f in tried if f == "sigkill"}
    assert kills == set(STEP_BY_KEY) if FULL else len(kills) >= 3
    assert ADMIN == "panpin"
