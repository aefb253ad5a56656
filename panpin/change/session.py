"""The library's front door: one device, and the verbs of the pipeline scan → plan → apply.

Every method says in its first line what it does to the device: *reads* (asks, never changes),
or *writes* (locks, changes the candidate, commits). The CLI is a thin layer over this module; a
program of your own can use it the same way (docs/library.md)::

    from panpin import Session, load_policy, load_settings

    with Session.from_settings(load_settings("configs/panpin.yaml"), "fw1") as fw:
        plan = fw.plan(load_policy("configs/policy.yaml"))
        if plan.has_changes:
            outcome = fw.apply(plan)

Writes take panpin's run lock (``<state>.lock``) for their duration, so two panpin processes on
one state database never change a device at once; :func:`run_fleet` takes it once for many
devices.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from panpin import errors
from panpin.change.journal import ChangeJournal, ChangeRecord, HoldRecord
from panpin.change.lifecycle import Outcome, settle_interrupted
from panpin.change.plan import Plan
from panpin.change.results import ChangeResult
from panpin.change.workflow import Applier, identify, policy_plan, rollback_plan, scan_for_plan
from panpin.decide.engine import Hold, active_holds
from panpin.decide.policy import Policy
from panpin.panos.device import DeviceInfo
from panpin.panos.exclusions import ExclusionEntry, read_list, read_predefined
from panpin.panos.xmlapi import XmlApi
from panpin.scan.evidence import ScanResult
from panpin.settings import DeviceSettings, Overrides, Settings, resolve_device

if TYPE_CHECKING:
    from panpin.capture import HostConfirmation
    from panpin.change.doctor import DoctorReport
    from panpin.scan.logs import PollHook

# How many devices a fleet run works on at once.
FLEET_CONCURRENCY = 8


def _silent(text: str) -> None:
    """The default ``say``: a library is quiet unless asked (the CLI prints to stderr)."""


@dataclass(frozen=True)
class RunResult:
    """What :meth:`Session.run` did on one device.

    ``result`` is the change's result, ``pending`` for a dry run with changes, or ``error``
    (then ``error`` holds the message and ``exit_code`` its exit code, docs/design.md).
    """

    device: str
    result: ChangeResult | str = ChangeResult.NOTHING_TO_DO
    exit_code: int = 0
    plan: Plan | None = None
    outcome: Outcome | None = None
    error: str | None = None

    @property
    def change_id(self) -> str | None:
        return self.plan.change_id if self.plan is not None else None

    @property
    def adds(self) -> list[str]:
        return [e.name for e in self.plan.adds] if self.plan is not None else []

    @property
    def removes(self) -> list[str]:
        return [e.name for e in self.plan.removes] if self.plan is not None else []


@dataclass
class Session:
    """One device (firewall or Panorama) as panpin works on it.

    The connection opens on first use and closes with :meth:`close` (or the ``with`` block).
    ``state`` is the state database (watermarks, evidence history, change journal). ``say``
    receives one line per step of a change (``[device]`` is not prefixed; the caller knows).
    """

    device: DeviceSettings
    state: Path
    say: Callable[[str], None] = _silent
    _api: XmlApi | None = field(default=None, init=False, repr=False)
    _info: DeviceInfo | None = field(default=None, init=False, repr=False)
    _checked: bool = field(default=False, init=False, repr=False)
    # Set by run_fleet, which holds the run lock for every device it works on.
    _lock_held: bool = field(default=False, init=False, repr=False)
    # The other member of an HA pair (``ha_peer``), opened on first use (:meth:`_pair`).
    _peer: Session | None = field(default=None, init=False, repr=False)
    _active_checked: bool = field(default=False, init=False, repr=False)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        device: str | None = None,
        *,
        overrides: Overrides | None = None,
        say: Callable[[str], None] = _silent,
    ) -> Session:
        """The session for ``device`` of ``settings`` (key from ``PANPIN_API_KEY`` or its key file).

        Touches nothing on the network.
        """
        resolved = resolve_device(settings, device, overrides or Overrides())
        return cls(resolved, settings.state, say)

    # --- plumbing -----------------------------------------------------------------------------

    @property
    def api(self) -> XmlApi:
        """The transport to the device, opened on first use."""
        if self._api is None:
            self._api = XmlApi(self.device.connection())
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None
        if self._peer is not None:
            self._peer.close()
            self._peer = None

    # --- HA pairs (``ha_peer``) -----------------------------------------------------------------

    def _pair(self) -> Session | None:
        """The session of the configured HA peer, or None for a device without ``ha_peer``."""
        if self.device.peer is None:
            return None
        if self._peer is None:
            self._peer = Session(replace(self.device.peer, peer=self.device), self.state, self.say)
        return self._peer

    def _work_on_active(self) -> None:
        """With ``ha_peer``: make this session the pair's active member. Reads only.

        A change goes to the active member (config sync carries it to the other); when the
        member named is not active and its peer is, the session turns to the peer, saying so.
        Neither active: the member's refusal (exit 5). A 403 is a permission error, never a
        reason to try the peer, so any error reading the state ends here.
        """
        peer = self._pair()
        if peer is None or self._active_checked:
            return
        from panpin.panos.device import ha_state

        here = ha_state(self.api)
        if not here.changeable:
            there = ha_state(peer.api)
            if not there.changeable:
                raise errors.BusyError(f"{self.device.name}: {here.refusal()}")
            self.say(
                f"{self.device.name} is {here.local_state}; working on its HA peer "
                f"{peer.device.name} ({there.local_state})"
            )
            self._swap(peer)
        self._active_checked = True

    def _swap(self, peer: Session) -> None:
        """Become the peer's session and the peer this one's (after a failover)."""
        self.device, peer.device = peer.device, self.device
        self._api, peer._api = peer._api, self._api
        self._info, peer._info = peer._info, self._info
        self._checked, peer._checked = peer._checked, self._checked

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def journal(self) -> ChangeJournal:
        """The change journal in the state database. Touches nothing on the network."""
        return ChangeJournal(self.state)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the run lock for the block, unless this session holds it already (re-entrant)."""
        from panpin.state import run_lock

        if self._lock_held:
            yield
            return
        with run_lock(self.state):
            self._lock_held = True
            try:
                yield
            finally:
                self._lock_held = False

    # --- reads --------------------------------------------------------------------------------

    def info(self) -> DeviceInfo:
        """Reads ``show system info`` (once per session), and checks the location fits the device.

        A change needs a location of the device's kind (a template or stack on Panorama, shared or
        a vsys on a firewall); a scan does not, so :meth:`scan` reads the facts without the check.
        """
        if self._info is None or not self._checked:
            self._info = identify(self.api, self.device)
            self._checked = True
        return self._info

    def _facts(self) -> DeviceInfo:
        if self._info is None:
            from panpin.panos.device import system_info
            from panpin.panos.versions import check_version

            info = system_info(self.api)
            # No Decryption log below 10.0: refused before a query PAN-OS would reject.
            check_version(info.sw_version, f"{self.device.name} ({info.hostname})")
            self._info = info
        return self._info

    def doctor(self) -> DoctorReport:
        """Reads only: the preflight checks of ``panpin doctor`` (TLS, key, permissions, version,
        clock, location, Decryption log, HA, locks, pending changes); never locks or writes."""
        from panpin.change.doctor import doctor

        return doctor(self.api, self.device)

    def exclusions(self, *, candidate: bool = False) -> list[ExclusionEntry]:
        """Reads the SSL Decryption Exclusion list at the location (running, or the candidate)."""
        return read_list(self.api, self.device.location, candidate=candidate)

    def scan(
        self,
        *,
        since: str | None = None,
        until: str | None = None,
        signals: Sequence[str] | None = None,
        user_filter: str | None = None,
        max_logs: int | None = None,
        incremental: bool = False,
        timeout: float | None = None,
        progress: Callable[[int], None] | None = None,
        on_poll: PollHook | None = None,
    ) -> ScanResult:
        """Reads the Decryption log into per-host evidence (and the list, for ``covered_by``).

        ``since`` defaults to the last 7 days. ``incremental`` starts at the stored watermark and
        folds the new evidence into the state database's history (under the run lock). Never
        writes to the device.
        """
        from panpin.scan.logs import DEFAULT_SIGNALS, DEFAULT_SINCE, scan_device
        from panpin.state import StateDB

        backoff = self.device.log_poll
        if timeout is not None:
            backoff = replace(backoff, deadline=timeout)
        with self.locked() if incremental else nullcontext():
            return scan_device(
                self.api,
                since=since or DEFAULT_SINCE,
                until=until,
                signals=DEFAULT_SIGNALS if signals is None else signals,
                user_filter=user_filter,
                max_logs=max_logs,
                location=self.device.location,
                state=StateDB(self.state) if incremental else None,
                incremental=incremental,
                progress=progress,
                on_poll=on_poll,
                backoff=backoff,
                info=self._facts(),
            )

    def plan(
        self,
        policy: Policy,
        *,
        since: str | None = None,
        until: str | None = None,
        confirmations: Mapping[str, HostConfirmation] | None = None,
        from_syslog: Sequence[str] = (),
        valid_for: timedelta | None = None,
    ) -> Plan:
        """Reads the log and the list, decides by ``policy``, and returns the plan; writes nothing.

        The window is ``since`` or the policy's ``thresholds.window``. ``confirmations`` (per
        host, from :func:`panpin.capture.confirm_hosts`) feed rules that require confirmation;
        a candidate the capture did not see is ``not-seen``. ``from_syslog``: the evidence comes
        from these forwarded syslog files (this firewall's lines, the location's scope) instead
        of the device's log; the list is still read from the device, and the state history is
        not touched (a later device scan would count the same entries twice). ``valid_for``
        gives the plan a change window (``not_after``): :meth:`apply` refuses it afterwards.
        """
        return self._plan(
            policy,
            since=since,
            until=until,
            incremental=False,
            capture=confirmations,
            from_syslog=from_syslog,
            valid_for=valid_for,
        )

    def _plan(
        self,
        policy: Policy,
        *,
        since: str | None,
        until: str | None,
        incremental: bool,
        capture: Mapping[str, HostConfirmation] | None = None,
        from_syslog: Sequence[str] = (),
        valid_for: timedelta | None = None,
    ) -> Plan:
        self._work_on_active()
        info = self.info()
        current = self.exclusions()
        peer = self._pair()
        # Each member keeps the log of what passed through it: both are read, the evidence is
        # the pair's (the plan names both serials).
        peer_info = peer._facts() if peer is not None and not from_syslog else None
        candidates, scan_doc = scan_for_plan(
            self.api,
            device=self.device,
            info=info,
            policy=policy,
            since=since,
            until=until,
            incremental=incremental,
            state_path=self.state,
            current=current,
            from_syslog=from_syslog,
            peer=(peer.api, peer_info) if peer is not None and peer_info is not None else None,
        )
        confirmations: dict[str, str] | None = None
        if capture is not None:
            confirmations = {
                c.host: capture[c.host].status if c.host in capture else "not-seen"
                for c in candidates
            }
            scan_doc["confirmations"] = {
                h: capture[h].to_dict() for h in sorted(confirmations) if h in capture
            }
        # Hosts an enabled predefined exclusion already covers need no entry; the xpath of the
        # predefined entries is unverified, so a failed read only says "not checked".
        shipped = read_predefined(self.api, self.device.location)
        scan_doc["predefined"] = {
            "checked": shipped.checked,
            "enabled": len(shipped.names or ()),
            "disabled": list(shipped.disabled),
            "note": shipped.note(),
        }
        if not shipped.checked:
            self.say(shipped.note())
        holds = self._holds(policy, write=incremental)
        plan, _ = policy_plan(
            device=self.device,
            info=info,
            current=current,
            candidates=candidates,
            policy=policy,
            scan=scan_doc,
            confirmations=confirmations,
            predefined=shipped.names or (),
            valid_for=valid_for,
            holds=holds,
        )
        for d in plan.decisions:
            if d.action == "held":
                self.say(f"{d.host}: held: {d.reason}")
        if peer_info is not None and peer is not None:
            plan = replace(
                plan,
                device={
                    **plan.device,
                    "ha_peer": peer.device.name,
                    "ha_peer_serial": peer_info.serial,
                },
            )
        return plan

    def _holds(self, policy: Policy, *, write: bool) -> dict[str, Hold]:
        """The rollback holds that still apply here; ``write`` (a run) records those that ended.
        A state database that does not exist holds nothing (reading must not create one)."""
        if not Path(self.state).exists():
            return {}
        journal = self.journal()
        location = str(self.device.location)
        active, ended = active_holds(
            journal.holds(self.device.name, location), policy, date.today()
        )
        for hold, why in ended:
            self.say(f"hold on {hold.entry} ended: {why}")
        if write and ended:
            journal.end_holds(self.device.name, location, ended)
        return active

    def rollback_plan(
        self, change_id: str | None = None, *, last: bool = False
    ) -> tuple[Plan, list[str]]:
        """Reads the list and returns the inverse of a recorded change, with notes; writes nothing.

        ``last``: the newest committed change on this device in the journal.
        """
        if bool(change_id) == bool(last):
            raise errors.InputError("give either a change id or last=True")
        journal = self.journal()
        target = change_id
        if last:
            record = journal.last(self.device.name)
            if record is None:
                raise errors.InputError(f"no committed change on {self.device.name} in the journal")
            target = record.change_id
        assert target is not None
        return rollback_plan(
            device=self.device,
            info=self.info(),
            current=self.exclusions(),
            target=target,
            journal=journal,
        )

    def history(self) -> list[ChangeRecord]:
        """The journal's records for this device, oldest first. Touches nothing on the network."""
        return self.journal().records(self.device.name)

    # --- writes -------------------------------------------------------------------------------

    def apply(self, plan: Plan, *, commit: bool = True) -> Outcome:
        """Writes exactly ``plan``: lock, re-check, set/delete, commit this admin's changes, verify.

        Refuses a plan made for another device or location, or against a list that has changed
        since (:class:`~panpin.errors.PlanError`). On failure this admin's changes are reverted and
        the device is left as it was; other admins' pending work is never touched.
        """
        with self.locked():
            self._work_on_active()
            info = self.info()
            peer = self._pair()
            if peer is not None and plan.device.get("ha_peer_serial") == info.serial:
                # Planned on the member that is now the peer (a failover since): the plan names
                # both serials, and the peer must still be the member it was planned on.
                peer_serial = peer._facts().serial
                if peer_serial != plan.device.get("serial"):
                    raise errors.PlanError(
                        f"plan {plan.change_id} is for serials {plan.device.get('serial')} and "
                        f"{info.serial}; {peer.device.name} is {peer_serial}; re-run plan"
                    )
                self.say(
                    f"plan {plan.change_id} was made on {plan.device.get('name')}; "
                    f"{self.device.name} is the active member now: applying there"
                )
                plan = replace(
                    plan,
                    device={
                        **plan.device,
                        "serial": info.serial,
                        "ha_peer_serial": str(plan.device.get("serial")),
                    },
                )
            applier = Applier(self.api, self.device, info, self.journal(), self.say)
            outcome = applier.apply(plan, commit=commit)
            if outcome.result in (ChangeResult.COMMITTED, ChangeResult.UNVERIFIED):
                self._await_sync(outcome)
            return outcome

    def _await_sync(self, outcome: Outcome) -> None:
        """After a commit on an HA member: wait (bounded) for the peer's running-config sync and
        record it; warn when sync is off or the peer is down. panpin never starts a sync."""
        from panpin.panos.device import wait_for_sync

        if not outcome.in_ha_pair:
            return
        try:
            note = wait_for_sync(self.api, self.device.commit_poll)
        except errors.PanpinError as exc:
            # The change is committed and verified: a state read that fails is a warning.
            note = f"warning: could not read the HA sync state after the commit ({exc})"
        if note is None:
            return
        self.say(note)
        outcome.notes.append(note)
        self.journal().change_finished(
            outcome.change_id, outcome.result, job_id=outcome.job_id, detail=note
        )

    def commit_change(self, change_id: str) -> Outcome:
        """Writes: commits panpin's change ``change_id`` left uncommitted (``apply --no-commit``
        or an interrupted run), after checking this admin's pending changes are exactly it."""
        with self.locked():
            applier = Applier(self.api, self.device, self.info(), self.journal(), self.say)
            return applier.finish(change_id, commit=True)

    def discard_change(self, change_id: str) -> Outcome:
        """Writes: reverts panpin's change ``change_id`` left uncommitted, after the same check;
        other admins' pending work stays."""
        with self.locked():
            applier = Applier(self.api, self.device, self.info(), self.journal(), self.say)
            return applier.finish(change_id, commit=False)

    def rollback(
        self,
        change_id: str | None = None,
        *,
        last: bool = False,
        hold_for: timedelta | None = None,
    ) -> Outcome:
        """Writes the inverse of a recorded change (its own change id, journaled and committed),
        then holds the entries it removed out of later runs (:meth:`apply_rollback`)."""
        with self.locked():
            plan, notes = self.rollback_plan(change_id, last=last)
            for note in notes:
                self.say(note)
            return self.apply_rollback(plan, hold_for=hold_for)

    def apply_rollback(self, plan: Plan, *, hold_for: timedelta | None = None) -> Outcome:
        """Writes a rollback plan like :meth:`apply`; once it has reached the device, records a
        hold on each entry it removed (state database), so runs do not add them again while the
        rule that allowed them is unchanged, until ``hold_for`` (default: the policy's
        ``defaults.expires`` recorded with the change) or ``panpin release``."""
        with self.locked():
            outcome = self.apply(plan)
            if outcome.result in _REACHED and plan.removes:
                held = self.journal().hold_removed(
                    plan, self.device.name, hold_for=hold_for, today=date.today()
                )
                for hold in held:
                    self.say(
                        f"holding {hold.entry} out of later runs until {hold.until.isoformat()} "
                        f"(panpin release {hold.entry} ends it)"
                    )
            return outcome

    def release(self, entry: str) -> list[HoldRecord]:
        """Ends the holds on ``entry`` at this device (state database only; the device is not
        touched). Returns the holds ended."""
        return self.journal().release(self.device.name, entry)

    def run(self, policy: Policy, *, since: str | None = None, dry_run: bool = False) -> RunResult:
        """Writes (unless ``dry_run``): the cron one-shot — incremental plan, then apply.

        Reads the log since the stored watermark, decides over the policy's window of history, and
        applies when there is something to do. Errors are caught and returned in the result
        (``exit_code``), so a fleet run goes on with the next device.
        """
        # The run's own deadline (`timeouts.run`): no new request after it, except to clean up
        # and to follow a commit job to its end, which has a deadline of its own.
        self.api.run_deadline = time.monotonic() + self.device.run_timeout
        try:
            with self.locked():
                return self._run(policy, since=since, dry_run=dry_run)
        except errors.PanpinError as exc:
            return RunResult(self.device.name, "error", exc.exit_code, error=str(exc))
        finally:
            if self._api is not None:
                self._api.run_deadline = None

    def _run(self, policy: Policy, *, since: str | None, dry_run: bool) -> RunResult:
        name = self.device.name
        plan = self._plan(policy, since=since, until=None, incremental=True)
        if not plan.has_changes:
            if not dry_run:
                # The list just read may show that an interrupted run's change did land.
                settle_interrupted(self.journal(), name, list(plan.base), pending_ours=None)
                # And a change whose push failed on some firewall is pushed again (run()
                # holds the run lock).
                Applier(
                    self.api, self.device, self.info(), self.journal(), self.say
                ).repush_failed()
            return RunResult(name, ChangeResult.NOTHING_TO_DO, plan=plan)
        if dry_run:
            # The same pre-checks the real run meets first, so a dry run exits as it would
            # (a pending --no-commit change, a lock, a passive HA member: exit 5).
            Applier(self.api, self.device, self.info(), self.journal(), self.say).check()
            return RunResult(name, "pending", errors.EXIT_PENDING, plan=plan)
        try:
            outcome = self.apply(plan)
        except errors.StalePlan:
            # The list changed between run's own plan and its apply: plan once more.
            self.say("the exclusion list changed while planning; planning again")
            plan = self._plan(policy, since=since, until=None, incremental=True)
            if not plan.has_changes:
                return RunResult(name, ChangeResult.NOTHING_TO_DO, plan=plan)
            try:
                outcome = self.apply(plan)
            except errors.StalePlan as exc:
                raise errors.BusyError(
                    f"the exclusion list changed again under panpin ({exc}): someone else is "
                    "changing it; nothing was changed, try later"
                ) from None
        return RunResult(name, outcome.result, plan=plan, outcome=outcome)


