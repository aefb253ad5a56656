"""The plan document: what a change will do, built purely, saved as JSON, loaded strictly.

A plan names the device (host, serial, kind), the location and its xpath, the fingerprint of the
running list it was computed against (``base``), the policy's path and SHA-256, every decision, and
the changes. ``digest`` is a SHA-256 over everything else, so a plan edited by hand after review
(a host added, a fingerprint changed, the change id kept) is refused at apply time. It guards
against accidents and unreviewed edits, not against someone who recomputes the digest on purpose;
the base fingerprint then still refuses a plan that does not match the device.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from panpin.decide.engine import DECISION_ACTIONS, Decision
from panpin.errors import InvalidHost, PlanError
from panpin.hosts import public_suffix_wildcard, validate_exclusion_name
from panpin.panos.exclusions import ExclusionEntry
from panpin.panos.marker import CHANGE_ID_RE

PLAN_FORMAT = 1


def list_fingerprint(entries: Iterable[ExclusionEntry]) -> str:
    """SHA-256 of a list's content, independent of order (PAN-OS keeps entries in insertion order)."""
    canon = sorted((e.name, e.description, e.exclude) for e in entries)
    return hashlib.sha256(json.dumps(canon, separators=(",", ":")).encode()).hexdigest()


def entry_to_dict(entry: ExclusionEntry) -> dict[str, Any]:
    return {"name": entry.name, "description": entry.description, "exclude": entry.exclude}


def entry_from_dict(data: Any, where: str) -> ExclusionEntry:
    if not isinstance(data, dict) or set(data) != {"name", "description", "exclude"}:
        raise PlanError(f"{where}: expected {{name, description, exclude}}")
    name, description, exclude = data["name"], data["description"], data["exclude"]
    if (
        not isinstance(name, str)
        or not isinstance(description, str)
        or not isinstance(exclude, bool)
    ):
        raise PlanError(f"{where}: wrong types")
    try:
        name = validate_exclusion_name(name)
    except InvalidHost as exc:
        raise PlanError(f"{where}.name: {exc}") from None
    if len(description) > 512:
        raise PlanError(f"{where}.description: longer than 512 characters")
    return ExclusionEntry(name=name, description=description, exclude=exclude)


def _refuse_public_suffix_wildcards(adds: Sequence[ExclusionEntry], where: str) -> None:
    # A rollback may re-add what a change removed; anything else panpin adds is never a wildcard
    # over a whole public suffix (*.co.uk): the policy refuses those, and so does a plan.
    for entry in adds:
        suffix = public_suffix_wildcard(entry.name)
        if suffix is not None:
            raise PlanError(
                f"{where}: add {entry.name} would exclude every site under the public suffix "
                f"{suffix}"
            )


_DECISION_KEYS = frozenset(
    {"host", "action", "rule", "reason", "entry", "covered_by", "counted_hits", "clients"}
)


def decision_from_dict(data: object, where: str) -> Decision:
    """A recorded decision, checked strictly (the plan's digest already held)."""
    if not isinstance(data, dict):
        raise PlanError(f"{where}: expected an object")
    unknown = sorted(set(data) - _DECISION_KEYS - {"confirmation"})
    if unknown or not {"host", "action", "reason"} <= set(data):
        raise PlanError(f"{where}: expected host, action, rule, reason (unknown: {unknown or '-'})")

    def text(key: str, optional: bool = False) -> str | None:
        value = data.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str):
            raise PlanError(f"{where}.{key}: expected a string")
        return value

    def count(key: str) -> int:
        value = data.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise PlanError(f"{where}.{key}: expected a count")
        return value

    raw_entry = data.get("entry")
    entry = None
    if raw_entry is not None:
        if not isinstance(raw_entry, dict):
            raise PlanError(f"{where}.entry: expected an object")
        entry = entry_from_dict(
            {k: raw_entry.get(k) for k in ("name", "description", "exclude")}, f"{where}.entry"
        )
    action = text("action") or ""
    if action not in (*DECISION_ACTIONS, "restore"):
        raise PlanError(f"{where}.action: {action!r} is not a decision panpin makes")
    return Decision(
        host=text("host") or "",
        action=action,
        rule=text("rule", optional=True),
        reason=text("reason") or "",
        entry=entry,
        covered_by=text("covered_by", optional=True),
        counted_hits=count("counted_hits"),
        clients=count("clients"),
        confirmation=text("confirmation", optional=True),
    )


