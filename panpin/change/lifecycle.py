"""The change lifecycle: pre-check, lock, apply, admin-scoped commit, push, verify, revert.

Each verb says in its docstring what it touches on the device. The invariant: after :func:`apply_plan`
the device holds either the planned list, committed and verified, or exactly what it held before,
with every other admin's pending work intact. panpin never loads ``running-config.xml`` and never
reverts the whole candidate: only this admin's changes (``<revert><config><partial><admin>``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn, Protocol

from panpin import errors
from panpin.change.plan import Plan, list_fingerprint
from panpin.change.results import ChangeResult
from panpin.panos import panosxml
from panpin.panos.device import HaState, commit_permission, ha_state
from panpin.panos.exclusions import ExclusionEntry, read_list
from panpin.panos.jobs import JobStatus, poll_job
from panpin.panos.timing import Backoff
from panpin.panos.xmlapi import NotSent, XmlApi
from panpin.settings import Location

if TYPE_CHECKING:
    from panpin.change.journal import ChangeRecord

log = logging.getLogger("panpin.change.lifecycle")

_RUNNING_JOB_TYPES = ("commit", "commitall", "validate", "commit-all")


class Journal(Protocol):
    """Where changes are recorded (the state database); written before the commit starts."""

    def check_writable(self) -> None: ...

    def change_started(self, plan: Plan, device: str) -> None: ...

    def change_finished(
        self, change_id: str, result: ChangeResult, *, job_id: str | None = None, detail: str = ""
    ) -> None: ...

    def unfinished_changes(self, device: str) -> list[str]: ...

    def get(self, change_id: str) -> ChangeRecord | None: ...

    def records(self, device: str | None = None) -> list[ChangeRecord]: ...


@dataclass
class Outcome:
    """What an apply did, for output and the journal."""

    change_id: str
    result: ChangeResult
    job_id: str | None = None
    push_job_id: str | None = None
    # The names of the entries added and removed (JSON: lists of names; counts are their len).
    adds: tuple[str, ...] = ()
    removes: tuple[str, ...] = ()
    devices: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Whether the pre-check found the device in an HA pair: only then does panpin wait for the
    # peer's running-config sync after the commit (no extra request on a standalone device).
    in_ha_pair: bool = False


@dataclass(frozen=True)
class Precheck:
    pending_others: bool
    pending_ours: bool
    notes: tuple[str, ...] = ()
    # The HA state read first (None: it could not be read, taken as standalone).
    ha: HaState | None = None


# --- read-only pre-checks ----------------------------------------------------------------------


@dataclass(frozen=True)
class LockEntry:
    owner: str
    scope: str
    comment: str


_RUN_TAG_RE = re.compile(r"\brun=([0-9a-f]{12})\b")


def run_tag(state: str | os.PathLike[str]) -> str:
    """A short name for one panpin installation (host and state database), put in lock comments.

    The run lock keeps two runs on one state database apart; this tag keeps apart two panpin
    installations (two state databases, e.g. two cron hosts) that share an admin on one device:
    the device's config lock of that admin is only "ours" when it carries our tag (or none).
    """
    ident = f"{socket.gethostname()}:{os.path.realpath(state)}"
    return hashlib.sha256(ident.encode()).hexdigest()[:12]


def _foreign_tag(comment: str, tag: str | None) -> str | None:
    """The run tag in a lock comment when it is another installation's, else None."""
    found = _RUN_TAG_RE.search(comment)
    if tag is None or found is None or found.group(1) == tag:
        return None
    return found.group(1)


def lock_entries(api: XmlApi, what: str) -> list[LockEntry]:
    """Every config or commit lock; PAN-OS 9.1+ lists all scopes with <vsys>all."""
    try:
        response = api.op(f"<show><{what}><vsys>all</vsys></{what}></show>")
    except errors.BadRequest:
        response = api.op(f"<show><{what}></{what}></show>")
    result = response.result
    if result is None:
        return []
    return [
        LockEntry(
            owner=entry.get("name", ""),
            scope=(entry.findtext("name") or "shared").strip(),
            comment=(entry.findtext("comment") or "").strip(),
        )
        for entry in result.iter("entry")
    ]


def _other_panpin(admin: str, lock: LockEntry) -> errors.LockHeld:
    return errors.LockHeld(
        f"another panpin installation holds {admin}'s config lock (scope {lock.scope}, "
        f"comment {lock.comment!r}): it works on this device with another state database. "
        "Nothing was changed; retry when it is done. If no other panpin runs, release the lock "
        "(web UI: Config Lock; or `request config-lock remove`)."
    )


def check_locks(api: XmlApi, admin: str, scope: str, tag: str | None = None) -> None:
    """Raise :class:`LockHeld` naming the holder if another admin holds a lock that blocks us,
    or if our admin's lock carries another panpin installation's run tag."""
    for what in ("config-locks", "commit-locks"):
        for lock in lock_entries(api, what):
            blocks = what == "commit-locks" or lock.scope in ("shared", scope) or scope == "shared"
            if lock.owner == admin:
                if blocks and _foreign_tag(lock.comment, tag):
                    raise _other_panpin(admin, lock)
                continue
            if blocks:
                kind = what.removesuffix("s").replace("-", " ")
                raise errors.LockHeld(
                    f"{lock.owner} holds a {kind} (scope {lock.scope}); nothing was changed. "
                    "Retry when it is released."
                )


@dataclass(frozen=True)
class CommitJob:
    """A commit, push or validate job as ``show jobs all`` lists it."""

    job_id: str
    running: bool  # ACT or PEND
    description: str


