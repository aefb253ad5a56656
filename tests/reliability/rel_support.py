"""Machinery of the reliability suite: modes, the fault matrix, device state, results.

The suite runs in two modes, chosen by ``PANPIN_RELIABILITY``:

``fast`` (default; ``make test`` and CI)
    every cell of the matrix once, with short poll intervals, retry waits and timeouts set through
    the config file (``retry:``, ``jobs:``, ``timeouts:``), and SIGKILL at a few steps;
``full`` (``make reliability``)
    every cell ``PANPIN_RELIABILITY_REPEAT`` times (default 3) with timings nearer the defaults,
    SIGKILL at every step, and the results written for ``docs/reliability.md``.

Results go to ``PANPIN_RELIABILITY_OUT`` (a directory; one JSON-lines file per pytest worker) when
it is set; ``tests/reliability/report.py`` turns them into the document.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from panpin.change.journal import ChangeJournal
from panpin.change.plan import list_fingerprint
from panpin.panos.exclusions import ExclusionEntry, parse_list
from panpin.simulator import Fault, RecordedRequest, Simulator
from panpin.simulator.device import Lock

ROOT = Path(__file__).resolve().parents[2]
DEMO_POLICY = ROOT / "panpin" / "data" / "demo-policy.yaml"
# The console script beside this interpreter. Not `python -m panpin.cli`: run as __main__, cli.py
# is imported a second time and its GlobalOptions no longer match the commands' (all options lost).
PANPIN_BIN = Path(sys.executable).parent / "panpin"

MODE = os.environ.get("PANPIN_RELIABILITY", "fast").strip().lower() or "fast"
if MODE not in ("fast", "full"):
    raise RuntimeError(f"PANPIN_RELIABILITY={MODE!r}: expected fast or full")
FULL = MODE == "full"
REPEAT = int(os.environ.get("PANPIN_RELIABILITY_REPEAT", "3" if FULL else "1"))
ADMIN = "panpin"
OTHER_ADMIN = "alice"
LIST_XPATH = "/config/shared/ssl-decrypt/ssl-exclude-cert"


@dataclass(frozen=True)
class Timing:
    """Client knobs (written to the config file) and simulator speed for one mode."""

    connect_timeout: float
    read_timeout: float
    retry_attempts: int
    retry_initial: float
    retry_maximum: float
    retry_jitter: float
    retry_deadline: float
    poll_initial: float
    poll_maximum: float
    commit_timeout: float
    log_timeout: float
    # A whole answer, headers and body; shorter than a dripping answer takes (SLOW_DRIP_SECONDS).
    request_timeout: float = 3.0

    def device_config(self) -> dict[str, Any]:
        return {
            "timeouts": {
                "connect": self.connect_timeout,
                "read": self.read_timeout,
                "request": self.request_timeout,
            },
            "retry_deadline": self.retry_deadline,
            "retry": {
                "attempts": self.retry_attempts,
                "initial": self.retry_initial,
                "maximum": self.retry_maximum,
                "jitter": self.retry_jitter,
            },
            "jobs": {
                "poll_initial": self.poll_initial,
                "poll_maximum": self.poll_maximum,
                "commit_timeout": self.commit_timeout,
                "log_timeout": self.log_timeout,
            },
        }


FAST_TIMING = Timing(
    connect_timeout=2.0,
    # Long enough that a busy CI machine never times out an ordinary answer (a spurious timeout
    # on a commit would turn a 0 into a 4); each read-timeout cell costs this much.
    read_timeout=2.0,
    retry_attempts=4,
    retry_initial=0.01,
    retry_maximum=0.05,
    retry_jitter=0.01,
    retry_deadline=5.0,
    poll_initial=0.01,
    poll_maximum=0.05,
    # Longer than a read timeout plus its retry, as in production (120 s read, 300-600 s jobs):
    # a hung poll must not use up the job's whole time. Each stuck-job cell costs this much.
    commit_timeout=3.0,
    log_timeout=3.0,
)
# Nearer the defaults (0.5 s first retry, 0.5-2 s polls), short enough for a few hundred runs.
FULL_TIMING = Timing(
    connect_timeout=5.0,
    read_timeout=2.0,
    retry_attempts=6,
    retry_initial=0.1,
    retry_maximum=1.0,
    retry_jitter=0.1,
    retry_deadline=20.0,
    poll_initial=0.1,
    poll_maximum=0.5,
    commit_timeout=6.0,
    log_timeout=6.0,
)
TIMING = FULL_TIMING if FULL else FAST_TIMING

# Commit jobs finish at once so every run sends the same requests in the same order: the
# restart fault is placed by request index (see :func:`reference`).
SIM_OPTIONS: dict[str, Any] = {"commit_seconds": 0.0, "push_seconds": 0.0, "log_act_polls": 1}

# How many requests a "device restart" refuses: the one at the step and the next.
RESTART_REQUESTS = 2
# A "read timeout" is a request the device never answers (nor processes): longer than any test.
HANG_SECONDS = 3600.0
# The request a SIGKILL interrupts is held this long, then processed as the device would.
KILL_HOLD_SECONDS = 1.0
# A SIGTERM arrives while the device has done the step's request and holds back its answer.
TERM_HOLD_SECONDS = 2.0
# "A slow device": its answer comes one byte per this many seconds (hundreds of bytes in all).
SLOW_DRIP_SECONDS = 0.02


# --- the matrix ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """A step of ``panpin run`` and the requests that make it up (simulator fault matcher)."""

    key: str
    label: str
    match: dict[str, str]
    after: int = 0  # matching requests to let through first (the 3rd ``show`` is the verify)


STEPS: tuple[Step, ...] = (
    Step("log_start", "log job start", {"type": "log", "log-type": "decryption"}),
    Step("log_poll", "log job poll", {"type": "log", "action": "get"}),
    Step(
        "list_read",
        "list read",
        {"type": "config", "action": "show", "xpath": "ssl-decrypt/ssl-exclude-cert"},
    ),
    Step("lock", "config lock", {"type": "op", "cmd": "<config-lock><add>"}),
    Step("set", "set", {"type": "config", "action": "set"}),
    Step("commit", "commit", {"type": "commit"}),
    Step("job_poll", "commit job poll", {"type": "op", "cmd": "<show><jobs><id>"}),
    # Before the commit panpin reads the running list three times: for the plan, for
    # covered_by, and under the lock. The fourth read is the verification.
    # (The reads of the predefined exclusions are other xpaths: not counted.)
    Step(
        "verify",
        "verify",
        {"type": "config", "action": "show", "xpath": "ssl-decrypt/ssl-exclude-cert"},
        after=2,
    ),
    Step("unlock", "unlock", {"type": "op", "cmd": "<config-lock><remove>"}),
)
STEP_BY_KEY = {s.key: s for s in STEPS}
BEFORE_WRITE = ("log_start", "log_poll", "list_read", "lock")


@dataclass(frozen=True)
class FaultKind:
    key: str
    label: str
    steps: tuple[str, ...]  # where it applies; the rest of the row is "n/a" in the report


ALL_STEPS = tuple(s.key for s in STEPS)
AFTER_LOCK = ("lock", "set", "commit", "job_poll", "verify", "unlock")
FAULTS: tuple[FaultKind, ...] = (
    FaultKind("http500", "HTTP 500", ALL_STEPS),
    FaultKind("http502", "HTTP 502", ALL_STEPS),
    FaultKind("http503", "HTTP 503", ALL_STEPS),
    FaultKind("outage", "HTTP 503, persistent", ALL_STEPS),
    FaultKind("reset", "connection reset", ALL_STEPS),
    FaultKind("read_timeout", "read timeout", ALL_STEPS),
    FaultKind("code22", "code 22 (session timed out)", ALL_STEPS),
    FaultKind("stuck", "stuck job", ("log_start", "commit")),
    FaultKind("commit_fail", "commit FAIL", ("commit",)),
    FaultKind("lock_by", "config lock taken by another admin", ALL_STEPS),
    FaultKind("commit_lock_by", "commit lock taken by another admin", ALL_STEPS),
    FaultKind("restart", "device restart", ALL_STEPS),
    FaultKind("slow", "slow device (one byte at a time)", ALL_STEPS),
    FaultKind("state_fail", "state database fails", AFTER_LOCK),
    FaultKind("sigkill", "SIGKILL", ALL_STEPS),
    FaultKind("sigterm", "SIGTERM", ALL_STEPS),
)
# The faults a test sends to a panpin process rather than arming in the simulator.
SIGNAL_FAULTS = ("sigkill", "sigterm")
FAULT_BY_KEY = {f.key: f for f in FAULTS}

# SIGKILL costs a process start per cell: the fast mode kills at the steps where a dead run leaves
# the most behind (a lock, candidate edits, a commit in flight).
FAST_SIGKILL_STEPS = ("lock", "set", "commit", "verify")


def cells() -> list[tuple[str, str]]:
    """(step, fault) pairs of this mode, in report order."""
    out = []
    for fault in FAULTS:
        for step in STEPS:
            if step.key not in fault.steps:
                continue
            if fault.key in SIGNAL_FAULTS and not FULL and step.key not in FAST_SIGKILL_STEPS:
                continue
            out.append((step.key, fault.key))
    return out


def allowed_exits(step: str, fault: str) -> frozenset[int]:
    """Exit codes that keep the contract for a fault at a step (docs/design.md exit codes).

    0 when retries absorb a blip; 1 for a persistent runtime error before anything is written;
    4 when the change failed and panpin's own changes were reverted; 5 when another admin holds a
    lock; 6 only where the device cannot say what happened (a commit job that never finishes, a
    running list that cannot be read after the commit).
    """
    if fault in ("http502", "http503", "reset", "read_timeout"):
        # A commit is never re-sent once it may have reached the device: reverted instead.
        return frozenset({4}) if step == "commit" else frozenset({0})
    if fault == "code22":
        return frozenset({0})  # "Session timed out" means nothing was done: retried, commits too
    if fault in ("http500", "outage", "restart"):
        if step in BEFORE_WRITE:
            return frozenset({1})
        if step in ("set", "commit"):
            return frozenset({4})
        if fault == "outage" and step == "verify":
            return frozenset({6})
        return frozenset({0})
    if fault == "stuck":
        return frozenset({1}) if step == "log_start" else frozenset({6})
    if fault == "commit_fail":
        return frozenset({4})
    if fault == "lock_by":
        return frozenset({5}) if step in BEFORE_WRITE else frozenset({0})
    if fault == "slow":
        # Cut at the request deadline and not retried (too slow is no blip). The device did
        # the work: a lock taken is released, a write reverted, a commit settled by the
        # running list; clean-up reads and job polls are asked again.
        if step in BEFORE_WRITE:
            return frozenset({1})
        return frozenset({4}) if step == "set" else frozenset({0})
    if fault == "state_fail":
        # At the lock nothing is written yet: exit 1, device untouched. Later the change goes
        # on to its verified end and then says the journal missed it (6).
        if step == "lock":
            return frozenset({1})
        return frozenset({0}) if step == "unlock" else frozenset({6})
    if fault == "sigterm":
        if step in BEFORE_WRITE:
            return frozenset({143})
        if step == "set":
            return frozenset({4})  # reverted on the way out
        if step in ("commit", "job_poll"):
            return frozenset({6})  # never reverted under a commit; the next run settles it
        return frozenset({143})
    if fault == "commit_lock_by":
        # A commit lock bites at the commit, after panpin wrote: reverted, then busy.
        return frozenset({0}) if step in ("job_poll", "verify", "unlock") else frozenset({5})
    raise AssertionError(f"no expectation for {fault} at {step}")


def arm(sim: Simulator, step: Step, fault: str, restart_after: int) -> Fault:
    """Arm ``fault`` at ``step`` (SIGKILL is armed by its test, as a hold on the request)."""

    def at_step(kind: str, times: int | None = 1, **kw: Any) -> Fault:
        return sim.faults.add(kind, match=dict(step.match), after=step.after, times=times, **kw)

    if fault in ("http500", "http502", "http503"):
        return at_step("http_status", status=int(fault[4:]))
    if fault == "outage":
        return at_step("http_status", times=None, status=503)
    if fault == "slow":
        return at_step("drip", seconds=SLOW_DRIP_SECONDS)
    if fault == "state_fail":
        # The database breaks while the step's request is at the device (see break_state).
        return at_step("hold_answer", seconds=0.3)
    if fault == "reset":
        return at_step("reset")
    if fault == "read_timeout":
        return at_step("delay", seconds=HANG_SECONDS)
    if fault == "code22":
        return at_step("session_timeout")
    if fault == "stuck":
        return at_step("job_stuck")
    if fault == "commit_fail":
        return at_step("commit_fail")
    if fault == "lock_by":
        return at_step("lock_by", admin=OTHER_ADMIN)
    if fault == "commit_lock_by":
        # The simulator's lock_by takes config locks only: hold the step's request a moment and
        # have alice take a commit lock meanwhile, so it is there when the request is handled.
        held = at_step("delay", seconds=0.3)
        threading.Thread(target=_commit_lock_when, args=(sim, held), daemon=True).start()
        return held
    if fault == "restart":
        # Everything is refused from the step's first request on, whatever its kind.
        return sim.faults.add("restart", match={}, after=restart_after, times=RESTART_REQUESTS)
    raise AssertionError(f"unknown fault {fault}")


def _commit_lock_when(sim: Simulator, held: Fault) -> None:
    deadline = time.monotonic() + 60
    while held.fired < 1:
        if time.monotonic() > deadline:
            return  # the run never reached the step; the test says so
        time.sleep(0.002)
    with sim.device.lock:
        sim.device.commit_locks.append(Lock(OTHER_ADMIN, "shared", "maintenance", "now"))


# --- a device and its observable state ----------------------------------------------------------


def start_sim(workdir: Path) -> Simulator:
    sim = Simulator(scenario="demo", workdir=workdir, **SIM_OPTIONS)
    # Generate the log now, not inside the first log query, whose answer must beat the short
    # read timeout of the fast mode.
    sim.logs.ensure()
    sim.start()
    return sim


def device_list(sim: Simulator, *, candidate: bool = False) -> list[ExclusionEntry]:
    """The list straight from the simulator's trees (no request, so nothing in the request log)."""
    with sim.device.lock:
        root = sim.device.candidate if candidate else sim.device.running
        node = root.find("shared/ssl-decrypt/ssl-exclude-cert")
        return parse_list(node) if node is not None else []


