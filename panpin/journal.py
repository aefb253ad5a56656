"""The change journal: one row per change, written before the commit starts (the rollback point).

Lives in the state database beside the watermarks and evidence; this module owns the ``changes``
table only. Rows hold hosts, descriptions and results, never credentials.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from panpin.exclusions import ExclusionEntry
from panpin.plan import Plan, entry_to_dict

_SCHEMA = """
CREATE TABLE IF NOT EXISTS changes (
    change_id   TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    rollback_of TEXT,
    device      TEXT NOT NULL,
    host        TEXT NOT NULL,
    serial      TEXT NOT NULL,
    location    TEXT NOT NULL,
    admin       TEXT NOT NULL,
    started     TEXT NOT NULL,
    finished    TEXT,
    result      TEXT NOT NULL,
    job_id      TEXT,
    adds        TEXT NOT NULL,
    removes     TEXT NOT NULL,
    base        TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS changes_by_device ON changes(device, started);
"""

# Results that a later run on the device settles by the running list (committed, aborted or
# superseded; see panpin.change.settle_interrupted):
# "started" (the run died), "revert-failed" (its own changes may still be in the candidate),
# "in-doubt" (the commit's fate was unknown when the run ended), "unverified" (committed, but the
# running list could not be checked).
UNFINISHED_RESULTS = ("started", "revert-failed", "in-doubt", "unverified")

FINAL_RESULTS = (
    "committed",
    "uncommitted",
    "reverted",
    "aborted",
    "manual",
    "unverified",
    "push-failed",
    "superseded",
)


@dataclass(frozen=True)
class ChangeRecord:
    change_id: str
    kind: str
    rollback_of: str | None
    device: str
    host: str
    serial: str
    location: str
    admin: str
    started: str
    finished: str | None
    result: str
    job_id: str | None
    adds: tuple[ExclusionEntry, ...]
    removes: tuple[ExclusionEntry, ...]
    base: tuple[ExclusionEntry, ...]
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "change_id": self.change_id,
            "kind": self.kind,
            "rollback_of": self.rollback_of,
            "started": self.started,
            "finished": self.finished,
            "admin": self.admin,
            "device": self.device,
            "host": self.host,
            "serial": self.serial,
            "location": self.location,
            "adds": [e.name for e in self.adds],
            "removes": [e.name for e in self.removes],
            "job_id": self.job_id,
            "result": self.result,
            "detail": self.detail,
        }


def _entries(text: str) -> tuple[ExclusionEntry, ...]:
    return tuple(
        ExclusionEntry(name=d["name"], description=d["description"], exclude=d["exclude"])
        for d in json.loads(text)
    )


class ChangeJournal:
    """Implements :class:`panpin.change.Journal` on SQLite."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30)
        try:
            with db:
                yield db
        finally:
            db.close()

    def change_started(self, plan: Plan, device: str) -> None:
        now = datetime.now().isoformat(timespec="seconds")
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO changes (change_id, kind, rollback_of, device, host, serial, "
                "location, admin, started, finished, result, job_id, adds, removes, base, detail) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 'started', NULL, ?, ?, ?, '')",
                (
                    plan.change_id,
                    plan.kind,
                    plan.rollback_of,
                    device,
                    plan.device.get("host", ""),
                    plan.device.get("serial", ""),
                    plan.location,
                    plan.admin,
                    now,
                    json.dumps([entry_to_dict(e) for e in plan.adds]),
                    json.dumps([entry_to_dict(e) for e in plan.removes]),
                    json.dumps([entry_to_dict(e) for e in plan.base]),
                ),
            )

    def change_finished(
        self, change_id: str, result: str, *, job_id: str | None = None, detail: str = ""
    ) -> None:
        now = datetime.now().isoformat(timespec="seconds")
        with self._connect() as db:
            db.execute(
                "UPDATE changes SET result = ?, finished = ?, job_id = COALESCE(?, job_id), "
                "detail = ? WHERE change_id = ?",
                (result, now, job_id, detail[:2000], change_id),
            )

    def unfinished_changes(self, device: str) -> list[str]:
        """Changes on ``device`` that may have left something behind (:data:`UNFINISHED_RESULTS`)."""
        marks = ", ".join("?" for _ in UNFINISHED_RESULTS)
        with self._connect() as db:
            rows = db.execute(
                f"SELECT change_id FROM changes WHERE device = ? AND result IN ({marks}) "  # noqa: S608
                "ORDER BY started",
                (device, *UNFINISHED_RESULTS),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def records(self, device: str | None = None) -> list[ChangeRecord]:
        query = "SELECT * FROM changes"
        args: tuple[str, ...] = ()
        if device:
            query += " WHERE device = ?"
            args = (device,)
        query += " ORDER BY started, change_id"
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(query, args).fetchall()
        return [self._record(r) for r in rows]

    def get(self, change_id: str) -> ChangeRecord | None:
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            row = db.execute("SELECT * FROM changes WHERE change_id = ?", (change_id,)).fetchone()
        return self._record(row) if row else None

    def last(self, device: str | None = None) -> ChangeRecord | None:
        """The newest committed change (optionally on one device) that is not itself rolled back."""
        records = [r for r in self.records(device) if r.result == "committed"]
        undone = {r.rollback_of for r in records if r.rollback_of}
        candidates = [r for r in records if r.change_id not in undone and r.kind != "rollback"]
        return candidates[-1] if candidates else None

    @staticmethod
    def _record(row: sqlite3.Row) -> ChangeRecord:
        return ChangeRecord(
            change_id=row["change_id"],
            kind=row["kind"],
            rollback_of=row["rollback_of"],
            device=row["device"],
            host=row["host"],
            serial=row["serial"],
            location=row["location"],
            admin=row["admin"],
            started=row["started"],
            finished=row["finished"],
            result=row["result"],
            job_id=row["job_id"],
            adds=_entries(row["adds"]),
            removes=_entries(row["removes"]),
            base=_entries(row["base"]),
            detail=row["detail"],
        )
