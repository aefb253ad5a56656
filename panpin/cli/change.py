"""``plan``, ``apply``, ``run``, ``rollback`` and ``history``: the commands that lead to a change."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from panpin import errors
from panpin.cli.common import fleet, global_options, one_device, settings
from panpin.cli.output import (
    check_output_path,
    emit,
    format_option,
    json_doc,
    message,
    render_rows,
    resolve_format,
)

if TYPE_CHECKING:
    from panpin.capture import HostConfirmation
    from panpin.change.lifecycle import Outcome
    from panpin.change.plan import Plan
    from panpin.change.session import Session
    from panpin.decide.policy import Policy
    from panpin.settings import DeviceSettings

# Worst first when a fleet run folds per-device exit codes into one (docs/design.md exit codes).
_SEVERITY = {0: 0, 3: 1, 5: 2, 1: 3, 2: 4, 4: 5, 6: 6}


def worst_exit(codes: list[int]) -> int:
    return max(codes, key=lambda c: _SEVERITY.get(c, 3), default=0)


# apply, commit, discard and rollback change the device: each asks first, unless told not to.
yes_option = click.option(
    "--yes", is_flag=True, help="Do not ask for confirmation (required when not on a terminal)."
)


# --- rendering -----------------------------------------------------------------------------------

_DECISION_COLUMNS = ["host", "action", "rule", "confirmation", "reason"]


def _change_rows(plan: Plan) -> list[dict[str, str | None]]:
    rows: list[dict[str, str | None]] = [
        {"change": "add", "name": e.name, "description": e.description} for e in plan.adds
    ]
    rows += [
        {"change": "remove", "name": e.name, "description": e.description} for e in plan.removes
    ]
    return rows


def render_plan(plan: Plan, fmt: str) -> str:
    """A plan for people: changes first, then every decision with its rule and reason."""
    if fmt == "json":
        return plan.dumps()
    dev = plan.device
    head = (
        f"Plan {plan.change_id} for {dev.get('name')} ({dev.get('hostname')}, serial "
        f"{dev.get('serial')}), location {plan.location}\n"
        f"{len(plan.adds)} add(s), {len(plan.removes)} removal(s); base list of "
        f"{len(plan.base)} entries, fingerprint {plan.base_fingerprint[:12]}\n"
        + (f"valid until {plan.not_after} (apply refuses it after)\n" if plan.not_after else "")
    )
    if plan.policy:
        head += f"policy {plan.policy.get('path')} (sha256 {plan.policy.get('sha256', '')[:12]})\n"
    decisions = [
        {
            "host": d.host,
            "action": d.action,
            "rule": d.rule,
            "confirmation": d.confirmation,
            "reason": d.reason,
        }
        for d in plan.decisions
    ]
    if fmt == "markdown":
        out = f"## panpin plan `{plan.change_id}`\n\n" + "\n".join(
            f"- {line}" for line in head.strip().splitlines()
        )
        out += "\n\n### Changes\n\n" + (
            render_rows(_change_rows(plan), ["change", "name", "description"], "markdown")
            if plan.has_changes
            else "No changes.\n"
        )
        out += "\n### Decisions\n\n" + render_rows(decisions, _DECISION_COLUMNS, "markdown")
        return out
    if fmt == "csv":
        return render_rows(decisions, _DECISION_COLUMNS, "csv")
    out = head + "\nChanges:\n"
    out += (
        render_rows(_change_rows(plan), ["change", "name", "description"], "table")
        if plan.has_changes
        else "  none\n"
    )
    out += "\nDecisions:\n" + render_rows(decisions, _DECISION_COLUMNS, "table")
    return out


def outcome_dict(device: str, outcome: Outcome) -> dict[str, object]:
    return {
        "device": device,
        "change_id": outcome.change_id,
        "result": str(outcome.result),
        # Lists of names, as in `run`, `history` and the plan; the counts beside them.
        "adds": list(outcome.adds),
        "removes": list(outcome.removes),
        "add_count": len(outcome.adds),
        "remove_count": len(outcome.removes),
        "job_id": outcome.job_id,
        "push_job_id": outcome.push_job_id,
        "devices": outcome.devices,
        "notes": outcome.notes,
    }


_OUTCOME_COLUMNS = ["device", "change_id", "result", "adds", "removes", "job_id", "notes"]


def render_outcome(device: str, outcome: Outcome, fmt: str) -> str:
    """What apply, commit, discard and rollback did: a one-row table for people, the document
    (:func:`outcome_dict`) for scripts."""
    row = outcome_dict(device, outcome)
    if fmt == "json":
        return json_doc(row)
    return render_rows([row], _OUTCOME_COLUMNS, fmt)


# --- shared steps ---------------------------------------------------------------------------------


def _say(ctx: click.Context, device: str) -> Callable[[str], None]:
    quiet = global_options(ctx).quiet

    def say(text: str) -> None:
        message(f"[{device}] {text}", quiet=quiet)

    return say


def _session(ctx: click.Context, device: DeviceSettings) -> Session:
    from panpin.change.session import Session

    return Session(device, settings(ctx).state, _say(ctx, device.name))


def _load_policy(path: str) -> Policy:
    from panpin.decide.policy import load_policy

    return load_policy(path)


# --- commands ------------------------------------------------------------------------------------


@click.command()
@click.option(
    "--policy", "policy_path", required=True, metavar="FILE", help="Decision policy (YAML)."
)
@click.option(
    "--since",
    metavar="D",
    help="Log window start: 24h, 7d or 'YYYY/MM/DD HH:MM:SS' (default: the policy's window).",
)
@click.option("--until", metavar="T", help="Log window end (default: now on the device).")
@click.option(
    "--out", "out", metavar="PLAN", help="Write the plan document (JSON) here for `panpin apply`."
)
@format_option
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when nothing is to do, 3 when changes are pending.",
)
@click.option(
    "--confirm",
    "capture_path",
    metavar="CAPTURE",
    help="A pcap/pcapng capture: mark hosts whose pinning it confirms (see `panpin confirm`).",
)
@click.option(
    "--valid-for",
    "valid_for",
    default="24h",
    show_default=True,
    metavar="D",
    help="The change window: `apply` refuses the plan after this long (30m, 24h, 7d).",
)
@click.option(
    "--from-syslog",
    "from_syslog",
    multiple=True,
    metavar="FILE",
    help="Take the evidence from forwarded DECRYPTION syslog lines (this firewall's, by serial) "
    "instead of the device's log; the list is still read from the device. Repeatable.",
)
@click.pass_context
def plan(
    ctx: click.Context,
    policy_path: str,
    since: str | None,
    until: str | None,
    out: str | None,
    fmt: str | None,
    detailed_exitcode: bool,
    capture_path: str | None,
    valid_for: str,
    from_syslog: tuple[str, ...],
) -> None:
    """Scan the Decryption log, decide by the policy and diff against the list.

    Writes nothing to the device. The plan (with --out) is what `panpin apply` will do, exactly.
    """
    from panpin.scan.logs import parse_duration

    policy = _load_policy(policy_path)
    check_output_path(out, "--out")
    window = parse_duration(valid_for)
    if window is None or window.total_seconds() <= 0:
        raise click.BadParameter(
            f"{valid_for!r} is no duration (30m, 24h, 7d)", param_hint="--valid-for"
        )
    capture: dict[str, HostConfirmation] | None = None
    if capture_path:
        from panpin.capture import confirm_hosts

        capture = dict(confirm_hosts(capture_path))
    device = one_device(ctx)
    with _session(ctx, device) as session:
        the_plan = session.plan(
            policy,
            since=since,
            until=until,
            confirmations=capture,
            from_syslog=from_syslog,
            valid_for=window,
        )
    if out:
        try:
            Path(out).write_text(the_plan.dumps(), encoding="utf-8")
        except OSError as exc:
            raise errors.InputError(f"--out {out}: {exc.strerror or exc}") from None
        message(f"plan {the_plan.change_id} written to {out}", quiet=global_options(ctx).quiet)
    emit(render_plan(the_plan, resolve_format(fmt)))
    if detailed_exitcode and the_plan.has_changes:
        ctx.exit(errors.EXIT_PENDING)


@click.command()
@click.argument("plan_file", metavar="PLAN")
@yes_option
@click.option(
    "--no-commit", is_flag=True, help="Leave the change in the candidate for review in the web UI."
)
@format_option
@click.pass_context
def apply(ctx: click.Context, plan_file: str, yes: bool, no_commit: bool, fmt: str | None) -> None:
    """Apply exactly the reviewed PLAN: lock, re-check, write, commit this admin's changes, verify.

    Refuses a plan that no longer matches the device (exit 2: re-run plan). On failure this admin's
    changes are reverted (exit 4); other admins' pending work is never touched.
    """
    from panpin.change.plan import load_plan

    the_plan = load_plan(plan_file)
    device = one_device(ctx)
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("apply needs --yes when not run from a terminal")
        click.echo(render_plan(the_plan, "table"), err=True)
        if not click.confirm(f"Apply {the_plan.change_id} to {device.name}?", err=True):
            # Declined: nothing was done (exit 1, "cancelled"; 130 is Ctrl-C's).
            message("panpin: cancelled; nothing was applied")
            ctx.exit(errors.EXIT_RUNTIME)
    with _session(ctx, device) as session:
        outcome = session.apply(the_plan, commit=not no_commit)
    emit(render_outcome(device.name, outcome, resolve_format(fmt)))


@click.command()
@click.option(
    "--policy", "policy_path", required=True, metavar="FILE", help="Decision policy (YAML)."
)
@click.option(
    "--since",
    metavar="D",
    help="How far back the first run reads (later runs start at the stored watermark).",
)
@click.option("--dry-run", is_flag=True, help="Plan only; exit 3 when changes are pending.")
@click.option(
    "--metrics",
    "metrics_path",
    metavar="FILE",
    help="Also write the run's outcome as a Prometheus textfile-collector file (*.prom).",
)
@format_option
@click.pass_context
def run(
    ctx: click.Context,
    policy_path: str,
    since: str | None,
    dry_run: bool,
    metrics_path: str | None,
    fmt: str | None,
) -> None:
    """The cron one-shot: scan new logs, decide, and apply — per device, concurrently.

    Quiet unless something happened. A second run while one is active exits 5. With several
    devices (--device repeated, or --all) the exit code is the worst device's.
    """
    from panpin.change.session import run_fleet

    started = time.time()
    policy = _load_policy(policy_path)
    check_output_path(metrics_path, "--metrics")
    sessions = [_session(ctx, d) for d in fleet(ctx)]
    try:
        results = run_fleet(sessions, policy, since=since, dry_run=dry_run)
    finally:
        for session in sessions:
            session.close()
    quiet = global_options(ctx).quiet
    for r in results:
        if r.error:
            click.echo(f"panpin: error: [{r.device}] {r.error}", err=True)
    interesting = [r for r in results if r.adds or r.removes or r.error]
    if interesting or fmt:
        rows = [
            {
                "device": r.device,
                "result": str(r.result),
                "exit_code": r.exit_code,
                "change_id": r.change_id,
                "adds": r.adds,
                "removes": r.removes,
                "error": r.error,
            }
            for r in results
        ]
        chosen = resolve_format(fmt)
        columns = ["device", "result", "exit_code", "change_id", "adds", "removes"]
        if not quiet or chosen == "json":
            emit(render_rows(rows, columns, chosen, key="results"))
    code = worst_exit([r.exit_code for r in results])
    if metrics_path:
        from panpin.metrics import write_textfile

        try:
            write_textfile(
                metrics_path, results, started=started, finished=time.time(), exit_code=code
            )
        except OSError as exc:
            raise errors.InputError(f"--metrics {metrics_path}: {exc.strerror or exc}") from None
    ctx.exit(code)


def _finish(
    ctx: click.Context, change_id: str, yes: bool, fmt: str | None, *, commit: bool
) -> None:
    verb = "Commit" if commit else "Discard"
    device = one_device(ctx)
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError(f"{verb.lower()} needs --yes when not run from a terminal")
        if not click.confirm(f"{verb} change {change_id} on {device.name}?", err=True):
            message("panpin: cancelled; nothing was done")
            ctx.exit(errors.EXIT_RUNTIME)
    with _session(ctx, device) as session:
        outcome = session.commit_change(change_id) if commit else session.discard_change(change_id)
    emit(render_outcome(device.name, outcome, resolve_format(fmt)))


@click.command("commit")
@click.argument("change_id", metavar="CHANGE_ID")
@yes_option
@format_option
@click.pass_context
def commit_cmd(ctx: click.Context, change_id: str, yes: bool, fmt: str | None) -> None:
    """Commit panpin's change CHANGE_ID that waits in the candidate (apply --no-commit).

    First checks that the admin's pending changes are exactly that change (only its list, the
    running list still its base, the candidate its plan); then commits only that admin's
    changes and verifies the running list. Other admins' pending work stays pending.
    """
    _finish(ctx, change_id, yes, fmt, commit=True)


@click.command("discard")
@click.argument("change_id", metavar="CHANGE_ID")
@yes_option
@format_option
@click.pass_context
def discard_cmd(ctx: click.Context, change_id: str, yes: bool, fmt: str | None) -> None:
    """Revert panpin's change CHANGE_ID that waits in the candidate (apply --no-commit).

    The same check as `commit`; then reverts only that admin's uncommitted changes and verifies
    the candidate list is the change's base again. Other admins' pending work stays.
    """
    _finish(ctx, change_id, yes, fmt, commit=False)


@click.command()
@click.argument("change_id", required=False, metavar="CHANGE_ID")
@click.option("--last", is_flag=True, help="Roll back the newest committed change on this device.")
@click.option(
    "--dry-run", is_flag=True, help="Show the inverse change; exit 3 if it would change something."
)
@yes_option
@click.option(
    "--hold-for",
    metavar="D",
    help="Keep the removed entries out of later runs this long (e.g. 30d; default: the "
    "policy's defaults.expires recorded with the change).",
)
@format_option
@click.pass_context
def rollback(
    ctx: click.Context,
    change_id: str | None,
    last: bool,
    dry_run: bool,
    yes: bool,
    hold_for: str | None,
    fmt: str | None,
) -> None:
    """Undo a recorded change: delete what it added, restore what it removed, then commit.

    The rollback is a change of its own with its own id and journal record. Without the journal,
    the device's markers name what the change added. Each entry it removes is held: later runs
    do not add it again until the hold expires, the rule that allowed it changes, or
    `panpin release HOST`.
    """
    from panpin.scan.logs import parse_duration

    if bool(change_id) == bool(last):
        raise click.UsageError("give either CHANGE_ID or --last")
    hold = None
    if hold_for is not None:
        hold = parse_duration(hold_for)
        if hold is None or hold.days < 1:
            raise click.BadParameter(
                f"{hold_for!r} is no duration of a day or more (1d, 30d, 12w)",
                param_hint="--hold-for",
            )
    device = one_device(ctx)
    with _session(ctx, device) as session, session.locked():
        the_plan, notes = session.rollback_plan(change_id, last=last)
        for note in notes:
            session.say(note)
        if dry_run or not the_plan.has_changes:
            emit(render_plan(the_plan, resolve_format(fmt)))
            ctx.exit(errors.EXIT_PENDING if dry_run and the_plan.has_changes else 0)
        if not yes:
            if not sys.stdin.isatty():
                raise click.UsageError("rollback needs --yes when not run from a terminal")
            click.echo(render_plan(the_plan, "table"), err=True)
            if not click.confirm(f"Roll back {the_plan.rollback_of} on {device.name}?", err=True):
                message("panpin: cancelled; nothing was rolled back")
                ctx.exit(errors.EXIT_RUNTIME)
        outcome = session.apply_rollback(the_plan, hold_for=hold)
    emit(render_outcome(device.name, outcome, resolve_format(fmt)))


@click.command()
@click.argument("entry", metavar="HOST")
@click.pass_context
def release(ctx: click.Context, entry: str) -> None:
    """End the hold a rollback put on HOST (an entry name), so the next run may add it again.

    Only the state database changes; nothing on the device does. Exit 2 when HOST is not held.
    """
    from panpin.change.journal import ChangeJournal

    state = settings(ctx).state
    opts = global_options(ctx)
    if not Path(state).exists():
        raise errors.InputError(f"no state database at {state}: nothing is held there")
    journal = ChangeJournal(state)
    if opts.device or opts.host:
        # Only the devices named (a device's name as the journal records it).
        released = [r for d in fleet(ctx) for r in journal.release(d.name, entry)]
    else:
        released = journal.release(None, entry)
    if not released:
        held = sorted({r.hold.entry for r in journal.hold_records() if r.ended is None})
        raise errors.InputError(
            f"{entry} is not held"
            + (f" (held now: {', '.join(held)})" if held else " (nothing is held)")
        )
    for r in released:
        message(
            f"released {r.hold.entry} on {r.device} ({r.location}), held since rollback "
            f"{r.hold.change_id}; the next run may add it again",
            quiet=opts.quiet,
        )


@click.command()
@format_option
@click.pass_context
def history(ctx: click.Context, fmt: str | None) -> None:
    """The change journal: change id, when, who, device, location, adds, removes, job, result."""
    from panpin.change.journal import ChangeJournal

    state = settings(ctx).state
    opts = global_options(ctx)
    if not Path(state).exists():
        # Reading must not create a database (a typo in --state would look like "no changes").
        click.echo(
            f"panpin: warning: no state database at {state}: nothing recorded there", err=True
        )
        emit(render_history([], [], resolve_format(fmt)))
        return
    journal = ChangeJournal(state)
    device = opts.device[0] if len(opts.device) == 1 else None
    rows = [r.as_dict() for r in journal.records(device)]
    holds = [h.as_dict() for h in journal.hold_records(device)]
    emit(render_history(rows, holds, resolve_format(fmt)))


def render_history(
    changes: list[dict[str, object]], holds: list[dict[str, object]], fmt: str
) -> str:
    """The journal's changes, then the rollback holds (open and ended)."""
    if fmt == "json":
        return json_doc({"changes": changes, "holds": holds})
    text = render_rows(changes, HISTORY_COLUMNS, fmt)
    if holds and fmt != "csv":
        # csv stays one table (scripts read it); people see the holds below the changes.
        text += "\nHolds (entries rollbacks keep out of later runs):\n" + render_rows(
            holds, HOLD_COLUMNS, fmt
        )
    return text


HOLD_COLUMNS = ["entry", "device", "location", "rule", "until", "change_id", "ended", "ended_why"]


HISTORY_COLUMNS = [
    "change_id",
    "kind",
    "rollback_of",
    "started",
    "admin",
    "device",
    "location",
    "adds",
    "removes",
    "job_id",
    "result",
]
