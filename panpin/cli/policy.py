"""``panpin policy``: validate a decision policy and show what its rules do. Touches no device."""

from __future__ import annotations

import click

from panpin.decide.policy import Policy, load_policy
from panpin.errors import EXIT_USAGE, PolicyError


@click.group()
def policy() -> None:
    """Validate and summarise a decision policy."""


@policy.command()
@click.argument("file", metavar="FILE", type=click.Path(dir_okay=False, path_type=str))
def check(file: str) -> None:
    """Validate FILE; print its rules, or every problem as FILE:LINE: KEY: PROBLEM (exit 2).

    The rules are listed in evaluation order: the first rule that matches a host decides it.
    """
    try:
        loaded = load_policy(file)
    except PolicyError as exc:
        # Handled here (not only in panpin.cli.main) so the exit code and format hold however the
        # command is invoked; each problem is one line, so editors and CI can jump to it.
        for line in str(exc).splitlines():
            click.echo(f"panpin: error: {line}", err=True)
        raise SystemExit(EXIT_USAGE) from None
    click.echo(summary(loaded))


def summary(loaded: Policy) -> str:
    """A plain-text summary of a valid policy: settings, then one row per rule in order."""
    t, d = loaded.thresholds, loaded.defaults
    lines = [
        f"{loaded.source}: valid (version {loaded.version}, {len(loaded.rules)} rules)",
        f"signals: strong={','.join(loaded.signals.strong)} "
        f"weak={','.join(loaded.signals.weak) or '-'}",
        f"thresholds: min_hits={t.min_hits} min_clients={t.min_clients} window={t.window.text}",
        f"defaults: action={d.action} expires={d.expires.text}",
        f"limits: max_changes_per_run={loaded.limits.max_changes_per_run}",
        "",
    ]
    header = ("#", "name", "action", "match", "exclude_as", "expires", "confirm")
    rows = [header]
    for rule in loaded.rules:
        expires = "-"
        if rule.action == "allow":
            expires = (
                rule.expires.text if rule.expires is not None else f"{d.expires.text} (default)"
            )
        rows.append(
            (
                str(rule.index),
                rule.name,
                rule.action,
                rule.match.describe(),
                rule.exclude_as or "-",
                expires,
                "yes" if rule.require_confirmation else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)
