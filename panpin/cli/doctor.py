"""``panpin doctor``: the read-only preflight, per device (``--all`` for the fleet)."""

from __future__ import annotations

import click

from panpin.cli.common import fleet, global_options, settings
from panpin.cli.output import emit, format_option, json_doc, message, render_rows, resolve_format

COLUMNS = ["name", "verdict", "detail", "fix"]


@click.command()
@click.option("--strict", is_flag=True, help="Warnings fail too (exit 1).")
@format_option
@click.pass_context
def doctor(ctx: click.Context, strict: bool, fmt: str | None) -> None:
    """Check that a device is ready for panpin before the first cron job.

    TLS, the key, the XML API permissions panpin needs, PAN-OS version, clock, location,
    Decryption log, HA state, locks and pending changes: each pass, warn or fail, with what to
    do. Reads only: nothing is locked, written or committed. Exit 0 when nothing fails
    (warnings are printed), 1 when a check fails; --strict makes warnings fail.
    """
    from panpin.change.doctor import reports_dict
    from panpin.change.session import Session

    state = settings(ctx).state
    reports = []
    for device in fleet(ctx):
        with Session(device, state) as session:
            reports.append(session.doctor())
    fmt = resolve_format(fmt)
    if fmt == "json":
        emit(json_doc(reports_dict(reports)))
    else:
        many = len(reports) > 1
        rows = [{"device": r.device, **c.to_dict()} for r in reports for c in r.checks]
        emit(render_rows(rows, ["device", *COLUMNS] if many else COLUMNS, fmt))

    def named(verdict: str) -> list[str]:
        prefix = len(reports) > 1
        return [
            f"{r.device}:{c.name}" if prefix else c.name
            for r in reports
            for c in r.checks
            if c.verdict == verdict
        ]

    failed, warned = named("fail"), named("warn")
    if warned:
        message(
            f"panpin: warning: doctor: {_count(warned, 'warning')} ({', '.join(warned)})",
            quiet=global_options(ctx).quiet,
        )
    if failed:
        message(f"panpin: error: doctor: {_count(failed, 'failed check')} ({', '.join(failed)})")
    ctx.exit(max(r.exit_code(strict=strict) for r in reports) if reports else 0)


def _count(names: list[str], noun: str) -> str:
    return f"{len(names)} {noun}{'' if len(names) == 1 else 's'}"