@dataclass(frozen=True)
class DeviceState:
    running: tuple[ExclusionEntry, ...]
    candidate: tuple[ExclusionEntry, ...]
    other_ops: tuple[tuple[str, str, str | None], ...]  # another admin's pending work
    pending_admins: tuple[str, ...]
    panpin_locks: int
    commit_running: bool

    @property
    def fingerprint(self) -> str:
        return list_fingerprint(self.running)

    @property
    def leftovers(self) -> bool:
        """Candidate edits of panpin's admin, or a candidate list that differs from running."""
        return ADMIN in self.pending_admins or list_fingerprint(self.candidate) != list_fingerprint(
            self.running
        )


def observe(sim: Simulator) -> DeviceState:
    dev = sim.device
    with dev.lock:
        others = tuple(
            (op.action, op.xpath, op.element)
            for op in [*dev.journal, *(op for ops in dev.committing.values() for op in ops)]
            if op.admin != ADMIN
        )
        locks = sum(1 for lk in dev.config_locks.values() if lk.admin == ADMIN) + sum(
            1 for lk in dev.commit_locks if lk.admin == ADMIN
        )
        pending = tuple(dev.pending_admins())
        busy = dev.commit_running()
    return DeviceState(
        running=tuple(device_list(sim)),
        candidate=tuple(device_list(sim, candidate=True)),
        other_ops=others,
        pending_admins=pending,
        panpin_locks=locks,
        commit_running=busy,
    )


