"""``panpin demo``: the whole flow against the embedded simulator, touching only a temporary folder."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from importlib import resources
from pathlib import Path

import click


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
def demo(keep: bool, panorama: bool) -> None:
    """Scan, plan, apply, history and rollback against a simulated firewall, explained step by step.

    Needs no device and no network: the simulator listens on 127.0.0.1 with a CA it generates, and
    everything is written to a temporary folder that is removed at the end.
    """
    from panpin.cli import main as panpin_main
    from panpin.simulator import Simulator, load_scenario

    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="panpin-demo-"))
    policy = workdir / "policy.yaml"
    policy.write_text(_policy_text(), encoding="utf-8")
    plan = workdir / "plan.json"
    scenario = "panorama" if panorama else "demo"
    location = "template-stack:branch-stack" if panorama else "shared"
    try:
        with Simulator(scenario=load_scenario(scenario), workdir=workdir / "sim") as sim:
            # An empty config of its own: a user's configs/panpin.yaml is never read or needed.
            config = workdir / "panpin.yaml"
            config.write_text("version: 1\n", encoding="utf-8")
            base = [
                "--config",
                str(config),
                "--host",
                sim.host,
                "--ca-file",
                str(sim.ca_file),
                "--admin",
                sim.admin,
                "--state",
                str(workdir / "state.db"),
                "--location",
                location,
            ]
            saved = {k: os.environ.get(k) for k in ("PANPIN_API_KEY", "PANPIN_CONFIG")}
            os.environ["PANPIN_API_KEY"] = sim.api_key
            os.environ.pop("PANPIN_CONFIG", None)
            steps: list[tuple[str, list[str], tuple[int, ...]]] = [
                (
                    "Scan: the Decryption log filtered for (error contains 'UnknownCA') or "
                    "(error contains 'BadCertificate'), aggregated per host",
                    ["scan", "--since", "7d", "--format", "table"],
                    (0,),
                ),
                (
                    "Plan: the policy decides per host (allow, block, review...) and the plan diffs "
                    "against the running list; the device is not touched",
                    [
                        "plan",
                        "--policy",
                        str(policy),
                        "--out",
                        str(plan),
                        "--format",
                        "table",
                        "--detailed-exitcode",
                    ],
                    (0, 3),
                ),
                (
                    "Apply: lock, re-check the list, one set, a commit of only our admin's changes, "
                    "verify the running list",
                    ["apply", str(plan), "--yes"],
                    (0,),
                ),
                (
                    "The list now (owner and expiry read from the panpin: marker)",
                    ["exclusions", "list", "--format", "table"],
                    (0,),
                ),
                ("History: the change journal", ["history", "--format", "table"], (0,)),
                (
                    "Rollback: the inverse change, committed the same careful way",
                    ["rollback", "--last", "--yes"],
                    (0,),
                ),
                (
                    "The list after the rollback: exactly as before",
                    ["exclusions", "list", "--format", "table"],
                    (0,),
                ),
            ]
            click.echo(
                f"panpin demo: simulated {sim.scenario.device.model} {sim.scenario.device.hostname} "
                f"at {sim.url} (admin {sim.admin}); working in {workdir}\n"
            )
            try:
                for number, (title, args, accepted) in enumerate(steps, 1):
                    click.secho(f"== {number}/{len(steps)} {title}", bold=True)
                    click.echo(f"$ panpin {' '.join(args)}")
                    code = _run(panpin_main, [*base, *args])
                    if code not in accepted:
                        raise click.ClickException(f"demo step {number} exited {code}")
                    click.echo()
            finally:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
        click.secho(f"Demo finished in {time.monotonic() - started:.1f}s.", bold=True)
    finally:
        if keep:
            click.echo(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(entry: object, argv: list[str]) -> int:
    assert callable(entry)
    try:
        entry(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    return 0
