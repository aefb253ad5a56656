"""The change lifecycle: pre-check, lock, apply, admin-scoped commit, push, verify, revert.

Each verb says in its docstring what it touches on the device. The invariant: after :func:`apply_plan`
the device holds either the planned list, committed and verified, or exactly what it held before,
with every other admin's pending work intact. panpin never loads ``running-config.xml`` and never
reverts the whole candidate: only this admin's changes (``<revert><config><partial><admin>``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from panpin import errors, panosxml
from panpin.exclusions import ExclusionEntry, read_list
from panpin.jobs import Backoff, JobStatus, poll_job
from panpin.plan import Plan, list_fingerprint
from panpin.settings import Location
from panpin.xmlapi import XmlApi

log = logging.getLogger("panpin.change")

_RUNNING_JOB_TYPES = ("commit", "commitall", "validate", "commit-all")


class Journal(Protocol):
    """Where changes are recorded (the state database); written before the commit starts."""

    def change_started(self, plan: Plan, device: str) -> None: ...

    def change_finished(
        self, change_id: str, result: str, *, job_id: str | None = None, detail: str = ""
    ) -> None: ...

    def unfinished_changes(self, device: str) -> list[str]: ...


@dataclass
class Outcome:
    """What an apply did, for output and the journal."""

    change_id: str
    result: str  # committed | uncommitted | nothing-to-do
    job_id: str | None = None
    push_job_id: str | None = None
    adds: int = 0
    removes: int = 0
    devices: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Precheck:
    pending_others: bool
    pending_ours: bool
    notes: tuple[str, ...] = ()


# --- read-only pre-checks ----------------------------------------------------------------------


def _lock_entries(api: XmlApi, what: str) -> list[tuple[str, str]]:
    """(owner, scope) of every config or commit lock; PAN-OS 9.1+ lists all scopes with <vsys>all."""
    try:
        response = api.op(f"<show><{what}><vsys>all</vsys></{what}></show>")
    except errors.BadRequest:
        response = api.op(f"<show><{what}></{what}></show>")
    result = response.result
    if result is None:
        return []
    return [
        (entry.get("name", ""), (entry.findtext("name") or "shared").strip())
        for entry in result.iter("entry")
    ]


def check_locks(api: XmlApi, admin: str, scope: str) -> None:
    """Raise :class:`LockHeld` naming the holder if another admin holds a lock that blocks us."""
    for what in ("config-locks", "commit-locks"):
        for owner, lock_scope in _lock_entries(api, what):
            if owner == admin:
                continue
            blocks = what == "commit-locks" or lock_scope in ("shared", scope) or scope == "shared"
            if blocks:
                kind = what.removesuffix("s").replace("-", " ")
                raise errors.LockHeld(
                    f"{owner} holds a {kind} (scope {lock_scope}); nothing was changed. "
                    "Retry when it is released."
                )


def running_commit_jobs(api: XmlApi) -> list[str]:
    """Ids of commit/push/validate jobs still running (tolerant: an unknown command gives none)."""
    try:
        response = api.op("<show><jobs><all></all></jobs></show>")
    except (errors.BadRequest, errors.NotPresent):
        return []
    running: list[str] = []
    result = response.result
    if result is None:
        return running
    for job in result.iter("job"):
        kind = (job.findtext("type") or "").strip().lower()
        status = (job.findtext("status") or "").strip().upper()
        if kind in _RUNNING_JOB_TYPES and status in ("ACT", "PEND"):
            running.append((job.findtext("id") or "?").strip())
    return running


def pending_owners(api: XmlApi) -> set[str] | None:
    """Admins with uncommitted changes, from ``show config list changes``; ``None`` if unknown."""
    try:
        response = api.op("<show><config><list><changes></changes></list></config></show>")
    except (errors.BadRequest, errors.NotPresent):
        return None
    result = response.result
    if result is None:
        return set()
    return {
        (entry.findtext("owner") or "").strip()
        for entry in result.iter("entry")
        if (entry.findtext("owner") or "").strip()
    }


def precheck(api: XmlApi, admin: str, location: Location) -> Precheck:
    """Who holds locks, whether a commit runs, whose changes are pending. Reads only."""
    check_locks(api, admin, location.lock_scope)
    jobs = running_commit_jobs(api)
    if jobs:
        raise errors.CommitInProgress(
            f"a commit job is running (job {', '.join(jobs)}); nothing was changed. Retry later."
        )
    pending = (
        api.op("<check><pending-changes></pending-changes></check>").root.findtext("result") or ""
    )
    if pending.strip().lower() != "yes":
        return Precheck(pending_others=False, pending_ours=False)
    owners = pending_owners(api)
    notes: list[str] = []
    if owners is None:
        notes.append(
            "the device has uncommitted changes (owner unknown); panpin commits only its admin's"
        )
        return Precheck(pending_others=True, pending_ours=False, notes=tuple(notes))
    others = sorted(owners - {admin})
    if others:
        notes.append(
            f"uncommitted changes by {', '.join(others)} stay pending: panpin commits only {admin}'s"
        )
    return Precheck(pending_others=bool(others), pending_ours=admin in owners, notes=tuple(notes))


# --- verbs that touch the device -----------------------------------------------------------------


def take_lock(api: XmlApi, location: Location, comment: str) -> None:
    """Take the config lock for the location's scope (a lock we already own is ours to reuse)."""
    try:
        api.op(
            f"<request><config-lock><add><comment>{_xml_text(comment)}</comment></add>"
            "</config-lock></request>",
            vsys=location.lock_scope,
        )
    except errors.ApiError as exc:
        if "already own" in str(exc).lower():
            log.info("reusing the config lock this admin already holds")
            return
        if isinstance(exc, errors.LockHeld | errors.OperationNotPossible):
            raise errors.LockHeld(f"cannot take the config lock: {exc}") from None
        raise