def commit_jobs(api: XmlApi) -> list[CommitJob]:
    """The device's commit/push/validate jobs (tolerant: an unknown command gives none)."""
    try:
        response = api.op("<show><jobs><all></all></jobs></show>")
    except (errors.BadRequest, errors.NotPresent):
        return []
    result = response.result
    if result is None:
        return []
    return [
        CommitJob(
            job_id=(job.findtext("id") or "?").strip(),
            running=(job.findtext("status") or "").strip().upper() in ("ACT", "PEND"),
            description=job.findtext("description") or "",
        )
        for job in result.iter("job")
        if (job.findtext("type") or "").strip().lower() in _RUNNING_JOB_TYPES
    ]


def running_commit_jobs(api: XmlApi) -> list[str]:
    """Ids of commit/push/validate jobs still running."""
    return [job.job_id for job in commit_jobs(api) if job.running]


def pending_changes(api: XmlApi) -> list[tuple[str, str]] | None:
    """``(owner, xpath)`` of every uncommitted change (``show config list changes``); ``None``
    when the device does not say."""
    try:
        response = api.op("<show><config><list><changes></changes></list></config></show>")
    except (errors.BadRequest, errors.NotPresent):
        return None
    if response.result is None:
        return []
    return [
        ((entry.findtext("owner") or "").strip(), (entry.findtext("xpath") or "").strip())
        for entry in response.result.iter("entry")
    ]


def pending_owners(api: XmlApi) -> set[str] | None:
    """Admins with uncommitted changes; ``None`` if unknown."""
    changes = pending_changes(api)
    return None if changes is None else {owner for owner, _ in changes if owner}


def check_ha(api: XmlApi) -> HaState | None:
    """Refuse (exit 5, nothing written) on any HA member but the active one. Reads only.

    A device that cannot answer (an old release, a role without that op command) is taken as
    standalone, loudly: the warning says the HA state was not checked.
    """
    try:
        state = ha_state(api)
    except (errors.ApiError, errors.ResponseError) as exc:
        if isinstance(exc, errors.AuthError):
            raise
        log.warning("could not read the HA state (%s); going on as if standalone", exc)
        return None
    if not state.changeable:
        raise errors.BusyError(state.refusal())
    return state


def check_commit_permission(api: XmlApi, admin: str) -> None:
    """Refuse (exit 1, nothing locked or written) when the admin's role plainly lacks the XML
    API commit permission; a role the config does not show lets the change go on (the commit
    itself would then be refused and reverted). Reads only."""
    if not admin:
        return
    try:
        found = commit_permission(api, admin)
    except errors.PermissionDenied as exc:
        log.info("could not read the admin's role (%s); the commit will tell", exc)
        return
    if found.allowed is False:
        raise errors.PermissionDenied(
            f"{found.detail}; nothing was changed. Allow `commit` under Device > Admin Roles > "
            "XML API for this admin"
        )


def precheck(api: XmlApi, admin: str, location: Location, tag: str | None = None) -> Precheck:
    """HA state, the admin's commit permission, who holds locks, whether a commit runs, whose
    changes are pending. Reads only."""
    ha = check_ha(api)
    check_commit_permission(api, admin)
    check_locks(api, admin, location.lock_scope, tag)
    jobs = running_commit_jobs(api)
    if jobs:
        raise errors.CommitInProgress(
            f"a commit job is running (job {', '.join(jobs)}); nothing was changed. Retry later."
        )
    pending = (
        api.op("<check><pending-changes></pending-changes></check>").root.findtext("result") or ""
    )
    if pending.strip().lower() != "yes":
        return Precheck(pending_others=False, pending_ours=False, ha=ha)
    owners = pending_owners(api)
    notes: list[str] = []
    if owners is None:
        notes.append(
            "the device has uncommitted changes (owner unknown); panpin commits only its admin's"
        )
        return Precheck(pending_others=True, pending_ours=False, notes=tuple(notes), ha=ha)
    others = sorted(owners - {admin})
    if others:
        notes.append(
            f"uncommitted changes by {', '.join(others)} stay pending: panpin commits only {admin}'s"
        )
    return Precheck(
        pending_others=bool(others), pending_ours=admin in owners, notes=tuple(notes), ha=ha
    )


# --- verbs that touch the device -----------------------------------------------------------------


def take_lock(
    api: XmlApi, location: Location, comment: str, *, admin: str = "", tag: str | None = None
) -> None:
    """Take the config lock for the location's scope.

    A lock this admin already holds is reused: it is a run of ours that died (the run lock rules
    out a live one), unless its comment carries another installation's run ``tag``.
    """
    try:
        api.op(
            f"<request><config-lock><add><comment>{_xml_text(comment)}</comment></add>"
            "</config-lock></request>",
            vsys=location.lock_scope,
        )
    except errors.ApiError as exc:
        if isinstance(exc, errors.LockAlreadyOurs):
            for lock in lock_entries(api, "config-locks"):
                if lock.owner == admin and _foreign_tag(lock.comment, tag):
                    raise _other_panpin(admin, lock) from None
            log.info("reusing the config lock this admin already holds")
            return
        if isinstance(exc, errors.LockHeld | errors.OperationNotPossible):
            raise errors.LockHeld(f"cannot take the config lock: {exc}") from None
        raise


