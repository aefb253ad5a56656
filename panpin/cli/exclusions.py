"""``panpin exclusions list``: the SSL Decryption Exclusion list as it is, with owner and expiry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

import click

from panpin.cli.common import one_device, settings
from panpin.cli.output import emit, format_option, json_doc, render_rows, resolve_format

if TYPE_CHECKING:
    from panpin.panos.exclusions import ExclusionEntry


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
    from panpin.change.session import Session

    device = one_device(ctx)
    with Session(device, settings(ctx).state) as session:
        entries = session.exclusions(candidate=candidate)
    rows = entry_rows(entries, today=date.today())
    fmt = resolve_format(fmt)
    if fmt == "json":
        doc = {
            "location": str(device.location),
            "config": "candidate" if candidate else "running",
            "entries": rows,
        }
        emit(json_doc(doc))
    else:
        for row in rows:
            if row["expired"]:
                # Seen at a glance: the next `run` removes it (decide's expiry rule).
                row["expires"] = f"{row['expires']} (expired)"
        emit(render_rows(rows, ENTRY_COLUMNS, fmt))


ENTRY_COLUMNS = ["name", "exclude", "owner", "expires", "description"]


def entry_rows(
    entries: Sequence[ExclusionEntry], today: date | None = None
) -> list[dict[str, object]]:
    """One row per entry, with the owner and expiry read from the panpin: marker; ``expired``
    is true for a panpin entry whose expiry is before ``today`` (a person's entry never
    expires)."""
    return [
        {
            "name": e.name,
            "description": e.description,
            "exclude": e.exclude,
            "owner": e.owner,
            "expires": e.expires.isoformat() if e.expires else None,
            "expired": bool(
                today is not None and e.owner == "panpin" and e.expires and e.expires < today
            ),
        }
        for e in entries
    ]
