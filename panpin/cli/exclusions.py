"""``panpin exclusions list``: the SSL Decryption Exclusion list as it is, with owner and expiry."""

from __future__ import annotations

import json

import click

from panpin.cli.common import one_device, open_api
from panpin.cli.output import emit, format_option, render_rows, resolve_format


@click.group()
def exclusions() -> None:
    """Read the SSL Decryption Exclusion list (Device > Certificate Management)."""


@exclusions.command("list")
@click.option(
    "--candidate", is_flag=True, help="Read the candidate configuration instead of the running one."
)
@format_option
@click.pass_context
def list_cmd(ctx: click.Context, candidate: bool, fmt: str | None) -> None:
    """Show every entry: name, description, exclude flag, owner (panpin or person) and expiry.

    Reads only; nothing on the device changes.
    """
    from panpin.panos.exclusions import read_list

    device = one_device(ctx)
    with open_api(device) as api:
        entries = read_list(api, device.location, candidate=candidate)
    rows = [
        {
            "name": e.name,
            "description": e.description,
            "exclude": e.exclude,
            "owner": e.owner,
            "expires": e.expires.isoformat() if e.expires else None,
        }
        for e in entries
    ]
    fmt = resolve_format(fmt)
    if fmt == "json":
        doc = {
            "location": str(device.location),
            "config": "candidate" if candidate else "running",
            "entries": rows,
        }
        emit(json.dumps(doc, indent=2) + "\n")
    else:
        emit(render_rows(rows, ["name", "exclude", "owner", "expires", "description"], fmt))
