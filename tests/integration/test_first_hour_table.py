"""Every row of the first-hour table (issue 18), run as a user would: the CLI over real HTTPS
against a simulator of the row's own. Each row asserts the exit code, the one line that says what
happened, and, where the row must not change the device, that the running and candidate
configurations and the locks are exactly as before its last command.

Rows whose setup needs more than one command do the setup first and mark the device's state
before the command the row is about (``Ctx.mark``)."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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
from conftest import CliResult, RunCli
from lxml import etree

from panpin.simulator import Simulator


@dataclass
class Ctx:
    sim: Simulator
    tmp: Path
    run: RunCli
    monkeypatch: pytest.MonkeyPatch
    policy: Path
    marked: bytes | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {"PANPIN_API_KEY": self.sim.api_key}

    def cli(self, *args: str, env: dict[str, str] | None = None, location: str | None = None
            ) -> CliResult:  # fmt: skip
        return self.run(*sim_args(self.sim, self.tmp, location), *args,
                        env=self.env if env is None else env)  # fmt: skip

    def device_state(self) -> bytes:
        dev = self.sim.device
        locks = sorted(f"{k}:{v.admin}" for k, v in dev.config_locks.items())
        return b"\n".join(
            [etree.tostring(dev.running), etree.tostring(dev.candidate), repr(locks).encode()]
        )

    def mark(self) -> None:
        """The device as it must still be after the row's command."""
        self.marked = self.device_state()

    def plan_file(self, *extra: str) -> Path:
        out = self.tmp / "plan.json"
        made = self.cli("plan", "--policy", str(self.policy), "--out", str(out), *extra)
        assert made.code == 0, made.err
        return out

    def running_names(self) -> set[str]:
        found = self.sim.device.running.xpath("//ssl-exclude-cert/entry/@name")
        assert isinstance(found, list)
        return {str(n) for n in found}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the rows ---------------------------------------------------------------------------------


def ca_file_missing(c: Ctx) -> CliResult:
    c.mark()
    return c.run("--host", c.sim.host, "--ca-file", "/nope/ca.pem", "exclusions", "list",
                 env=c.env)  # fmt: skip


def plan_out_missing_folder(c: Ctx) -> CliResult:
    c.mark()
    return c.cli("plan", "--policy", str(c.policy), "--out", "/nonexistent/dir/plan.json")


def plan_out_is_a_folder(c: Ctx) -> CliResult:
    c.mark()
    return c.cli("plan", "--policy", str(c.policy), "--out", str(c.tmp))


def state_unwritable_history(c: Ctx) -> CliResult:
    c.mark()
    return c.run("--host", c.sim.host, "--state", "/proc/nope/state.db", "history", env=c.env)


def state_unwritable_run(c: Ctx) -> CliResult:
    c.mark()
    return c.run("--host", c.sim.host, "--ca-file", str(c.sim.ca_file), "--admin", c.sim.admin,
                 "--state", "/proc/nope/state.db", "run", "--policy", str(c.policy),
                 env=c.env)  # fmt: skip


def panorama_template_missing(c: Ctx) -> CliResult:
    c.mark()
    return c.cli("plan", "--policy", str(c.policy), location="template:nonexist")


def panorama_without_location(c: Ctx) -> CliResult:
    c.mark()
    return c.cli("plan", "--policy", str(c.policy))


def no_commit_then_run(c: Ctx) -> CliResult:
    plan = c.plan_file()
    left = c.cli("apply", str(plan), "--yes", "--no-commit")
    assert left.code == 0, left.err
    c.notes["change_id"] = json.loads(left.out)["change_id"]
    c.mark()
    return c.cli("run", "--policy", str(c.policy))


def no_commit_then_dry_run(c: Ctx) -> CliResult:
    no_commit_then_run(c)
    c.mark()
    return c.cli("run", "--policy", str(c.policy), "--dry-run")


def login_then_host(c: Ctx) -> CliResult:
    c.monkeypatch.setenv("HOME", str(c.tmp))
    base = ["--host", c.sim.host, "--ca-file", str(c.sim.ca_file)]
    login = c.run(*base, "login", "--user", c.sim.admin, env={"PANPIN_PASSWORD": "panpin-demo"})
    assert login.code == 0, login.err
    c.mark()
    return c.run(*base, "exclusions", "list", "--format", "json", env={})


