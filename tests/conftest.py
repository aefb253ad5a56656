"""Fixtures shared by every test directory: running the CLI in-process and a simulator.

With ``PANPIN_SECRET_AUDIT=1`` (``make reliability``) every test also runs at DEBUG logging, and
fails if a known secret (the demo scenario's API key or an admin's password) appears in its log
records, in the output of any CLI run, in the message of any panpin exception made during it, in
a text handed to :func:`audit`, or in any file under its ``tmp_path`` other than a key file.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from panpin import errors
from panpin.cli import main

SECRET_AUDIT = os.environ.get("PANPIN_SECRET_AUDIT") == "1"
# The demo scenario's fixed key for panpin and the admins' passwords (panpin/simulator/scenarios).
KNOWN_SECRETS: dict[str, str] = {
    "the demo API key": "LUFRPT1wYW5waW4tZGVtby1hcGkta2V5LW5vdC1hLXNlY3JldA==",
    "panpin's password": "panpin-demo",
    "alice's password": "alice-demo",
}
_audited: list[tuple[str, str]] = []


def audit(text: str, where: str = "output") -> None:
    """Have the secret audit look at ``text`` too (e.g. a subprocess's output)."""
    if SECRET_AUDIT:
        _audited.append((where, text))


# Tests that put a secret on the wire in the clear on purpose, through a client other than
# panpin's; the client library's own DEBUG log then shows it. Each is named in docs/reliability.md.
AUDIT_EXEMPT: dict[str, str] = {
    "tests/fidelity/test_fidelity_pan_python.py::test_use_get_transport": (
        "pan-python's GET transport puts the key in the URL by design; urllib3 logs the URL"
    ),
    "tests/simulator/test_sim_auth.py::test_request_log_redacts_and_keeps_the_wire_form": (
        "sends the key and a password in the query string to test the simulator's redaction"
    ),
    "tests/simulator/test_sim_server.py::test_get_with_query_string": (
        "sends the key in a GET query string, as old clients do, to test the simulator accepts it"
    ),
}


def _patterns(secrets: dict[str, str]) -> list[tuple[str, re.Pattern[str]]]:
    """Each secret as written, URL-encoded and form-encoded, as a whole token (so the password
    "panpin-demo" is not found inside the directory name "panpin-demo-x1y2")."""
    out = []
    for name, value in secrets.items():
        for form in dict.fromkeys((value, quote(value, safe=""), quote_plus(value))):
            token = rf"(?<![A-Za-z0-9_\-]){re.escape(form)}(?![A-Za-z0-9_\-])"
            out.append((name, re.compile(token)))
    return out


def find_secrets(texts: list[tuple[str, str]], secrets: dict[str, str] | None = None) -> list[str]:
    """``"<secret> in <where>"`` for every secret found in any of ``texts``."""
    patterns = _patterns(KNOWN_SECRETS if secrets is None else secrets)
    found = [
        f"{name} in {where}" for where, text in texts for name, p in patterns if p.search(text)
    ]
    return list(dict.fromkeys(found))


def files_with_secrets(root: Path, secrets: dict[str, str] | None = None) -> list[str]:
    """Files under ``root`` that hold a secret, except key files (whose whole content is a key)."""
    chosen = KNOWN_SECRETS if secrets is None else secrets
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            text = path.read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        if text.strip() in chosen.values():
            continue  # a key file: the one place a key belongs
        found += find_secrets([(str(path), text)], chosen)
    return found


@pytest.fixture(autouse=True)
def _secret_audit(request: pytest.FixtureRequest) -> Iterator[None]:
    if not SECRET_AUDIT or request.node.nodeid in AUDIT_EXEMPT:
        yield
        return
    caplog: pytest.LogCaptureFixture = request.getfixturevalue("caplog")
    caplog.set_level(logging.DEBUG)
    # Every panpin exception made during the test, caught or not, is audited by its message.
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    made = errors.PanpinError.__init__

    def recording_init(self: errors.PanpinError, *args: Any, **kwargs: Any) -> None:
        made(self, *args, **kwargs)
        _audited.append((f"a {type(self).__name__}", f"{self!s} {self!r}"))

    monkeypatch.setattr(errors.PanpinError, "__init__", recording_init)
    # Asked for now, so it is torn down after this fixture and still there to be searched.
    tmp: Path | None = (
        request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    )
    _audited.clear()
    yield
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    records = [*caplog.get_records("setup"), *caplog.get_records("call")]
    texts = [("a log record", "\n".join(formatter.format(r) for r in records)), *_audited]
    found = find_secrets(texts)
    if tmp is not None:
        found += files_with_secrets(tmp)
    if found:
        pytest.fail("secret audit: " + "; ".join(found), pytrace=False)


@dataclass
class CliResult:
    code: int
    out: str
    err: str


RunCli = Callable[..., CliResult]


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> RunCli:
    """Run ``panpin ARGS`` in this process; returns exit code, stdout and stderr.

    Environment variables are set for the one call only (``env={...}``).
    """

    def run(*args: str, env: dict[str, str] | None = None) -> CliResult:
        capsys.readouterr()
        with monkeypatch.context() as m:
            for key in [k for k in os.environ if k.startswith("PANPIN_")]:
                m.delenv(key)
            for key, value in (env or {}).items():
                m.setenv(key, value)
            try:
                main(list(args))
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        audit(captured.out + captured.err, f"the output of panpin {' '.join(args[:8])}")
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def sim_factory(tmp_path: Path) -> Iterator[Callable[..., object]]:
    """Start simulators for one test; each is stopped at the end."""
    from panpin.simulator import Simulator

    started: list[Simulator] = []

    def start(scenario: str = "demo", **kw: object) -> Simulator:
        sim = Simulator(scenario=scenario, workdir=tmp_path / f"sim{len(started)}", **kw)  # type: ignore[arg-type]
        sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()
