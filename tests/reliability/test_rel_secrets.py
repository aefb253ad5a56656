"""Secrets: the main flows at DEBUG logging with a known key and password, failures included; a
test fails if either appears in any log, output, exception, plan, journal or state file. Key
files that group or others can read are refused.

(``make reliability`` also runs the whole suite with ``PANPIN_SECRET_AUDIT=1``: see
``tests/conftest.py``.)
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import RunCli, files_with_secrets, find_secrets
from rel_support import DEMO_POLICY, record, write_config

from panpin import errors
from panpin.panos.xmlapi import Connection, XmlApi
from panpin.settings import DeviceSettings, Overrides, load_settings, resolve_device
from panpin.simulator import Simulator, load_scenario


def _pan_key() -> str:
    """A key shaped like PAN-OS's (``LUFRPT…``), without ``+`` or ``/``."""
    while True:
        key = base64.b64encode(b"-AQ==" + secrets.token_hex(30).encode()).decode()
        if "+" not in key and "/" not in key:
            return key


PASSWORD = "Rel-" + secrets.token_urlsafe(12)
KEY = _pan_key()


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    scenario = load_scenario("demo")
    admins = tuple(
        dataclasses.replace(a, password=PASSWORD, api_key=KEY) if a.name == "panpin" else a
        for a in scenario.admins
    )
    with Simulator(
        scenario=dataclasses.replace(scenario, admins=admins),
        workdir=tmp_path / "sim",
        commit_seconds=0.0,
        log_act_polls=1,
    ) as s:
        yield s


def test_main_flows_at_debug_never_show_the_key_or_password(
    sim: Simulator, tmp_path: Path, run_cli: RunCli, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    known = {"the API key": KEY, "the password": PASSWORD}
    texts: list[tuple[str, str]] = []
    config = write_config(tmp_path / "run", sim)
    base = ["-vv", "--config", str(config), "--device", "sim"]

    def cli(what: str, *args: str, env: dict[str, str], code: int | None = 0) -> None:
        result = run_cli(*args, env=env)
        texts.append((f"the output of {what}", result.out + result.err))
        if code is not None:
            assert result.code == code, f"{what}: exit {result.code}: {result.err}"

    # Log in: keygen with the password; the new key is written to a 0600 file.
    key_file = tmp_path / "panpin.key"
    cli(
        "login",
        "-vv",
        "--ca-file",
        str(sim.ca_file),
        "login",
        "--host",
        sim.host,
        "--user",
        "panpin",
        "--key-file",
        str(key_file),
        env={"PANPIN_PASSWORD": PASSWORD},
    )
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    new_key = key_file.read_text().strip()
    known["the new API key"] = new_key
    by_file = [*base, "--api-key-file", str(key_file)]
    none: dict[str, str] = {}

    cli("exclusions list", *by_file, "exclusions", "list", "--format", "json", env=none)
    cli("scan", *by_file, "scan", "--format", "json", env=none)
    plan = tmp_path / "plan.json"
    cli("plan", *by_file, "plan", "--policy", str(DEMO_POLICY), "--out", str(plan), env=none)
    cli("apply", *by_file, "apply", str(plan), "--yes", env=none)
    cli("history", *by_file, "history", "--format", "json", env=none)
    cli("rollback", *by_file, "rollback", "--last", "--yes", env=none)
    # A run through a blip (retries logged at DEBUG), with the key from the environment.
    sim.faults.add("http_status", status=503, match={"type": "config"}, times=2)
    cli("run", *base, "run", "--policy", str(DEMO_POLICY), env={"PANPIN_API_KEY": new_key})

    # Failures: each error message is where a careless client would print the secret.
    cli("login, wrong password", "-vv", "--ca-file", str(sim.ca_file), "login", "--host",
        sim.host, "--user", "panpin", "--key-file", str(tmp_path / "other.key"),
        env={"PANPIN_PASSWORD": PASSWORD + "x"}, code=1)  # fmt: skip
    cli("a revoked key", *base, "exclusions", "list", env={"PANPIN_API_KEY": KEY}, code=1)
    sim.faults.add("commit_fail", times=1)
    cli("rollback, commit FAIL", *by_file, "rollback", "--last", "--yes", env=none, code=None)
    wrong_ca = tmp_path / "wrong-ca.pem"
    wrong_ca.write_text(_other_ca())
    cli("a wrong CA", *by_file, "--ca-file", str(wrong_ca), "exclusions", "list", env=none, code=1)
    sim.faults.add("lock_by", admin="alice", match={"type": "op", "cmd": "<config-lock><add>"})
    plan2 = tmp_path / "plan2.json"
    cli("plan 2", *by_file, "plan", "--policy", str(DEMO_POLICY), "--out", str(plan2), env=none)
    cli("apply, lock held", *by_file, "apply", str(plan2), "--yes", env=none, code=None)

    # Exceptions and reprs, straight from the library.
    device = resolve_device(
        load_settings(str(config)), "sim", Overrides(), env={"PANPIN_API_KEY": new_key}
    )
    texts.append(("repr(DeviceSettings)", repr(device)))
    texts.append(("repr(Connection)", repr(device.connection())))
    with XmlApi(Connection(host=sim.host, api_key=KEY, ca_file=str(sim.ca_file))) as api:
        with pytest.raises(errors.AuthError) as info:
            api.op("<show><system><info></info></system></show>")
        texts.append(("an AuthError", f"{info.value!s} {info.value!r}"))
        with pytest.raises(errors.AuthError) as info:
            api.keygen("panpin", PASSWORD + "x")
        texts.append(("a keygen AuthError", f"{info.value!s} {info.value!r}"))
    assert isinstance(device, DeviceSettings)

    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    texts.append(("the log", "\n".join(formatter.format(r) for r in caplog.records)))
    found = find_secrets(texts, known)
    key_files = {key_file, tmp_path / "other.key"}
    found += [
        f for f in files_with_secrets(tmp_path, known) if not any(str(k) in f for k in key_files)
    ]
    wire = [r for r in sim.requests if KEY in r.query_string or new_key in r.query_string]
    record(
        "secrets",
        {
            "case": "main flows at DEBUG",
            "texts": len(texts),
            "files": sum(1 for p in tmp_path.rglob("*") if p.is_file()),
            "log_records": len(caplog.records),
            "found": found,
        },
    )
    assert not found, found
    assert not wire
    assert all(r.has_x_pan_key or r.type == "keygen" for r in sim.requests)
    assert all(r.method == "POST" for r in sim.requests)
    assert len(caplog.records) > 100  # DEBUG really was on


def _other_ca() -> str:
    import tempfile

    from rel_https import make_pki

    with tempfile.TemporaryDirectory() as folder:
        return make_pki(Path(folder)).ca_file.read_text()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606, 0o610, 0o444])
def test_key_file_with_loose_permissions_refused(
    mode: int, tmp_path: Path, run_cli: RunCli
) -> None:
    key_file = tmp_path / "loose.key"
    key_file.write_text(KEY + "\n")
    os.chmod(key_file, mode)
    result = run_cli("--host", "127.0.0.1:9", "--api-key-file", str(key_file), "exclusions", "list")
    record("secrets", {"case": f"key file mode {mode:04o}", "exit": result.code})
    assert result.code == 2, result.err
    assert "chmod 600" in result.err
    assert KEY not in result.out + result.err


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_private_key_file_accepted(mode: int, tmp_path: Path) -> None:
    key_file = tmp_path / "private.key"
    key_file.write_text(KEY + "\n")
    os.chmod(key_file, mode)
    from panpin.settings import read_key_file

    assert read_key_file(str(key_file)) == KEY
