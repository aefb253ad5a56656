"""The ``panpin`` command: a click group whose commands are imported only when run.

Start-up time matters for cron (``panpin --help`` should cost about what importing click costs), so
requests, lxml and pan-os-python are imported by the commands that need them, not here. Every
:class:`~panpin.errors.PanpinError` becomes its exit code in :func:`main`, and nowhere else.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

import click

from panpin import __version__

# Not imported here, for start-up: logging (with traceback, threading, weakref...) is set up only
# when a command runs, and panpin.errors is needed only when one fails.

# name -> "module:attribute"; loaded on first use.
COMMANDS: dict[str, tuple[str, str]] = {
    "scan": ("panpin.cli.scan:scan", "Query the Decryption log and aggregate candidates."),
    "policy": ("panpin.cli.policy:policy", "Validate and summarise a decision policy."),
    "plan": (
        "panpin.cli.change:plan",
        "Scan, decide and diff; write a plan (device untouched).",
    ),
    "apply": ("panpin.cli.change:apply", "Apply exactly a reviewed plan and commit it."),
    "run": ("panpin.cli.change:run", "Cron one-shot: plan then apply."),
    "exclusions": (
        "panpin.cli.exclusions:exclusions",
        "Show the SSL Decryption Exclusion list.",
    ),
    "rollback": ("panpin.cli.change:rollback", "Undo a recorded change, then commit."),
    "commit": (
        "panpin.cli.change:commit_cmd",
        "Commit panpin's change left uncommitted (apply --no-commit).",
    ),
    "discard": (
        "panpin.cli.change:discard_cmd",
        "Revert panpin's change left uncommitted (apply --no-commit).",
    ),
    "release": (
        "panpin.cli.change:release",
        "End a rollback's hold on a host so runs may add it again.",
    ),
    "history": ("panpin.cli.change:history", "Show the change journal and rollback holds."),
    "doctor": (
        "panpin.cli.doctor:doctor",
        "Read-only preflight: is the device ready for panpin?",
    ),
    "login": ("panpin.cli.login:login", "Generate an API key once and store it (mode 0600)."),
    "confirm": (
        "panpin.cli.confirm:confirm",
        "Confirm pinning from a packet capture (pcap/pcapng).",
    ),
    "report": ("panpin.cli.report:report", "Render a plan as one self-contained HTML page."),
    "demo": ("panpin.cli.demo:demo", "Walk the whole flow against the embedded simulator."),
    "simulator": ("panpin.simulator.cli:simulator", "Run the PAN-OS XML API simulator."),
}


@dataclass
class GlobalOptions:
    """What the global flags (or their ``PANPIN_*`` variables) said; ``None`` = not given."""

    config: str | None = None
    device: tuple[str, ...] = ()
    all_devices: bool = False
    host: str | None = None
    api_key_file: str | None = None
    ca_file: str | None = None
    fingerprint: str | None = None
    insecure: bool | None = None
    location: str | None = None
    admin: str | None = None
    state: str | None = None
    record: str | None = None
    record_scrub_hosts: bool = False
    verbose: int = 0
    quiet: bool = False
    log_format: str = "text"


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target[0].split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None
            raise
        command = getattr(module, attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help lists the one-line summaries from COMMANDS so `--help` imports no command module.
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="panpin")
@click.option(
    "--config", envvar="PANPIN_CONFIG", metavar="FILE", help="Settings file (configs/panpin.yaml)."
)
@click.option(
    "--device",
    envvar="PANPIN_DEVICE",
    multiple=True,
    metavar="NAME",
    help="Device from the config; repeatable.",
)
@click.option(
    "--all", "all_devices", is_flag=True, default=False, help="Every device in the config."
)
@click.option(
    "--host", envvar="PANPIN_HOST", metavar="HOST[:PORT]", help="Firewall or Panorama address."
)
@click.option(
    "--api-key-file",
    envvar="PANPIN_API_KEY_FILE",
    metavar="FILE",
    help="File holding the API key (mode 0600). The key itself only via PANPIN_API_KEY.",
)
@click.option(
    "--ca-file",
    envvar="PANPIN_CA_FILE",
    metavar="FILE",
    help="CA bundle that signed the management certificate.",
)
@click.option(
    "--fingerprint",
    envvar="PANPIN_FINGERPRINT",
    metavar="SHA256",
    help="Pin the device certificate by SHA-256 instead of a CA.",
)
@click.option(
    "--insecure/--no-insecure",
    envvar="PANPIN_INSECURE",
    default=None,
    help="Do not verify TLS (warns every run).",
)
@click.option(
    "--location",
    envvar="PANPIN_LOCATION",
    metavar="LOC",
    help="shared | vsys:NAME | template:NAME | template-stack:NAME",
)
@click.option(
    "--admin",
    envvar="PANPIN_ADMIN",
    metavar="NAME",
    help="Admin whose changes panpin commits (the key's user).",
)
@click.option(
    "--state",
    envvar="PANPIN_STATE",
    metavar="FILE",
    help="State database (watermarks, evidence, journal).",
)
@click.option(
    "--record",
    envvar="PANPIN_RECORD",
    metavar="DIR",
    help="Write every API request and answer, scrubbed, to DIR (docs/recording.md).",
)
@click.option(
    "--record-scrub-hosts",
    is_flag=True,
    default=False,
    envvar="PANPIN_RECORD_SCRUB_HOSTS",
    help="With --record: replace host names too (their public suffix is kept).",
)
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    envvar="PANPIN_LOG_FORMAT",
    help="stderr lines as text, or one JSON object per line for log shippers.",
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    default=False,
    envvar="PANPIN_QUIET",
    help="Only errors on stderr.",
)
@click.pass_context
def cli(ctx: click.Context, /, **kwargs: Any) -> None:
    """Find sites that pin their certificate and manage the SSL Decryption Exclusion list.

    Exit codes: 0 ok, 1 runtime error, 2 invalid input, 3 changes pending, 4 commit failed and
    reverted, 5 busy (lock, commit running, another run), 6 manual intervention needed.
    """
    import logging

    opts = GlobalOptions(**kwargs)
    ctx.obj = opts
    level = (
        logging.ERROR
        if opts.quiet
        else (logging.WARNING, logging.INFO, logging.DEBUG)[min(opts.verbose, 2)]
    )
    # `panpin: warning: …`, the same style as `panpin: error: …` (docs/design.md).
    for number in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL):
        logging.addLevelName(number, logging.getLevelName(number).lower())
    global _JSON_LOGS
    _JSON_LOGS = opts.log_format == "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        _JsonFormatter() if _JSON_LOGS else logging.Formatter("panpin: %(levelname)s: %(message)s")
    )
    logging.basicConfig(level=level, handlers=[handler])


# Set by the group once the flags are read: main()'s own error line follows --log-format too.
_JSON_LOGS = False


def _JsonFormatter() -> Any:
    import json
    import logging
    from datetime import UTC, datetime

    class JsonFormatter(logging.Formatter):
        """One JSON object per line: time (UTC, ISO 8601), level, logger, message."""

        def format(self, record: logging.LogRecord) -> str:
            return json.dumps(
                {
                    "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                        timespec="seconds"
                    ),
                    "level": record.levelname.lower(),
                    "logger": record.name,
                    "message": record.getMessage(),
                }
            )

    return JsonFormatter()


def _say_error(text: str) -> None:
    """The final error line, in the chosen log format."""
    if _JSON_LOGS:
        import json

        click.echo(json.dumps({"level": "error", "logger": "panpin", "message": text}), err=True)
    else:
        click.echo(f"panpin: error: {text}", err=True)


def _handle_signals() -> dict[int, Any]:
    """SIGTERM and SIGHUP raise :class:`panpin.errors.Interrupted`, as Ctrl-C raises
    KeyboardInterrupt, so every way of stopping panpin runs the same clean-up. Only in the main
    thread (where Python delivers signals), and only when the signal is not ignored."""
    import signal
    import threading

    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous

    def interrupt(signum: int, frame: object) -> None:
        from panpin.errors import Interrupted

        raise Interrupted(signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        handler = signal.getsignal(signum)
        if handler is not signal.SIG_IGN:
            previous[signum] = handler
            signal.signal(signum, interrupt)
    return previous


def _restore_signals(previous: dict[int, Any]) -> None:
    import signal

    for signum, handler in previous.items():
        signal.signal(signum, handler)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the group, map PanpinError to its exit code, never print a traceback for one."""
    previous = _handle_signals()
    try:
        _main(argv)
    finally:
        # For callers that run main() in their own process (tests, a wrapper): leave it as found.
        _restore_signals(previous)