def release_lock(api: XmlApi, location: Location) -> bool:
    """Release our config lock; "not currently locked" (a commit already released it) is fine.

    Best effort, never raises: it runs on the way out of success and failure alike, and a lock
    left behind is reused and released by the next run. Returns False when it may still be held.
    """
    try:
        api.op(
            "<request><config-lock><remove></remove></config-lock></request>",
            vsys=location.lock_scope,
        )
    except errors.ApiError as exc:
        if isinstance(exc, errors.NotLocked | errors.NotPresent):
            return True
        log.warning("could not release the config lock: %s", exc)
        return False
    except errors.PanpinError as exc:
        log.warning(
            "could not release the config lock (%s); the next run reuses and releases it", exc
        )
        return False
    return True


def revert_ours(api: XmlApi, admin: str) -> None:
    """Discard this admin's uncommitted changes only; other admins' pending work stays."""
    api.op(
        "<revert><config><partial><admin><member>"
        f"{_xml_text(admin)}"
        "</member></admin></partial></config></revert>"
    )


def write_changes(api: XmlApi, plan: Plan, location: Location) -> None:
    """All adds in one ``action=set`` on the list xpath; removals as ``action=delete`` per entry.

    Changes the candidate configuration only.
    """
    xpath = panosxml.list_xpath(location)
    if plan.adds:
        api.config("set", xpath, panosxml.entries_element(list(plan.adds)))
    for entry in plan.removes:
        try:
            api.config("delete", panosxml.entry_xpath(location, entry.name))
        except errors.NotPresent:
            # Gone already (code 7): the goal state for this entry holds.
            log.info("entry %s was already absent", entry.name)


def start_commit(api: XmlApi, admin: str, description: str, *, panorama: bool) -> str | None:
    """Start a commit of only ``admin``'s changes; the job id, ``None`` when nothing to commit."""
    return api.commit(panosxml.commit_cmd(description, [admin], panorama=panorama))


def commit_ours(
    api: XmlApi, admin: str, description: str, *, panorama: bool, backoff: Backoff
) -> JobStatus | None:
    """Commit only ``admin``'s changes and wait for the job; ``None`` when nothing was committed."""
    job_id = start_commit(api, admin, description, panorama=panorama)
    if job_id is None:
        return None
    return poll_job(api, job_id, backoff=backoff)


def push(
    api: XmlApi, location: Location, description: str, *, backoff: Backoff
) -> JobStatus | None:
    """Panorama: push the template or stack that holds the list (``commit-all``) and wait."""
    job_id = api.commit(panosxml.push_cmd(location, description), action="all")
    if job_id is None:
        return None
    return poll_job(api, job_id, backoff=backoff)


# --- the lifecycle -------------------------------------------------------------------------------


def _xml_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _same(a: list[ExclusionEntry], b: list[ExclusionEntry]) -> bool:
    return list_fingerprint(a) == list_fingerprint(b)


def _job_failure(status: JobStatus, what: str) -> str:
    details = "; ".join(status.details[-5:]) or "no details"
    return f"{what} job {status.job_id} finished {status.result or status.status}: {details}"


@dataclass
class ChangeContext:
    api: XmlApi
    location: Location
    admin: str
    device_name: str
    panorama: bool
    journal: Journal | None = None
    backoff: Backoff = field(default_factory=Backoff)
    # This installation's tag for lock comments (:func:`run_tag`); None: no tag, any own lock reused.
    run_tag: str | None = None
    say: Callable[[str], None] = lambda text: None

    # Whether panpin holds the config lock now: the release-always block in apply_plan releases
    # it on the way out, whatever ended the change.
    locked: bool = False
    # A journal write that failed after the lock was taken (the change went on; see record()).
    journal_error: errors.PanpinError | None = None

    def record(
        self, change_id: str, result: ChangeResult, *, job_id: str | None = None, detail: str = ""
    ) -> None:
        """End a change in the journal (``change_finished``), when there is one.

        A journal that fails now (disk full, a damaged file) must not stop the clean-up that
        follows (revert, unlock): the failure is kept in :attr:`journal_error` and reported once
        the device is settled.
        """
        if self.journal is None:
            return
        try:
            self.journal.change_finished(change_id, result, job_id=job_id, detail=detail)
        except errors.PanpinError as exc:
            log.error("the journal could not record %s as %s: %s", change_id, result, exc)
            self.journal_error = self.journal_error or exc

    def unlock(self) -> None:
        """Release the config lock if panpin holds it (best effort, never raises)."""
        if self.locked:
            # One try is enough: a lock it could not release is reused and released by the
            # next run (its comment names this installation).
            release_lock(self.api, self.location)
            self.locked = False


def ready_to_change(ctx: ChangeContext) -> tuple[Precheck, list[str]]:
    """The pre-checks every change passes before it takes a lock. Reads only.

    Raises what a change would meet (a passive HA member, another admin's lock, a running
    commit, this admin's pending changes that are not panpin's: :class:`BusyError`, exit 5).
    Returns the pre-check and the interrupted changes of panpin whose leftovers the change
    reverts first. ``run --dry-run`` calls it too, so it exits as the real run would.
    """
    api, location, admin = ctx.api, ctx.location, ctx.admin
    pre = precheck(api, admin, location, ctx.run_tag)
    for note in pre.notes:
        ctx.say(note)
    if not pre.pending_ours:
        return pre, []
    unfinished = _may_have_leftovers(ctx)
    left = _left_uncommitted(ctx)
    if left:
        # Left in the candidate on purpose (--no-commit): a person decides, not a run.
        ids = ", ".join(left)
        raise errors.BusyError(
            f"change {ids} of panpin is uncommitted in the candidate (apply --no-commit): "
            f"`panpin commit {left[0]}` commits it, `panpin discard {left[0]}` reverts it; "
            "nothing was changed now"
        )
    if not unfinished:
        raise errors.BusyError(
            f"admin {admin} has uncommitted changes that panpin did not make; commit or "
            "revert them first (panpin commits all of its admin's changes)"
        )
    return pre, unfinished


