"""Glue between the pure core and the device: identify, plan from a policy, plan a rollback, apply.

Each function states what it reads from or writes to the device; the decisions themselves are made
by :mod:`panpin.decide.engine` and :mod:`panpin.change.plan`, which do no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from panpin import errors
from panpin.change.journal import ChangeJournal
from panpin.change.lifecycle import (
    ChangeContext,
    Outcome,
    apply_plan,
    finish_uncommitted,
    ready_to_change,
    repush_failed,
    run_tag,
)
from panpin.change.plan import Plan, build_plan, check_plan_for_apply
from panpin.change.results import ROLLBACKABLE, ChangeResult
from panpin.decide.engine import Decision, DecisionSet, Hold, decide
from panpin.decide.policy import Policy
from panpin.panos import panosxml
from panpin.panos.device import DeviceInfo, PanoramaLayout, panorama_layout, system_info
from panpin.panos.exclusions import ExclusionEntry, read_list
from panpin.panos.marker import new_change_id
from panpin.panos.versions import check_version
from panpin.panos.xmlapi import XmlApi
from panpin.scan.evidence import (
    Candidate,
    ScanResult,
    candidate_dict,
    merge_candidates,
    not_pinning_dict,
    split_pinning,
)
from panpin.settings import DeviceSettings


def identify(api: XmlApi, device: DeviceSettings) -> DeviceInfo:
    """``show system info``, and a check that the release has a Decryption log (10.0+) and
    that the location fits the kind of device. Reads only."""
    info = system_info(api)
    check_version(info.sw_version, f"{device.name} ({info.hostname})")
    check_location(api, device, info)
    return info


def check_location(api: XmlApi, device: DeviceSettings, info: DeviceInfo) -> None:
    """The location fits the kind of device, and on Panorama the template or stack exists and
    serves a firewall (:class:`~panpin.errors.SettingsError` otherwise). Reads only."""
    if device.location.on_panorama and info.kind != "panorama":
        raise errors.SettingsError(
            f"{device.name}: location {device.location} needs a Panorama, but {info.hostname} "
            f"is a {info.model} firewall"
        )
    if info.kind == "panorama" and not device.location.on_panorama:
        layout = panorama_layout(api)
        raise errors.SettingsError(
            f"{device.name} is a Panorama: firewalls get their exclusion lists from templates; "
            f"use --location template:NAME or template-stack:NAME ({_listed(layout)})"
        )
    if info.kind == "panorama" and device.location.name:
        _check_template(api, device)


def _listed(layout: PanoramaLayout) -> str:
    return (
        f"templates: {', '.join(layout.templates) or 'none'}; "
        f"stacks: {', '.join(layout.stacks) or 'none'}"
    )


def _check_template(api: XmlApi, device: DeviceSettings) -> None:
    """A change for a template or stack that does not exist, or serves no firewall, reaches no
    device: refused before anything is written (a push to 0 devices would look like success)."""
    location = device.location
    assert location.name is not None
    layout = panorama_layout(api)
    names = layout.templates if location.kind == "template" else layout.stacks
    if location.name not in names:
        raise errors.SettingsError(
            f"{device.name}: {location} does not exist on this Panorama ({_listed(layout)})"
        )
    if not layout.serials(location.kind, location.name):
        raise errors.SettingsError(
            f"{device.name}: {location} serves no firewall: a change there would reach no device; "
            "assign it to a template stack with devices, or choose another location"
        )


def device_dict(device: DeviceSettings, info: DeviceInfo) -> dict[str, str]:
    return {
        "name": device.name,
        "host": device.host,
        "serial": info.serial,
        "hostname": info.hostname,
        "kind": info.kind,
        "model": info.model,
        "sw_version": info.sw_version,
    }


def policy_plan(
    *,
    device: DeviceSettings,
    info: DeviceInfo,
    current: Sequence[ExclusionEntry],
    candidates: Sequence[Candidate],
    policy: Policy,
    scan: dict[str, object],
    today: date | None = None,
    change_id: str | None = None,
    confirmations: dict[str, str] | None = None,
    predefined: Sequence[str] = (),
    valid_for: timedelta | None = None,
    holds: Mapping[str, Hold] | None = None,
) -> tuple[Plan, DecisionSet]:
    """Decide and build the plan (pure once the inputs are read). Returns (plan, decision set).

    ``confirmations`` (host -> confirmed|likely|not-pinning|not-seen, from a capture) feed rules
    that require confirmation and are shown in the decisions.
    """
    # Planning only reads: the admin is recorded when known; apply needs one (it commits).
    admin = device.admin or ""
    change_id = change_id or new_change_id()
    decisions = decide(
        candidates,
        policy,
        list(current),
        today=today or date.today(),
        change_id=change_id,
        confirmations=confirmations,
        predefined=predefined,
        holds=holds,
    )
    plan = build_plan(
        change_id=change_id,
        created=datetime.now().isoformat(timespec="seconds"),
        device=device_dict(device, info),
        location=str(device.location),
        xpath=panosxml.list_xpath(device.location),
        admin=admin,
        base=current,
        adds=decisions.adds,
        removes=decisions.removes,
        # ``expires``: the default a rollback's hold lasts (rollback --hold-for overrides it).
        policy={
            "path": policy.source,
            "sha256": policy.sha256,
            "expires": policy.defaults.expires.text,
        },
        scan=scan,
        decisions=decisions.decisions,
        not_after=(
            (datetime.now() + valid_for).isoformat(timespec="seconds")
            if valid_for is not None
            else None
        ),
    )
    return plan, decisions


def rollback_plan(
    *,
    device: DeviceSettings,
    info: DeviceInfo,
    current: Sequence[ExclusionEntry],
    target: str,
    journal: ChangeJournal | None,
) -> tuple[Plan, list[str]]:
    """The inverse of change ``target``: delete what it added, restore what it removed.

    Uses the journal when it has the change; otherwise the device's markers (entries whose
    description names ``target``), which cannot bring back removed entries (noted). Pure.
    """
    notes: list[str] = []
    record = journal.get(target) if journal else None
    by_name = {e.name: e for e in current}
    if record is not None:
        added, removed = record.adds, record.removes
        if record.result not in ROLLBACKABLE:
            raise errors.InputError(
                f"change {target} ended '{record.result}': nothing of it is committed to roll back"
            )
    else:
        added = tuple(e for e in current if e.marker is not None and e.marker.change_id == target)
        removed = ()
        if not added:
            raise errors.InputError(
                f"change {target} is neither in the journal nor named by any entry on the device"
            )
        notes.append(
            f"{target} is not in the journal: rolling back from the device's markers "
            "(entries it removed cannot be restored this way)"
        )
    deletes: list[ExclusionEntry] = []
    for entry in added:
        on_device = by_name.get(entry.name)
        if on_device is None:
            notes.append(f"{entry.name} is already gone")
            continue
        marker = on_device.marker
        if marker is None or marker.change_id != target:
            # Someone took the entry over (edited its description): it is theirs now.
            notes.append(f"{entry.name} no longer carries {target}'s marker; left alone")
            continue
        deletes.append(on_device)
    restores = [e for e in removed if e.name not in by_name]
    notes.extend(f"{e.name} is present again; not restored" for e in removed if e.name in by_name)
    plan = build_plan(
        change_id=new_change_id(),
        created=datetime.now().isoformat(timespec="seconds"),
        device=device_dict(device, info),
        location=str(device.location),
        xpath=panosxml.list_xpath(device.location),
        admin=device.require_admin(),
        base=current,
        adds=restores,
        removes=deletes,
        kind="rollback",
        rollback_of=target,
        decisions=[
            *(Decision(e.name, "remove", None, f"rollback of {target}", entry=e) for e in deletes),
            *(
                Decision(e.name, "restore", None, f"rollback of {target}", entry=e)
                for e in restores
            ),
        ],
    )
    return plan, notes


@dataclass
class Applier:
    """Everything needed to apply plans to one device."""

    api: XmlApi
    device: DeviceSettings
    info: DeviceInfo
    journal: ChangeJournal | None
    say: Callable[[str], None]

    def apply(self, plan: Plan, *, commit: bool = True) -> Outcome:
        """Apply ``plan`` to the device (see :func:`panpin.change.lifecycle.apply_plan`)."""
        # Checked again whatever the digest says (a digest can be recomputed): the serial, every
        # add and removal, a rollback against the journal. Against the plan's base: under the
        # lock, the lifecycle refuses a plan whose base is not the device's list.
        record = (
            self.journal.get(plan.rollback_of)
            if self.journal is not None and plan.rollback_of
            else None
        )
        check_plan_for_apply(plan, device_serial=self.info.serial, current=plan.base, record=record)
        if plan.location != str(self.device.location):
            raise errors.PlanError(
                f"plan {plan.change_id} is for location {plan.location}, not {self.device.location}"
            )
        # The journal records who committed: the admin applying now, whoever planned.
        plan = replace(plan, admin=self.device.require_admin())
        self._refuse_rolled_back(plan)
        done = self._already_applied(plan)
        if done is not None:
            return done
        if plan.expired(datetime.now()):
            raise errors.PlanError(
                f"plan {plan.change_id} expired at {plan.not_after} (its change window, "
                "plan --valid-for); re-run plan"
            )
        return apply_plan(self._context(), plan, commit=commit)

    def check(self) -> None:
        """The read-only pre-checks an apply would meet first (lifecycle.ready_to_change)."""
        self.device.require_admin()
        ready_to_change(self._context())

    def finish(self, change_id: str, *, commit: bool) -> Outcome:
        """Commit or discard a change left in the candidate (see lifecycle.finish_uncommitted)."""
        record = self.journal.get(change_id) if self.journal is not None else None
        if record is None:
            raise errors.InputError(f"no change {change_id} in the journal ({self.device.name})")
        return finish_uncommitted(self._context(), record, commit=commit)

    def _refuse_rolled_back(self, plan: Plan) -> None:
        """A plan whose change was rolled back since is stale (exit 2): applying it again would
        undo the rollback that someone chose, with the evidence of then. Reads the journal."""
        if self.journal is None:
            return
        undone = [
            r
            for r in self.journal.records(self.device.name)
            if r.rollback_of == plan.change_id and r.result in ROLLBACKABLE
        ]
        if undone:
            raise errors.StalePlan(
                f"plan {plan.change_id} was rolled back since (change {undone[-1].change_id}, "
                f"{undone[-1].finished or undone[-1].started}); re-run plan"
            )

    def _already_applied(self, plan: Plan) -> Outcome | None:
        """The same plan applied a second time: its change is committed in the journal and the
        running list holds what it planned, so there is nothing to do (exit 0), not a stale
        plan. Reads the running list; writes nothing."""
        if self.journal is None:
            return None
        record = self.journal.get(plan.change_id)
        if record is None or record.result is not ChangeResult.COMMITTED:
            return None
        if record.serial and record.serial != self.info.serial:
            return None
        running = {e.name.lower(): e for e in read_list(self.api, self.device.location)}
        added = all(
            running.get(e.name.lower()) is not None
            and running[e.name.lower()].description == e.description
            for e in plan.adds
        )
        removed = all(e.name.lower() not in running for e in plan.removes)
        if not (added and removed):
            return None
        note = (
            f"plan {plan.change_id} was already applied (committed {record.finished or '?'}) and "
            "the running list still holds it: nothing to do"
        )
        self.say(note)
        return Outcome(plan.change_id, ChangeResult.NOTHING_TO_DO, notes=[note])

    def _context(self) -> ChangeContext:
        return ChangeContext(
            api=self.api,
            location=self.device.location,
            admin=self.device.require_admin(),
            device_name=self.device.name,
            panorama=self.info.kind == "panorama",
            journal=self.journal,
            backoff=self.device.commit_poll,
            run_tag=run_tag(self.journal.path) if self.journal is not None else None,
            say=self.say,
        )

    def repush_failed(self) -> str | None:
        """Panorama: push again after an earlier push failed (see lifecycle.repush_failed)."""
        return repush_failed(self._context())

    def current(self) -> list[ExclusionEntry]:
        return read_list(self.api, self.device.location)


def scan_for_plan(
    api: XmlApi,
    *,
    device: DeviceSettings,
    info: DeviceInfo,
    policy: Policy,
    since: str | None,
    until: str | None,
    incremental: bool,
    state_path: Path,
    current: Sequence[ExclusionEntry],
    from_syslog: Sequence[str] = (),
    peer: tuple[XmlApi, DeviceInfo] | None = None,
) -> tuple[list[Candidate], dict[str, object]]:
    """The candidates a plan decides on, and a summary of the scan for the plan document.

    ``info`` and ``current`` (the running list) are what the caller already read from the device;
    they are reused rather than asked for again.

    Reads the Decryption log. Not incremental (``plan``): the window is ``--since`` or the policy's
    ``thresholds.window``. Incremental (``run``): new logs since the stored watermark are folded
    into the evidence history, and the candidates are that history over the policy's window.

    ``peer`` (the other member of an HA pair, its transport and facts): its log is read the same
    way (its own watermark, its own serial in the history) and the evidence is the pair's.
    """
    from panpin.panos.device import device_clock
    from panpin.scan.logs import format_time, scan_device
    from panpin.state import StateDB

    signals = [*policy.signals.strong, *policy.signals.weak]
    window = policy.thresholds.window
    if from_syslog:
        return _syslog_for_plan(
            from_syslog, device=device, info=info, policy=policy, since=since, until=until,
            current=current,
        )  # fmt: skip
    state = StateDB(state_path) if incremental else None
    members = [(api, info), *([peer] if peer is not None else [])]
    results = [
        scan_device(
            member_api,
            since=since or window.text,
            until=until,
            signals=signals,
            user_filter=None,
            max_logs=None,
            location=device.location,
            state=state,
            incremental=incremental,
            backoff=device.log_poll,
            info=member_info,
            covering_names=[e.name for e in current if e.exclude],
        )
        for member_api, member_info in members
    ]
    result = results[0]
    pinning, others = result.candidates, result.not_pinning
    timeline = result.timeline
    window_start = None
    if state is None and len(results) > 1:
        # A host's entries on both members are one host's evidence (the pair's).
        pinning, others = split_pinning(
            merge_candidates(c for r in results for c in (*r.candidates, *r.not_pinning))
        )
        timeline = _merged_timelines(r.timeline for r in results)
    if state is not None:
        # Thresholds count over the policy's window across runs, not just this run's new logs.
        window_start = format_time(device_clock(api) - window.delta)
        where = str(device.location)
        serials = [member_info.serial for _, member_info in members]
        pinning, others = split_pinning(
            merge_candidates(
                c
                for serial in serials
                for c in state.evidence_window(serial, window_start, location=where)
            )
        )
        timeline = _merged_timelines(
            state.timeline(serial, window_start, location=where) for serial in serials
        )
    # decide sees every host: those without pinning evidence get a not-pinning decision that says
    # why, so a reviewer of the plan sees them too.
    candidates = [*pinning, *others]
    doc = _scan_doc(
        result,
        pinning,
        others,
        since=since or window.text,
        until=until,
        incremental=incremental,
        window_start=window_start,
        timeline=timeline,
    )
    return candidates, doc


def _merged_timelines(
    timelines: Iterable[Mapping[str, Sequence[tuple[str, int]]]],
) -> dict[str, list[tuple[str, int]]]:
    """Per-host per-day counts of several members, summed per day."""
    days: dict[str, dict[str, int]] = {}
    for timeline in timelines:
        for host, points in timeline.items():
            per_day = days.setdefault(host, {})
            for day, count in points:
                per_day[day] = per_day.get(day, 0) + count
    return {host: sorted(per_day.items()) for host, per_day in sorted(days.items())}


def _syslog_for_plan(
    paths: Sequence[str],
    *,
    device: DeviceSettings,
    info: DeviceInfo,
    policy: Policy,
    since: str | None,
    until: str | None,
    current: Sequence[ExclusionEntry],
) -> tuple[list[Candidate], dict[str, object]]:
    """:func:`scan_for_plan` over forwarded syslog files: only this firewall's lines (serial,
    column 2) and the location's scope count; the state history is not read or written."""
    from panpin.scan.evidence import with_coverage
    from panpin.scan.files import scan_syslog

    if info.kind == "panorama":
        raise errors.InputError(
            "plan --from-syslog decides for one firewall (its serial picks its lines); "
            "point it at the firewall, not Panorama"
        )
    window = policy.thresholds.window
    location = device.location
    result = scan_syslog(
        paths,
        since=since or window.text,
        until=until,
        signals=[*policy.signals.strong, *policy.signals.weak],
        max_logs=None,
        serial=info.serial,
        vsys=location.name if location.kind == "vsys" else None,
    )
    names = [e.name for e in current if e.exclude]
    pinning = with_coverage(result.candidates, names)
    others = with_coverage(result.not_pinning, names)
    doc = _scan_doc(
        result,
        pinning,
        others,
        since=result.since,
        until=until,
        incremental=False,
        window_start=None,
        scope=f"{result.scope}; lines of firewall {info.serial}",
        timeline=result.timeline,
    )
    doc["from_syslog"] = list(paths)
    return [*pinning, *others], doc


def _scan_doc(
    result: ScanResult,
    pinning: Sequence[Candidate],
    others: Sequence[Candidate],
    *,
    since: str | None,
    until: str | None,
    incremental: bool,
    window_start: str | None,
    timeline: dict[str, list[tuple[str, int]]],
    scope: str | None = None,
) -> dict[str, object]:
    """The plan document's ``scan`` summary."""
    return {
        "query": result.query,
        "logs_read": result.logs_read,
        "since": since,
        "until": until,
        "incremental": incremental,
        "window_start": window_start,
        "candidates": [candidate_dict(c) for c in pinning],
        "rejected": [{"value": r.value, "reason": r.reason} for r in result.rejected],
        "not_pinning": [not_pinning_dict(c) for c in others],
        "scope": scope or result.scope,
        "out_of_scope": result.out_of_scope,
        "timeline": {h: [list(p) for p in points] for h, points in timeline.items()},
    }
