"""`--record DIR` and `simulator serve --replay DIR` (issue 17) over real HTTPS."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import KNOWN_SECRETS, RunCli
from replay_support import replay_regression

from panpin.simulator.replay import Replay

DEMO_POLICY = str(Path(__file__).resolve().parents[2] / "panpin" / "data" / "demo-policy.yaml")
SimFactory = Callable[..., Any]


def run_command(tmp_path: Path, name: str) -> Callable[[str, str], list[str]]:
    def command(host: str, ca_file: str) -> list[str]:
        return [
            "--host",
            host,
            "--ca-file",
            ca_file,
            "--admin",
            "panpin",
            "--state",
            str(tmp_path / f"{name}.db"),
            "run",
            "--policy",
            DEMO_POLICY,
        ]

    return command


def record_run(sim: Any, tmp_path: Path, run_cli: RunCli, *extra: str) -> tuple[Path, int]:
    recording = tmp_path / "recording"
    args = run_command(tmp_path, "recorded")(sim.host, str(sim.ca_file))
    result = run_cli("--record", str(recording), *extra, *args, env={"PANPIN_API_KEY": sim.api_key})
    return recording, result.code


def originals(sim: Any) -> dict[str, list[str]]:
    """What the recording must not hold: the device's serial, its admins, the log's users and
    client addresses."""
    users = {a.name for a in sim.scenario.admins}
    sources: set[str] = set()
    for entry in sim.logs.entries():
        if entry.get("srcuser"):
            users.add(entry["srcuser"])
        if entry.get("src"):
            sources.add(entry["src"])
    return {
        "serial": [sim.device.info.serial],
        "users": sorted(users),
        "addresses": sorted(sources),
    }


def test_recorded_run_replays_with_the_same_exit_code_and_requests(
    sim_factory: SimFactory, tmp_path: Path, run_cli: RunCli
) -> None:
    sim = sim_factory()
    recording, code = record_run(sim, tmp_path, run_cli)
    assert code == 0
    assert len(list(recording.glob("*-request.json"))) == len(sim.requests)
    replay = replay_regression(
        recording, run_command(tmp_path, "replayed"), code, run_cli=run_cli, tmp_path=tmp_path
    )
    assert replay.ok


def test_replay_reports_the_first_request_that_differs(
    sim_factory: SimFactory, tmp_path: Path, run_cli: RunCli
) -> None:
    sim = sim_factory()
    recording, _ = record_run(sim, tmp_path, run_cli)
    # As if the recorded panpin had read another xpath second.
    second = recording / "0002-request.json"
    request = json.loads(second.read_text())
    request["params"]["xpath"] = "/config/shared/address"
    second.write_text(json.dumps(request))
    with Replay(recording, workdir=tmp_path / "tls") as replay:
        args = run_command(tmp_path, "other")(replay.host, str(replay.ca_file))
        result = run_cli(*args, env={"PANPIN_API_KEY": "unused"})
    assert result.code != 0
    assert replay.mismatch is not None
    assert replay.mismatch["number"] == 2
    assert replay.mismatch["reason"] == "fields xpath"
    assert replay.status()["ok"] is False
    assert "request 2 differs" in replay.summary()


def test_replay_notices_a_command_that_stops_short(
    sim_factory: SimFactory, tmp_path: Path, run_cli: RunCli
) -> None:
    sim = sim_factory()
    recording, _ = record_run(sim, tmp_path, run_cli)
    # A dry run asks the same questions but stops before the change.
    with Replay(recording, workdir=tmp_path / "tls") as replay:
        args = run_command(tmp_path, "other")(replay.host, str(replay.ca_file))
        dry = run_cli(*args, "--dry-run", env={"PANPIN_API_KEY": "unused"})
    assert dry.code == 3
    assert replay.mismatch is None
    assert 0 < replay.served < len(replay.pairs)
    assert not replay.ok
    assert f"request {replay.served + 1} was never asked" in replay.summary()


def test_recording_holds_no_secret_and_no_replaced_value(
    sim_factory: SimFactory, tmp_path: Path, run_cli: RunCli
) -> None:
    sim = sim_factory()
    recording, code = record_run(sim, tmp_path, run_cli)
    assert code == 0
    texts = {p.name: p.read_text() for p in sorted(recording.iterdir())}
    everything = "\n".join(texts.values())
    for secret in [sim.api_key, *KNOWN_SECRETS.values()]:
        assert secret not in everything
    found = originals(sim)
    assert found["addresses"], "the demo log should have client addresses"
    for serial in found["serial"]:
        assert serial not in everything
    for address in found["addresses"]:
        assert f">{address}<" not in everything and f"{address}/" not in everything
    for user in found["users"]:
        # Names are words ("panpin" is also the product); none may stand in a user field.
        for field in ("srcuser", "owner", "admin", "user", "member"):
            assert f"<{field}>{user}</{field}>" not in everything
    assert "alice" not in everything  # the other admin, named only in user fields
    assert "192.0.2.10" not in everything  # the device's management address (scenario)
    pairs = "\n".join(t for n, t in texts.items() if n[:4].isdigit())
    assert "X-PAN-KEY" not in pairs and "Cookie" not in pairs
    first = json.loads(texts["0001-request.json"])
    assert first["method"] == "POST" and first["params"]["type"] == "op"
    readme = texts["README.md"]
    assert "replaced" in readme and "host names" in readme
    # The same client keeps its network and always gets the same stand-in.
    pages = [t for n, t in texts.items() if n.endswith("-response.xml") and "<src>" in t]
    assert pages
    recorded_src = {s.split("<")[0] for t in pages for s in t.split("<src>")[1:]}
    # Only the networks of the device's own clients, none made up.
    assert {a.rsplit(".", 1)[0] for a in recorded_src} <= {
        a.rsplit(".", 1)[0] for a in found["addresses"]
    }


def test_scrub_hosts_keeps_the_public_suffix(
    sim_factory: SimFactory, tmp_path: Path, run_cli: RunCli
) -> None:
    sim = sim_factory()
    recording, code = record_run(sim, tmp_path, run_cli, "--record-scrub-hosts")
    assert code in (0, 1, 3)
    everything = "\n".join(p.read_text() for p in recording.iterdir())
    assert "vendor.example" not in everything
    assert "*.h" in everything and ".example" in everything


def test_serve_replay_exit_status_is_the_verdict(
    sim_factory: SimFactory, tmp_path: Path, run_cli: RunCli
) -> None:
    sim = sim_factory()
    recording, code = record_run(sim, tmp_path, run_cli)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "panpin",
            "simulator",
            "serve",
            "--replay",
            str(recording),
            "--workdir",
            str(tmp_path / "served"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("PANPIN_")},
    )
    try:
        assert server.stdout is not None
        line = json.loads(server.stdout.readline())
        assert line["mode"] == "replay"
        args = run_command(tmp_path, "replayed")(line["host"], line["ca_file"])
        replayed = run_cli(*args, env={"PANPIN_API_KEY": "unused"})
        assert replayed.code == code, replayed.err
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert "every request as recorded" in err
