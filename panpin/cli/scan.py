"""``panpin scan``: query the Decryption log (or read a CSV export) and aggregate candidates."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from panpin import errors
from panpin.cli.common import global_options, one_device, settings
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
    from panpin.scan.evidence import ScanResult

TABLE_COLUMNS = (
    "host",
    "hits",
    "clients",
    "errors",
    "apps",
    "first_seen",
    "last_seen",
    "devices",
    "covered_by",
)
# The CSV keeps the table's columns first (scripts read them by position) and adds the causes.
CSV_COLUMNS = (*TABLE_COLUMNS, "causes", "remedy", "issuer_urls")
NOT_PINNING_COLUMNS = ("host", "cause", "entries", "causes", "last_seen", "remedy")


def result_dict(result: ScanResult) -> dict[str, object]:
    """The one JSON object ``scan --format json`` prints (required keys first, extras after)."""
    from panpin.scan.evidence import candidate_dict, not_pinning_dict

    return {
        "query": result.query,
        "logs_read": result.logs_read,
        "candidates": [candidate_dict(c) for c in result.candidates],
        "rejected": [
            {"value": r.value, "reason": r.reason, "count": r.count} for r in result.rejected
        ],
        "truncated": result.truncated,
        "since": result.since,
        "until": result.until,
        # Extras, after the required keys.
        "not_pinning": [not_pinning_dict(c) for c in result.not_pinning],
        "scope": result.scope,
        "out_of_scope": result.out_of_scope,
    }


def render_result(result: ScanResult, fmt: str) -> str:
    from panpin.scan.evidence import candidate_dict, not_pinning_dict

    if fmt == "json":
        return json_doc(result_dict(result))
    rows = [candidate_dict(c) for c in result.candidates]
    if fmt == "csv":
        for row, c in zip(rows, result.candidates, strict=True):
            row["causes"] = ";".join(f"{k}={v}" for k, v in c.causes.items())
            row["issuer_urls"] = " ".join(c.issuer_urls)
        return render_rows(rows, CSV_COLUMNS, fmt)
    for row, c in zip(rows, result.candidates, strict=True):
        row["causes"] = ", ".join(f"{k}={v}" for k, v in c.causes.items())
    # People see each candidate's causes and remedy too (scripts read the CSV).
    text = render_rows(rows, (*TABLE_COLUMNS, "causes", "remedy"), fmt)
    if result.not_pinning:
        # A person reading the table sees the hosts that failed for another reason, and why.
        others = [not_pinning_dict(c) for c in result.not_pinning]
        for row, c in zip(others, result.not_pinning, strict=True):
            row["causes"] = ", ".join(f"{k}={v}" for k, v in c.causes.items())
        text += "\nNot pinning (never planned as exclusions):\n" + render_rows(
            others, NOT_PINNING_COLUMNS, fmt
        )
    return text


def _summary(result: ScanResult, quiet: bool) -> None:
    from panpin.scan.evidence import not_pinning_dict

    message(
        f"panpin: read {result.logs_read} log entries ({result.scope}); "
        f"{len(result.candidates)} candidate host(s); {len(result.not_pinning)} host(s) whose "
        f"failures are not pinning; {len(result.rejected)} rejected value(s)",
        quiet=quiet,
    )
    if result.out_of_scope:
        message(
            f"panpin: {result.out_of_scope} entries were outside {result.scope} (not counted)",
            quiet=quiet,
        )
    for c in result.not_pinning[:10]:
        row = not_pinning_dict(c)
        message(
            f"panpin: not pinning: {row['host']} ({row['cause']}, {row['entries']} entries): "
            f"{row['remedy']}",
            quiet=quiet,
        )
    if len(result.not_pinning) > 10:
        message(f"panpin: ... and {len(result.not_pinning) - 10} more not pinning", quiet=quiet)
    for r in result.rejected[:10]:
        message(f"panpin: rejected {r.value!r} ({r.reason}) x{r.count}", quiet=quiet)
    if len(result.rejected) > 10:
        message(f"panpin: ... and {len(result.rejected) - 10} more rejected", quiet=quiet)
    if result.truncated:
        # Always said, even with -q: the evidence is incomplete.
        click.echo(
            f"panpin: warning: stopped at --max-logs {result.logs_read}; the window holds more "
            "entries (the evidence is incomplete)",
            err=True,
        )


class _Progress:
    """An entries-read counter on stderr, only when stderr is a terminal (cron stays quiet)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False

    def callback(self) -> Callable[[int], None] | None:
        if not self.enabled:
            return None

        def show(count: int) -> None:
            self.shown = True
            click.echo(f"\rpanpin: {count} log entries read", err=True, nl=False)

        return show

    def poll_hook(self) -> Callable[[str, str, int | None], None] | None:
        """A slow log query on a terminal: its job id and state, on the same line."""
        if not self.enabled:
            return None

        def show(job_id: str, status: str, progress: int | None) -> None:
            self.shown = True
            pct = "" if progress is None else f" {progress}%"
            click.echo(
                f"\rpanpin: log query job {job_id}: {status or '?'}{pct}   ", err=True, nl=False
            )

        return show

    def done(self) -> None:
        if self.shown:
            self.shown = False
            click.echo("", err=True)