def planned_lists(state_db: Path) -> list[list[ExclusionEntry]]:
    """The planned running list of every change in the journal (what a verified change holds)."""
    if not state_db.exists():
        return []
    out = []
    for record in ChangeJournal(state_db).records():
        removed = {e.name for e in record.removes}
        added = {e.name for e in record.adds}
        kept = [e for e in record.base if e.name not in removed and e.name not in added]
        out.append(kept + list(record.adds))
    return out


def journal_results(state_db: Path) -> list[str]:
    if not state_db.exists():
        return []
    return [r.result for r in ChangeJournal(state_db).records()]


def classify(state: DeviceState, prior: DeviceState, state_db: Path) -> str:
    """``prior``, ``planned`` (a journalled change's planned list) or ``other`` (a violation)."""
    if state.fingerprint == prior.fingerprint:
        return "prior"
    if any(list_fingerprint(p) == state.fingerprint for p in planned_lists(state_db)):
        return "planned"
    return "other"


def entries_lost(prior: DeviceState, after: DeviceState, removed: set[str]) -> int:
    """Entries that were on the device, were not a planned removal, and are gone or changed."""
    now = {(e.name, e.description, e.exclude) for e in after.running}
    return sum(
        1
        for e in prior.running
        if e.name not in removed and (e.name, e.description, e.exclude) not in now
    )