def rollback_then_run(c: Ctx) -> CliResult:
    first = c.cli("run", "--policy", str(c.policy), "--format", "json")
    assert first.code == 0, first.err
    c.notes["added"] = json.loads(first.out)["results"][0]["adds"]
    undone = c.cli("rollback", "--last", "--yes")
    assert undone.code == 0, undone.err
    return c.cli("-v", "run", "--policy", str(c.policy), "--format", "json")


def check_rollback_then_run(c: Ctx, result: CliResult) -> None:
    assert json.loads(result.out)["results"][0]["adds"] == []
    assert not set(c.notes["added"]) & c.running_names()


def wrong_key(c: Ctx) -> CliResult:
    c.mark()
    return c.cli("exclusions", "list", env={"PANPIN_API_KEY": "LUFRPT1-not-the-key"})


def wrong_password(c: Ctx) -> CliResult:
    c.mark()
    return c.run("--host", c.sim.host, "--ca-file", str(c.sim.ca_file), "login", "--user",
                 c.sim.admin, "--key-file", str(c.tmp / "k"),
                 env={"PANPIN_PASSWORD": "wrong"})  # fmt: skip


def same_plan_twice(c: Ctx) -> CliResult:
    plan = c.plan_file()
    first = c.cli("apply", str(plan), "--yes")
    assert first.code == 0, first.err
    c.mark()
    return c.cli("apply", str(plan), "--yes")


def plan_after_its_rollback(c: Ctx) -> CliResult:
    plan = c.plan_file()
    assert c.cli("apply", str(plan), "--yes").code == 0
    assert c.cli("rollback", "--last", "--yes").code == 0
    c.mark()
    return c.cli("apply", str(plan), "--yes")


def refused_port(c: Ctx) -> CliResult:
    port = _free_port()  # nothing listens there any more
    return c.run("--host", f"127.0.0.1:{port}", "--insecure", "exclusions", "list", env=c.env)


def check_not_retried(c: Ctx, result: CliResult) -> None:
    assert "retrying" not in result.err


def unresolvable(c: Ctx) -> CliResult:
    return c.run("--host", "no-such-host.invalid", "exclusions", "list", env=c.env)


def ctrl_c_during_commit(c: Ctx) -> CliResult:
    from panpin.change import lifecycle

    real = lifecycle.poll_job  # type: ignore[attr-defined]

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    c.monkeypatch.setattr(lifecycle, "poll_job", interrupted)
    try:
        return c.cli("run", "--policy", str(c.policy))
    finally:
        c.monkeypatch.setattr(lifecycle, "poll_job", real)


def check_job_id_journalled(c: Ctx, result: CliResult) -> None:
    from panpin.change.journal import ChangeJournal

    (record,) = ChangeJournal(c.tmp / "state.db").records()
    assert record.job_id and record.result == "in-doubt", record
    assert f"commit job {record.job_id}" in result.err
    assert not any(lock.admin == c.sim.admin for lock in c.sim.device.config_locks.values())


def run_while_list_changes(c: Ctx) -> CliResult:
    # alice commits an entry after each of panpin's plans: the run plans again, then gives up.
    alice_commits_after_plans(c.monkeypatch, c.sim, 2)
    return c.cli("run", "--policy", str(c.policy))


def global_flag_after_command(c: Ctx) -> CliResult:
    c.mark()
    return c.run("scan", "--host", c.sim.host)


def report_of_a_real_plan(c: Ctx) -> CliResult:
    plan = c.plan_file()
    c.mark()
    return c.run("report", str(plan), "--html", str(c.tmp / "r.html"), "--ticket", "CHG-1")


def check_report(c: Ctx, result: CliResult) -> None:
    page = (c.tmp / "r.html").read_text()
    digest = json.loads((c.tmp / "plan.json").read_text())["digest"]
    assert 'class="bar"' in page and "the plan has no per-day timeline" not in page
    assert digest in page and "plan.json" in page and "CHG-1" in page


def plan_without_admin(c: Ctx) -> CliResult:
    c.mark()
    return c.run("--host", c.sim.host, "--ca-file", str(c.sim.ca_file), "--state",
                 str(c.tmp / "state.db"), "plan", "--policy", str(c.policy),
                 env=c.env)  # fmt: skip


