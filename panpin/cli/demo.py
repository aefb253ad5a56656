"""``panpin demo``: the whole flow against the embedded simulator, touching only a temporary folder."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import click


def _replay_howto(
    own: str, port: int, panorama: bool, location: str, api_key: str, admin: str
) -> str:
    """How to run the printed commands yourself: a simulator of your own, then the same steps."""
    serve = f"panpin simulator serve --port {port} --workdir {own}" + (
        " --scenario panorama" if panorama else ""
    )
    env = [
        f"PANPIN_HOST=127.0.0.1:{port}",
        f"PANPIN_CA_FILE={own}/ca.pem",
        f"PANPIN_ADMIN={admin}",
        f"PANPIN_STATE={own}/state.db",
        # The simulator's made-up key (the scenario's), not a secret; a real key comes from
        # `panpin login` and a file only you can read.
        f"PANPIN_API_KEY={api_key}",
    ]
    if panorama:
        env.append(f"PANPIN_LOCATION={location}")
    return (
        "To run each step's `$` command yourself, start a simulator of your own in another "
        "terminal, in this folder:\n"
        f"    $ mkdir -p {own} && {serve}\n"
        "and point panpin at it here:\n"
        f"    $ export {' '.join(env)}\n"
    )


def _policy_text() -> str:
    return resources.files("panpin").joinpath("data/demo-policy.yaml").read_text(encoding="utf-8")


@click.command()
@click.option(
    "--keep",
    is_flag=True,
    help="Keep the temporary folder (plan, state database) and print its path.",
)
@click.option(
    "--panorama", is_flag=True, help="Run against a simulated Panorama and push a template stack."
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8443,
    show_default=True,
    help="The port in the printed commands, for the `panpin simulator serve` they start with.",
)
def demo(keep: bool, panorama: bool, port: int) -> None:
    """Scan, plan, apply, history and rollback against a simulated firewall, explained step by step.

    Needs no device and no network: the simulator listens on 127.0.0.1 with a CA it generates, and
    everything is written to a temporary folder that is removed at the end.
    """
    from panpin.change.plan import load_plan
    from panpin.change.session import Session
    from panpin.cli.change import render_history, render_outcome, render_plan
    from panpin.cli.exclusions import ENTRY_COLUMNS, entry_rows
    from panpin.cli.output import message, render_rows
    from panpin.cli.scan import render_result
    from panpin.decide.policy import load_policy
    from panpin.settings import DeviceSettings, Location
    from panpin.simulator import Simulator, load_scenario

    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="panpin-demo-"))
    policy_file = workdir / "policy.yaml"
    policy_file.write_text(_policy_text(), encoding="utf-8")
    plan_file = workdir / "plan.json"
    report_file = workdir / "report.html"
    # A capture the project made (tests/captures.py: real TLS handshakes in memory), shipped with
    # the package and linked from docs/examples/.
    capture_file = Path(str(resources.files("panpin") / "data" / "demo-capture.pcapng"))
    # The printed commands replay the demo against `panpin simulator serve` (printed first) in
    # a folder of the user's own, with the policy the package ships: runnable as printed.
    own = "panpin-demo"
    shipped_policy = Path(str(resources.files("panpin") / "data" / "demo-policy.yaml"))
    scenario = "panorama" if panorama else "demo"
    location = "template-stack:branch-stack" if panorama else "shared"
    try:
        with Simulator(scenario=load_scenario(scenario), workdir=workdir / "sim") as sim:
            # The library, as a program of one's own would use it (docs/library.md); a user's
            # configs/panpin.yaml and environment are never read.
            device = DeviceSettings(
                name=sim.scenario.device.hostname,
                host=sim.host,
                api_key=sim.api_key,
                ca_file=str(sim.ca_file),
                admin=sim.admin,
                location=Location.parse(location),
            )
            session = Session(
                device, workdir / "state.db", lambda text: message(f"[{device.name}] {text}")
            )
            policy = load_policy(policy_file)
            click.echo(
                f"panpin demo: simulated {sim.scenario.device.model} {sim.scenario.device.hostname} "
                f"at {sim.url} (admin {sim.admin}); working in {workdir}\n"
            )

            def scan() -> str:
                return render_result(session.scan(since="7d"), "table")

            def confirm() -> str:
                from panpin.capture import analyze_capture
                from panpin.cli.confirm import COLUMNS, rows, summary

                found = analyze_capture(str(capture_file), None)
                return render_rows(rows(found), COLUMNS, "table") + summary(found)

            def report() -> str:
                from panpin.change.plan import load_plan
                from panpin.report import render_report

                the_plan = load_plan(plan_file)
                report_file.write_text(render_report(the_plan), encoding="utf-8")
                timeline = the_plan.scan.get("timeline")
                charted = len(timeline) if isinstance(timeline, dict) else 0
                return (
                    f"wrote {report_file}: {len(the_plan.adds)} add(s), "
                    f"{len(the_plan.removes)} removal(s), {len(the_plan.decisions)} decisions, "
                    f"errors per day charted for {charted} host(s)"
                    + ("" if keep else " (pass --keep to open it)")
                )

            def plan() -> str:
                the_plan = session.plan(policy)
                plan_file.write_text(the_plan.dumps(), encoding="utf-8")
                return render_plan(the_plan, "table")

            def apply() -> str:
                # What a reviewer approved is what is applied: the plan file, read back.
                return render_outcome(device.name, session.apply(load_plan(plan_file)), "table")

            def listing() -> str:
                return render_rows(entry_rows(session.exclusions()), ENTRY_COLUMNS, "table")

            def history() -> str:
                rows = [r.as_dict() for r in session.history()]
                holds = [h.as_dict() for h in session.journal().hold_records(device.name)]
                return render_history(rows, holds, "table")

            def rollback() -> str:
                return render_outcome(device.name, session.rollback(last=True), "table")

            steps: list[tuple[str, str, str, Callable[[], str]]] = [
                (
                    "Scan: the Decryption log filtered for (error contains 'UnknownCA') or "
                    "(error contains 'BadCertificate'), aggregated per host",
                    "session.scan(since='7d')",
                    "panpin scan --since 7d",
                    scan,
                ),
                (
                    "Plan: the policy decides per host (allow, block, review...) and the plan diffs "
                    "against the running list; the device is not touched",
                    "session.plan(policy)",
                    f"panpin plan --policy {shipped_policy} --out {own}/plan.json",
                    plan,
                ),
                (
                    "Confirm: the TLS handshakes of a capture taken at a client (a small pcapng "
                    "made by the project) say which hosts really pin",
                    "analyze_capture(capture)",
                    f"panpin confirm {capture_file}",
                    confirm,
                ),
                (
                    "Report: the plan as one self-contained HTML page for the change ticket",
                    "render_report(load_plan(plan_file))",
                    f"panpin report {own}/plan.json --html {own}/report.html",
                    report,
                ),
                (
                    "Apply: lock, re-check the list, one set, a commit of only our admin's changes, "
                    "verify the running list",
                    "session.apply(load_plan(plan_file))",
                    f"panpin apply {own}/plan.json --yes",
                    apply,
                ),
                (
                    "The list now (owner and expiry read from the panpin: marker)",
                    "session.exclusions()",
                    "panpin exclusions list",
                    listing,
                ),
                ("History: the change journal", "session.history()", "panpin history", history),
                (
                    "Rollback: the inverse change, committed the same careful way",
                    "session.rollback(last=True)",
                    "panpin rollback --last --yes",
                    rollback,
                ),
                (
                    "The list after the rollback: exactly as before",
                    "session.exclusions()",
                    "panpin exclusions list",
                    listing,
                ),
            ]
            click.echo(_replay_howto(own, port, panorama, location, sim.api_key, sim.admin))
            with session:
                for number, (title, call, command, step) in enumerate(steps, 1):
                    click.secho(f"== {number}/{len(steps)} {title}", bold=True)
                    click.echo(f">>> {call}        # $ {command}")
                    click.echo(step().rstrip("\n"))
                    click.echo()
        click.secho(f"Demo finished in {time.monotonic() - started:.1f}s.", bold=True)
    finally:
        if keep:
            click.echo(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