@dataclass(frozen=True)
class Plan:
    change_id: str
    created: str
    device: dict[str, str]
    location: str
    xpath: str
    admin: str
    base_fingerprint: str
    base: tuple[ExclusionEntry, ...]
    adds: tuple[ExclusionEntry, ...]
    removes: tuple[ExclusionEntry, ...]
    policy: dict[str, str] = field(default_factory=dict)
    scan: dict[str, Any] = field(default_factory=dict)
    decisions: tuple[Decision, ...] = ()
    kind: str = "policy"  # "policy" for plan/run, "rollback" for an inverse change
    rollback_of: str | None = None

    @property
    def has_changes(self) -> bool:
        return bool(self.adds or self.removes)

    def planned_list(self) -> list[ExclusionEntry]:
        """The running list as it must be after this plan is committed."""
        removed = {e.name for e in self.removes}
        kept = [e for e in self.base if e.name not in removed]
        added = {e.name for e in self.adds}
        return [e for e in kept if e.name not in added] + list(self.adds)

    def body(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "kind": self.kind,
            "change_id": self.change_id,
            "created": self.created,
            "rollback_of": self.rollback_of,
            "device": dict(self.device),
            "location": self.location,
            "xpath": self.xpath,
            "admin": self.admin,
            "base_fingerprint": self.base_fingerprint,
            "base": [entry_to_dict(e) for e in self.base],
            "policy": dict(self.policy),
            "scan": dict(self.scan),
            "decisions": [d.to_dict() for d in self.decisions],
            "changes": {
                "add": [entry_to_dict(e) for e in self.adds],
                "remove": [entry_to_dict(e) for e in self.removes],
            },
        }

    def to_dict(self) -> dict[str, Any]:
        body = self.body()
        body["digest"] = digest_of(body)
        return body

    def dumps(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"


def digest_of(body: dict[str, Any]) -> str:
    canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(canon.encode()).hexdigest()


def build_plan(
    *,
    change_id: str,
    created: str,
    device: dict[str, str],
    location: str,
    xpath: str,
    admin: str,
    base: Sequence[ExclusionEntry],
    adds: Sequence[ExclusionEntry],
    removes: Sequence[ExclusionEntry],
    policy: dict[str, str] | None = None,
    scan: dict[str, Any] | None = None,
    decisions: Sequence[Decision] = (),
    kind: str = "policy",
    rollback_of: str | None = None,
) -> Plan:
    """Assemble a plan (pure). Adds already present with the same content are dropped; removals of
    entries that a person owns are refused here too, as a second line behind the decision module."""
    current = {e.name: e for e in base}
    real_adds = [a for a in adds if current.get(a.name) != a]
    if kind != "rollback":
        _refuse_public_suffix_wildcards(real_adds, "plan")
    for entry in removes:
        on_device = current.get(entry.name)
        if on_device is None:
            raise PlanError(f"cannot remove {entry.name}: not in the list")
        if on_device.owner != "panpin" and kind != "rollback":
            raise PlanError(f"refusing to remove {entry.name}: it belongs to a person")
    return Plan(
        change_id=change_id,
        created=created,
        device=dict(device),
        location=location,
        xpath=xpath,
        admin=admin,
        base_fingerprint=list_fingerprint(base),
        base=tuple(base),
        adds=tuple(real_adds),
        removes=tuple(removes),
        policy=dict(policy or {}),
        scan=dict(scan or {}),
        decisions=tuple(decisions),
        kind=kind,
        rollback_of=rollback_of,
    )


_TOP = {
    "format",
    "kind",
    "change_id",
    "created",
    "rollback_of",
    "device",
    "location",
    "xpath",
    "admin",
    "base_fingerprint",
    "base",
    "policy",
    "scan",
    "decisions",
    "changes",
    "digest",
}


def load_plan(path: str | Path) -> Plan:
    """Load and check a plan file; any defect is a :class:`PlanError` (exit 2) naming the file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError(f"{p}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError(f"{p}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    return plan_from_dict(data, str(p))


def plan_from_dict(data: Any, where: str = "plan") -> Plan:
    if not isinstance(data, dict):
        raise PlanError(f"{where}: expected a JSON object")
    missing = sorted(_TOP - set(data))
    unknown = sorted(set(data) - _TOP)
    if missing or unknown:
        raise PlanError(f"{where}: missing keys {missing or '-'}, unknown keys {unknown or '-'}")
    if data["format"] != PLAN_FORMAT:
        raise PlanError(
            f"{where}: plan format {data['format']!r} is not {PLAN_FORMAT}; re-run plan"
        )
    body = {k: v for k, v in data.items() if k != "digest"}
    if data["digest"] != digest_of(body):
        raise PlanError(
            f"{where}: the plan was modified after it was made (digest mismatch); re-run plan "
            "instead of editing it"
        )
    change_id = data["change_id"]
    if not isinstance(change_id, str) or not CHANGE_ID_RE.match(change_id):
        raise PlanError(f"{where}: change_id {change_id!r} is not a panpin change id")
    changes = data["changes"]
    if not isinstance(changes, dict) or set(changes) != {"add", "remove"}:
        raise PlanError(f"{where}: changes must hold 'add' and 'remove'")
    for key in ("device", "policy", "scan"):
        if not isinstance(data[key], dict):
            raise PlanError(f"{where}: {key} must be an object")
    for key in ("location", "xpath", "admin", "base_fingerprint", "created", "kind"):
        if not isinstance(data[key], str):
            raise PlanError(f"{where}: {key} must be a string")
    if not all(isinstance(x, list) for x in (data["base"], changes["add"], changes["remove"])):
        raise PlanError(f"{where}: base, changes.add and changes.remove must be lists")
    base = tuple(entry_from_dict(e, f"{where}: base[{i}]") for i, e in enumerate(data["base"]))
    if list_fingerprint(base) != data["base_fingerprint"]:
        raise PlanError(f"{where}: base_fingerprint does not match the plan's base list")
    adds = tuple(
        entry_from_dict(e, f"{where}: changes.add[{i}]") for i, e in enumerate(changes["add"])
    )
    removes = tuple(
        entry_from_dict(e, f"{where}: changes.remove[{i}]") for i, e in enumerate(changes["remove"])
    )
    if data["kind"] != "rollback":
        _refuse_public_suffix_wildcards(adds, where)
    for entry in adds:
        marker = entry.marker
        # A rollback re-adds removed entries with their original description (and change id).
        expected_ok = marker is not None and (
            data["kind"] == "rollback" or marker.change_id == change_id
        )
        if not expected_ok:
            raise PlanError(
                f"{where}: add {entry.name} does not carry this plan's change id {change_id}"
            )
    decisions = data["decisions"]
    if not isinstance(decisions, list):
        raise PlanError(f"{where}: decisions must be a list")
    return Plan(
        change_id=change_id,
        created=data["created"],
        device={str(k): str(v) for k, v in data["device"].items()},
        location=data["location"],
        xpath=data["xpath"],
        admin=data["admin"],
        base_fingerprint=data["base_fingerprint"],
        base=base,
        adds=adds,
        removes=removes,
        policy={str(k): str(v) for k, v in data["policy"].items()},
        scan=dict(data["scan"]),
        decisions=tuple(
            decision_from_dict(d, f"{where}: decisions[{i}]") for i, d in enumerate(decisions)
        ),
        kind=data["kind"],
        rollback_of=data["rollback_of"],
    )