def pending_lost(prior: DeviceState, after: DeviceState) -> int:
    """Other admins' pending operations that disappeared."""
    now = list(after.other_ops)
    lost = 0
    for op in prior.other_ops:
        if op in now:
            now.remove(op)
        else:
            lost += 1
    return lost


# --- the reference run -------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """What a clean ``panpin run`` on the demo scenario does: its requests and its end state."""

    requests: tuple[RecordedRequest, ...]
    final_names: frozenset[str]
    removed: frozenset[str]

    def index_of(self, step: Step) -> int:
        """Index of the step's first request among all requests of a clean run."""
        probe = Fault(kind="delay", match=dict(step.match))
        seen = 0
        for i, request in enumerate(self.requests):
            if probe.matches(request.params):
                if seen == step.after:
                    return i
                seen += 1
        raise AssertionError(f"a clean run has no request for step {step.key}")


@cache
def reference(workdir: str) -> Reference:
    """Run once per process (each pytest worker) in-process, against a fresh simulator."""
    from panpin.cli import main

    base = Path(workdir)
    sim = start_sim(base / "sim")
    try:
        prior = observe(sim)
        config = write_config(base, sim)
        old = os.environ.get("PANPIN_API_KEY")
        os.environ["PANPIN_API_KEY"] = sim.api_key
        try:
            main(["--config", str(config), "--device", "sim", "-q", *run_args()])
        except SystemExit as exc:
            assert exc.code == 0, f"the clean reference run exited {exc.code}"
        finally:
            if old is None:
                os.environ.pop("PANPIN_API_KEY", None)
            else:
                os.environ["PANPIN_API_KEY"] = old
        after = observe(sim)
        names_before = {e.name for e in prior.running}
        names_after = {e.name for e in after.running}
        return Reference(
            requests=tuple(sim.requests),
            final_names=frozenset(names_after),
            removed=frozenset(names_before - names_after),
        )
    finally:
        sim.stop()


