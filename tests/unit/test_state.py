"""The state database (watermarks, daily evidence, runs, schema versions) and the run lock."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from panpin import errors
from panpin.scan.evidence import Aggregator, Candidate
from panpin.state import (
    JOURNAL_MIGRATIONS,
    SCAN_COMPONENT,
    SCAN_MIGRATIONS,
    StateDB,
    Watermark,
    lock_path,
    run_lock,
)


def cand(host: str, hits: int, clients: tuple[str, ...], day: str, **errs: int) -> Candidate:
    return Candidate(
        host=host,
        hits=hits,
        clients=clients,
        errors=errs or {"UnknownCA": hits},
        apps=("incomplete",),
        first_seen=f"{day} 08:00:00",
        last_seen=f"{day} 18:00:00",
        devices=("0079",),
    )


def test_creates_directory_wal_and_schema_version(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "deep" / "dir" / "state.db")
    assert db.watermark("fw", "shared") is None
    assert db.path.is_file()
    assert oct(db.path.stat().st_mode & 0o777) == "0o600"
    assert oct(db.path.parent.stat().st_mode & 0o777) == "0o700"
    with db.connect() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"schema_versions", "watermarks", "evidence_daily", "runs"} <= tables
    assert db.schema_version() == len(SCAN_MIGRATIONS)


def test_migrations_are_per_component_and_idempotent(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "state.db")
    journal_v1 = ("CREATE TABLE journal_demo (id INTEGER PRIMARY KEY)",)
    journal_v2 = ("ALTER TABLE journal_demo ADD COLUMN note TEXT",)
    assert db.ensure_schema("journal", [journal_v1]) == 1
    again = StateDB(db.path)
    assert again.ensure_schema("journal", [journal_v1, journal_v2]) == 2
    assert again.schema_version("journal") == 2
    assert again.schema_version(SCAN_COMPONENT) == len(SCAN_MIGRATIONS)


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "state.db")
    db.watermark("fw", "shared")
    with sqlite3.connect(db.path) as conn:
        conn.execute("UPDATE schema_versions SET version = 99 WHERE component = 'scan'")
    with pytest.raises(errors.SettingsError, match="newer"):
        StateDB(db.path).watermark("fw", "shared")


def test_watermark_round_trip_per_device_and_location(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "state.db")
    mark = Watermark("2026/11/26 09:00:00", frozenset({"0079/10", "0079/11"}))
    db.set_watermark("fw1", "shared", mark)
    db.set_watermark("fw1", "vsys:vsys2", Watermark("2026/11/20 00:00:00"))
    assert db.watermark("fw1", "shared") == mark
    assert db.watermark("fw1", "vsys:vsys2") == Watermark("2026/11/20 00:00:00")
    assert db.watermark("fw2", "shared") is None
    later = Watermark("2026/11/26 10:00:00", frozenset({"0079/12"}))
    db.set_watermark("fw1", "shared", later)
    assert db.watermark("fw1", "shared") == later


def test_evidence_accumulates_per_day_across_runs(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "state.db")
    db.add_evidence(
        "fw1",
        "shared",
        [
            ("2026/11/19", cand("a.example.com", 2, ("10.0.0.1",), "2026/11/19")),
            ("2026/11/20", cand("a.example.com", 1, ("10.0.0.2",), "2026/11/20")),
        ],
    )
    # A second run adds to the same day: hits sum, client sets union, alerts add up.
    db.add_evidence(
        "fw1",
        "shared",
        [
            (
                "2026/11/20",
                cand("a.example.com", 3, ("10.0.0.2", "10.0.0.3"), "2026/11/20", BadCertificate=3),
            )
        ],
    )
    db.add_evidence(
        "fw2", "shared", [("2026/11/20", cand("a.example.com", 50, ("10.9.9.9",), "2026/11/20"))]
    )
    (all_days,) = db.evidence_window("fw1", "2026/11/01 00:00:00")
    assert all_days.hits == 6
    assert all_days.clients == ("10.0.0.1", "10.0.0.2", "10.0.0.3")
    assert all_days.errors == {"BadCertificate": 3, "UnknownCA": 3}
    assert all_days.first_seen == "2026/11/19 08:00:00"
    assert all_days.last_seen == "2026/11/20 18:00:00"
    (recent,) = db.evidence_window("fw1", "2026/11/20 12:00:00")
    assert recent.hits == 4  # whole days: all of 2026/11/20
    assert db.evidence_window("fw1", "2026/11/21") == []
    assert db.evidence_window("fw1", "2026/11/01", location="vsys:vsys1") == []
    assert db.prune_evidence("2026/11/20") == 1
    assert db.evidence_window("fw1", "2026/11/01")[0].hits == 4


def test_aggregator_days_round_trip_through_the_database(tmp_path: Path) -> None:
    agg = Aggregator(by_day=True)
    trusted = {"proxy_type": "Forward", "root_status": "trusted", "chain_status": "Trusted"}
    for i, when in enumerate(["2026/11/19 10:00:00", "2026/11/20 10:00:00"]):
        for host, chain in (("app.vendor.example", "Trusted"), ("broken.example", "Incomplete")):
            agg.add(
                {
                    "receive_time": when,
                    "sni": host,
                    "src": f"10.0.0.{i}",
                    "serial": "0079",
                    "seqno": f"{host}{i}",
                    "logid": f"{host}{i}",
                    "app": "incomplete",
                    "error": "Received fatal alert UnknownCA from client. "
                    "CA Issuer URL: http://ca.example/int.crt",
                    **trusted,
                    "chain_status": chain,
                }
            )
    db = StateDB(tmp_path / "state.db")
    db.add_evidence("fw", "shared", agg.daily())
    stored = db.evidence_window("fw", "2026/11/01")
    assert stored == [*agg.candidates(), *agg.not_pinning()]
    # The causes survive the round trip: the incomplete chain is not pinning on any day.
    broken = next(c for c in stored if c.host == "broken.example")
    assert (broken.hits, broken.causes) == (0, {"incomplete-chain": 2})
    assert broken.issuer_urls == ("http://ca.example/int.crt",)
    # The per-day series a plan carries for its chart: pinning hits only.
    assert db.timeline("fw", "2026/11/01") == {
        "app.vendor.example": [("2026/11/19", 1), ("2026/11/20", 1)]
    }
    assert agg.timeline() == db.timeline("fw", "2026/11/01")


def test_evidence_from_before_causes_is_dropped_and_read_again(tmp_path: Path) -> None:
    # A database at scan schema 1 counted every alert as pinning (GlobalProtect, untrusted
    # servers...): its evidence and watermarks go, so the next scan reads the window again.
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL, "
            "updated TEXT NOT NULL)"
        )
        for statement in SCAN_MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute("INSERT INTO schema_versions VALUES ('scan', 1, 'then')")
        conn.execute(
            "INSERT INTO evidence_daily VALUES ('fw', 'shared', '2026/11/20', 'gp.example', 9, "
            "'[]', '{\"CertificateUnknown\": 9}', '[]', '[]', '[]', '[]', '[]', '', '')"
        )
        conn.execute(
            "INSERT INTO watermarks VALUES ('fw', 'shared', '2026/11/20 10:00:00', '[]', '', '')"
        )
    db = StateDB(path)
    assert db.evidence_window("fw", "2026/11/01") == []
    assert db.watermark("fw", "shared") is None


def test_runs_are_recorded(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "state.db")
    run = db.start_run("fw1", "shared")
    assert db.runs()[0].result == "running"
    db.finish_run(run, logs_read=42, result="ok")
    (record,) = db.runs("fw1")
    assert (record.logs_read, record.result) == (42, "ok")
    assert record.finished is not None
    assert db.runs("other") == []


def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "state.db")
    with pytest.raises(RuntimeError), db.transaction() as conn:
        db.set_watermark("fw", "shared", Watermark("2026/11/26 00:00:00"), db=conn)
        raise RuntimeError("crash before commit")
    assert db.watermark("fw", "shared") is None


# --- run lock ------------------------------------------------------------------------------------


def test_run_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    with run_lock(state):
        assert lock_path(state).exists()
        with pytest.raises(errors.RunLocked) as caught, run_lock(state):
            pass
        assert caught.value.exit_code == errors.EXIT_BUSY
    with run_lock(state):  # free again
        pass


HOLDER = textwrap.dedent(
    """
    import sys, time
    from panpin.state import run_lock
    with run_lock(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(60)
    """
)


def _hold_lock(state: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(state)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_lock_held_by_another_process_is_busy_and_a_killed_holder_frees_it(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.db"
    proc = _hold_lock(state)
    try:
        with pytest.raises(errors.RunLocked, match="another panpin run"), run_lock(state):
            pass
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert lock_path(state).exists()  # the file stays behind; the kernel dropped the flock
    with run_lock(state):
        pass


def test_scan_incremental_exits_5_when_the_run_lock_is_held(tmp_path: Path, run_cli: Any) -> None:
    state = tmp_path / "state.db"
    proc = _hold_lock(state)
    try:
        result = run_cli(
            "--host",
            "127.0.0.1:9",
            "--state",
            str(state),
            "scan",
            "--incremental",
            env={"PANPIN_API_KEY": "not-used"},
        )
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert result.code == errors.EXIT_BUSY, result.err
    assert "another panpin run" in result.err


# --- the change journal's table ------------------------------------------------------------------

_FIRST_JOURNAL = """
CREATE TABLE IF NOT EXISTS changes (
    change_id TEXT PRIMARY KEY, kind TEXT NOT NULL, rollback_of TEXT, device TEXT NOT NULL,
    host TEXT NOT NULL, serial TEXT NOT NULL, location TEXT NOT NULL, admin TEXT NOT NULL,
    started TEXT NOT NULL, finished TEXT, result TEXT NOT NULL, job_id TEXT,
    adds TEXT NOT NULL, removes TEXT NOT NULL, base TEXT NOT NULL, detail TEXT NOT NULL DEFAULT ''
);
INSERT INTO changes VALUES ('c-1', 'change', NULL, 'fw1', 'h', 's', 'shared', 'panpin',
    '2026-11-20T10:00:00', '2026-11-20T10:01:00', 'committed', '7',
    '[{"name": "a.example", "description": "d", "exclude": true}]', '[]', '[]', '');
"""


def test_a_journal_written_before_schema_versions_is_adopted(tmp_path: Path) -> None:
    from panpin.change.journal import ChangeJournal

    path = tmp_path / "state.db"
    with sqlite3.connect(path) as db:
        db.executescript(_FIRST_JOURNAL)
    journal = ChangeJournal(path)
    (record,) = journal.records()
    assert (record.change_id, record.result, record.adds[0].name) == (
        "c-1",
        "committed",
        "a.example",
    )
    # Adopted as migration 1, then brought to the newest (the holds table).
    assert StateDB(path).schema_version("journal") == len(JOURNAL_MIGRATIONS)
    assert journal.last("fw1") == record and journal.unfinished_changes("fw1") == []


def test_only_the_state_module_runs_sql() -> None:
    # docs/design.md: only the state module touches the database.
    package = Path(__file__).resolve().parents[2] / "panpin"
    users = sorted(
        str(p.relative_to(package))
        for p in package.rglob("*.py")
        if "import sqlite3" in p.read_text(encoding="utf-8")
    )
    assert users == ["state.py"]
