"""A new user's mistakes against the simulator (issue 18): each gets one clear line and the
right exit code; nothing on the device changes."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import (
    VENDOR_POLICY,
    alice_commits_after_plans,
    own_simulator,
    sim_args,
    write_policy,
)
from conftest import RunCli

from panpin.simulator import Simulator

POLICY = VENDOR_POLICY


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    with own_simulator(tmp_path_factory.mktemp("sim")) as shared:
        yield shared


flags = sim_args


def test_declining_the_prompt_is_cancelled_exit_1_and_changes_nothing(
    sim: Simulator, tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = write_policy(tmp_path, POLICY)
    env = {"PANPIN_API_KEY": sim.api_key}
    made = run_cli(*flags(sim, tmp_path), "plan", "--policy", str(policy), "--out",
                   str(tmp_path / "plan.json"), env=env)  # fmt: skip
    assert made.code == 0, made.err
    answer = io.StringIO("n\n")
    answer.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr("sys.stdin", answer)
    sim.clear_requests()
    result = run_cli(*flags(sim, tmp_path), "apply", str(tmp_path / "plan.json"), env=env)
    assert result.code == 1, result.err
    assert "cancelled" in result.err
    assert sim.requests == []


def test_scan_output_takes_its_format_from_the_suffix(
    sim: Simulator, tmp_path: Path, run_cli: RunCli
) -> None:
    env = {"PANPIN_API_KEY": sim.api_key}
    out = tmp_path / "scan.csv"
    result = run_cli(*flags(sim, tmp_path), "scan", "--since", "30d", "--output", str(out),
                     env=env)  # fmt: skip
    assert result.code == 0, result.err
    assert out.read_text().splitlines()[0].startswith("host,hits,clients,errors")
    mismatch = run_cli(*flags(sim, tmp_path), "scan", "--output", str(out), "--format", "json",
                       env=env)  # fmt: skip
    assert mismatch.code == 2 and "names a csv file but --format is json" in mismatch.err
    as_json = tmp_path / "scan.out"
    run_cli(*flags(sim, tmp_path), "scan", "--since", "30d", "--output", str(as_json), env=env)
    assert "candidates" in json.loads(as_json.read_text())


def test_a_global_option_after_the_command_says_where_it_goes(run_cli: RunCli) -> None:
    result = run_cli("scan", "--host", "fw.example.net")
    assert result.code == 2
    assert "--host is a global option: it goes before the command" in result.err


def test_a_refused_key_says_what_to_do(sim: Simulator, tmp_path: Path, run_cli: RunCli) -> None:
    result = run_cli(*flags(sim, tmp_path), "exclusions", "list", env={"PANPIN_API_KEY": "nope"})
    assert result.code == 1
    # The device, the user and the way to a new key, on one line.
    (line,) = result.err.strip().splitlines()
    assert f"{sim.host}: the device refused the API key of admin {sim.admin!r}" in line
    assert f"panpin login --host {sim.host} --user {sim.admin}" in line


def test_a_wrong_password_at_login_names_the_user(
    sim: Simulator, tmp_path: Path, run_cli: RunCli
) -> None:
    base = ["--host", sim.host, "--ca-file", str(sim.ca_file)]
    result = run_cli(*base, "login", "--user", "panpin", "--key-file", str(tmp_path / "k"),
                     env={"PANPIN_PASSWORD": "wrong"})  # fmt: skip
    assert result.code == 1
    (line,) = result.err.strip().splitlines()
    assert f"{sim.host}: the device refused user 'panpin' with that password" in line
    assert not (tmp_path / "k").exists()


def test_login_then_host_finds_the_key_login_wrote(
    sim: Simulator, tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    base = ["--host", sim.host, "--ca-file", str(sim.ca_file)]
    login = run_cli(*base, "login", "--user", "panpin", env={"PANPIN_PASSWORD": "panpin-demo"})
    assert login.code == 0, login.err
    written = tmp_path / ".config" / "panpin" / f"{sim.host.replace(':', '_')}.key"
    assert written.is_file()
    listed = run_cli(*base, "exclusions", "list", "--format", "json")
    assert listed.code == 0, listed.err
    assert json.loads(listed.out)["entries"]


def test_an_expired_panpin_entry_is_marked_in_the_list(
    sim: Simulator, tmp_path: Path, run_cli: RunCli
) -> None:
    env = {"PANPIN_API_KEY": sim.api_key}
    doc = json.loads(run_cli(*flags(sim, tmp_path), "exclusions", "list", "--format", "json",
                             env=env).out)  # fmt: skip
    expired = {e["name"]: e["expired"] for e in doc["entries"]}
    assert expired["*.oldvendor.example"] is True  # panpin's, expired 2026-08-01
    assert expired["login.partner.example"] is False  # a person's entry never expires
    table = run_cli(*flags(sim, tmp_path), "exclusions", "list", "--format", "table", env=env)
    assert "2026-08-01 (expired)" in table.out


def test_the_same_plan_applied_twice_is_already_applied(tmp_path: Path, run_cli: RunCli) -> None:
    with own_simulator(tmp_path / "own") as own:
        policy = write_policy(tmp_path, POLICY)
        env = {"PANPIN_API_KEY": own.api_key}
        plan = tmp_path / "plan.json"
        made = run_cli(*flags(own, tmp_path), "plan", "--policy", str(policy), "--out", str(plan),
                       env=env)  # fmt: skip
        assert made.code == 0, made.err
        first = run_cli(*flags(own, tmp_path), "apply", str(plan), "--yes", env=env)
        assert first.code == 0 and json.loads(first.out)["result"] == "committed", first.err
        own.clear_requests()
        again = run_cli(*flags(own, tmp_path), "apply", str(plan), "--yes", env=env)
        assert again.code == 0, again.err
        assert json.loads(again.out)["result"] == "nothing-to-do"
        assert "already applied" in again.err
        assert not [r for r in own.requests if r.action in ("set", "delete", "edit")]
        assert not [r for r in own.requests if r.type == "commit"]


def test_a_name_that_does_not_resolve_is_not_retried(run_cli: RunCli) -> None:
    # .invalid never resolves (RFC 2606); the answer comes from the local resolver.
    result = run_cli("--host", "no-such-host.invalid", "exclusions", "list",
                     env={"PANPIN_API_KEY": "k"})  # fmt: skip
    assert result.code == 1
    assert "the name does not resolve" in result.err
    assert "retrying" not in result.err


def test_a_refused_first_connection_is_not_retried(run_cli: RunCli, tmp_path: Path) -> None:
    import socket

    # A port nothing listens on: bound, never listening, so the kernel refuses the connect.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        result = run_cli("--host", f"127.0.0.1:{port}", "--insecure", "exclusions", "list",
                         env={"PANPIN_API_KEY": "k"})  # fmt: skip
    assert result.code == 1
    assert "cannot connect: connection refused" in result.err
    assert "check the host and port" in result.err
    assert "retrying" not in result.err


def test_scan_with_the_policy_counts_its_weak_signals_too(
    sim: Simulator, tmp_path: Path, run_cli: RunCli
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.replace(
        "thresholds:", "signals: {strong: [UnknownCA, BadCertificate], weak: [CertificateUnknown]}\n"
        "thresholds:"))  # fmt: skip
    env = {"PANPIN_API_KEY": sim.api_key}
    plain = json.loads(run_cli(*flags(sim, tmp_path), "scan", "--since", "30d", "--format",
                               "json", env=env).out)  # fmt: skip
    with_policy = run_cli(*flags(sim, tmp_path), "scan", "--since", "30d", "--policy", str(policy),
                          "--format", "json", env=env)  # fmt: skip
    assert with_policy.code == 0, with_policy.err
    errors_of = {c["host"]: c["errors"] for c in json.loads(with_policy.out)["candidates"]}
    assert errors_of["api1.partner.example"] == {"CertificateUnknown": 3, "UnknownCA": 8}
    assert {c["host"]: c["errors"] for c in plain["candidates"]}["api1.partner.example"] == {
        "UnknownCA": 8
    }
    both = run_cli(*flags(sim, tmp_path), "scan", "--policy", str(policy), "--signal", "UnknownCA")
    assert both.code == 2 and "give one" in both.err


def test_a_log_query_in_progress_is_shown_at_verbose(
    sim: Simulator, tmp_path: Path, run_cli: RunCli, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="panpin")
    result = run_cli("-v", *flags(sim, tmp_path), "scan", "--format", "json",
                     env={"PANPIN_API_KEY": sim.api_key})  # fmt: skip
    assert result.code == 0, result.err
    assert "log query job" in caplog.text and "ACT" in caplog.text


def test_a_plan_past_its_change_window_is_refused(
    sim: Simulator, tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import datetime, timedelta

    from panpin.change import workflow

    policy = write_policy(tmp_path, POLICY)
    env = {"PANPIN_API_KEY": sim.api_key}
    plan = tmp_path / "plan.json"
    made = run_cli(*flags(sim, tmp_path), "plan", "--policy", str(policy), "--valid-for", "1h",
                   "--out", str(plan), env=env)  # fmt: skip
    assert made.code == 0, made.err
    not_after = json.loads(plan.read_text())["not_after"]

    class Later(datetime):
        @classmethod
        def now(cls, tz: object = None) -> Later:
            return cls.fromisoformat(not_after) + timedelta(minutes=1)

    monkeypatch.setattr(workflow, "datetime", Later)
    sim.clear_requests()
    late = run_cli(*flags(sim, tmp_path), "apply", str(plan), "--yes", env=env)
    assert late.code == 2 and f"expired at {not_after}" in late.err
    assert not [r for r in sim.requests if r.action in ("set", "delete") or r.type == "commit"]
    bad = run_cli(*flags(sim, tmp_path), "plan", "--policy", str(policy), "--valid-for", "soon")
    assert bad.code == 2 and "--valid-for" in bad.err


@pytest.mark.parametrize(("changes", "code"), [(1, 0), (2, 5)])
def test_run_plans_again_once_when_the_list_changes_under_it(
    tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, changes: int, code: int
) -> None:
    with own_simulator(tmp_path / "own", commit_seconds=0) as own:
        # Another admin commits an entry between panpin's plan and its apply.
        made = alice_commits_after_plans(monkeypatch, own, changes)
        policy = write_policy(tmp_path, POLICY)
        result = run_cli(*flags(own, tmp_path), "run", "--policy", str(policy),
                         env={"PANPIN_API_KEY": own.api_key})  # fmt: skip
        assert result.code == code, result.err
        assert made[0] == 2  # planned twice, never more
        assert "planning again" in result.err
        if code == 5:
            assert "someone else is changing it" in result.err


def test_history_tells_a_rollback_from_a_change(tmp_path: Path, run_cli: RunCli) -> None:
    with own_simulator(tmp_path / "own") as own:
        policy = write_policy(tmp_path, POLICY)
        env = {"PANPIN_API_KEY": own.api_key}
        done = run_cli(*flags(own, tmp_path), "run", "--policy", str(policy), "--format", "json",
                       env=env)  # fmt: skip
        assert done.code == 0, done.err
        change_id = json.loads(done.out)["results"][0]["change_id"]
        undone = run_cli(*flags(own, tmp_path), "rollback", "--last", "--yes", env=env)
        assert undone.code == 0, undone.err
        table = run_cli(*flags(own, tmp_path), "history", "--format", "table", env=env).out
        # The changes table comes first; the rollback's holds follow after a blank line.
        header, *rows = table.split("\n\n")[0].splitlines()
        assert header.split()[:3] == ["CHANGE_ID", "KIND", "ROLLBACK_OF"]
        kinds = {r.split()[0]: r.split()[1:3] for r in rows}
        assert kinds[change_id][0] == "policy"
        assert ["rollback", change_id] in kinds.values()


def test_plan_needs_no_admin_apply_does(tmp_path: Path, run_cli: RunCli) -> None:
    with own_simulator(tmp_path / "own") as own:
        policy = write_policy(tmp_path, POLICY)
        env = {"PANPIN_API_KEY": own.api_key}
        device = ["--host", own.host, "--ca-file", str(own.ca_file), "--state",
                  str(tmp_path / "state.db")]  # fmt: skip
        plan = tmp_path / "plan.json"
        made = run_cli(*device, "plan", "--policy", str(policy), "--out", str(plan), env=env)
        assert made.code == 0, made.err
        assert json.loads(plan.read_text())["admin"] == ""
        refused = run_cli(*device, "apply", str(plan), "--yes", env=env)
        assert refused.code == 2 and "no admin set" in refused.err
        applied = run_cli(*device, "--admin", own.admin, "apply", str(plan), "--yes", env=env)
        assert applied.code == 0, applied.err
        history = json.loads(run_cli(*device, "history", "--format", "json", env=env).out)[
            "changes"
        ]
        assert [r["admin"] for r in history] == [own.admin]


def test_a_real_plan_carries_the_per_day_series_the_report_charts(
    sim: Simulator, tmp_path: Path, run_cli: RunCli
) -> None:
    from panpin.change.plan import load_plan
    from panpin.report import render_report

    policy = write_policy(tmp_path, POLICY)
    plan_file = tmp_path / "plan.json"
    made = run_cli(*flags(sim, tmp_path), "plan", "--policy", str(policy), "--out",
                   str(plan_file), env={"PANPIN_API_KEY": sim.api_key})  # fmt: skip
    assert made.code == 0, made.err
    plan = load_plan(plan_file)
    # The plan's JSON parts are objects; the test reads them as the JSON they are.
    timeline: Any = plan.scan["timeline"]
    candidates: Any = plan.scan["candidates"]
    assert candidates
    for c in candidates:
        points = timeline[c["host"]]
        assert sum(n for _, n in points) == c["hits"]
        days = [d for d, _ in points]
        assert days == sorted(days) and all(c["first_seen"][:10] <= d for d in days)
    page = render_report(plan)
    assert "the plan has no per-day timeline" not in page
    assert page.count('class="bar"') >= len(candidates)