def answer_no(c: Ctx) -> CliResult:
    plan = c.plan_file()
    answer = io.StringIO("n\n")
    answer.isatty = lambda: True  # type: ignore[method-assign]
    c.monkeypatch.setattr("sys.stdin", answer)
    c.mark()
    return c.cli("apply", str(plan))


def output_contract(c: Ctx) -> CliResult:
    plan = c.plan_file()
    return c.cli("apply", str(plan), "--yes")


def check_output_contract(c: Ctx, result: CliResult) -> None:
    doc = json.loads(result.out)
    assert doc["format_version"] == 1 and isinstance(doc["adds"], list)
    assert doc["add_count"] == len(doc["adds"]) > 0
    history = json.loads(c.cli("history", "--format", "json").out)
    assert history["format_version"] == 1 and set(history) >= {"changes", "holds"}
    shown = c.cli("rollback", "--last", "--dry-run", "--format", "json")
    assert shown.code == 3 and json.loads(shown.out)["kind"] == "rollback"
    table = c.cli("rollback", "--last", "--dry-run", "--format", "table")
    assert table.out.startswith("Plan ")


def scan_output_csv(c: Ctx) -> CliResult:
    c.mark()
    return c.cli("scan", "--since", "30d", "--output", str(c.tmp / "scan.csv"))


def check_csv(c: Ctx, result: CliResult) -> None:
    assert (c.tmp / "scan.csv").read_text().startswith("host,hits,clients,errors")


def expired_marked(c: Ctx) -> CliResult:
    c.mark()
    return c.cli("exclusions", "list", "--format", "table")


def history_of_a_rollback(c: Ctx) -> CliResult:
    plan = c.plan_file()
    assert c.cli("apply", str(plan), "--yes").code == 0
    assert c.cli("rollback", "--last", "--yes").code == 0
    c.mark()
    return c.cli("history", "--format", "table")


def slow_log_query(c: Ctx) -> CliResult:
    c.mark()
    return c.cli("-v", "scan", "--format", "json")


def history_typo(c: Ctx) -> CliResult:
    c.mark()
    return c.run("--state", str(c.tmp / "typo.db"), "history")


def check_no_database(c: Ctx, result: CliResult) -> None:
    assert not (c.tmp / "typo.db").exists()
    assert json.loads(result.out) == {"format_version": 1, "changes": [], "holds": []}


def scan_with_policy(c: Ctx) -> CliResult:
    c.policy.write_text(VENDOR_POLICY.replace("thresholds:", "signals: {strong: [UnknownCA, "
                        "BadCertificate], weak: [CertificateUnknown]}\nthresholds:"))  # fmt: skip
    c.mark()
    return c.cli("scan", "--since", "30d", "--policy", str(c.policy), "--format", "json")


def check_weak_counted(c: Ctx, result: CliResult) -> None:
    errors_of = {x["host"]: x["errors"] for x in json.loads(result.out)["candidates"]}
    assert errors_of["api1.partner.example"].get("CertificateUnknown", 0) > 0


def demo_commands(c: Ctx) -> CliResult:
    return c.run("demo", "--port", "18443")


def check_demo(c: Ctx, result: CliResult) -> None:
    # That each printed command runs as printed: test_demo.py copies them into a shell.
    assert "$ mkdir -p panpin-demo && panpin simulator serve --port 18443" in result.out
    assert "PANPIN_HOST=127.0.0.1:18443" in result.out and "3/9 Confirm" in result.out


@dataclass(frozen=True)
class Row:
    what: str  # the row of the table
    do: Callable[[Ctx], CliResult]
    code: int
    says: str  # in the one line on stderr (or stdout for data)
    unchanged: bool = True  # the device as marked before the command
    check: Callable[[Ctx, CliResult], None] | None = None
    scenario: str = "demo"
    on_stdout: bool = False