def apply_plan(ctx: ChangeContext, plan: Plan, *, commit: bool = True) -> Outcome:
    """Apply exactly ``plan``: lock, re-read, write, commit ours, (push), verify, unlock, record.

    Touches the device. On any failure before the commit is verified, this admin's changes are
    reverted and :class:`CommitFailed` (exit 4) raised; if that cannot be done or checked,
    :class:`ManualInterventionNeeded` (exit 6). A commit whose fate is unknown (the answer to the
    commit request, or every poll of its job, was lost) is settled by the running list before
    anything is reverted: reverting under a commit that did happen would be a lie in the journal.
    """
    api, location, admin = ctx.api, ctx.location, ctx.admin
    outcome = Outcome(change_id=plan.change_id, result=ChangeResult.NOTHING_TO_DO)
    if panosxml.list_xpath(location) != plan.xpath:
        raise errors.PlanError(
            f"the plan is for {plan.location} ({plan.xpath}), not {location}; re-run plan"
        )
    if not plan.has_changes:
        # The plan's base is the running list as just read: enough to settle a change that an
        # interrupted run committed without recording it, at no cost in requests.
        settle_interrupted(ctx.journal, ctx.device_name, list(plan.base), pending_ours=None)
        ctx.say("nothing to change")
        return outcome

    pre, unfinished = ready_to_change(ctx)
    outcome.notes.extend(pre.notes)
    outcome.in_ha_pair = pre.ha is not None and pre.ha.enabled
    if unfinished:
        ctx.say(
            f"recovering from an interrupted change ({', '.join(unfinished)}): reverting {admin}'s leftovers"
        )
        revert_ours(api, admin)

    if ctx.journal is not None:
        # Before the lock: a state database that cannot be written is bad input (exit 2) now,
        # and would otherwise fail after the device is locked and changed.
        ctx.journal.check_writable()
    comment = f"panpin {plan.change_id}" + (f" run={ctx.run_tag}" if ctx.run_tag else "")
    try:
        take_lock(api, location, comment, admin=admin, tag=ctx.run_tag)
    except (errors.TransportError, errors.ResponseError, KeyboardInterrupt):
        # The answer was lost, not refused: the device may have given us the lock.
        ctx.locked = True
        ctx.unlock()
        raise
    ctx.locked = True
    # Everything after the lock runs inside this block, so no way out (an error, a state
    # database failure, SIGTERM) leaves panpin's lock on the device.
    try:
        return _apply_locked(ctx, plan, commit, outcome)
    except errors.StateError as exc:
        raise errors.StateError(
            f"{exc}; the change {plan.change_id} was not started and the device is unchanged"
        ) from None
    finally:
        ctx.unlock()


def _apply_locked(ctx: ChangeContext, plan: Plan, commit: bool, outcome: Outcome) -> Outcome:
    api, location, admin = ctx.api, ctx.location, ctx.admin
    try:
        running = read_list(api, location)
        candidate = read_list(api, location, candidate=True)
        if list_fingerprint(running) != plan.base_fingerprint:
            raise errors.StalePlan(
                f"stale plan {plan.change_id}: the exclusion list changed since the plan was made; "
                "re-run plan"
            )
        if not _same(running, candidate):
            raise errors.StalePlan(
                f"stale plan {plan.change_id}: the list has uncommitted edits in the candidate "
                "configuration; commit or revert them, then re-run plan"
            )
    except BaseException:
        ctx.unlock()
        raise
    # Nothing of ours is pending now (reverted above, or there was none): every interrupted
    # change gets its final result from the running list.
    settle_interrupted(ctx.journal, ctx.device_name, running, pending_ours=False)

    if ctx.journal:
        ctx.journal.change_started(plan, ctx.device_name)
    outcome.adds = tuple(e.name for e in plan.adds)
    outcome.removes = tuple(e.name for e in plan.removes)
    description = (
        f"panpin {plan.change_id}: +{len(plan.adds)} -{len(plan.removes)} ssl-exclude-cert"
    )
    committed = False
    # Where a failure happened decides what it means: before the commit request nothing was
    # committed; a lost answer to the commit request, or a job that cannot be followed to its
    # end, may hide an accepted commit, and then the device, not the exception, says what happened.
    phase = "write"
    try:
        write_changes(api, plan, location)
        ctx.say(
            f"wrote {len(plan.adds)} add(s) and {len(plan.removes)} removal(s) to the candidate"
        )
        if not commit:
            ctx.unlock()
            outcome.result = ChangeResult.UNCOMMITTED
            ctx.record(plan.change_id, ChangeResult.UNCOMMITTED, detail="--no-commit")
            return outcome
        phase = "commit-request"
        job_id = start_commit(api, admin, description, panorama=ctx.panorama)
        if job_id is not None:
            outcome.job_id = job_id
            phase = "job"
            with api.persisting():  # the job decides now; a lost poll answer says nothing
                status = poll_job(api, job_id, backoff=ctx.backoff)
            if not status.ok:
                raise errors.JobFailed(
                    _job_failure(status, "commit"), job_id=status.job_id, details=status.details
                )
        committed = True
        ctx.say(f"committed {admin}'s changes (job {outcome.job_id or '-'})")
    except KeyboardInterrupt as exc:
        if phase in ("commit-request", "job"):
            # PAN-OS refuses a revert while a commit runs, and waiting for the job is what
            # the signal asked panpin not to do: the journal keeps the job, the lock goes,
            # and the next run settles the change by the running list.
            _interrupted_in_commit(ctx, plan, outcome, exc)
        _restore(ctx, plan, exc)
        raise AssertionError("unreachable") from exc  # _restore always raises
    except BaseException as exc:
        if _fate_unknown(phase, exc):
            committed = _settle_commit(ctx, plan, exc, outcome)
        if not committed:
            _restore(ctx, plan, exc)
            raise AssertionError("unreachable") from exc  # _restore always raises

    if ctx.panorama and location.on_panorama:
        _push_and_check(ctx, plan.change_id, description, outcome)

    try:
        with api.persisting():
            running_after = read_list(api, location)
    except errors.PanpinError as exc:
        _unverified(ctx, plan, outcome, f"the running list could not be read to verify it ({exc})")
    if not _same(running_after, plan.planned_list()):
        _unverified(
            ctx,
            plan,
            outcome,
            "the running list does not hold the planned entries after the commit",
        )
    outcome.result = ChangeResult.COMMITTED
    # Recorded before the lock is released: the change is done whatever the unlock answers.
    ctx.record(plan.change_id, ChangeResult.COMMITTED, job_id=outcome.job_id)
    ctx.unlock()
    ctx.say(f"verified: the running list holds the planned state ({len(running_after)} entries)")
    if ctx.journal_error is not None:
        raise errors.ManualInterventionNeeded(
            f"change {plan.change_id} is committed and verified, but the journal could not "
            f"record it ({ctx.journal_error}); fix the state database: the next run records "
            "the change from the running list"
        )
    return outcome


