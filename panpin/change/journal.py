"""The change journal: one row per change, written before the commit starts (the rollback point).

Lives in the state database beside the watermarks and evidence, in its ``changes`` table; the SQL
is in :mod:`panpin.state`, like all of panpin's. Rows hold hosts, descriptions and results, never
credentials.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from panpin.change.plan import Plan, entry_to_dict
from panpin.change.results import UNFINISHED, ChangeResult
from panpin.panos.exclusions import ExclusionEntry
from panpin.state import StateDB


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
    result: ChangeResult
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
    """Implements :class:`panpin.change.lifecycle.Journal` on the state database (:class:`StateDB`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = StateDB(path)

    def check_writable(self) -> None:
        """Fail now (exit 2) if the journal cannot be written, before a change takes any lock."""
        self._db.check_writable()

    def change_started(self, plan: Plan, device: str) -> None:
        self._db.journal_start(
            {
                "change_id": plan.change_id,
                "kind": plan.kind,
                "rollback_of": plan.rollback_of,
                "device": device,
                "host": plan.device.get("host", ""),
                "serial": plan.device.get("serial", ""),
                "location": plan.location,
                "admin": plan.admin,
                "started": datetime.now().isoformat(timespec="seconds"),
                "adds": json.dumps([entry_to_dict(e) for e in plan.adds]),
                "removes": json.dumps([entry_to_dict(e) for e in plan.removes]),
                "base": json.dumps([entry_to_dict(e) for e in plan.base]),
            }
        )

    def change_finished(
        self, change_id: str, result: ChangeResult, *, job_id: str | None = None, detail: str = ""
    ) -> None:
        self._db.journal_finish(change_id, result, job_id=job_id, detail=detail)

    def unfinished_changes(self, device: str) -> list[str]:
        """Changes on ``device`` that may have left something behind (:data:`panpin.change.results.UNFINISHED`)."""
        rows = self._db.journal_rows(device=device, results=tuple(UNFINISHED))
        return [str(r["change_id"]) for r in rows]

    def records(self, device: str | None = None) -> list[ChangeRecord]:
        return [_record(r) for r in self._db.journal_rows(device=device)]

    def get(self, change_id: str) -> ChangeRecord | None:
        rows = self._db.journal_rows(change_id=change_id)
        return _record(rows[0]) if rows else None

    def last(self, device: str | None = None) -> ChangeRecord | None:
        """The newest committed change (optionally on one device) that is not itself rolled back."""
        records = [r for r in self.records(device) if r.result == ChangeResult.COMMITTED]
        undone = {r.rollback_of for r in records if r.rollback_of}
        candidates = [r for r in records if r.change_id not in undone and r.kind != "rollback"]
        return candidates[-1] if candidates else None


def _record(row: dict[str, Any]) -> ChangeRecord:
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
        result=_result(row["result"]),
        job_id=row["job_id"],
        adds=_entries(row["adds"]),
        removes=_entries(row["removes"]),
        base=_entries(row["base"]),
        detail=row["detail"],
    )


def _result(value: str) -> ChangeResult:
    try:
        return ChangeResult(value)
    except ValueError:
        # A journal written by a newer panpin: shown as needing a person, never guessed at.
        return ChangeResult.MANUAL
