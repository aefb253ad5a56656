"""Every command with each kind of bad path: one `panpin: error:` line naming the path, exit 2,
no traceback, and no request reaches the device (issue 18)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import own_simulator, write_policy
from conftest import RunCli

from panpin.simulator import Simulator

POLICY = """\
version: 1
rules:
  - name: vendor
    match: {domain: vendor.example}
    action: allow
"""


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    with own_simulator(tmp_path_factory.mktemp("sim")) as shared:
        yield shared


CASES = [
    # (what, arguments after the device flags, text naming the problem)
    ("ca file missing", ["--ca-file", "{tmp}/nope/ca.pem", "exclusions", "list"], "no such file"),
    ("ca file is a folder", ["--ca-file", "{tmp}", "exclusions", "list"], "is a folder"),
    ("ca file missing, scan", ["--ca-file", "{tmp}/nope.pem", "scan"], "no such file"),
    ("plan out in missing folder", ["plan", "--policy", "{policy}", "--out", "{tmp}/no/p.json"],
     "does not exist"),
    ("plan out is a folder", ["plan", "--policy", "{policy}", "--out", "{tmp}"], "is a folder"),
    ("scan output missing folder", ["scan", "--output", "{tmp}/no/s.json"], "does not exist"),
    ("run metrics missing folder", ["run", "--policy", "{policy}", "--metrics", "{tmp}/no/m.prom"],
     "does not exist"),
    ("policy missing", ["plan", "--policy", "{tmp}/nope.yaml"], "nope.yaml"),
    ("plan file missing", ["apply", "{tmp}/nope.json", "--yes"], "nope.json"),
    ("state in a folder that cannot be", ["--state", "/proc/nope/state.db", "run", "--policy",
     "{policy}"], "/proc/nope"),
    ("state for history", ["--state", "/proc/nope/state.db", "rollback", "--last", "--yes"],
     "/proc/nope"),
    ("report html missing folder", ["report", "{tmp}/plan.json", "--html", "{tmp}/no/r.html"],
     "does not exist"),
    ("capture missing", ["confirm", "{tmp}/nope.pcap"], "nope.pcap"),
    ("key file missing", ["--api-key-file", "{tmp}/nope.key", "exclusions", "list"], "nope.key"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "args", "says"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_path_is_one_clear_line(
    sim: Simulator, tmp_path: Path, run_cli: RunCli, what: str, args: list[str], says: str
) -> None:
    policy = write_policy(tmp_path, POLICY)
    (tmp_path / "plan.json").write_text("{}")
    filled = [a.format(tmp=tmp_path, policy=policy) for a in args]
    device = ["--host", sim.host, "--admin", sim.admin, "--state", str(tmp_path / "s.db")]
    if "--ca-file" not in filled:
        device += ["--ca-file", str(sim.ca_file)]
    env = {} if "--api-key-file" in filled else {"PANPIN_API_KEY": sim.api_key}
    sim.clear_requests()
    result = run_cli(*device, *filled, env=env)
    assert result.code == 2, (what, result.code, result.err)
    assert "Traceback" not in result.err
    errors = [line for line in result.err.splitlines() if line.startswith("panpin: error:")]
    assert len(errors) == 1 and says in errors[0], result.err
    assert sim.requests == []