def _interrupted_in_commit(
    ctx: ChangeContext, plan: Plan, outcome: Outcome, exc: KeyboardInterrupt
) -> NoReturn:
    if outcome.job_id is None:
        # Stopped before the commit request was answered: the device may have started the job
        # anyway. panpin holds the commit lock, so a commit job running now is this change's;
        # one quick read keeps its id in the journal for the next run (and for a person).
        outcome.job_id = _commit_job_of(ctx.api, plan.change_id)
    job = outcome.job_id or "(its id not yet answered)"
    ctx.record(
        plan.change_id,
        ChangeResult.IN_DOUBT,
        job_id=outcome.job_id,
        detail=f"interrupted during commit job {job}",
    )
    ctx.unlock()
    raise errors.ManualInterventionNeeded(
        f"interrupted during commit job {job} of change {plan.change_id}: not reverted (a commit "
        "is running); the next run settles it by the running list"
    ) from exc


def _commit_job_of(api: XmlApi, change_id: str) -> str | None:
    """The commit job of ``change_id``: the newest job whose description carries the change id
    (panpin commits with "panpin CHANGE_ID …"; jobs show their description, tests/data
    panos-samples show-job-commit-finished-ok-with-description.xml), else the one commit job
    still running (panpin holds the commit lock). None when neither says. Reads only."""
    try:
        jobs = [j for j in commit_jobs(api) if j.job_id.isdigit()]
    except (errors.PanpinError, KeyboardInterrupt):
        # A second signal or a device that does not answer: the journal says "not answered".
        return None
    mine = re.compile(rf"(?<![\w-]){re.escape(change_id)}(?![\w-])")
    ours = [j for j in jobs if mine.search(j.description)]
    if ours:
        return max(ours, key=lambda j: int(j.job_id)).job_id
    running = [j.job_id for j in jobs if j.running]
    return running[0] if len(running) == 1 else None


def _fate_unknown(phase: str, exc: BaseException) -> bool:
    """Whether a commit may have been accepted although ``exc`` came back in ``phase``.

    A PAN-OS answer to the commit request (status="error") is definite, and so is a job that
    ended FAIL. A lost or garbled answer to the commit request is not (unless the connection was
    never made), nor is anything that stops panpin following an accepted job to its end.
    """
    if phase == "commit-request":
        return isinstance(exc, errors.TransportError | errors.ResponseError) and not isinstance(
            exc, NotSent | errors.TLSError
        )
    if phase == "job":
        return isinstance(exc, errors.PanpinError) and not isinstance(exc, errors.JobFailed)
    return False


def _settle_commit(ctx: ChangeContext, plan: Plan, cause: BaseException, outcome: Outcome) -> bool:
    """The commit's answer was lost: wait for running commit jobs, then ask the running list.

    Returns True when the running list holds the planned state (the commit happened), False when
    it holds the base (it did not; the caller reverts). A commit job still running at the
    deadline, or a list that cannot be read, ends in :class:`ManualInterventionNeeded`: reverting
    under a commit that may still land could leave neither state.
    """
    api = ctx.api
    log.warning("the outcome of the commit is unknown (%s); asking the device", cause)
    try:
        with api.persisting():
            if isinstance(cause, errors.JobTimeout):
                still = [cause.job_id or "?"]
            else:
                still = []
                for job_id in running_commit_jobs(api):
                    try:
                        poll_job(api, job_id, backoff=ctx.backoff)
                    except errors.JobTimeout:
                        still.append(job_id)
            running = read_list(api, ctx.location)
    except errors.PanpinError as exc:
        detail = f"the commit's outcome is unknown ({cause}) and the device did not say ({exc})"
    else:
        if _same(running, plan.planned_list()):
            log.info("the running list holds the planned state: the commit happened")
            return True
        if not still and list_fingerprint(running) == plan.base_fingerprint:
            return False
        if still:
            detail = (
                f"commit job {', '.join(still)} was still running after "
                f"{ctx.backoff.deadline:g}s ({cause})"
            )
        else:
            detail = (
                f"the commit's outcome is unknown ({cause}) and the running list holds neither "
                "the state before the change nor the planned one"
            )
    ctx.unlock()
    # Not final: the next run settles it by the running list once the job is over.
    ctx.record(plan.change_id, ChangeResult.IN_DOUBT, job_id=outcome.job_id, detail=detail)
    raise errors.ManualInterventionNeeded(
        f"change {plan.change_id}: {detail}. panpin did not revert, because the commit may still "
        f"change the device. When no commit job runs on {ctx.device_name}, check {plan.xpath}: "
        f"`panpin rollback {plan.change_id}` undoes the change if it landed; the next run "
        "reverts leftovers of it if it did not."
    ) from cause


