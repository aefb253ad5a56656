"""``panpin report``: a plan as one self-contained HTML page. Reads files only; no device."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from panpin.change.plan import load_plan
from panpin.cli.common import global_options
from panpin.cli.output import check_output_path, message
from panpin.errors import PanpinError
from panpin.report import render_report


@click.command()
@click.argument("plan_file", metavar="PLAN", type=click.Path(dir_okay=False, path_type=str))
@click.option(
    "--html",
    "html_file",
    required=True,
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=str),
    help="Write the page to FILE ('-' for stdout).",
)
@click.option(
    "--confirm",
    "capture",
    metavar="CAPTURE",
    type=click.Path(dir_okay=False, path_type=str),
    help="Add what this packet capture (pcap/pcapng) shows for the plan's hosts.",
)
@click.option("--ticket", metavar="ID", help="The change ticket, shown in the sign-off.")
@click.option("--approver", metavar="NAME", help="Who approves, shown in the sign-off.")
@click.pass_context
def report(
    ctx: click.Context,
    plan_file: str,
    html_file: str,
    capture: str | None,
    ticket: str | None,
    approver: str | None,
) -> None:
    """Render PLAN as one HTML page for the change ticket.

    The page shows the adds and removes with their rule and reason, every decision, the
    evidence per host, a chart of errors per host over time, and a sign-off with the plan's
    file name and digest, the ticket and the approver. It is self-contained: no
    script, no fetches (a Content Security Policy forbids them), so it can be attached to a
    ticket as it is. Exit 2 when PLAN is not a valid plan or CAPTURE not a readable capture.
    """
    check_output_path(html_file, "--html")
    plan = load_plan(plan_file)
    confirmations = None
    if capture is not None:
        from panpin.capture import confirm_hosts

        hosts = sorted({d.host for d in plan.decisions if d.action != "remove"})
        confirmations = confirm_hosts(capture, hosts)
    page = render_report(
        plan,
        confirmations=confirmations,
        source=Path(plan_file).name,
        ticket=ticket,
        approver=approver,
    )
    if html_file == "-":
        click.echo(page, nl=False)
    else:
        _write(Path(html_file), page)
    message(
        f"{html_file}: change {plan.change_id}, {len(plan.adds)} adds, {len(plan.removes)} "
        f"removes, {len(plan.decisions)} decisions",
        quiet=global_options(ctx).quiet,
    )


def _write(path: Path, text: str) -> None:
    # Written beside the target and renamed, so a ticket never gets half a page.
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        raise PanpinError(f"{path}: cannot write the report: {exc.strerror or exc}") from None
