"""`plan --confirm CAPTURE`: a capture confirms pinning for rules that require it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from captures import capture_of, completed, pinned_alert
from conftest import RunCli

SimFactory = Callable[..., Any]

POLICY = """\
version: 1
signals: {strong: [UnknownCA, BadCertificate], weak: [CertificateUnknown]}
thresholds: {min_hits: 3, min_clients: 2, window: 7d}
defaults: {action: review, expires: 90d}
rules:
  - name: vendor-apps
    match: {host: "*.vendor.example"}
    action: allow
    exclude_as: "*.vendor.example"
    require_confirmation: true
  - name: partner-api
    match: {regex: '^api[0-9]*\\.partner\\.example$'}
    action: allow
    require_confirmation: true
"""


def decisions(out: str) -> dict[str, dict[str, Any]]:
    return {d["host"]: d for d in json.loads(out)["decisions"]}


def test_plan_with_capture(sim_factory: SimFactory, tmp_path: Path, run_cli: RunCli) -> None:
    sim = sim_factory()
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    capture = capture_of(
        tmp_path / "pinning.pcapng",
        [pinned_alert("api1.partner.example"), completed("app.vendor.example")],
        "pcapng",
    )
    args = ["--host", sim.host, "--ca-file", str(sim.ca_file), "--admin", sim.admin]
    env = {"PANPIN_API_KEY": sim.api_key}
    result = run_cli(
        *args,
        "plan",
        "--policy",
        str(policy),
        "--confirm",
        str(capture),
        "--format",
        "json",
        env=env,
    )
    assert result.code == 0, result.err
    got = decisions(result.out)
    assert got["api1.partner.example"]["action"] == "allow"
    assert got["api1.partner.example"]["confirmation"] == "confirmed"
    # The capture shows app.vendor.example completing its handshake: not pinning, so no add.
    assert got["app.vendor.example"]["action"] == "review"
    assert got["app.vendor.example"]["confirmation"] == "not-pinning"
    assert got["sync.vendor.example"]["confirmation"] == "not-seen"
    plan = json.loads(result.out)
    assert [a["name"] for a in plan["changes"]["add"]] == ["api1.partner.example"]
    assert plan["scan"]["confirmations"]["api1.partner.example"]["status"] == "confirmed"


def test_bad_capture_exits_2_before_any_request(
    sim_factory: SimFactory, tmp_path: Path, run_cli: RunCli
) -> None:
    sim = sim_factory()
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"\xd4\xc3\xb2\xa1" + b"\x00" * 7)
    sim.clear_requests()
    result = run_cli(
        "--host",
        sim.host,
        "--ca-file",
        str(sim.ca_file),
        "--admin",
        sim.admin,
        "plan",
        "--policy",
        str(policy),
        "--confirm",
        str(bad),
        env={"PANPIN_API_KEY": sim.api_key},
    )
    assert result.code == 2
    assert sim.requests == []