# --- running panpin ------------------------------------------------------------------------------


def write_config(workdir: Path, sim: Simulator, timing: Timing = TIMING) -> Path:
    """A config file for the simulator with this mode's knobs; the key comes from the env."""
    workdir.mkdir(parents=True, exist_ok=True)
    data = {
        "version": 1,
        "state": str(workdir / "state.db"),
        "devices": {
            "sim": {
                "host": sim.host,
                "ca_file": str(sim.ca_file),
                "admin": ADMIN,
                **timing.device_config(),
            }
        },
    }
    path = workdir / "panpin.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def run_args() -> list[str]:
    return ["run", "--policy", str(DEMO_POLICY)]


def release_other_locks(sim: Simulator) -> None:
    """The other admin finishes and releases her locks (what a person eventually does)."""
    with sim.device.lock:
        for scope in [s for s, lk in sim.device.config_locks.items() if lk.admin != ADMIN]:
            del sim.device.config_locks[scope]
        sim.device.commit_locks = [lk for lk in sim.device.commit_locks if lk.admin == ADMIN]


def finish_stuck_jobs(sim: Simulator, timeout: float = 10.0) -> None:
    """A stuck job ends at last (as on a device, or once support clears it); wait for it."""
    with sim.device.lock:
        for job in sim.device.jobs.values():
            job.stuck = False
        for log_job in sim.device.log_jobs.values():
            log_job.stuck = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sim.device.lock:
            sim.device.advance()
            if not sim.device.commit_running():
                return
        time.sleep(0.02)
    raise AssertionError("a commit job did not finish after it was released")


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