def release_lock(api: XmlApi, location: Location) -> None:
    """Release our config lock; "not currently locked" (a commit already released it) is fine."""
    try:
        api.op(
            "<request><config-lock><remove></remove></config-lock></request>",
            vsys=location.lock_scope,
        )
    except errors.ApiError as exc:
        if "not currently locked" in str(exc).lower() or isinstance(exc, errors.NotPresent):
            return
        log.warning("could not release the config lock: %s", exc)


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


def commit_ours(
    api: XmlApi, admin: str, description: str, *, panorama: bool, backoff: Backoff
) -> JobStatus | None:
    """Commit only ``admin``'s changes and wait for the job; ``None`` when nothing was committed."""
    job_id = api.commit(panosxml.commit_cmd(description, [admin], panorama=panorama))
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
    say: Callable[[str], None] = lambda text: None


def apply_plan(ctx: ChangeContext, plan: Plan, *, commit: bool = True) -> Outcome:
    """Apply exactly ``plan``: lock, re-read, write, commit ours, (push), verify, unlock, record.

    Touches the device. On any failure before the commit is verified, this admin's changes are
    reverted and :class:`CommitFailed` (exit 4) raised; if that cannot be done or checked,
    :class:`ManualInterventionNeeded` (exit 6).
    """
    api, location, admin = ctx.api, ctx.location, ctx.admin
    outcome = Outcome(change_id=plan.change_id, result="nothing-to-do")
    if panosxml.list_xpath(location) != plan.xpath:
        raise errors.PlanError(
            f"the plan is for {plan.location} ({plan.xpath}), not {location}; re-run plan"
        )
    if not plan.has_changes:
        ctx.say("nothing to change")
        return outcome

    pre = precheck(api, admin, location)
    outcome.notes.extend(pre.notes)
    for note in pre.notes:
        ctx.say(note)
    if pre.pending_ours:
        unfinished = ctx.journal.unfinished_changes(ctx.device_name) if ctx.journal else []
        if not unfinished:
            raise errors.BusyError(
                f"admin {admin} has uncommitted changes that panpin did not make; commit or "
                "revert them first (panpin commits all of its admin's changes)"
            )
        ctx.say(
            f"recovering from an interrupted change ({', '.join(unfinished)}): reverting {admin}'s leftovers"
        )
        revert_ours(api, admin)
        if ctx.journal:
            for change_id in unfinished:
                ctx.journal.change_finished(
                    change_id, "aborted", detail="interrupted; reverted by the next run"
                )

    take_lock(api, location, f"panpin {plan.change_id}")
    try:
        running = read_list(api, location)
        candidate = read_list(api, location, candidate=True)
        if list_fingerprint(running) != plan.base_fingerprint:
            raise errors.PlanError(
                f"stale plan {plan.change_id}: the exclusion list changed since the plan was made; "
                "re-run plan"
            )
        if not _same(running, candidate):
            raise errors.PlanError(
                f"stale plan {plan.change_id}: the list has uncommitted edits in the candidate "
                "configuration; commit or revert them, then re-run plan"
            )
    except BaseException:
        release_lock(api, location)
        raise

    if ctx.journal:
        ctx.journal.change_started(plan, ctx.device_name)
    outcome.adds, outcome.removes = len(plan.adds), len(plan.removes)
    description = (
        f"panpin {plan.change_id}: +{len(plan.adds)} -{len(plan.removes)} ssl-exclude-cert"
    )
    committed = False
    try:
        write_changes(api, plan, location)
        ctx.say(
            f"wrote {len(plan.adds)} add(s) and {len(plan.removes)} removal(s) to the candidate"
        )
        if not commit:
            release_lock(api, location)
            outcome.result = "uncommitted"
            if ctx.journal:
                ctx.journal.change_finished(plan.change_id, "uncommitted", detail="--no-commit")
            return outcome
        status = commit_ours(api, admin, description, panorama=ctx.panorama, backoff=ctx.backoff)
        if status is not None:
            outcome.job_id = status.job_id
            if not status.ok:
                raise errors.JobFailed(
                    _job_failure(status, "commit"), job_id=status.job_id, details=status.details
                )
        committed = True
        ctx.say(f"committed {admin}'s changes (job {outcome.job_id or '-'})")
    except BaseException as exc:
        if isinstance(exc, errors.ConnectError):
            # The commit may or may not have happened; the running list tells.
            try:
                if _same(read_list(api, location), plan.planned_list()):
                    committed = True
            except errors.PanpinError:
                pass
        if not committed:
            _restore(ctx, plan, exc)
            raise AssertionError("unreachable") from exc  # _restore always raises

    if ctx.panorama and location.on_panorama:
        _push_and_check(ctx, plan, description, outcome)

    running_after = read_list(api, location)
    if not _same(running_after, plan.planned_list()):
        release_lock(api, location)
        detail = "the running list does not hold the planned entries after the commit"
        if ctx.journal:
            ctx.journal.change_finished(
                plan.change_id, "unverified", job_id=outcome.job_id, detail=detail
            )
        raise errors.ManualInterventionNeeded(
            f"change {plan.change_id} committed but not verified: {detail}; check "
            f"{plan.xpath} on {ctx.device_name} (panpin rollback {plan.change_id} undoes it)"
        )
    release_lock(api, location)
    outcome.result = "committed"
    if ctx.journal:
        ctx.journal.change_finished(plan.change_id, "committed", job_id=outcome.job_id)
    ctx.say(f"verified: the running list holds the planned state ({len(running_after)} entries)")
    return outcome