def _unverified(ctx: ChangeContext, plan: Plan, outcome: Outcome, detail: str) -> NoReturn:
    """The commit went through but its result could not be confirmed: record, unlock, exit 6."""
    ctx.unlock()
    ctx.record(plan.change_id, ChangeResult.UNVERIFIED, job_id=outcome.job_id, detail=detail)
    raise errors.ManualInterventionNeeded(
        f"change {plan.change_id} committed but not verified: {detail}; check "
        f"{plan.xpath} on {ctx.device_name} (panpin rollback {plan.change_id} undoes it)"
    )


def _left_uncommitted(ctx: ChangeContext) -> list[str]:
    """This device's changes recorded as left in the candidate by ``--no-commit``."""
    if ctx.journal is None:
        return []
    return [
        r.change_id
        for r in ctx.journal.records(ctx.device_name)
        if r.result is ChangeResult.UNCOMMITTED and r.location == str(ctx.location)
    ]


def _may_have_leftovers(ctx: ChangeContext) -> list[str]:
    """Interrupted changes that may have left candidate edits of this admin behind."""
    if ctx.journal is None:
        return []
    found = []
    for change_id in ctx.journal.unfinished_changes(ctx.device_name):
        record = ctx.journal.get(change_id)
        # An unverified change was committed: nothing of it is pending.
        if record is not None and record.result != ChangeResult.UNVERIFIED:
            found.append(change_id)
    return found


def _planned_of(record: ChangeRecord) -> list[ExclusionEntry]:
    """The list a journalled change leads to: its base, without its removals, with its adds."""
    removed = {e.name for e in record.removes}
    added = {e.name for e in record.adds}
    planned = [e for e in record.base if e.name not in removed and e.name not in added]
    return planned + list(record.adds)


def settle_interrupted(
    journal: Journal | None,
    device: str,
    running: list[ExclusionEntry],
    *,
    pending_ours: bool | None,
) -> None:
    """Give interrupted changes of this device a final result, judged by the running list.

    A change whose planned state is on the device was committed by a run that died before it
    could say so. One whose base is still there never reached the running config (aborted), and
    one whose list has moved on since is superseded; both only when nothing of ours is pending
    (``pending_ours`` False), since leftovers in the candidate are what the next change reverts.
    Reads nothing from the device.
    """
    if journal is None:
        return
    for change_id in journal.unfinished_changes(device):
        record = journal.get(change_id)
        if record is None:
            continue
        base = list(record.base)
        planned = _planned_of(record)
        if _same(running, planned):
            journal.change_finished(
                change_id,
                ChangeResult.COMMITTED,
                detail="interrupted; found committed by the next run",
            )
        elif (
            pending_ours is False
            and record.result != ChangeResult.UNVERIFIED
            and _same(running, base)
        ):
            # (An unverified change was committed: if its base is back, someone undid it on purpose.)
            journal.change_finished(
                change_id, ChangeResult.ABORTED, detail="interrupted; nothing of it was committed"
            )
        elif pending_ours is False:
            # Nothing of it is pending and the list has moved on: what it did is unknowable now,
            # and keeping it open would let it license reverting someone's later edits.
            journal.change_finished(
                change_id,
                ChangeResult.SUPERSEDED,
                detail=f"was {record.result}; the list changed since and nothing of it is pending",
            )
        else:
            log.info("interrupted change %s stays %s for the next change", change_id, record.result)


def _push_and_check(ctx: ChangeContext, change_id: str, description: str, outcome: Outcome) -> None:
    # The commit is in: following the push job may take several asks (commit-all itself keeps
    # the change profile and is never re-sent).
    with ctx.api.persisting():
        status = push(ctx.api, ctx.location, description, backoff=ctx.backoff)
    if status is None:
        outcome.notes.append("Panorama reported nothing to push")
        return
    outcome.push_job_id = status.job_id
    outcome.devices = [
        {"serial": d.serial, "name": d.name, "result": d.result, "status": d.status}
        for d in status.devices
    ]
    if status.ok and not status.devices:
        # Committed on Panorama, but no firewall got it: the change protects nothing yet.
        detail = f"push job {status.job_id} reached no firewall"
        ctx.unlock()
        ctx.record(change_id, ChangeResult.PUSH_FAILED, job_id=outcome.job_id, detail=detail)
        raise errors.ManualInterventionNeeded(
            f"change {change_id} is committed on Panorama but {detail}: {ctx.location} serves "
            "no device. Assign it to a template stack with firewalls and push from Panorama, or "
            f"run `panpin rollback {change_id}`."
        )
    if status.ok:
        ctx.say(f"pushed {ctx.location} to {len(status.devices)} device(s) (job {status.job_id})")
        # The push carries the template's whole config: an earlier change whose push failed on
        # some firewall has now reached every one.
        _close_push_failed(ctx, status.job_id, f"pushed with change {change_id}")
        return
    failed = status.failed_devices
    names = ", ".join(
        f"{d.name or d.serial} ({d.result}: {'; '.join(d.details[-2:]) or d.status})"
        for d in failed
    )
    detail = f"push job {status.job_id} failed on {names or 'the job itself'}"
    ctx.unlock()
    ctx.record(change_id, ChangeResult.PUSH_FAILED, job_id=outcome.job_id, detail=detail)
    raise errors.ManualInterventionNeeded(
        f"change {change_id} is committed on Panorama but {detail}. Devices that succeeded "
        f"hold the change. Re-push {ctx.location} from Panorama, or run `panpin rollback "
        f"{change_id}`."
    )