# --- results -------------------------------------------------------------------------------------


@dataclass
class Row:
    """One run of one cell of the matrix, as written to the results file."""

    step: str
    fault: str
    repeat: int
    exit_code: int | None  # None: the process was killed
    allowed: list[int]
    retries: int
    fault_fired: int
    state: str  # prior | planned after the faulted run
    leftovers: bool
    locks_leaked: int
    entries_lost: int
    pending_lost: int
    recovery_exit: int
    recovered: bool
    runs: int
    seconds: float
    journal: list[str] = field(default_factory=list)
    message: str = ""


_write_lock = threading.Lock()


def results_dir() -> Path | None:
    raw = os.environ.get("PANPIN_RELIABILITY_OUT")
    return Path(raw) if raw else None


def record(section: str, data: dict[str, Any]) -> None:
    """Append one result line (``section`` = matrix, hostile, tls, secrets, concurrency...)."""
    out = results_dir()
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    line = json.dumps({"section": section, "mode": MODE, **data}, sort_keys=True)
    with _write_lock, (out / f"results-{worker}.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def record_row(row: Row) -> None:
    record("matrix", asdict(row))


def read_results(folder: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(folder.glob("results-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                yield json.loads(line)


RETRY_PHRASES = ("retrying after", "polling it again", "trying again")
_ANSWERING_FAULTS = frozenset({"http_status", "reset", "session_timeout", "restart"})


def count_retries(messages: list[str], requests: list[RecordedRequest]) -> int:
    """Retries of one run: the larger of what panpin logged (transport retries, job re-polls,
    clean-up re-tries) and what the device saw (a faulted request sent again unchanged; log
    polls are re-sent without a log line)."""
    logged = sum(1 for m in messages if any(p in m for p in RETRY_PHRASES))
    seen = sum(
        1
        for i, r in enumerate(requests)
        if _ANSWERING_FAULTS & set(r.faults)
        and any(x.params == r.params for x in requests[i + 1 :])
    )
    return max(logged, seen)


def break_state(state_db: Path) -> Path:
    """The state database fails (a disk gone, a damaged file): a folder where the file was.

    Returns where the file went; :func:`mend_state` puts it back, as a person would.
    """
    away = state_db.with_name(state_db.name + ".away")
    away.mkdir()
    for suffix in ("", "-wal", "-shm"):
        part = state_db.with_name(state_db.name + suffix)
        if part.exists():
            part.rename(away / part.name)
    state_db.mkdir()
    return away


def mend_state(state_db: Path, away: Path) -> None:
    state_db.rmdir()
    for part in away.iterdir():
        part.rename(state_db.with_name(part.name))
    away.rmdir()