# Rollback results after which its removals may be on the device: their entries are held.
_REACHED = frozenset(
    {
        ChangeResult.COMMITTED,
        ChangeResult.UNVERIFIED,
        ChangeResult.PUSH_FAILED,
        ChangeResult.IN_DOUBT,
    }
)


def run_fleet(
    sessions: Sequence[Session], policy: Policy, *, since: str | None = None, dry_run: bool = False
) -> list[RunResult]:
    """Writes (unless ``dry_run``): :meth:`Session.run` on each device, several at once.

    Holds the run lock once for all of them (a second panpin run exits 5, :class:`RunLocked`);
    the sessions must share one state database. Results come in the order of ``sessions``.
    """
    from panpin.state import run_lock

    states = {s.state for s in sessions}
    if len(states) > 1:
        raise errors.InputError("a fleet run needs one state database for all its devices")
    if not sessions:
        return []
    # Both members of an HA pair named (--all): the pair is one unit of work, done once through
    # the first member named; two runs would change the same active firewall at once.
    seen: set[str] = set()
    unique: list[Session] = []
    for s in sessions:
        if s.device.peer is not None and s.device.peer.name in seen:
            continue
        seen.add(s.device.name)
        unique.append(s)
    sessions = unique
    with run_lock(sessions[0].state):
        for s in sessions:
            s._lock_held = True
        try:
            if len(sessions) == 1:
                return [sessions[0].run(policy, since=since, dry_run=dry_run)]
            workers = min(FLEET_CONCURRENCY, len(sessions))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                return list(
                    pool.map(lambda s: s.run(policy, since=since, dry_run=dry_run), sessions)
                )
        finally:
            for s in sessions:
                s._lock_held = False