def _push_failed(ctx: ChangeContext) -> list[str]:
    """This device's changes at this location whose push failed and that nothing settled since."""
    journal = ctx.journal
    if journal is None:
        return []
    return [
        r.change_id
        for r in journal.records(ctx.device_name)
        if r.result == ChangeResult.PUSH_FAILED and r.location == str(ctx.location)
    ]


def _close_push_failed(ctx: ChangeContext, job_id: str | None, how: str) -> None:
    for change_id in _push_failed(ctx):
        ctx.record(change_id, ChangeResult.COMMITTED, job_id=job_id, detail=how)


def repush_failed(ctx: ChangeContext) -> str | None:
    """Panorama: push the location again when a change's push failed earlier; the job id, or None.

    The way out of ``push-failed`` (exit 6): Panorama holds the change, some firewall does not.
    A run with nothing new to change pushes the template or stack once more (``commit-all``,
    which never changes Panorama's own config) after the usual pre-checks; when every device
    reports OK the change is recorded committed, otherwise it stays push-failed and the run
    exits 6 again naming the devices.
    """
    pending = _push_failed(ctx)
    if not pending or not (ctx.panorama and ctx.location.on_panorama):
        return None
    precheck(ctx.api, ctx.admin, ctx.location, ctx.run_tag)
    ctx.say(f"the push of {', '.join(pending)} failed earlier: pushing {ctx.location} again")
    with ctx.api.persisting():
        status = push(
            ctx.api, ctx.location, f"panpin re-push of {pending[-1]}", backoff=ctx.backoff
        )
    if status is None:
        _close_push_failed(ctx, None, "re-push: Panorama reported nothing to push")
        return None
    if not status.ok:
        names = ", ".join(f"{d.name or d.serial} ({d.result})" for d in status.failed_devices)
        raise errors.ManualInterventionNeeded(
            f"the re-push of {ctx.location} (job {status.job_id}) failed again on "
            f"{names or 'the job itself'}; fix the firewall(s), then run again"
        )
    ctx.say(f"re-pushed {ctx.location} to {len(status.devices)} device(s) (job {status.job_id})")
    _close_push_failed(ctx, status.job_id, f"re-pushed (job {status.job_id})")
    return status.job_id


def _restore(ctx: ChangeContext, plan: Plan, cause: BaseException) -> None:
    """Revert this admin's changes, check the device is as before, unlock; always raises."""
    api, location = ctx.api, ctx.location
    try:
        with api.persisting():  # a revert is idempotent: asking again is always safe
            revert_ours(api, ctx.admin)
    except errors.PanpinError as exc:
        ctx.unlock()
        # Not final: the next run reverts what may be left of it before it changes anything.
        ctx.record(plan.change_id, ChangeResult.REVERT_FAILED, detail=f"revert failed: {exc}")
        raise errors.ManualInterventionNeeded(
            f"change {plan.change_id} failed ({cause}) and reverting {ctx.admin}'s changes failed "
            f"too ({exc}). Check the candidate configuration of {ctx.device_name} "
            f"({plan.xpath}) and revert {ctx.admin}'s changes by hand, or let the next run do it."
        ) from cause
    try:
        with api.persisting():
            running = read_list(api, location)
            candidate = read_list(api, location, candidate=True)
    except errors.PanpinError as exc:
        ctx.unlock()
        ctx.record(plan.change_id, ChangeResult.MANUAL, detail=f"reverted, but not verified: {exc}")
        raise errors.ManualInterventionNeeded(
            f"change {plan.change_id} failed ({cause}); {ctx.admin}'s changes were reverted, but "
            f"the list could not be read to check it ({exc}). Check {plan.xpath} on "
            f"{ctx.device_name}."
        ) from cause
    restored = list_fingerprint(running) == plan.base_fingerprint and _same(running, candidate)
    ctx.unlock()
    if not restored:
        ctx.record(plan.change_id, ChangeResult.MANUAL, detail="list differs after revert")
        raise errors.ManualInterventionNeeded(
            f"change {plan.change_id} failed ({cause}); after reverting {ctx.admin}'s changes the "
            f"list at {plan.xpath} differs from the state before the change. Check it by hand."
        ) from cause
    ctx.record(plan.change_id, ChangeResult.REVERTED, detail=str(cause)[:500])
    if isinstance(cause, errors.BusyError):
        raise cause
    raise errors.CommitFailed(
        f"change {plan.change_id} failed and was reverted; the device is as it was: {cause}"
    ) from cause


# --- a way out of an uncommitted change ----------------------------------------------------------

# What `panpin commit` / `panpin discard` may settle: a change left in the candidate on purpose
# (--no-commit) or by a run that stopped before its commit.
LEFT_IN_CANDIDATE = frozenset({ChangeResult.UNCOMMITTED, ChangeResult.STARTED})


