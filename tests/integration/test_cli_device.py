"""login and exclusions list through the CLI, over HTTPS against the simulator."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import RunCli

SimFactory = Callable[..., Any]


def test_login_writes_0600_key_that_works(
    sim_factory: SimFactory, tmp_path: Path, run_cli: RunCli
) -> None:
    sim = sim_factory()
    key_file = tmp_path / "keys" / "fw.key"
    result = run_cli(
        "--ca-file",
        str(sim.ca_file),
        "login",
        "--host",
        sim.host,
        "--user",
        sim.admin,
        "--key-file",
        str(key_file),
        env={"PANPIN_PASSWORD": "panpin-demo"},
    )
    assert result.code == 0, result.err
    assert (key_file.stat().st_mode & 0o777) == 0o600
    key = key_file.read_text().strip()
    assert key not in result.out + result.err
    listed = run_cli(
        "--host",
        sim.host,
        "--ca-file",
        str(sim.ca_file),
        "--api-key-file",
        str(key_file),
        "exclusions",
        "list",
        "--format",
        "json",
    )
    assert listed.code == 0, listed.err
    doc = json.loads(listed.out)
    owners = {e["name"]: e["owner"] for e in doc["entries"]}
    assert owners["login.partner.example"] == "person"
    assert owners["*.mdm.example"] == "panpin"
    expiry = {e["name"]: e["expires"] for e in doc["entries"]}
    assert expiry["*.mdm.example"] == "2027-03-31"


def test_login_wrong_password_exit_1(
    sim_factory: SimFactory, tmp_path: Path, run_cli: RunCli
) -> None:
    sim = sim_factory()
    result = run_cli(
        "--ca-file",
        str(sim.ca_file),
        "login",
        "--host",
        sim.host,
        "--user",
        sim.admin,
        "--key-file",
        str(tmp_path / "k"),
        env={"PANPIN_PASSWORD": "nope"},
    )
    assert result.code == 1
    assert "nope" not in result.err
    assert not (tmp_path / "k").exists()


def test_loose_key_file_refused_exit_2(
    sim_factory: SimFactory, tmp_path: Path, run_cli: RunCli
) -> None:
    sim = sim_factory()
    key_file = tmp_path / "loose.key"
    key_file.write_text(sim.api_key)
    os.chmod(key_file, 0o644)
    sim.clear_requests()
    result = run_cli(
        "--host",
        sim.host,
        "--ca-file",
        str(sim.ca_file),
        "--api-key-file",
        str(key_file),
        "exclusions",
        "list",
    )
    assert result.code == 2
    assert "chmod 600" in result.err
    assert sim.requests == []


def test_candidate_list_shows_uncommitted(sim_factory: SimFactory, run_cli: RunCli) -> None:
    sim = sim_factory()
    from panpin.panos.xmlapi import Connection, XmlApi

    with XmlApi(
        Connection(host=sim.host, api_key=sim.key_for("alice"), ca_file=str(sim.ca_file))
    ) as api:
        api.config(
            "set",
            "/config/shared/ssl-decrypt/ssl-exclude-cert",
            "<entry name='new.example'><exclude>no</exclude></entry>",
        )
    base = ["--host", sim.host, "--ca-file", str(sim.ca_file)]
    env = {"PANPIN_API_KEY": sim.api_key}
    running = run_cli(*base, "exclusions", "list", "--format", "json", env=env)
    candidate = run_cli(*base, "exclusions", "list", "--candidate", "--format", "csv", env=env)
    assert "new.example" not in running.out
    assert "new.example,no,person" in candidate.out


def test_bad_location_and_missing_key_exit_2(sim_factory: SimFactory, run_cli: RunCli) -> None:
    sim = sim_factory()
    base = ["--host", sim.host, "--ca-file", str(sim.ca_file)]
    bad = run_cli(
        *base, "--location", "vsys", "exclusions", "list", env={"PANPIN_API_KEY": sim.api_key}
    )
    assert bad.code == 2 and "location" in bad.err
    nokey = run_cli(*base, "exclusions", "list")
    assert nokey.code == 2 and "PANPIN_API_KEY" in nokey.err


def test_help_and_version_list_every_command(run_cli: RunCli) -> None:
    from panpin.cli import COMMANDS

    result = run_cli("--help")
    assert result.code == 0
    for name in COMMANDS:
        assert name in result.out
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for name in COMMANDS:
        assert f"panpin {name}" in readme, f"README does not document `panpin {name}`"
    assert run_cli("--version").code == 0
