"""``panpin scan`` over real HTTPS against the simulator: exact evidence, paging, incremental runs,
stuck jobs, Panorama, hostile hosts, faults and the JSON contract. No mocks: panpin's own transport
talks to the simulator's HTTPS server, and the expected numbers come from the simulator's store.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from panpin import errors
from panpin.panos.timing import Backoff, RetryPolicy
from panpin.panos.xmlapi import Connection, XmlApi
from panpin.scan.clients import client_key
from panpin.scan.evidence import ScanResult, safe_text
from panpin.scan.logs import LOG_BACKOFF, scan_device
from panpin.simulator import Scenario, Simulator, expected_counts, load_scenario, scenario_from_dict
from panpin.state import StateDB

SIGNALS = ("UnknownCA", "BadCertificate")
DEMO_SERIAL = "007951000345678"
# Transport retries fast enough for the fault tests.
FAST_RETRY = RetryPolicy(attempts=5, initial=0.01, maximum=0.05, jitter=0.01, deadline=10.0)


def api_for(sim: Simulator) -> XmlApi:
    """panpin's real transport, verifying the simulator's CA."""
    return XmlApi(
        Connection(
            host=sim.host,
            api_key=sim.api_key,
            ca_file=str(sim.ca_file),
            retry=FAST_RETRY,
            read_timeout=30.0,
        )
    )


def no_sleep(_: float) -> None:
    """The log-job poll sleep: the simulator needs no real waiting between polls."""


# Fixtures live here, not in a tests/integration/conftest.py: a second module named `conftest`
# breaks `mypy --strict` over tests/ (duplicate module) and shadows `from conftest import RunCli`
# in the other test modules of this directory.


@pytest.fixture
def start_sim(tmp_path: Path) -> Iterator[Callable[..., Simulator]]:
    """Start simulators (scenario name or :class:`Scenario`); all stop at the test's end."""
    started: list[Simulator] = []

    def start(scenario: str | Scenario = "demo", **options: Any) -> Simulator:
        if isinstance(scenario, str):
            scenario = load_scenario(scenario)
        sim = Simulator(scenario=scenario, workdir=tmp_path / f"sim{len(started)}", **options)
        sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def demo_sim(start_sim: Callable[..., Simulator]) -> Simulator:
    return start_sim("demo")


@pytest.fixture
def panorama_sim(start_sim: Callable[..., Simulator]) -> Simulator:
    return start_sim("panorama")


@dataclass
class BoundCli:
    """``panpin --host SIM --ca-file CA --state STATE ARGS`` with ``PANPIN_API_KEY`` set."""

    sim: Simulator
    run_cli: Any
    state: Path

    def __call__(self, *args: str) -> Any:
        return self.run_cli(
            "--host",
            self.sim.host,
            "--ca-file",
            str(self.sim.ca_file),
            "--state",
            str(self.state),
            *args,
            env={"PANPIN_API_KEY": self.sim.api_key},
        )


SimCli = Callable[[Simulator], BoundCli]


@pytest.fixture
def cli_for(run_cli: Any, tmp_path: Path) -> SimCli:
    def make(sim: Simulator) -> BoundCli:
        return BoundCli(sim, run_cli, tmp_path / "state" / "panpin.db")

    return make


def scan(sim: Simulator, **kw: Any) -> ScanResult:
    args: dict[str, Any] = {
        "since": "30d",
        "until": None,
        "signals": SIGNALS,
        "user_filter": None,
        "max_logs": None,
        "location": "shared",
        "sleep": no_sleep,
    }
    args.update(kw)
    with api_for(sim) as api:
        return scan_device(api, **args)