def finish_uncommitted(ctx: ChangeContext, record: ChangeRecord, *, commit: bool) -> Outcome:
    """Commit (``commit=True``) or discard the change ``record`` left in the candidate.

    Touches the device. First checks, reading only, that this admin's pending changes are
    exactly the journalled ones: every one of them under the list's xpath, the running list
    still the change's base, and the candidate list its planned state; anything else is
    refused (exit 5) with nothing written. Then, under the config lock, a commit of only this
    admin's changes (verified by the running list) or a revert of only this admin's changes
    (verified by the candidate). Other admins' pending work is never touched.
    """
    api, location, admin = ctx.api, ctx.location, ctx.admin
    change_id = record.change_id
    verb = "commit" if commit else "discard"
    if record.result not in LEFT_IN_CANDIDATE:
        raise errors.PlanError(
            f"change {change_id} is {record.result}: nothing of it waits in the candidate"
        )
    if record.location != str(location) or record.device != ctx.device_name:
        raise errors.PlanError(
            f"change {change_id} was made on {record.device} at {record.location}, "
            f"not {ctx.device_name} at {location}"
        )
    pre = precheck(api, admin, location, ctx.run_tag)
    for note in pre.notes:
        ctx.say(note)
    running = read_list(api, location)
    planned = _planned_of(record)
    outcome = Outcome(change_id=change_id, result=ChangeResult.NOTHING_TO_DO)
    if not pre.pending_ours:
        # Nothing of this admin is pending: someone committed or reverted it meanwhile.
        found = ChangeResult.COMMITTED if _same(running, planned) else ChangeResult.ABORTED
        ctx.record(change_id, found, detail=f"nothing pending at `panpin {verb}`; settled")
        outcome.result = found
        ctx.say(f"nothing of change {change_id} is pending: recorded as {found}")
        return outcome
    changes = pending_changes(api)
    ours = None if changes is None else [x for owner, x in changes if owner == admin]
    where = panosxml.list_xpath(location)
    if ours is None:
        raise errors.BusyError(
            f"the device does not say which changes {admin} has pending; {verb} them by hand"
        )
    foreign = [x for x in ours if x != where and not x.startswith(where + "/")]
    candidate = read_list(api, location, candidate=True)
    if foreign or not _same(running, list(record.base)) or not _same(candidate, planned):
        what = (
            f"{admin} has other uncommitted changes ({', '.join(foreign[:3])})"
            if foreign
            else "the list is not as the change left it (running or candidate moved on)"
        )
        raise errors.BusyError(
            f"cannot {verb} change {change_id}: {what}; nothing was done. Commit or revert "
            f"{admin}'s changes in the web UI or CLI"
        )
    if ctx.journal is not None:
        ctx.journal.check_writable()
    take_lock(api, location, f"panpin {verb} {change_id}", admin=admin, tag=ctx.run_tag)
    ctx.locked = True
    try:
        if commit:
            return _commit_left(ctx, record, planned, outcome)
        revert_ours(api, admin)
        after = read_list(api, location, candidate=True)
        if not _same(after, list(record.base)):
            raise errors.ManualInterventionNeeded(
                f"discarded change {change_id}, but the candidate list is not its base; check "
                f"{where} on {ctx.device_name}"
            )
        outcome.result = ChangeResult.ABORTED
        ctx.record(change_id, ChangeResult.ABORTED, detail="discarded by `panpin discard`")
        ctx.say(f"discarded change {change_id}: {admin}'s uncommitted changes reverted")
        return outcome
    finally:
        ctx.unlock()


def _commit_left(
    ctx: ChangeContext, record: ChangeRecord, planned: list[ExclusionEntry], outcome: Outcome
) -> Outcome:
    api, admin = ctx.api, ctx.admin
    description = (
        f"panpin {record.change_id}: +{len(record.adds)} -{len(record.removes)} ssl-exclude-cert"
    )
    try:
        job_id = start_commit(api, admin, description, panorama=ctx.panorama)
        outcome.job_id = job_id
        if job_id is not None:
            with api.persisting():
                status = poll_job(api, job_id, backoff=ctx.backoff)
            if not status.ok:
                raise errors.CommitFailed(
                    f"{_job_failure(status, 'commit')}; change {record.change_id} stays "
                    f"uncommitted (`panpin discard {record.change_id}` reverts it)"
                )
    except errors.CommitFailed:
        raise
    except (errors.PanpinError, KeyboardInterrupt) as exc:
        raise errors.ManualInterventionNeeded(
            f"the commit of change {record.change_id} did not answer clearly ({exc}); when no "
            f"commit job runs, `panpin commit {record.change_id}` again settles it"
        ) from None
    if ctx.panorama and ctx.location.on_panorama:
        _push_and_check(ctx, record.change_id, description, outcome)
    with api.persisting():
        running = read_list(api, ctx.location)
    if not _same(running, planned):
        ctx.record(record.change_id, ChangeResult.UNVERIFIED, job_id=outcome.job_id)
        raise errors.ManualInterventionNeeded(
            f"change {record.change_id} committed but the running list does not hold it"
        )
    outcome.result = ChangeResult.COMMITTED
    outcome.adds = tuple(e.name for e in record.adds)
    outcome.removes = tuple(e.name for e in record.removes)
    ctx.record(
        record.change_id,
        ChangeResult.COMMITTED,
        job_id=outcome.job_id,
        detail="committed by `panpin commit`",
    )
    ctx.say(f"committed change {record.change_id} (job {outcome.job_id or '-'}); verified")
    return outcome