ROWS = [
    Row("--ca-file /nope/ca.pem exclusions list", ca_file_missing, 2, "/nope/ca.pem"),
    Row("plan --out /nonexistent/dir/plan.json", plan_out_missing_folder, 2, "does not exist"),
    Row("plan --out naming a folder", plan_out_is_a_folder, 2, "is a folder"),
    Row("--state /proc/nope/state.db history", state_unwritable_history, 0,
        "no state database at /proc/nope/state.db"),
    Row("--state /proc/nope/state.db run", state_unwritable_run, 2, "/proc/nope"),
    Row("Panorama, --location template:nonexist, plan", panorama_template_missing, 2,
        "template:nonexist does not exist on this Panorama", scenario="panorama"),
    Row("apply --yes --no-commit, then run", no_commit_then_run, 5, "panpin discard c-"),
    Row("login, then --host H exclusions list", login_then_host, 0, "entries", on_stdout=True),
    Row("rollback --last --yes, then run", rollback_then_run, 0, "held", unchanged=False,
        check=check_rollback_then_run),
    Row("wrong key", wrong_key, 1, "the device refused the API key of admin 'panpin'"),
    Row("wrong password", wrong_password, 1, "the device refused user 'panpin'"),
    Row("the same plan applied twice", same_plan_twice, 0, "already applied"),
    Row("a plan applied again after its rollback", plan_after_its_rollback, 2,
        "was rolled back since"),
    Row("--host 127.0.0.1:PORT (refused)", refused_port, 1, "connection refused",
        check=check_not_retried),
    Row("a name that does not resolve", unresolvable, 1, "the name does not resolve",
        check=check_not_retried),
    Row("Ctrl-C while the commit job runs", ctrl_c_during_commit, 6,
        "not reverted (a commit is running)", unchanged=False, check=check_job_id_journalled),
    Row("run while another process changed the list", run_while_list_changes, 5,
        "someone else is changing it", unchanged=False),
    Row("panpin scan --host X", global_flag_after_command, 2,
        "--host is a global option: it goes before the command"),
    Row("Panorama without --location", panorama_without_location, 2,
        "templates: branch, dc; stacks: branch-stack, dc-stack", scenario="panorama"),
    Row("report plan.json --html r.html", report_of_a_real_plan, 0, "r.html: change c-",
        check=check_report),
    Row("plan with only --host", plan_without_admin, 0, '"format_version": 1', on_stdout=True),
    Row("answering n at the apply prompt", answer_no, 1, "cancelled"),
    Row("output formats", output_contract, 0, '"format_version": 1', unchanged=False,
        check=check_output_contract, on_stdout=True),
    Row("scan --output scan.csv", scan_output_csv, 0, "", check=check_csv),
    Row("exclusions list (an expired panpin entry)", expired_marked, 0,
        "2026-08-01 (expired)", on_stdout=True),
    Row("history (a rollback)", history_of_a_rollback, 0, "rollback", on_stdout=True),
    Row("a slow log query", slow_log_query, 0, "log query job"),
    Row("run --dry-run after a --no-commit", no_commit_then_dry_run, 5, "panpin commit c-"),
    Row("history --state typo.db", history_typo, 0, "no state database at",
        check=check_no_database),
    Row("scan vs plan (the policy's weak signals)", scan_with_policy, 0, "", check=check_weak_counted),
    Row("demo (its printed commands)", demo_commands, 0, "", unchanged=False, check=check_demo),
]  # fmt: skip


@pytest.fixture
def ctx(request: pytest.FixtureRequest, tmp_path: Path, run_cli: RunCli,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Ctx]:  # fmt: skip
    row: Row = request.param
    with own_simulator(tmp_path / "sim", row.scenario, commit_seconds=0) as sim:
        yield Ctx(sim, tmp_path, run_cli, monkeypatch, write_policy(tmp_path, VENDOR_POLICY))


@pytest.mark.parametrize(("ctx", "row"), [(r, r) for r in ROWS], ids=[r.what for r in ROWS],
                         indirect=["ctx"])  # fmt: skip
def test_first_hour_row(ctx: Ctx, row: Row, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="panpin")
    result = row.do(ctx)
    assert result.code == row.code, (row.what, result.code, result.err)
    assert "Traceback" not in result.err + result.out
    errors = [
        line
        for line in result.err.splitlines()
        # (after a prompt the answer's newline is not echoed here, so not only at the start)
        if "panpin: error:" in line or "panpin: cancelled" in line
    ]
    if row.code in (1, 2, 5, 6):
        # One line says what happened and what to do.
        assert len(errors) == 1, result.err
    said = result.out if row.on_stdout else result.err + caplog.text
    assert row.says in said, (row.what, said[-2000:])
    if row.unchanged and ctx.marked is not None:
        assert ctx.device_state() == ctx.marked, f"{row.what}: the device changed"
    if row.check is not None:
        row.check(ctx, result)
