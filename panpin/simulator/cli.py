"""``panpin simulator serve``: run the simulator for users' own pipelines and tests.

Prints one JSON line ``{"url", "ca_file", "api_key", "admin", "password", ...}`` on stdout, logs to stderr and
serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import click

from panpin.simulator.replay import Replay
from panpin.simulator.scenario import ScenarioError, load_scenario
from panpin.simulator.sim import Simulator


def _log_to_stderr(verbose: bool) -> None:
    """The simulator's own handler: ``panpin`` configures the root logger before this command
    runs (so ``logging.basicConfig`` here would do nothing), and its level must not hide the
    per-request lines ``-v`` asks for."""
    logger = logging.getLogger("panpin.simulator")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger.handlers = [handler]
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False


@click.group(name="simulator")
def simulator() -> None:
    """A PAN-OS XML API simulator (firewall or Panorama) on 127.0.0.1."""


@simulator.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="TCP port on 127.0.0.1 (0 picks a free one).",
)
@click.option(
    "--scenario",
    "scenario_name",
    default="demo",
    show_default=True,
    help="A bundled scenario name (demo, panorama) or a scenario YAML file.",
)
@click.option(
    "--panorama/--firewall",
    "panorama",
    default=None,
    help="Act as Panorama (or a firewall) whatever the scenario says.",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write ca.pem and the server key (default: a temporary directory).",
)
@click.option(
    "--control-token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the /_sim/ control token to this file (mode 0600).",
)
@click.option(
    "--replay",
    "replay_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Answer from a recording (panpin --record DIR) in order instead of a scenario; "
    "exit 1 if a request differed or a recorded one was never asked.",
)
@click.option(
    "--version",
    "sw_version",
    metavar="VERSION",
    default=None,
    help="Answer as this PAN-OS release (e.g. 9.1.0: no Decryption log); default: the scenario's.",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Log every request to stderr (method, type/action/command, answer; never the key).",
)
def serve(
    port: int,
    scenario_name: str,
    panorama: bool | None,
    workdir: Path | None,
    control_token_file: Path | None,
    replay_dir: Path | None,
    sw_version: str | None,
    verbose: bool,
) -> None:
    """Serve the simulator until interrupted."""
    _log_to_stderr(verbose)
    if replay_dir is not None:
        _serve_replay(replay_dir, port, workdir)
        return
    try:
        scenario = load_scenario(scenario_name)
    except ScenarioError as exc:
        raise click.UsageError(str(exc)) from exc
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        sim = Simulator(
            scenario, panorama=panorama, port=port, workdir=workdir, version=sw_version
        ).start()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc}") from exc
    try:
        if control_token_file is not None:
            fd = os.open(control_token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(sim.control_token + "\n")
        line = {
            "format_version": 1,
            "url": sim.url,
            "host": sim.host,
            "ca_file": str(sim.ca_file),
            "fingerprint": sim.fingerprint,
            "api_key": sim.api_key,
            "admin": sim.admin,
            # What `panpin login --user ADMIN` asks for: a test device's made-up password.
            "password": sim.scenario.admins[0].password,
            "mode": "panorama" if sim.panorama else "firewall",
            "sw_version": sim.scenario.device.sw_version,
        }
        click.echo(json.dumps(line))
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        sim.stop()
        logging.getLogger("panpin.simulator").info("simulator stopped")


def _serve_replay(directory: Path, port: int, workdir: Path | None) -> None:
    try:
        replay = Replay(directory, port=port, workdir=workdir)
    except (ValueError, OSError) as exc:
        raise click.UsageError(f"--replay: {exc}") from exc
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        replay.start()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc}") from exc
    try:
        line = {
            "format_version": 1,
            "url": replay.url,
            "host": replay.host,
            "ca_file": str(replay.ca_file),
            "fingerprint": replay.fingerprint,
            "mode": "replay",
            "recorded": len(replay.pairs),
        }
        click.echo(json.dumps(line))
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        replay.stop()
    click.echo(replay.summary(), err=True)
    if not replay.ok:
        # The exit status is the verdict, for a pipeline that replays a recording as a test.
        raise click.exceptions.Exit(1)
