"""Causes end to end over real HTTPS: the demo scenario writes every cause (docs/causes.md); a
device scan and a `--from-syslog` read of the same entries as syslog lines give exactly the same
cause counts per host, and no policy turns a host that is not pinning into an add.

The syslog lines are written by the vendor's documented column order (the 11.1+ format file in
tests/data/decryption-log, from the "Decryption Log Fields" doc), not by panpin's own column map.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path
from typing import Any

from cli_support import own_simulator
from conftest import RunCli

from panpin.simulator import Simulator, load_scenario

DATA = Path(__file__).resolve().parents[1] / "data" / "decryption-log"

# What a careful engineer reads in the demo's entries that name UnknownCA or BadCertificate.
EXPECTED: dict[str, dict[str, int]] = {
    "app.vendor.example": {"pinning": 46},
    "sync.vendor.example": {"pinning": 22},
    "online.bank.example": {"pinning": 15},
    "push.vendor.example": {"pinning": 9},
    "cdn.media.example": {"pinning": 9, "incomplete-chain": 2},
    "api1.partner.example": {"pinning": 8},
    "*.badssl.example": {"pinning": 5},
    "telemetry.gadget.example": {"pinning": 1},
    "selfsigned.intranet.example": {"untrusted-server": 10},
    "shop.retail.example": {"incomplete-chain": 8},
    "vpn.corp.example": {"not-forward-proxy": 7},
    "mtls.partner.example": {"server-alert": 6},
    "eu-west-telemetry-collector.metrics.exa": {"truncated-name": 5},
    "www.corp.example": {"not-forward-proxy": 4},
    "newwording.example": {"unknown": 4},
}
WINDOW = ("--since", "2026/11/01 00:00:00", "--until", "2026/11/30 00:00:00")
ALLOW_ALL = """\
version: 1
signals: {strong: [UnknownCA, BadCertificate]}
thresholds: {min_hits: 1, min_clients: 1, window: 30d}
defaults: {action: allow, expires: 30d}
limits: {max_changes_per_run: 500}
rules:
  - name: everything
    match: {regex: '.*'}
    action: allow
"""


def causes_of(doc: dict[str, Any]) -> dict[str, dict[str, int]]:
    rows = [*doc["candidates"], *doc["not_pinning"]]
    return {row["host"]: row["causes"] for row in rows}


def device_args(sim: Simulator) -> list[str]:
    return ["--host", sim.host, "--ca-file", str(sim.ca_file), "--admin", sim.admin]


def documented_columns() -> list[str]:
    """The variable names of the Decryption log, in the doc's order (line 2 of the file)."""
    lines = [line for line in DATA.joinpath("decryption-log-format-11.1.csv").read_text(
        encoding="utf-8").splitlines() if not line.startswith("#")]  # fmt: skip
    return next(csv.reader([lines[1]]))


def as_syslog(entries: list[dict[str, str]], columns: list[str]) -> list[str]:
    """Each entry as a forwarded line: BSD and RFC 5424 headers by turns, quoted CSV."""
    lines = []
    for i, entry in enumerate(entries):
        fields = ["1" if name == "FUTURE_USE" else entry.get(name, "") for name in columns]
        fields[columns.index("type")] = "DECRYPTION"
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow(fields)
        header = (
            "<14>Nov 26 09:30:00 pa-branch-01 "
            if i % 2
            else "<14>1 2026-11-26T09:30:00+00:00 pa-branch-01 - - - - "
        )
        lines.append(header + buf.getvalue())
    return lines