@click.command()
@click.option(
    "--since",
    metavar="D",
    help="Window start: a duration back from the device clock (24h, 7d, 30m) or "
    "'YYYY/MM/DD HH:MM:SS' device-local time. Default 7d (CSV: the whole file).",
)
@click.option("--until", metavar="T", help="Window end, like --since (default: open).")
@click.option(
    "--signal",
    "signals",
    multiple=True,
    metavar="NAME",
    help="TLS alert to look for in the error text; repeatable "
    "(default: UnknownCA, BadCertificate).",
)
@click.option(
    "--policy",
    "policy_path",
    metavar="FILE",
    help="Take the signals (strong and weak) from this policy, so the counts are the ones `plan` "
    "decides on.",
)
@click.option(
    "--filter",
    "user_filter",
    metavar="EXPR",
    help='Extra PAN-OS log filter, ANDed with the query, e.g. "( addr.src in 10.1.0.0/16 )".',
)
@click.option(
    "--max-logs",
    type=click.IntRange(min=1),
    metavar="N",
    help="Read at most N entries (the output says when the window held more).",
)
@format_option
@click.option("--output", metavar="FILE", help="Write the result here instead of stdout.")
@click.option(
    "--incremental/--no-incremental",
    default=False,
    help="Start at the stored watermark and advance it; keep the evidence for windowed thresholds.",
)
@click.option(
    "--from-csv",
    "from_csv",
    metavar="FILE",
    help="Read a Decryption log exported as CSV from the web UI instead of a device.",
)
@click.option(
    "--from-syslog",
    "from_syslog",
    multiple=True,
    metavar="FILE",
    help="Read forwarded DECRYPTION syslog lines (BSD or RFC 5424 headers, or bare CSV; "
    "gzip files too) instead of a device; repeatable.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=None,
    metavar="SECONDS",
    help="How long one log query job may run before it is cancelled "
    "[default: jobs.log_timeout of the config, else 300].",
)
@click.pass_context
def scan(
    ctx: click.Context,
    since: str | None,
    until: str | None,
    signals: tuple[str, ...],
    policy_path: str | None,
    user_filter: str | None,
    max_logs: int | None,
    fmt: str | None,
    output: str | None,
    incremental: bool,
    from_csv: str | None,
    from_syslog: tuple[str, ...],
    timeout: float | None,
) -> None:
    """Query the Decryption log for TLS failures that signal certificate pinning.

    Counts, per host (SNI, else certificate CN), the entries whose error names a signal, their
    distinct clients, alerts, apps, first/last seen and devices, and which exclusion entry already
    covers it. Against Panorama, reads Panorama's log store and lists the firewalls per host.
    Reads only; nothing on the device changes. Host values that are no valid DNS name are listed
    under "rejected", never as candidates.
    """
    from panpin.scan.logs import check_user_filter, check_when, validate_signals

    opts = global_options(ctx)
    # Bad input is refused before anything talks to the device.
    if policy_path is not None:
        if signals:
            raise click.UsageError("--signal and --policy both choose the signals; give one")
        from panpin.decide.policy import load_policy

        policy = load_policy(policy_path)
        signals = (*policy.signals.strong, *policy.signals.weak)
    chosen = validate_signals(signals)
    for text, option in ((since, "--since"), (until, "--until")):
        if text:
            check_when(text, option)
    if user_filter is not None:
        check_user_filter(user_filter)
    check_output_path(output, "--output")
    if output not in (None, "-"):
        # `--output scan.csv` means CSV; a name without a known suffix gets JSON, as before.
        implied = _FORMAT_BY_SUFFIX.get(Path(str(output)).suffix.lower())
        if fmt is not None and implied is not None and implied != fmt:
            raise click.UsageError(
                f"--output {output} names a {implied} file but --format is {fmt}"
            )
        fmt = fmt or implied
    fmt = resolve_format(fmt, None if output in (None, "-") else _NotATerminal())
    progress = _Progress(sys.stderr.isatty() and not opts.quiet)

    files = "--from-csv" if from_csv is not None else "--from-syslog" if from_syslog else None
    if files is not None:
        if from_csv is not None and from_syslog:
            raise click.UsageError("--from-csv and --from-syslog cannot be used together")
        if incremental:
            raise click.UsageError(f"--incremental reads a device; it cannot be used with {files}")
        if user_filter is not None:
            raise click.UsageError(
                f"--filter is a PAN-OS query for the device; it cannot be applied to {files}"
            )
    if from_csv is not None:
        from panpin.scan.files import scan_csv

        result = scan_csv(from_csv, since=since, until=until, signals=chosen, max_logs=max_logs)
    elif from_syslog:
        from panpin.scan.files import scan_syslog

        result = scan_syslog(
            list(from_syslog), since=since, until=until, signals=chosen, max_logs=max_logs
        )
    else:
        result = _scan_live(
            ctx,
            since=since,
            until=until,
            signals=chosen,
            user_filter=user_filter,
            max_logs=max_logs,
            incremental=incremental,
            timeout=timeout,
            progress=progress,
        )
    progress.done()
    text = render_result(result, fmt)
    try:
        emit(text, output)
    except OSError as exc:
        raise errors.InputError(f"--output {output}: {exc.strerror or exc}") from None
    _summary(result, opts.quiet)


_FORMAT_BY_SUFFIX = {".csv": "csv", ".json": "json", ".md": "markdown", ".txt": "table"}


class _NotATerminal:
    """Stand-in stream for --output FILE: a file is never a terminal, so the default is json."""

    def isatty(self) -> bool:
        return False


def _scan_live(
    ctx: click.Context,
    *,
    since: str | None,
    until: str | None,
    signals: Sequence[str],
    user_filter: str | None,
    max_logs: int | None,
    incremental: bool,
    timeout: float | None,
    progress: _Progress,
) -> ScanResult:
    from panpin.change.session import Session

    device = one_device(ctx)
    with Session(device, settings(ctx).state) as session:
        try:
            return session.scan(
                since=since,
                until=until,
                signals=signals,
                user_filter=user_filter,
                max_logs=max_logs,
                incremental=incremental,
                timeout=timeout,
                progress=progress.callback(),
                on_poll=progress.poll_hook(),
            )
        finally:
            progress.done()
