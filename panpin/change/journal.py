"""The change journal: one row per change, written before the commit starts (the rollback point).

Lives in the state database beside the watermarks and evidence, in its ``changes`` table; the SQL
is in :mod:`panpin.state`, like all of panpin's. Rows hold hosts, descriptions and results, never
credentials.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from panpin.change.plan import Plan, entry_to_dict
from panpin.change.results import UNFINISHED, ChangeResult
from panpin.decide.engine import Hold
from panpin.decide.policy import expiry_from_text
from panpin.errors import StateError
from panpin.panos.exclusions import ExclusionEntry
from panpin.state import StateDB

# How long a hold lasts when neither --hold-for nor the journal (the policy's defaults.expires
# when the change was made) says: changes journalled before holds existed, or markers only.
FALLBACK_HOLD = timedelta(days=30)


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
    # entry name -> (rule, rule digest) of each add, and the policy's defaults.expires text, as
    # the plan recorded them (empty for changes journalled before holds existed).
    rules: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    default_expires: str | None = None

    def as_dict(self) -> dict[str, object]:
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
                "decided": json.dumps(_decided(plan), sort_keys=True),
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

    # --- holds ---------------------------------------------------------------------------------

    def hold_removed(
        self, rollback: Plan, device: str, *, hold_for: timedelta | None, today: date
    ) -> list[Hold]:
        """Record a hold on each entry the committed rollback ``rollback`` removed, tied to the
        rule that had allowed it; lasts ``hold_for``, else the policy's defaults.expires of the
        rolled-back change, else the entry's own expiry, else :data:`FALLBACK_HOLD`."""
        target = self.get(rollback.rollback_of or "")
        holds: list[Hold] = []
        for entry in rollback.removes:
            rule, digest = (target.rules if target else {}).get(entry.name, (None, None))
            if rule is None and entry.marker is not None:
                rule = entry.marker.rule
            holds.append(
                Hold(
                    entry=entry.name,
                    rule=rule,
                    rule_sha256=digest,
                    until=_hold_until(entry, target, hold_for, today),
                    change_id=rollback.change_id,
                    rollback_of=rollback.rollback_of or "",
                )
            )
        self._db.add_holds(
            {
                "device": device,
                "location": rollback.location,
                "entry": h.entry,
                "rule": h.rule,
                "rule_sha256": h.rule_sha256,
                "until": h.until.isoformat(),
                "change_id": h.change_id,
                "rollback_of": h.rollback_of,
            }
            for h in holds
        )
        return holds

    def holds(self, device: str, location: str) -> list[Hold]:
        """The open holds at one device and location."""
        return [_hold(r) for r in self._db.holds(device=device, location=location)]

    def hold_records(self, device: str | None = None) -> list[HoldRecord]:
        """Every hold, open and ended, for ``history``."""
        return [_hold_record(r) for r in self._db.holds(device=device, open_only=False)]

    def end_holds(self, device: str, location: str, ended: Iterable[tuple[Hold, str]]) -> None:
        for hold, why in ended:
            self._db.end_hold(device, location, hold.entry, why)

    def release(self, device: str | None, entry: str) -> list[HoldRecord]:
        """End the open holds on ``entry`` (any location; one device when given); returns them."""
        released = [
            r for r in self._db.holds(device=device) if str(r["entry"]).lower() == entry.lower()
        ]
        for row in released:
            self._db.end_hold(
                _text(row, "device"), _text(row, "location"), _text(row, "entry"), "released"
            )
        return [_hold_record(r) for r in released]

    def last(self, device: str | None = None) -> ChangeRecord | None:
        """The newest committed change (optionally on one device) that is not itself rolled back."""
        records = [r for r in self.records(device) if r.result == ChangeResult.COMMITTED]
        undone = {r.rollback_of for r in records if r.rollback_of}
        candidates = [r for r in records if r.change_id not in undone and r.kind != "rollback"]
        return candidates[-1] if candidates else None


@dataclass(frozen=True)
class HoldRecord:
    """A hold as the state database keeps it: where, since when, and how it ended."""

    device: str
    location: str
    hold: Hold
    created: str
    ended: str | None
    ended_why: str | None

    def as_dict(self) -> dict[str, object]:
        return {
            "device": self.device,
            "location": self.location,
            "entry": self.hold.entry,
            "rule": self.hold.rule,
            "until": self.hold.until.isoformat(),
            "change_id": self.hold.change_id,
            "rollback_of": self.hold.rollback_of,
            "created": self.created,
            "ended": self.ended,
            "ended_why": self.ended_why,
        }


def _text(row: Mapping[str, object], key: str) -> str:
    """A TEXT column of a state row (NOT NULL in the schema)."""
    value = row[key]
    if not isinstance(value, str):
        raise StateError(f"state database: column {key} holds {type(value).__name__}, not text")
    return value


def _opt(row: Mapping[str, object], key: str) -> str | None:
    """A nullable TEXT column of a state row."""
    return None if row.get(key) is None else _text(row, key)


def _hold_record(row: dict[str, object]) -> HoldRecord:
    return HoldRecord(
        device=_text(row, "device"),
        location=_text(row, "location"),
        hold=_hold(row),
        created=_text(row, "created"),
        ended=_opt(row, "ended"),
        ended_why=_opt(row, "ended_why"),
    )


def _decided(plan: Plan) -> dict[str, object]:
    rules = {
        d.entry.name: [d.rule, d.rule_sha256]
        for d in plan.decisions
        if d.action == "allow" and d.entry is not None
    }
    return {"expires": plan.policy.get("expires"), "rules": rules}


def _hold_until(
    entry: ExclusionEntry, target: ChangeRecord | None, hold_for: timedelta | None, today: date
) -> date:
    if hold_for is not None:
        return today + hold_for
    expiry = expiry_from_text(target.default_expires) if target and target.default_expires else None
    if expiry is not None:
        return expiry.date_from(today)
    if entry.expires is not None and entry.expires >= today:
        return entry.expires
    return today + FALLBACK_HOLD


def _hold(row: dict[str, object]) -> Hold:
    return Hold(
        entry=_text(row, "entry"),
        rule=_opt(row, "rule"),
        rule_sha256=_opt(row, "rule_sha256"),
        until=date.fromisoformat(_text(row, "until")),
        change_id=_text(row, "change_id"),
        rollback_of=_text(row, "rollback_of"),
    )


def _record(row: dict[str, object]) -> ChangeRecord:
    decided = json.loads(_opt(row, "decided") or "{}")
    return ChangeRecord(
        change_id=_text(row, "change_id"),
        kind=_text(row, "kind"),
        rollback_of=_opt(row, "rollback_of"),
        device=_text(row, "device"),
        host=_text(row, "host"),
        serial=_text(row, "serial"),
        location=_text(row, "location"),
        admin=_text(row, "admin"),
        started=_text(row, "started"),
        finished=_opt(row, "finished"),
        result=_result(_text(row, "result")),
        job_id=_opt(row, "job_id"),
        adds=_entries(_text(row, "adds")),
        removes=_entries(_text(row, "removes")),
        base=_entries(_text(row, "base")),
        detail=_text(row, "detail"),
        rules={
            str(name): (pair[0], pair[1]) for name, pair in dict(decided.get("rules", {})).items()
        },
        default_expires=decided.get("expires"),
    )


def _result(value: str) -> ChangeResult:
    try:
        return ChangeResult(value)
    except ValueError:
        # A journal written by a newer panpin: shown as needing a person, never guessed at.
        return ChangeResult.MANUAL