def test_every_cause_counted_alike_by_device_scan_and_from_syslog(
    tmp_path: Path, run_cli: RunCli
) -> None:
    with own_simulator(tmp_path / "sim") as sim:
        env = {"PANPIN_API_KEY": sim.api_key}
        live = run_cli(*device_args(sim), "scan", *WINDOW, "--format", "json", env=env)
        assert live.code == 0, live.err
        device_doc = json.loads(live.out)
        assert causes_of(device_doc) == EXPECTED
        # Candidates are pinning hosts only; the others are reported under their cause.
        assert {c["host"] for c in device_doc["candidates"]} == {
            h for h, c in EXPECTED.items() if "pinning" in c
        }
        shop = next(r for r in device_doc["not_pinning"] if r["host"] == "shop.retail.example")
        assert shop["cause"] == "incomplete-chain"
        assert shop["issuer_urls"] == ["http://cacerts.ca.example/intermediate.crt"]
        assert "intermediate" in shop["remedy"]

        # The same entries, every one of the store (noise included), as forwarded syslog.
        lines = as_syslog(sim.logs.entries(), documented_columns())
        half = len(lines) // 2
        plain = tmp_path / "decryption.log"
        plain.write_text("\n".join(lines[:half]) + "\n", encoding="utf-8")
        packed = tmp_path / "decryption.log.1.gz"
        with gzip.open(packed, "wt", encoding="utf-8") as fh:
            fh.write("<14>Nov 26 09:30:00 pa-branch-01 1,2026/11/26 09:00:00,007951000345678,"
                     "TRAFFIC,end,2561\n")  # fmt: skip
            fh.write("\n".join(lines[half:]) + "\n")
        files = run_cli(
            "scan", "--from-syslog", str(plain), "--from-syslog", str(packed), *WINDOW,
            "--format", "json",
        )  # fmt: skip
        assert files.code == 0, files.err
        assert causes_of(json.loads(files.out)) == EXPECTED

        # No policy makes an add of evidence that is not pinning: allow everything, and only
        # hosts whose every entry is pinning are planned.
        policy = tmp_path / "allow-all.yaml"
        policy.write_text(ALLOW_ALL)
        plan = run_cli(
            *device_args(sim), "plan", "--policy", str(policy), *WINDOW[:2],
            "--format", "json", env=env,
        )  # fmt: skip
        assert plan.code == 0, plan.err
        doc = json.loads(plan.out)
        decisions = {d["host"]: d for d in doc["decisions"]}
        added = {d["host"] for d in doc["decisions"] if d["action"] == "allow"}
        assert added
        assert all(set(EXPECTED[h]) == {"pinning"} and not h.startswith("*") for h in added)
        for host, causes in EXPECTED.items():
            if set(causes) != {"pinning"} or host.startswith("*"):
                assert decisions[host]["action"] in ("review", "not-pinning"), host
        assert decisions["*.badssl.example"]["reason"].startswith("no SNI")
        assert decisions["vpn.corp.example"]["action"] == "not-pinning"
        assert decisions["cdn.media.example"]["action"] == "review"