def _interrupted(exc: KeyboardInterrupt) -> NoReturn:
    """Ctrl-C, SIGTERM (timeout, systemd) or SIGHUP: the change in progress has already gone
    through its clean-up (revert, unlock) on the way here. Exit 128 + the signal's number."""
    import signal

    signum = getattr(exc, "signum", signal.SIGINT)
    click.echo(f"panpin: error: interrupted ({signal.Signals(signum).name})", err=True)
    sys.exit(128 + int(signum))


def _main(argv: list[str] | None) -> None:
    try:
        # standalone_mode=False: click returns ctx.exit()'s code instead of calling sys.exit.
        rv = cli.main(args=argv, prog_name="panpin", standalone_mode=False)
    except click.exceptions.Abort as exc:
        # click turns a KeyboardInterrupt (ours for SIGTERM/SIGHUP too) into Abort.
        cause = exc.__context__
        if isinstance(cause, KeyboardInterrupt):
            _interrupted(cause)
        click.echo("panpin: aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt as exc:
        _interrupted(exc)
    except click.ClickException as exc:
        from panpin.errors import EXIT_USAGE

        # One style for every error, click's own included: `panpin: error: …` on one line.
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see '{exc.ctx.command_path} --help')"
        if isinstance(exc, click.NoSuchOption) and exc.ctx is not None:
            # `panpin scan --host X`: a global option given after the command.
            known = {o for p in cli.params for o in getattr(p, "opts", ())}
            if exc.option_name in known and exc.ctx.command is not cli:
                hint = (
                    f"; {exc.option_name} is a global option: it goes before the command, "
                    f"e.g. 'panpin {exc.option_name} … {exc.ctx.info_name} …'"
                )
        text = exc.format_message()
        _say_error(f"{text.rstrip('.') if hint.startswith(';') else text}{hint}")
        sys.exit(exc.exit_code if exc.exit_code else EXIT_USAGE)
    except Exception as exc:
        # A PanpinError is no click exception, so the order of these handlers does not matter.
        from panpin.errors import PanpinError

        if not isinstance(exc, PanpinError):
            raise
        _say_error(str(exc))
        sys.exit(exc.exit_code)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