def _push_and_check(ctx: ChangeContext, plan: Plan, description: str, outcome: Outcome) -> None:
    status = push(ctx.api, ctx.location, description, backoff=ctx.backoff)
    if status is None:
        outcome.notes.append("Panorama reported nothing to push")
        return
    outcome.push_job_id = status.job_id
    outcome.devices = [
        {"serial": d.serial, "name": d.name, "result": d.result, "status": d.status}
        for d in status.devices
    ]
    if status.ok:
        ctx.say(f"pushed {ctx.location} to {len(status.devices)} device(s) (job {status.job_id})")
        return
    failed = status.failed_devices
    names = ", ".join(
        f"{d.name or d.serial} ({d.result}: {'; '.join(d.details[-2:]) or d.status})"
        for d in failed
    )
    detail = f"push job {status.job_id} failed on {names or 'the job itself'}"
    release_lock(ctx.api, ctx.location)
    if ctx.journal:
        ctx.journal.change_finished(
            plan.change_id, "push-failed", job_id=outcome.job_id, detail=detail
        )
    raise errors.ManualInterventionNeeded(
        f"change {plan.change_id} is committed on Panorama but {detail}. Devices that succeeded "
        f"hold the change. Re-push {ctx.location} from Panorama, or run `panpin rollback "
        f"{plan.change_id}`."
    )


def _restore(ctx: ChangeContext, plan: Plan, cause: BaseException) -> None:
    """Revert this admin's changes, check the device is as before, unlock; always raises."""
    api, location = ctx.api, ctx.location
    try:
        revert_ours(api, ctx.admin)
        running = read_list(api, location)
        candidate = read_list(api, location, candidate=True)
        restored = list_fingerprint(running) == plan.base_fingerprint and _same(running, candidate)
    except errors.PanpinError as exc:
        release_lock(api, location)
        if ctx.journal:
            ctx.journal.change_finished(plan.change_id, "manual", detail=f"revert failed: {exc}")
        raise errors.ManualInterventionNeeded(
            f"change {plan.change_id} failed ({cause}) and reverting {ctx.admin}'s changes failed "
            f"too ({exc}). Check the candidate configuration of {ctx.device_name} "
            f"({plan.xpath}) and revert {ctx.admin}'s changes by hand."
        ) from cause
    release_lock(api, location)
    if not restored:
        if ctx.journal:
            ctx.journal.change_finished(
                plan.change_id, "manual", detail="list differs after revert"
            )
        raise errors.ManualInterventionNeeded(
            f"change {plan.change_id} failed ({cause}); after reverting {ctx.admin}'s changes the "
            f"list at {plan.xpath} differs from the state before the change. Check it by hand."
        ) from cause
    if ctx.journal:
        ctx.journal.change_finished(plan.change_id, "reverted", detail=str(cause)[:500])
    if isinstance(cause, errors.BusyError):
        raise cause
    raise errors.CommitFailed(
        f"change {plan.change_id} failed and was reverted; the device is as it was: {cause}"
    ) from cause