def test_the_real_elastic_line_reads_as_documented_and_is_not_forward_proxy(
    tmp_path: Path, run_cli: RunCli
) -> None:
    from panpin.scan.syslog import read_syslog

    sample = DATA / "elastic-integrations__panw-panos-decryption-sample.log"
    lines = [ln for ln in sample.read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
    log = tmp_path / "pa-220.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    got: list[dict[str, str]] = []
    read_syslog([log], sink=lambda e: got.append(dict(e)))
    (entry,) = got
    # The fields Elastic's pipeline test expects of this line.
    assert entry["err_index"] == "Certificate"
    assert entry["proxy_type"] == "GlobalProtect"
    assert entry["sni"] == "" and entry["cn"] == "com.example.com"
    assert entry["root_status"] == "trusted" and entry["chain_status"] == "Trusted"
    assert entry["error"] == "Received fatal alert CertificateUnknown from client"
    assert entry["serial"] == "007051000184334" and entry["vsys"] == "vsys1"

    scan = run_cli(
        "scan", "--from-syslog", str(log), "--signal", "CertificateUnknown", "--since",
        "2021/11/01 00:00:00", "--format", "json",
    )  # fmt: skip
    assert scan.code == 0, scan.err
    doc = json.loads(scan.out)
    assert doc["candidates"] == []
    (row,) = doc["not_pinning"]
    assert (row["host"], row["cause"], row["causes"]) == (
        "com.example.com",
        "not-forward-proxy",
        {"not-forward-proxy": 1},
    )


def test_the_strata_forwarding_format_is_refused_naming_the_line(
    tmp_path: Path, run_cli: RunCli
) -> None:
    sample = DATA / "strata-logging-service-example.txt"
    lines = [ln for ln in sample.read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
    log = tmp_path / "cloud.log"
    # The page's line starts with the forwarder's own header before the RFC 5424 one.
    log.write_text(lines[0][lines[0].index("<142>") :] + "\n", encoding="utf-8")
    result = run_cli("scan", "--from-syslog", str(log))
    assert result.code == 2
    assert f"{log}:1:" in result.err and "layout panpin does not know" in result.err
    assert "Traceback" not in result.err


def test_plan_from_syslog_keeps_this_firewalls_lines_and_leaves_the_history_alone(
    tmp_path: Path, run_cli: RunCli
) -> None:
    from panpin.scan.files import scan_syslog

    with own_simulator(tmp_path / "sim") as sim:
        columns = documented_columns()
        entries = sim.logs.entries()
        lines = as_syslog(entries, columns)
        # Another firewall forwards to the same server, and a second vsys of this one.
        pinned = [e for e in entries if e["sni"] == "sync.vendor.example"]
        other = [{**e, "serial": "007951000999999", "sni": "other-fw.example"} for e in pinned]
        vsys2 = [{**e, "vsys": "vsys2", "sni": "vsys2-only.example"} for e in pinned]
        log = tmp_path / "forwarded.log"
        log.write_text("\n".join(lines + as_syslog(other + vsys2, columns)) + "\n")
        policy = tmp_path / "allow-all.yaml"
        policy.write_text(ALLOW_ALL)
        state = tmp_path / "state.db"
        result = run_cli(
            *device_args(sim), "--state", str(state), "plan", "--policy", str(policy),
            "--from-syslog", str(log), "--since", "2026/11/01 00:00:00", "--format", "json",
            env={"PANPIN_API_KEY": sim.api_key},
        )  # fmt: skip
        assert result.code == 0, result.err
        doc = json.loads(result.out)
        hosts = {d["host"] for d in doc["decisions"]}
        assert "other-fw.example" not in hosts  # not this firewall's line
        assert "vsys2-only.example" in hosts  # shared on a firewall counts every vsys
        assert doc["scan"]["from_syslog"] == [str(log)]
        assert "007951000345678" in doc["scan"]["scope"]
        added = {d["host"] for d in doc["decisions"] if d["action"] == "allow"}
        assert "app.vendor.example" in added and "shop.retail.example" not in added
        # The file's evidence is not folded into the state history.
        assert not state.exists() or "evidence_daily" not in _tables_with_rows(state)

        # A change for vsys:vsys1 counts that vsys' entries only.
        scoped = scan_syslog(
            [str(log)], since="2026/11/01 00:00:00", until=None, signals=(), max_logs=None,
            serial="007951000345678", vsys="vsys1",
        )  # fmt: skip
        assert "vsys2-only.example" not in {c.host for c in scoped.candidates}
        assert scoped.out_of_scope == len(vsys2) and scoped.scope == "vsys vsys1"


def _tables_with_rows(path: Path) -> set[str]:
    import sqlite3

    with sqlite3.connect(path) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n for n in names if db.execute(f"SELECT count(*) FROM {n}").fetchone()[0]}  # noqa: S608


def test_a_template_counts_only_the_firewalls_it_serves(tmp_path: Path, run_cli: RunCli) -> None:
    with own_simulator(tmp_path / "sim", load_scenario("panorama")) as sim:
        dc = "007951000333333"  # dc-fw-01, the only firewall of stack dc-stack (template dc)
        result = run_cli(
            *device_args(sim), "--location", "template:dc", "scan", "--since", "30d",
            "--format", "json", env={"PANPIN_API_KEY": sim.api_key},
        )  # fmt: skip
        assert result.code == 0, result.err
        doc = json.loads(result.out)
        assert doc["scope"] == f"firewalls {dc}"
        # The simulator's own store: entries of that firewall naming a signal, per SNI.
        wanted: dict[str, int] = {}
        others = 0
        for entry in sim.logs.entries():
            if "UnknownCA" not in entry["error"] and "BadCertificate" not in entry["error"]:
                continue
            if entry["serial"] != dc:
                others += 1
                continue
            wanted[entry["sni"]] = wanted.get(entry["sni"], 0) + 1
        assert {c["host"]: c["hits"] for c in doc["candidates"]} == wanted
        assert all(c["devices"] == [dc] for c in doc["candidates"])
        assert doc["out_of_scope"] == others > 0


def test_hosts_an_enabled_predefined_exclusion_covers_need_no_entry(
    tmp_path: Path, run_cli: RunCli
) -> None:
    from importlib import resources

    import yaml

    from panpin.simulator import scenario_from_dict

    data = yaml.safe_load(
        (resources.files("panpin.simulator") / "scenarios" / "demo.yaml").read_text()
    )
    data["predefined_exclusions"] = [
        {"name": "sync.vendor.example", "description": "vendor content"},
        {"name": "push.vendor.example"},
    ]
    data["disabled_predefined"] = {"shared": ["push.vendor.example"]}
    policy = tmp_path / "allow-all.yaml"
    policy.write_text(ALLOW_ALL)
    for scenario, checked in ((scenario_from_dict(data), True), (load_scenario("demo"), False)):
        with own_simulator(tmp_path / f"sim-{checked}", scenario) as sim:
            result = run_cli(
                *device_args(sim), "plan", "--policy", str(policy), *WINDOW[:2],
                "--format", "json", env={"PANPIN_API_KEY": sim.api_key},
            )  # fmt: skip
            assert result.code == 0, result.err
            doc = json.loads(result.out)
            decisions = {d["host"]: d for d in doc["decisions"]}
            assert doc["scan"]["predefined"]["checked"] is checked
            if checked:
                sync = decisions["sync.vendor.example"]
                assert (sync["action"], sync["covered_by"]) == ("covered", "sync.vendor.example")
                assert "predefined exclusion" in sync["reason"]
                # Disabled at this location: it covers nothing, the host is decided as usual.
                assert decisions["push.vendor.example"]["action"] == "allow"
                assert doc["scan"]["predefined"]["disabled"] == ["push.vendor.example"]
            else:
                assert decisions["sync.vendor.example"]["action"] == "allow"
                assert "predefined exclusions not checked" in result.err


def test_a_page_whose_entries_carry_none_of_the_known_fields_exits_1(
    tmp_path: Path, run_cli: RunCli, monkeypatch: object
) -> None:
    import pytest

    from panpin.simulator.logs import LogStore

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    real_render = LogStore.render

    def renamed(self: LogStore, indexes: Any) -> str:
        # A release that renames the fields panpin reads (PAN-OS 12.1 adds client-/server-
        # prefixed ones): the device answers entries, none with error, sni or cn.
        text = real_render(self, indexes)
        for old, new in (("sni", "server_sni"), ("cn", "server_cn"), ("error", "client_error")):
            text = text.replace(f"<{old}>", f"<{new}>").replace(f"</{old}>", f"</{new}>")
            text = text.replace(f"<{old}/>", f"<{new}/>")
        return text

    monkeypatch.setattr(LogStore, "render", renamed)
    with own_simulator(tmp_path / "sim") as sim:
        result = run_cli(*device_args(sim), "scan", "--since", "30d", "--format", "json",
                         env={"PANPIN_API_KEY": sim.api_key})  # fmt: skip
        assert result.code == 1, result.err
        assert result.out == ""  # no "no pinning found" document
        (line,) = [ln for ln in result.err.splitlines() if ln.startswith("panpin: error:")]
        assert "none of the fields error, sni, cn" in line
        assert "client_error" in line and "server_sni" in line and "server_cn" in line