def client_keys(pairs: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """What a scan counts as clients (issue 15): the user where the log names one, else the
    address (IPv6 folded to its /64), by the rule tests/unit/test_clients.py holds."""
    keys = {client_key(ip, user) for ip, user in pairs}
    return tuple(sorted(k for k in keys if k is not None))


def assert_matches_store(
    sim: Simulator, result: ScanResult, *, signals: tuple[str, ...] = SIGNALS
) -> None:
    """Every candidate equals the simulator's own per-host truth for the same window."""
    expected = sim.logs.expected(signals=signals, since=result.since, until=result.until)
    got = {c.host: c for c in result.candidates}
    assert sorted(got) == sorted(expected)
    for host, want in expected.items():
        c = got[host]
        assert (c.hits, c.clients, c.errors, c.apps) == (
            want.hits,
            client_keys(want.client_pairs),
            want.errors,
            want.apps,
        ), host
        assert (c.first_seen, c.last_seen, c.devices) == (
            want.first_seen,
            want.last_seen,
            want.devices,
        ), host


def log_jobs(sim: Simulator) -> dict[str, list[str]]:
    """job id -> actions polled/cancelled on it, from the simulator's request log."""
    jobs: dict[str, list[str]] = {}
    for r in sim.requests:
        if r.type == "log" and "job-id" in r.params:
            jobs.setdefault(r.params["job-id"], []).append(r.action or "")
    return jobs


def max_log_polls(backoff: Backoff) -> int:
    """The most ``get`` polls a job can have before ``backoff``'s deadline cancels it.

    The sleeps between polls alone add up to the deadline, so this bound holds however slow the
    machine is (a slow machine only polls less): work done instead of a stopwatch.
    """
    polls, slept, interval = 1, 0.0, backoff.initial
    while slept + interval <= backoff.deadline:
        slept += interval
        polls += 1
        interval = min(interval * backoff.factor, backoff.maximum)
    return polls


# --- exact evidence ------------------------------------------------------------------------------


def test_demo_candidates_are_exactly_the_pinned_hosts(demo_sim: Simulator) -> None:
    result = scan(demo_sim)
    assert_matches_store(demo_sim, result)
    # And independently of generation, straight from the scenario's spec.
    assert {c.host: c.errors for c in result.candidates} == expected_counts(demo_sim.scenario.logs)
    # Every entry read is counted once: under a cause of its host, or as a rejected value.
    assert result.logs_read == sum(
        sum(c.causes.values()) for c in (*result.candidates, *result.not_pinning)
    ) + sum(r.count for r in result.rejected)
    hits = [c.hits for c in result.candidates]
    assert hits == sorted(hits, reverse=True)
    # Log jobs as the reference says: decryption, 5000 per job, oldest first.
    (start,) = [r for r in demo_sim.requests if r.type == "log" and "log-type" in r.params]
    assert start.params["log-type"] == "decryption"
    assert (start.params["nlogs"], start.params["dir"], start.params["skip"]) == (
        "5000",
        "forward",
        "0",
    )
    assert "target" not in start.params


def test_other_signals_and_covered_by(demo_sim: Simulator) -> None:
    demo_sim.logs.append("x.oldvendor.example", alert="CertificateUnknown", count=4)
    result = scan(demo_sim, signals=("CertificateUnknown",))
    assert_matches_store(demo_sim, result, signals=("CertificateUnknown",))
    covered = {c.host: c.covered_by for c in result.candidates}
    assert covered["x.oldvendor.example"] == "*.oldvendor.example"
    assert covered["api1.partner.example"] is None


def test_a_user_filter_narrows_the_query(demo_sim: Simulator) -> None:
    result = scan(demo_sim, user_filter="( sni eq 'sync.vendor.example' )")
    assert [c.host for c in result.candidates] == ["sync.vendor.example"]
    assert result.candidates[0].hits == 22


LARGE = {
    "name": "large",
    "admins": [{"name": "panpin", "password": "panpin-demo"}],
    "device": {"clock": "2026/11/26 09:30:00"},
    "logs": {
        "seed": 60000,
        "start": "2026/11/25 00:00:00",
        "end": "2026/11/26 09:00:00",
        "pinned": [
            {
                "host": "a.big.example",
                "alerts": {"UnknownCA": 30000, "BadCertificate": 5000},
                "clients": 200,
            },
            {"host": "b.big.example", "alerts": {"UnknownCA": 15000}, "clients": 50},
            {
                "host": "c.big.example",
                "alerts": {"BadCertificate": 9997, "CertificateUnknown": 2000},
                "clients": 30,
                "variants": {"upper": 100, "no_sni": 50},
            },
            {"host": "d.big.example", "alerts": {"UnknownCA": 3}, "clients": 2},
        ],
        "noise": 2000,
    },
}


def test_a_60000_entry_window_is_read_completely(start_sim: Callable[..., Simulator]) -> None:
    sim = start_sim(scenario_from_dict(LARGE), log_act_polls=0)
    result = scan(sim)
    assert result.logs_read == 60000 and not result.truncated
    assert_matches_store(sim, result)
    assert {c.host: c.errors for c in result.candidates} == expected_counts(sim.scenario.logs)
    skips = [
        int(r.params["skip"]) for r in sim.requests if r.type == "log" and "log-type" in r.params
    ]
    assert skips == list(range(0, 60001, 5000))  # 12 full pages and the empty 13th
    # Work done, not seconds (speed is the `make bench` scan rows): each of the 13 jobs was read
    # with one poll, nothing was retried, and nothing else was asked of the device's log API.
    assert list(log_jobs(sim).values()) == [["get"]] * 13
    assert len([r for r in sim.requests if r.type == "log"]) == 26


# --- incremental ---------------------------------------------------------------------------------


def test_incremental_runs_read_only_new_entries(
    start_sim: Callable[..., Simulator], cli_for: SimCli
) -> None:
    # Jobs finish on the first poll here: the CLI's real 0.5 s poll sleep would add up over runs.
    demo_sim = start_sim("demo", log_act_polls=0)
    cli = cli_for(demo_sim)

    def run() -> dict[str, Any]:
        result = cli("scan", "--incremental", "--since", "30d", "--format", "json")
        assert result.code == 0, result.err
        doc: dict[str, Any] = json.loads(result.out)
        return doc

    first = run()
    # Every entry the query matches, pinning or not, + 3 hostile entries.
    truth = demo_sim.logs.expected(since=first["since"], pinning_only=False)
    assert first["logs_read"] == sum(h.hits for h in truth.values()) + 3
    assert run()["logs_read"] == 0  # nothing new; the boundary second is not read twice

    demo_sim.logs.append("new.pinned.example", count=5, clients=("10.20.250.1", "10.20.250.2"))
    third = run()
    assert third["logs_read"] == 5
    assert [(c["host"], c["hits"], c["clients"]) for c in third["candidates"]] == [
        ("new.pinned.example", 5, 2)
    ]

    # Entries written later within the very second the watermark ends on are still read, once.
    boundary = third["candidates"][0]["last_seen"]
    demo_sim.logs.append("new.pinned.example", count=2, time=boundary, alert="BadCertificate")
    fourth = run()
    assert fourth["logs_read"] == 2
    assert fourth["candidates"][0]["errors"] == {"BadCertificate": 2}
    assert run()["logs_read"] == 0

    db = StateDB(cli.state)
    history = {c.host: c for c in db.evidence_window(DEMO_SERIAL, "2026/10/01")}
    assert history["new.pinned.example"].hits == 7
    assert history["new.pinned.example"].errors == {"BadCertificate": 2, "UnknownCA": 5}
    assert history["app.vendor.example"].hits == truth["app.vendor.example"].hits
    assert [(r.result, r.logs_read) for r in db.runs(DEMO_SERIAL)] == [
        ("ok", first["logs_read"]),
        ("ok", 0),
        ("ok", 5),
        ("ok", 2),
        ("ok", 0),
    ]
    mark = db.watermark(DEMO_SERIAL, "shared")
    assert mark is not None and mark.receive_time == boundary
    # The key never reaches the state database (nor its WAL).
    for path in cli.state.parent.iterdir():
        assert demo_sim.api_key.encode() not in path.read_bytes(), path


def test_plain_scan_does_not_touch_the_state(demo_sim: Simulator, cli_for: SimCli) -> None:
    cli = cli_for(demo_sim)
    assert cli("scan", "--format", "json").code == 0
    assert not cli.state.exists()


# --- jobs that do not finish ---------------------------------------------------------------------


def test_a_stuck_job_is_cancelled_and_the_scan_fails_clearly(
    demo_sim: Simulator, cli_for: SimCli
) -> None:
    demo_sim.faults.add("job_stuck", match={"type": "log", "log-type": "decryption"})
    result = cli_for(demo_sim)("scan", "--timeout", "1", "--format", "json")
    assert result.code == errors.EXIT_RUNTIME
    assert result.out == ""
    assert "did not finish within 1s" in result.err and "cancelled" in result.err
    ((_, actions),) = log_jobs(demo_sim).items()
    assert actions[-1] == "finish" and set(actions[:-1]) == {"get"}
    # The 1 s deadline, not a stopwatch, ended the polling: no more polls than its sleeps allow.
    assert len(actions) - 1 <= max_log_polls(replace(LOG_BACKOFF, deadline=1.0))


def test_the_log_timeout_of_the_config_is_the_scan_default(
    demo_sim: Simulator, run_cli: Any, tmp_path: Path
) -> None:
    config = tmp_path / "panpin.yaml"
    config.write_text(
        "version: 1\n"
        "defaults:\n"
        "  jobs: {poll_initial: 0.1, poll_maximum: 0.2, log_timeout: 1}\n"
        f"devices:\n  fw1: {{host: '{demo_sim.host}', ca_file: '{demo_sim.ca_file}'}}\n"
    )

    def scan_with(*extra: str) -> Any:
        demo_sim.clear_requests()
        demo_sim.faults.add("job_stuck", match={"type": "log", "log-type": "decryption"})
        return run_cli(
            "--config",
            str(config),
            "--device",
            "fw1",
            "scan",
            *extra,
            env={"PANPIN_API_KEY": demo_sim.api_key},
        )

    def assert_cancelled_within(deadline: float) -> None:
        # The config's poll interval and this deadline, not a stopwatch, bound the polling.
        ((_, actions),) = log_jobs(demo_sim).items()
        assert actions[-1] == "finish" and set(actions[:-1]) == {"get"}
        polls = Backoff(initial=0.1, maximum=0.2, deadline=deadline)
        assert len(actions) - 1 <= max_log_polls(polls), actions

    result = scan_with("--format", "json")
    assert result.code == errors.EXIT_RUNTIME
    assert "did not finish within 1s" in result.err
    assert_cancelled_within(1.0)
    # --timeout still wins over the config.
    result = scan_with("--timeout", "2")
    assert "did not finish within 2s" in result.err
    assert_cancelled_within(2.0)


def test_a_final_answer_cut_off_restarts_the_page(demo_sim: Simulator) -> None:
    # The second poll of the first job is its FIN answer: the simulator deletes the job as it
    # answers (as PAN-OS does once a result is retrieved), and the answer is cut off half-way.
    want = scan(demo_sim)
    demo_sim.clear_requests()
    demo_sim.faults.add("cut", match={"type": "log", "action": "get"}, after=1, times=1)
    got = scan(demo_sim)
    assert got.logs_read == want.logs_read and got.candidates == want.candidates
    by_job = log_jobs(demo_sim)
    first, *others = by_job
    assert by_job[first] == ["get", "get", "get"]  # ACT, FIN cut off, then "job not found"
    codes = [r.code for r in demo_sim.requests if r.params.get("job-id") == first]
    assert codes[-1] == "7"
    assert [by_job[j] for j in others] == [["get", "get"]]  # the page, run again


def test_ctrl_c_cancels_the_running_job(demo_sim: Simulator) -> None:
    demo_sim.faults.add("job_stuck", match={"type": "log", "log-type": "decryption"})

    def interrupt(_: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        scan(demo_sim, sleep=interrupt)
    ((_, actions),) = log_jobs(demo_sim).items()
    assert actions == ["get", "finish"]


def test_transient_faults_while_polling_do_not_change_the_counts(demo_sim: Simulator) -> None:
    poll = {"type": "log", "action": "get"}
    demo_sim.faults.add("session_timeout", match=poll, times=1, after=1)
    demo_sim.faults.add("reset", match=poll, times=1, after=2)
    demo_sim.faults.add("http_status", status=503, match=poll, times=1, after=3)
    result = scan(demo_sim, user_filter=None)
    assert_matches_store(demo_sim, result)
    assert all(f.fired == 1 for f in demo_sim.faults.armed())


# --- Panorama ------------------------------------------------------------------------------------


def test_panorama_fin_before_progress_100_is_waited_out(panorama_sim: Simulator) -> None:
    assert panorama_sim.options.panorama_partial_fin
    # No location: every firewall's entries count (a template counts only its firewalls').
    result = scan(panorama_sim, location=None)
    assert_matches_store(panorama_sim, result)  # all entries, not the half a partial FIN holds
    for actions in log_jobs(panorama_sim).values():
        # ACT, then FIN with progress < 100 (discarded), then the complete FIN.
        assert actions == ["get", "get", "get"]
    devices = {c.host: c.devices for c in result.candidates}
    assert devices["app.vendor.example"] == ("007951000111111", "007951000222222")
    assert devices["api1.partner.example"] == ("007951000333333",)


def test_panorama_via_cli_reports_devices_per_host(
    panorama_sim: Simulator, cli_for: SimCli
) -> None:
    result = cli_for(panorama_sim)(
        "--location", "template:branch", "scan", "--since", "30d", "--format", "json"
    )
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    by_host = {c["host"]: c for c in doc["candidates"]}
    # Only the firewalls template branch serves (its stack's devices) count for its list.
    assert doc["scope"] == "firewalls 007951000111111, 007951000222222"
    assert by_host["sync.vendor.example"]["devices"] == ["007951000111111", "007951000222222"]
    assert "api1.partner.example" not in by_host  # seen on dc-fw-01 only


# --- hostile hosts -------------------------------------------------------------------------------

HOSTILE = {
    "name": "hostile",
    "admins": [{"name": "panpin", "password": "panpin-demo"}],
    "logs": {
        "seed": 3,
        "pinned": [{"host": "good.vendor.example", "alerts": {"UnknownCA": 4}, "clients": 2}],
        "hostile": [
            {"sni": "a'b.example", "hits": 3},
            {"sni": "x']/../entry[@name='y", "hits": 1},
            {"sni": "<script>alert(1)</script>.example"},
            {"sni": "10.1.2.3"},
            {"sni": "\u0430pple.example"},  # Cyrillic a: a homoglyph
            {"sni": "evil\u202eelpmaxe.com"},
            {"sni": "tab\there.example"},
            {"sni": "", "cn": "no sni, bad cn"},
            {"sni": "z", "pad_to": 10000},
            {"sni": "entry[@name='*'].example", "alert": "BadCertificate"},
        ],
    },
}


def test_hostile_hosts_are_rejected_never_candidates(
    start_sim: Callable[..., Simulator], cli_for: SimCli
) -> None:
    sim = start_sim(scenario_from_dict(HOSTILE), log_act_polls=0)
    result = cli_for(sim)("scan", "--since", "30d", "--format", "json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert [c["host"] for c in doc["candidates"]] == ["good.vendor.example"]
    rejected = {r["value"]: r for r in doc["rejected"]}
    for raw in sim.logs.expected_hostile():
        shown = safe_text(raw)
        assert shown in rejected, raw[:80]
        assert all(ch.isprintable() for ch in shown)
        assert len(shown) <= 130
    assert rejected["a'b.example"]["count"] == 3
    # Nothing unprintable reaches the terminal in table form either.
    table = cli_for(sim)("scan", "--since", "30d", "--format", "table")
    assert table.code == 0
    assert all(ch.isprintable() or ch == "\n" for ch in table.out + table.err)


# --- the CLI contract ----------------------------------------------------------------------------

REQUIRED_CANDIDATE: dict[str, type | tuple[type, ...]] = {
    "host": str,
    "hits": int,
    "clients": int,
    "errors": dict,
    "apps": list,
    "first_seen": str,
    "last_seen": str,
    "devices": list,
    "covered_by": (str, type(None)),
}


def test_json_output_matches_the_design_schema(demo_sim: Simulator, cli_for: SimCli) -> None:
    result = cli_for(demo_sim)("scan")  # not a terminal: json by default
    assert result.code == 0, result.err
    doc = json.loads(result.out)  # exactly one object
    # format_version first (every JSON document panpin prints), then the required keys.
    assert doc["format_version"] == 1
    assert list(doc)[:5] == ["format_version", "query", "logs_read", "candidates", "rejected"]
    assert isinstance(doc["query"], str) and isinstance(doc["logs_read"], int)
    assert "receive_time geq" in doc["query"] and "error contains 'UnknownCA'" in doc["query"]
    assert doc["candidates"], "the demo has candidates"
    for c in doc["candidates"]:
        assert list(c)[: len(REQUIRED_CANDIDATE)] == list(REQUIRED_CANDIDATE)
        for key, kind in REQUIRED_CANDIDATE.items():
            assert isinstance(c[key], kind), (key, c[key])
        assert not isinstance(c["hits"], bool) and not isinstance(c["clients"], bool)
        assert all(isinstance(k, str) and type(v) is int for k, v in c["errors"].items())
        assert all(isinstance(a, str) for a in c["apps"] + c["devices"])
        assert c["hits"] == sum(c["errors"].values()) and c["clients"] >= 1
    keys = [(-c["hits"], c["host"]) for c in doc["candidates"]]
    assert keys == sorted(keys)
    for r in doc["rejected"]:
        assert list(r)[:2] == ["value", "reason"]
        assert isinstance(r["value"], str) and isinstance(r["reason"], str)
    # The default window is 7 days back from the DEVICE clock, and the counts match the store.
    expected = demo_sim.logs.expected(since=doc["since"])
    assert {c["host"]: c["hits"] for c in doc["candidates"]} == {
        h: e.hits for h, e in expected.items()
    }
    assert doc["since"].startswith("2026/11/19 09:3")
    assert "log entries read" not in result.err  # no progress counter off a terminal


def test_table_markdown_csv_and_output_file(
    start_sim: Callable[..., Simulator], cli_for: SimCli, tmp_path: Path
) -> None:
    cli = cli_for(start_sim("demo", log_act_polls=0))
    table = cli("scan", "--since", "30d", "--format", "table")
    assert table.code == 0
    lines = table.out.splitlines()
    assert lines[0].split()[:3] == ["HOST", "HITS", "CLIENTS"]
    assert lines[1].split()[:3] == ["app.vendor.example", "46", "12"]
    assert lines[0].split()[-2:] == ["CAUSES", "REMEDY"] and "pinning=46" in lines[1]
    # The hosts that failed for another reason follow, each with its cause and remedy.
    assert "Not pinning (never planned as exclusions):" in table.out
    shop = next(line for line in lines if line.startswith("shop.retail.example"))
    assert "incomplete-chain" in shop and "install the missing intermediate" in shop
    assert "read 164 log entries" in table.err
    markdown = cli("scan", "--since", "30d", "--format", "markdown")
    assert markdown.out.startswith("| host | hits | clients |")
    csv_out = cli("scan", "--since", "30d", "--format", "csv")
    assert csv_out.out.splitlines()[1].startswith("app.vendor.example,46,12,")
    target = tmp_path / "out.json"
    written = cli("scan", "--since", "30d", "--output", str(target))
    assert written.code == 0 and written.out == ""
    assert json.loads(target.read_text())["logs_read"] == 164


def test_max_logs_truncates_and_says_so(demo_sim: Simulator, cli_for: SimCli) -> None:
    result = cli_for(demo_sim)("-q", "scan", "--since", "30d", "--max-logs", "10")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["logs_read"] == 10 and doc["truncated"] is True
    assert "--max-logs" in result.err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--since", "last tuesday"), "--since 'last tuesday'"),
        (("--until", "2026/02/30 00:00:00"), "--until"),
        (("--signal", "Unknown CA"), "--signal 'Unknown CA'"),
        (("--signal", "x') or ('y"), "--signal"),
        (("--filter", "a eq b) or (c eq d"), "--filter"),
        (("--max-logs", "0"), "--max-logs"),
    ],
)
def test_bad_input_exits_2_naming_it(
    demo_sim: Simulator, cli_for: SimCli, args: tuple[str, ...], says: str
) -> None:
    demo_sim.clear_requests()
    result = cli_for(demo_sim)("scan", *args)
    assert result.code == errors.EXIT_USAGE, result.err
    assert says in result.err
    assert demo_sim.requests == []  # refused before talking to the device


def test_progress_counter_on_a_terminal_goes_to_stderr_only(
    start_sim: Callable[..., Simulator], cli_for: SimCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = start_sim("demo", log_act_polls=0)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    result = cli_for(sim)("scan", "--since", "30d", "--format", "json")
    assert result.code == 0, result.err
    assert "\rpanpin: 164 log entries read" in result.err
    assert json.loads(result.out)["logs_read"] == 164  # stdout stays one clean JSON object


def test_a_slow_log_query_shows_its_job_on_a_terminal(
    start_sim: Callable[..., Simulator], cli_for: SimCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = start_sim("demo", log_act_polls=2)  # two ACT answers before FIN
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    result = cli_for(sim)("scan", "--since", "30d", "--format", "json")
    assert result.code == 0, result.err
    assert re.search(r"\rpanpin: log query job \d+: ACT \d+%", result.err)
    assert json.loads(result.out)["logs_read"] == 164
    monkeypatch.undo()
    assert "log query job" not in cli_for(sim)("scan", "--format", "json").err  # cron: quiet
