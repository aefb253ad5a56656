"""The simulated device's state: admins and keys, running and candidate config, the per-admin
change journal, locks, commit/push jobs and log jobs.

Change model (docs/panos-api.md: commit, locks and pending changes): every candidate change is a journal operation owned by the admin
who made it. The candidate is the running config plus all journal operations replayed in order.
A partial commit for admin X takes X's operations out of the journal into the commit job; when the
job finishes, running becomes running + those operations, and everyone else's stay pending. A
full commit takes everything. ``revert`` drops operations (all, or one admin's) from the journal;
``load running-config.xml`` drops everyone's.

All public methods are called with :attr:`Device.lock` held by the API layer.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import re
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from lxml import etree

from panpin.simulator import config as cfg
from panpin.simulator import filter as flt
from panpin.simulator.configlog import ConfigLog
from panpin.simulator.logs import DeviceIdentity, LogStore
from panpin.simulator.scenario import (
    AdminSpec,
    DeviceSpec,
    HaSpec,
    ManagedDeviceSpec,
    PanoramaSpec,
    RoleSpec,
    Scenario,
    ScenarioError,
    TemplateSpec,
    TemplateStackSpec,
    parse_offset,
)
from panpin.simulator.xmlutil import XmlInputError, parse_fragment

JobStatus = Literal["ACT", "FIN"]
WriteAction = Literal["set", "edit", "delete", "rename", "clone", "move"]
_WRITE_ACTIONS: dict[str, WriteAction] = {
    "set": "set",
    "edit": "edit",
    "delete": "delete",
    "rename": "rename",
    "clone": "clone",
    "move": "move",
}
MOVE_WHERE = ("top", "bottom", "before", "after")
JobResult = Literal["PEND", "OK", "FAIL"]

MSG_COMMIT_IN_PROGRESS = "Another commit/validate is in progress. Please try again later"
MSG_COMMIT_LOCKS = "Other administrators are holding device wide commit locks."
MSG_NO_CHANGES = "There are no changes to commit."

# The device booted (and ran its auto-commit) this long before the scenario clock; the system
# info's uptime says about the same.
BOOT_SECONDS_AGO = 12 * 86400 + 3 * 3600 + 4 * 60 + 5

DEFAULT_COMMIT_FAIL_LINES = (
    "Validation Error:",
    " ssl-decrypt -> ssl-exclude-cert is invalid",
    "Commit failed",
)
DEFAULT_PUSH_FAIL_LINES = (
    "Validation Error:",
    " devices -> localhost.localdomain -> ssl-decrypt is invalid",
    "Commit failed",
)


@dataclass(frozen=True)
class SimOptions:
    """Timing and behaviour switches (tests shorten or lengthen jobs with these)."""

    commit_seconds: float = 0.3
    push_seconds: float = 0.4
    log_seconds: float = 0.0
    # Polls of ``type=log&action=get`` answered ACT before a job may report FIN.
    log_act_polls: int = 1
    # Panorama answers FIN with progress < 100 once before the complete result (docs/panos-api.md: log jobs).
    panorama_partial_fin: bool = True
    # Days the generated server certificate is valid from start (None: the TLS module's default).
    cert_valid_days: int | None = None


@dataclass
class Op:
    seq: int
    admin: str
    action: WriteAction | Literal["load"]
    xpath: str
    element: str | None
    time: str
    # rename/clone: the new entry name; clone: the source xpath (``from``); move: where and dst.
    newname: str | None = None
    source: str | None = None
    where: str | None = None
    dst: str | None = None


@dataclass(frozen=True)
class ConfigChange:
    """One change a client asks for (``type=config`` or one action of a multi-config)."""

    action: str
    xpath: str | None
    element: str | None = None
    newname: str | None = None
    source: str | None = None
    where: str | None = None
    dst: str | None = None
    id: str | None = None


@dataclass
class Lock:
    admin: str
    scope: str
    comment: str | None
    created: str


@dataclass
class PushResult:
    serial: str
    name: str
    result: JobResult = "PEND"
    status: str = "pending"
    tstart: str = ""
    tfin: str = ""
    lines: tuple[str, ...] = ()
    fail: bool = False


@dataclass
class Job:
    """A commit, commit-all or validate job (``show jobs id``)."""

    id: int
    type: Literal["Commit", "CommitAll", "Validate", "AutoCom"]
    user: str
    tenq: int
    started: float
    duration: float
    description: str = ""
    ops: list[Op] = field(default_factory=list)
    partial_admins: tuple[str, ...] | None = None
    stuck: bool = False
    fail_lines: tuple[str, ...] | None = None
    devices: list[PushResult] = field(default_factory=list)
    push_type: str = ""
    push_name: str = ""
    status: JobStatus = "ACT"
    result: JobResult = "PEND"
    tfin: int | None = None
    details: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass
class LogJob:
    id: int
    user: str
    tenq: int
    started: float
    log_type: str
    query: str
    nlogs: int
    skip: int
    direction: str
    matches: Sequence[int]
    polls: int = 0
    stuck: bool = False
    partial_served: bool = False
    tlast: int | None = None


class DeviceError(Exception):
    """An operation was refused; the API layer turns it into an error envelope."""

    def __init__(
        self,
        lines: Sequence[str] | str,
        code: int | None = None,
        *,
        shape: Literal["msg", "result-msg"] = "msg",
    ) -> None:
        self.lines = (lines,) if isinstance(lines, str) else tuple(lines)
        super().__init__("; ".join(self.lines))
        self.code = code
        self.shape = shape


class MultiConfigError(Exception):
    """A multi-config action failed; nothing of the batch was applied."""

    def __init__(self, action_id: str | None, error: cfg.ConfigError) -> None:
        super().__init__(str(error))
        self.action_id = action_id
        self.error = error


def _new_key() -> str:
    """A key shaped like PAN-OS's: base64 of ``-AQ==<base64>=<base64>`` (starts ``LUFRPT``).

    pan-python appends the key to the form body without URL-encoding it, so like real keys it
    must not contain ``+`` or ``/``.
    """
    while True:
        inner = (
            b"-AQ=="
            + base64.b64encode(secrets.token_bytes(18))
            + b"="
            + base64.b64encode(secrets.token_bytes(33))
        )
        key = base64.b64encode(inner).decode()
        if "+" not in key and "/" not in key:
            return key


class Device:
    """State of one simulated PAN-OS firewall or Panorama."""

    def __init__(self, scenario: Scenario, *, panorama: bool, options: SimOptions) -> None:
        self.lock = threading.RLock()
        self.scenario = scenario
        self.options = options
        self.is_panorama = panorama
        self.info: DeviceSpec = scenario.device
        self._clock_base = flt.parse_time(self.info.clock)
        if self.info.clock_offset is not None:
            # Device-local wall time: real UTC now, moved into the device's zone, plus the offset.
            offset = parse_offset(self.info.clock_offset) or 0
            self._clock_base = int(time.time()) + tz_hours(self.info.timezone) * 3600 + offset
        # Mutable, unlike the scenario: an HA pair fails over and syncs (SimulatorPair).
        self.ha: HaSpec | None = self.info.ha
        # Called with the device lock held when a commit job finishes OK (SimulatorPair syncs).
        self.after_commit: Callable[[], None] | None = None
        self.roles: dict[str, RoleSpec] = {r.name: r for r in scenario.roles}
        self._mono0 = time.monotonic()
        self.admins: dict[str, AdminSpec] = {a.name: a for a in scenario.admins}
        self.keys: dict[str, str] = {}
        self.key_of: dict[str, str] = {}
        for admin in scenario.admins:
            self._install_key(admin.name, admin.api_key or _new_key())
        self.pano: PanoramaSpec = (
            scenario.panorama if scenario.panorama is not None else default_panorama()
        )
        self.managed: dict[str, ManagedDeviceSpec] = (
            {d.serial: d for d in self.pano.devices} if panorama else {}
        )
        root = (
            cfg.panorama_skeleton(scenario, self.pano)
            if panorama
            else cfg.firewall_skeleton(scenario)
        )
        self.running: etree._Element = root
        self.candidate: etree._Element = copy.deepcopy(root)
        self.journal: list[Op] = []
        self.committing: dict[int, list[Op]] = {}
        self.config_locks: dict[str, Lock] = {}
        self.commit_locks: list[Lock] = []
        self.jobs: dict[int, Job] = {}
        self.log_jobs: dict[int, LogJob] = {}
        self._next_job = max(1, self.info.first_job_id)
        self._next_seq = 1
        self.saved: dict[str, etree._Element] = {}
        # Set by loading a named config: PAN-OS then needs a full commit (check full-commit-required).
        self.full_commit_required = False
        self.config_log = ConfigLog(self.info.serial, self.info.hostname, self._clock_base)
        self._boot_job()
        identities = (
            tuple(
                DeviceIdentity(d.serial, d.hostname, f"198.51.100.{10 + i}")
                for i, d in enumerate(self.pano.devices)
            )
            if panorama and self.pano.devices
            else (DeviceIdentity(self.info.serial, self.info.hostname),)
        )
        self.logs = LogStore(
            spec=scenario.logs,
            devices=identities,
            clock_start=self._clock_base,
            tz_offset=_tz_offset(self.info.timezone),
            # One lock for the device and its log store: appending entries from a test waits
            # for the request in flight instead of re-sorting columns under its feet.
            _lock=self.lock,
        )
        for i, pending in enumerate(scenario.pending):
            if pending.admin not in self.admins:
                raise ScenarioError(f"pending[{i}].admin: unknown admin {pending.admin!r}")
            try:
                self.config_write(pending.admin, pending.action, pending.xpath, pending.element)
            except cfg.ConfigError as exc:
                raise ScenarioError(f"pending[{i}]: {'; '.join(exc.lines).strip()}") from None
        for lk in scenario.locks:
            if lk.type == "config":
                self.config_locks[lk.scope] = Lock(lk.admin, lk.scope, lk.comment, self.now_str())
            else:
                self.commit_locks.append(Lock(lk.admin, lk.scope, lk.comment, self.now_str()))

    def _boot_job(self) -> None:
        """The auto-commit a device runs when it boots: always first in ``show jobs all``.

        Shape from pan-os-upgrade-assurance's sample of a real ``show jobs all`` (type AutoCom,
        no user, these two detail lines); clients such as panos_check wait for it to be FIN.
        """
        jid = self._job_id()
        booted = self._clock_base - BOOT_SECONDS_AGO
        self.jobs[jid] = Job(
            id=jid,
            type="AutoCom",
            user="",
            tenq=booted,
            started=time.monotonic() - BOOT_SECONDS_AGO,
            duration=0.0,
            status="FIN",
            result="OK",
            tfin=booted + 40,
            details=(
                "Configuration committed successfully",
                "Successfully committed last configuration",
            ),
        )

    # ---- clock -------------------------------------------------------------------------------

    def now(self) -> int:
        """Device-local clock in seconds (scenario clock + real time since start)."""
        return self._clock_base + int(time.monotonic() - self._mono0)

    def now_str(self) -> str:
        return flt.format_time(self.now())

    def seconds_running(self) -> int:
        """Seconds since the simulator started (uptime-like counters grow with it)."""
        return int(time.monotonic() - self._mono0)

    def clock_forward(self, seconds: int) -> None:
        """Move the device clock ahead (tests pretend time passed without waiting for it)."""
        with self.lock:
            self._clock_base += seconds

    # ---- admins and keys ---------------------------------------------------------------------

    def _install_key(self, admin: str, key: str) -> None:
        old = self.key_of.pop(admin, None)
        if old is not None:
            self.keys.pop(old, None)
        self.keys[key] = admin
        self.key_of[admin] = key

    def keygen(self, user: str, password: str) -> str | None:
        """A new key for valid credentials (invalidating the admin's previous key), else None."""
        admin = self.admins.get(user)
        if admin is None or not secrets.compare_digest(admin.password, password):
            return None
        key = _new_key()
        self._install_key(user, key)
        return key

    def check_password(self, user: str, password: str) -> bool:
        admin = self.admins.get(user)
        return admin is not None and secrets.compare_digest(admin.password, password)

    def admin_for_key(self, key: str) -> str | None:
        return self.keys.get(key)

    def role_of(self, admin: str) -> RoleSpec | None:
        """The admin's custom role; ``None`` for a superuser."""
        spec = self.admins.get(admin)
        if spec is None or spec.role == "superuser":
            return None
        return self.roles.get(spec.role)

    def permits(self, admin: str, flag: str) -> bool:
        """Whether the admin's role allows XML API request type ``flag`` (superuser: all)."""
        role = self.role_of(admin)
        return role is None or role.allows(flag)

    @property
    def feature_release(self) -> tuple[int, int]:
        """``(major, minor)`` of ``sw_version`` (``(0, 0)`` when it is not a version)."""
        parts = re.findall(r"\d+", self.info.sw_version)[:2]
        return (int(parts[0]), int(parts[1])) if len(parts) == 2 else (0, 0)

    # ---- jobs --------------------------------------------------------------------------------

    def _job_id(self) -> int:
        jid = self._next_job
        self._next_job += 1
        return jid

    def commit_running(self) -> bool:
        return any(
            j.status == "ACT" and j.type in ("Commit", "CommitAll", "Validate")
            for j in self.jobs.values()
        )

    def advance(self) -> None:
        """Finish every job whose time has come (called before each request is handled)."""
        mono = time.monotonic()
        for job in sorted(self.jobs.values(), key=lambda j: j.id):
            if job.status == "ACT" and not job.stuck and mono - job.started >= job.duration:
                self._finish(job)

    def _finish(self, job: Job) -> None:
        job.status = "FIN"
        job.tfin = self.now()
        if job.type == "Commit":
            ops = self.committing.pop(job.id, [])
            if job.fail_lines is not None:
                job.result = "FAIL"
                job.details = job.fail_lines
                # A failed commit leaves the candidate as it was: the changes are pending again.
                self.journal = sorted(self.journal + ops, key=lambda o: o.seq)
            else:
                for op in ops:
                    # An operation that no longer applies is dropped, as on replay.
                    with contextlib.suppress(cfg.ConfigError):
                        apply_op(self.running, op, mark=None)
                job.result = "OK"
                job.details = _commit_detail_lines(job.partial_admins)
                if job.partial_admins is None:
                    self.full_commit_required = False
                if self.after_commit is not None:
                    self.after_commit()
            self.rebuild_candidate()
        elif job.type == "CommitAll":
            failed = False
            for dev in job.devices:
                dev.tfin = flt.format_time(job.tfin)[11:]
                if dev.fail:
                    failed = True
                    dev.result, dev.status = "FAIL", "commit failed"
                else:
                    dev.result, dev.status = "OK", "commit succeeded"
            # Reference unsure whether the job itself reports FAIL when a device failed;
            # clients must check every device anyway (pan-os-python, pango do).
            job.result = "FAIL" if failed else "OK"
            job.details = ()
        else:
            job.result = "OK"
            job.details = ("Configuration is valid",)

    # ---- configuration -----------------------------------------------------------------------

    def rebuild_candidate(self) -> None:
        cand = copy.deepcopy(self.running)
        pending = sorted(
            self.journal + [op for ops in self.committing.values() for op in ops],
            key=lambda o: o.seq,
        )
        for op in pending:
            with contextlib.suppress(cfg.ConfigError):
                apply_op(cand, op, mark=_mark_for(op))
        self.candidate = cand

    def write_blocker(self, admin: str, xpath: str) -> str | None:
        """The admin whose config lock forbids ``admin`` to change ``xpath``, if any."""
        for scope, lock in self.config_locks.items():
            if lock.admin == admin:
                continue
            if (
                scope == "shared"
                or f"entry[@name='{scope}']" in xpath
                or (f'entry[@name="{scope}"]' in xpath)
            ):
                return lock.admin
        return None

    def config_write(self, admin: str, action: str, xpath: str, element: str | None) -> None:
        """Apply a set/edit/delete to the candidate and journal it; ConfigError when refused."""
        self.config_change(admin, ConfigChange(action, xpath, element))

    def config_change(self, admin: str, change: ConfigChange, *, log: bool = True) -> None:
        """Apply one change (set, edit, delete, rename, clone, move) to the candidate and journal
        it; ConfigError when refused. The Config log gets an entry unless ``log`` is off."""
        op = self._op_for(admin, change)
        apply_op(self.candidate, op, mark=_mark_for(op))
        self._next_seq += 1
        self.journal.append(op)
        if log:
            self.config_log.add(op.action, admin, op.xpath, at=self.now())

    def _op_for(self, admin: str, change: ConfigChange) -> Op:
        verb = _WRITE_ACTIONS.get(change.action)
        if verb is None:
            raise cfg.ConfigError(400, [f'Illegal value for parameter "action" [{change.action}].'])
        xpath = change.xpath
        if not xpath:
            raise cfg.ConfigError(400, ['Missing value for parameter "xpath".'])
        needed = {
            "set": ("element",),
            "edit": ("element",),
            "rename": ("newname",),
            "clone": ("from", "newname"),
            "move": ("where",),
        }.get(verb, ())
        given = {
            "element": change.element,
            "newname": change.newname,
            "from": change.source,
            "where": change.where,
        }
        for name in needed:
            if given[name] is None:
                if name == "element":
                    raise cfg.ConfigError(400, ['Missing parameter "element".'])
                raise cfg.ConfigError(400, [f'Missing value for parameter "{name}".'])
        if verb == "move":
            if change.where not in MOVE_WHERE:
                raise cfg.ConfigError(
                    400, [f'Illegal value for parameter "where" [{change.where}].']
                )
            if change.where in ("before", "after") and not change.dst:
                raise cfg.ConfigError(400, ['Missing value for parameter "dst".'])
        blocker = self.write_blocker(admin, xpath)
        if blocker is not None:
            # docs/panos-api.md (errors) lists "Configuration is locked by ..." (pan-os-python maps it to a
            # lock error); PAN-OS sends no code for it as far as known.
            raise cfg.ConfigError(None, [f"Configuration is locked by {blocker}"])
        return Op(
            self._next_seq,
            admin,
            verb,
            xpath,
            change.element,
            self.now_str(),
            newname=change.newname,
            source=change.source,
            where=change.where,
            dst=change.dst,
        )

    def multi_config(self, admin: str, changes: Sequence[ConfigChange], *, strict: bool) -> None:
        """Apply every change or none (``action=multi-config``); MultiConfigError names the one
        that failed.

        With ``strict`` (``strict-transactional=yes``) it is refused while a commit runs, and the
        admin's own uncommitted changes are rolled back first (pan-python's documentation of
        ``--strict``; its live test expects them gone whether or not the batch succeeds).
        """
        if strict:
            if self.commit_running():
                raise DeviceError(MSG_COMMIT_IN_PROGRESS, 13)
            self.journal = [op for op in self.journal if op.admin != admin]
            self.rebuild_candidate()
        journal, seq = list(self.journal), self._next_seq
        done: list[Op] = []
        for change in changes:
            try:
                self.config_change(admin, change, log=False)
            except cfg.ConfigError as exc:
                self.journal, self._next_seq = journal, seq
                self.rebuild_candidate()
                raise MultiConfigError(change.id, exc) from None
            done.append(self.journal[-1])
        now = self.now()
        for op in done:
            self.config_log.add(op.action, admin, op.xpath, at=now)

    def pending_admins(self) -> list[str]:
        seen: dict[str, None] = {}
        for op in self.journal:
            seen.setdefault(op.admin, None)
        for ops in self.committing.values():
            for op in ops:
                seen.setdefault(op.admin, None)
        return list(seen)

    def has_pending(self) -> bool:
        return bool(self.journal) or any(self.committing.values())

    def revert(self, admins: Sequence[str] | None) -> None:
        if self.commit_running():
            raise DeviceError("Failed to revert configuration.", shape="result-msg")
        if admins is None:
            self.journal = []
            self.full_commit_required = False
        else:
            drop = set(admins)
            self.journal = [op for op in self.journal if op.admin not in drop]
        self.rebuild_candidate()

    def load_config(self, admin: str, name: str) -> None:
        """``load config from NAME``: ``running-config.xml`` discards everyone's changes."""
        if name == "running-config.xml":
            self.journal = []
            self.full_commit_required = False
            self.rebuild_candidate()
            return
        saved = self.saved.get(name)
        if saved is None:
            raise DeviceError(f"{name} does not exist", 13)
        self.journal = []
        self.full_commit_required = True
        op = Op(
            self._next_seq, admin, "load", "/config", etree.tostring(saved).decode(), self.now_str()
        )
        self._next_seq += 1
        self.journal.append(op)
        self.rebuild_candidate()

    def save_config(self, name: str) -> None:
        snapshot = copy.deepcopy(self.candidate)
        cfg.strip_marks_inplace(snapshot)
        self.saved[name] = snapshot

    # ---- injected faults (lock_by, pending_by) -----------------------------------------------

    def inject_config_lock(self, admin: str, scope: str) -> None:
        """Another admin takes the config lock for ``scope`` unless someone already holds it."""
        with self.lock:
            if scope not in self.config_locks:
                self.config_locks[scope] = Lock(admin, scope, "fault", self.now_str())

    def inject_pending_change(
        self, admin: str, xpath: str | None = None, element: str | None = None
    ) -> None:
        """Another admin makes a candidate change (by default a new address object, named
        after a counter so that repeated faults add distinct changes); ConfigError if refused."""
        with self.lock:
            n = len(self.journal) + self._next_seq
            element = element or (
                f"<entry name='{admin}-change-{n}'><ip-netmask>192.0.2.{n % 250 + 1}/32"
                "</ip-netmask></entry>"
            )
            self.config_write(admin, "set", xpath or "/config/shared/address", element)

    # ---- locks -------------------------------------------------------------------------------

    def add_config_lock(self, admin: str, scope: str, comment: str | None) -> str:
        held = self.config_locks.get(scope)
        if held is not None and held.admin == admin:
            raise DeviceError(f"You already own a config lock for scope {scope}")
        for other in self.config_locks.values():
            if other.admin != admin and (other.scope == scope or "shared" in (other.scope, scope)):
                if self.is_panorama:
                    # configpump's Panorama mock uses this wording (sample config-lock-already-held).
                    raise DeviceError(f"Config lock is already held by {other.admin}")
                # pan-os-python add_config_lock() expects this wording on firewalls.
                raise DeviceError(f"Config for scope {scope} is currently locked by {other.admin}")
        self.config_locks[scope] = Lock(admin, scope, comment, self.now_str())
        return (
            "Successfully acquired lock. Other administrators will not be able to modify "
            f"configuration until lock is released by {admin}."
        )

    def remove_config_lock(self, admin: str, scope: str, target: str | None) -> str:
        owner = target or admin
        held = self.config_locks.get(scope)
        if held is None or held.admin != owner:
            raise DeviceError(f"Config is not currently locked for scope {scope}")
        del self.config_locks[scope]
        return f"Config lock released for {owner}"

    def add_commit_lock(self, admin: str, scope: str, comment: str | None) -> str:
        for lk in self.commit_locks:
            if lk.admin == admin and lk.scope == scope:
                raise DeviceError(f"Commit lock is already held by {admin}")
        self.commit_locks.append(Lock(admin, scope, comment, self.now_str()))
        return (
            "Successfully acquired lock. Other administrators will not be able to commit "
            f"configuration until lock is released by {admin}."
        )

    def remove_commit_lock(self, admin: str, scope: str, target: str | None) -> str:
        owner = target or admin
        for lk in self.commit_locks:
            if lk.admin == owner and lk.scope == scope:
                self.commit_locks.remove(lk)
                return f"Commit lock released for {owner}"
        # pan-os-python remove_commit_lock() expects this wording.
        raise DeviceError("Commit lock is not currently held")

    def release_locks(self, admin: str) -> None:
        """Committing releases the committer's config and commit locks (docs/panos-api.md: commit)."""
        for scope in [s for s, lk in self.config_locks.items() if lk.admin == admin]:
            del self.config_locks[scope]
        self.commit_locks = [lk for lk in self.commit_locks if lk.admin != admin]

    # ---- commit ------------------------------------------------------------------------------

    def _check_commit_allowed(self, admin: str) -> None:
        if self.commit_running():
            # Observed on a device: status="error" code="13" (comment in a real automation
            # script quoting the response); pan-os-python classifies it by this text.
            raise DeviceError(MSG_COMMIT_IN_PROGRESS, 13)
        if any(lk.admin != admin for lk in self.commit_locks):
            raise DeviceError(MSG_COMMIT_LOCKS, 14)
        for lk in self.config_locks.values():
            if lk.admin != admin:
                # Reference unsure whether a config lock blocks others' commits; the simulator
                # says yes (the safer assumption for a client).
                raise DeviceError(f"Configuration is locked by {lk.admin}")

    def commit(
        self,
        admin: str,
        partial_admins: Sequence[str] | None,
        description: str,
        *,
        stuck: bool = False,
        fail_lines: tuple[str, ...] | None = None,
    ) -> int | None:
        """Enqueue a commit; ``None`` when there is nothing to commit for that scope."""
        self._check_commit_allowed(admin)
        scope = set(partial_admins) if partial_admins else None
        ops = [op for op in self.journal if scope is None or op.admin in scope]
        if not ops:
            return None
        self.journal = [op for op in self.journal if op not in ops]
        jid = self._job_id()
        self.committing[jid] = ops
        self.release_locks(admin)
        self.config_log.add("commit", admin, "", at=self.now(), result="Submitted")
        self.jobs[jid] = Job(
            id=jid,
            type="Commit",
            user=admin,
            tenq=self.now(),
            started=time.monotonic(),
            duration=self.options.commit_seconds,
            description=description,
            ops=ops,
            partial_admins=tuple(partial_admins) if partial_admins else None,
            stuck=stuck,
            fail_lines=fail_lines,
        )
        return jid

    def validate(self, admin: str) -> int:
        jid = self._job_id()
        self.jobs[jid] = Job(
            id=jid,
            type="Validate",
            user=admin,
            tenq=self.now(),
            started=time.monotonic(),
            duration=self.options.commit_seconds,
        )
        return jid

    # ---- Panorama ----------------------------------------------------------------------------

    def template_devices(self, kind: str, name: str) -> list[str] | None:
        """Serials a push of template/stack ``name`` reaches (from the running config)."""
        base = f"{cfg.DEVICE_XPATH}/template-stack/entry"
        stacks = self.running.getroottree().xpath(base)
        assert isinstance(stacks, list)
        if kind == "template-stack":
            for s in stacks:
                if isinstance(s, etree._Element) and s.get("name") == name:
                    return [d.get("name") or "" for d in s.findall("devices/entry")]
            return None
        templates = self.running.getroottree().xpath(
            f"{cfg.DEVICE_XPATH}/template/entry[@name=$n]", n=name
        )
        if not templates:
            return None
        serials: dict[str, None] = {}
        for s in stacks:
            if isinstance(s, etree._Element) and name in [
                m.text for m in s.findall("templates/member")
            ]:
                for d in s.findall("devices/entry"):
                    serials.setdefault(d.get("name") or "", None)
        return list(serials)

    def commit_all(
        self,
        admin: str,
        kind: str,
        name: str,
        description: str,
        only: Sequence[str] | None,
        *,
        fail_serials: Sequence[str] = (),
        fail_lines: tuple[str, ...] | None = None,
        stuck: bool = False,
    ) -> int:
        if self.commit_running():
            raise DeviceError(MSG_COMMIT_IN_PROGRESS, 13)
        serials = self.template_devices(kind, name)
        if serials is None:
            raise DeviceError(f"{kind} {name} does not exist", 13)
        if only:
            serials = [s for s in serials if s in only]
        jid = self._job_id()
        start = self.now_str()[11:]
        results = []
        for serial in serials:
            md = self.managed.get(serial)
            fail = serial in fail_serials or (md is not None and not md.connected)
            lines = fail_lines or DEFAULT_PUSH_FAIL_LINES
            if md is not None and not md.connected:
                lines = ("Device is not connected",)
            results.append(
                PushResult(
                    serial=serial,
                    name=md.hostname if md is not None else serial,
                    tstart=start,
                    fail=fail,
                    lines=lines if fail else ("Configuration committed successfully",),
                )
            )
        self.jobs[jid] = Job(
            id=jid,
            type="CommitAll",
            user=admin,
            tenq=self.now(),
            started=time.monotonic(),
            duration=self.options.push_seconds,
            description=description,
            devices=results,
            push_type=kind,
            push_name=name,
            stuck=stuck,
        )
        return jid

    # ---- logs --------------------------------------------------------------------------------

    def log_enqueue(
        self,
        admin: str,
        log_type: str,
        query: str,
        nlogs: int,
        skip: int,
        direction: str,
        *,
        stuck: bool = False,
    ) -> int:
        # The query is parsed and run now (errors surface on enqueue); matches are a snapshot.
        matches: Sequence[int]
        if log_type == "decryption":
            matches = self.logs.query(query)
        elif log_type == "config":
            matches = self.config_log.query(query)
        else:
            # Other log types are empty on the simulated device, but the query still must parse.
            flt.parse(query)
            matches = ()
        jid = self._job_id()
        self.log_jobs[jid] = LogJob(
            id=jid,
            user=admin,
            tenq=self.now(),
            started=time.monotonic(),
            log_type=log_type,
            query=query,
            nlogs=nlogs,
            skip=skip,
            direction=direction,
            matches=matches,
            stuck=stuck,
        )
        return jid


def default_panorama() -> PanoramaSpec:
    """Used when a firewall scenario is served with ``panorama=True``."""
    devices = (
        ManagedDeviceSpec(
            serial="007951000111111", hostname="branch-fw-01", ip_address="10.10.1.1"
        ),
        ManagedDeviceSpec(
            serial="007951000222222", hostname="branch-fw-02", ip_address="10.10.2.1"
        ),
    )
    return PanoramaSpec(
        devices=devices,
        templates=(TemplateSpec(name="branch"),),
        template_stacks=(
            TemplateStackSpec(
                name="branch-stack", templates=("branch",), devices=tuple(d.serial for d in devices)
            ),
        ),
    )


def _mark_for(op: Op) -> dict[str, str]:
    return {"admin": op.admin, "dirtyId": str(op.seq), "time": op.time}


def _commit_detail_lines(partial: tuple[str, ...] | None) -> tuple[str, ...]:
    # Lines from the pan.dev sample (show-job-commit-finished-ok.xml); the per-admin wording of
    # the first line is a guess (unverified: docs/panos-api.md).
    who = "all administrators" if not partial else "administrators " + ", ".join(partial)
    return (
        f"Partial changes to commit: changes to configuration by {who} ",
        "Changes to policy and objects configuration",
        "Changes to configuration in device and network",
        "Changes to shared configuration",
        "Configuration committed successfully",
    )


def _tz_offset(tz: str) -> str:
    hours = tz_hours(tz)
    sign = "-" if hours < 0 else "+"
    return f"{sign}{abs(hours):02d}:00"


def tz_hours(tz: str) -> int:
    """Hours east of UTC of a zone name ``show clock`` prints (unknown names: 0)."""
    offsets = {
        "UTC": 0,
        "GMT": 0,
        "PST": -8,
        "PDT": -7,
        "MST": -7,
        "MDT": -6,
        "CST": -6,
        "CDT": -5,
        "EST": -5,
        "EDT": -4,
        "CET": 1,
        "CEST": 2,
        "JST": 9,
    }
    return offsets.get(tz.upper(), 0)


def apply_op(root: etree._Element, op: Op, mark: dict[str, str] | None) -> None:
    """Apply one journal operation to a config tree; ConfigError when it does not apply."""
    if op.action == "load":
        assert op.element is not None
        loaded = etree.fromstring(op.element.encode())
        for child in list(root):
            root.remove(child)
        for child in loaded:
            root.append(copy.deepcopy(child))
        return
    if op.action in ("rename", "clone", "move"):
        _apply_entry_op(root, op, mark)
        return
    if op.action == "delete":
        targets = cfg.select(root, op.xpath)
        if not targets:
            # docs/panos-api.md (config API): deleting a missing node yields code 7 (text unverified).
            raise cfg.ConfigError(7, ["Object doesn't exist"])
        for t in targets:
            parent = t.getparent()
            if parent is None:
                raise cfg.ConfigError(12, ["cannot delete the configuration root"])
            parent.remove(t)
        return
    assert op.element is not None
    try:
        elements = parse_fragment(op.element)
    except XmlInputError as exc:
        # Docs: code 18 "Malformed command: The XML is malformed".
        raise cfg.ConfigError(18, [f"Malformed Request: {exc}"]) from exc
    if not elements:
        raise cfg.ConfigError(12, ["element is empty"])
    cfg.validate(op.xpath, elements)
    cfg.check_names(op.xpath, elements)
    targets = cfg.select(root, op.xpath)
    if op.action == "set":
        if not targets:
            targets = [cfg.ensure_path(root, op.xpath)]
        for t in targets:
            for el in elements:
                cfg.merge(t, el, mark)
        return
    # edit: replace the node with the one element; its root must be the xpath's last step.
    if len(elements) != 1:
        raise cfg.ConfigError(12, [" edit: exactly one element expected", " config is invalid"])
    new = elements[0]
    cfg.check_edit_root(op.xpath, new)
    if not targets:
        steps = cfg.parse_steps(op.xpath)
        if not steps or len(steps) < 2:
            raise cfg.ConfigError(6, ["Bad Xpath"])
        parent = cfg.ensure_steps(root, steps[:-1])
        targets = [etree.SubElement(parent, new.tag)]
    for t in targets:
        parent = t.getparent()
        if parent is None:
            raise cfg.ConfigError(12, ["cannot edit the configuration root"])
        replacement = copy.deepcopy(new)
        cfg.strip_marks_inplace(replacement)
        if mark is not None:
            for el in replacement.iter():
                for k, v in mark.items():
                    el.set(k, v)
        parent.replace(t, replacement)


def _one(root: etree._Element, xpath: str) -> etree._Element:
    nodes = cfg.select(root, xpath)
    if not nodes:
        # The code delete uses for a missing node (docs/panos-api.md: config API).
        raise cfg.ConfigError(7, ["Object doesn't exist"])
    if len(nodes) > 1:
        raise cfg.ConfigError(8, ["Object not unique"])
    return nodes[0]


def _taken(parent: etree._Element, tag: str, name: str) -> None:
    # Reference unsure of the wording; code 12 (invalid object) is the documented family.
    for sibling in parent:
        if sibling.tag == tag and sibling.get("name") == name:
            raise cfg.ConfigError(12, [f" {parent.tag} -> {name} already exists"], cdata=True)


def _mark_tree(node: etree._Element, mark: dict[str, str] | None) -> None:
    if mark is None:
        return
    for el in node.iter():
        if isinstance(el.tag, str):
            for k, v in mark.items():
                el.set(k, v)


def _apply_entry_op(root: etree._Element, op: Op, mark: dict[str, str] | None) -> None:
    """rename (xpath, newname), clone (xpath = the container, from, newname), move (xpath,
    where, dst = a sibling's name): the entry operations of the config API (pan-python)."""
    if op.action == "clone":
        assert op.source is not None and op.newname is not None
        container = _one(root, op.xpath)
        source = _one(root, op.source)
        if source.get("name") is None:
            raise cfg.ConfigError(12, [" clone: only entries can be cloned"], cdata=True)
        cfg.check_name(str(container.tag), op.newname)
        _taken(container, str(source.tag), op.newname)
        copy_ = copy.deepcopy(source)
        cfg.strip_marks_inplace(copy_)
        copy_.set("name", op.newname)
        container.append(copy_)
        _mark_tree(copy_, mark)
        return
    node = _one(root, op.xpath)
    parent = node.getparent()
    if parent is None or node.get("name") is None:
        raise cfg.ConfigError(12, [f" {op.action}: only entries can be {op.action}d"], cdata=True)
    if op.action == "rename":
        assert op.newname is not None
        if op.newname == node.get("name"):
            return
        cfg.check_name(str(parent.tag), op.newname)
        _taken(parent, str(node.tag), op.newname)
        node.set("name", op.newname)
        _mark_tree(node, mark)
        return
    siblings = [c for c in parent if c.tag == node.tag and c is not node]
    if op.where in ("before", "after"):
        anchor = next((c for c in siblings if c.get("name") == op.dst), None)
        if anchor is None:
            raise cfg.ConfigError(7, [f"{op.dst} does not exist"])
        parent.remove(node)
        if op.where == "before":
            anchor.addprevious(node)
        else:
            anchor.addnext(node)
    else:
        parent.remove(node)
        if op.where == "top" and siblings:
            siblings[0].addprevious(node)
        elif siblings:
            siblings[-1].addnext(node)
        else:
            parent.append(node)
    _mark_tree(node, mark)
