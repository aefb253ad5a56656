"""The plan document: what a change will do, built purely, saved as JSON, loaded strictly.

A plan names the device (host, serial, kind), the location and its xpath, the fingerprint of the
running list it was computed against (``base``), the policy's path and SHA-256, every decision, and
the changes. ``digest`` is a SHA-256 over everything else, so a plan edited by hand after review
(a host added, a fingerprint changed, the change id kept) is refused at apply time. It guards
against accidents and unreviewed edits, not against someone who recomputes the digest on purpose.

So a plan is also checked for what it does, whatever its digest says: when it is read
(:func:`plan_from_dict`, checks that need nothing but the plan) and again when it is applied
(:func:`check_plan_for_apply`, against the device and the journal). Every add is a valid name that
reaches no public suffix and carries this plan's change id (a rollback: exactly what the change it
undoes removed); every removal is a panpin entry; a rollback undoes a change the journal or the
device's markers know; the serial is present and is the device's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from panpin.decide.engine import DECISION_ACTIONS, Decision
from panpin.errors import InvalidHost, PlanError
from panpin.hosts import in_any_domain, public_suffix_reach, validate_exclusion_name
from panpin.panos.exclusions import ExclusionEntry
from panpin.panos.marker import CHANGE_ID_RE

PLAN_FORMAT = 1
PLAN_KINDS = ("policy", "rollback")


def list_fingerprint(entries: Iterable[ExclusionEntry]) -> str:
    """SHA-256 of a list's content, independent of order (PAN-OS keeps entries in insertion order)."""
    canon = sorted((e.name, e.description, e.exclude) for e in entries)
    return hashlib.sha256(json.dumps(canon, separators=(",", ":")).encode()).hexdigest()


def entry_to_dict(entry: ExclusionEntry) -> dict[str, object]:
    return {"name": entry.name, "description": entry.description, "exclude": entry.exclude}


def entry_from_dict(data: object, where: str) -> ExclusionEntry:
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


def check_add_name(name: str, where: str, never_allow: Iterable[str] = ()) -> None:
    """Refuse an entry name panpin must never add: invalid, over a public suffix, never_allow.

    The same rule as the policy check (:func:`panpin.hosts.public_suffix_reach`): a wildcard
    whose ``*`` can stand for a stranger's registration (``*.co.uk``, ``*.*.amazonaws.com``,
    ``*.github.io``), or a name that is or holds a public suffix. This holds for rollbacks too:
    a restored entry was added under the same rule, and an edited rollback must not smuggle one in.
    """
    try:
        normal = validate_exclusion_name(name)
    except InvalidHost as exc:
        raise PlanError(f"{where}: add {name[:80]!r}: {exc.reason}") from None
    if normal != name:
        raise PlanError(f"{where}: add {name!r} is not in normal form ({normal!r})")
    suffix = public_suffix_reach(name)
    if suffix is not None:
        raise PlanError(
            f"{where}: add {name} would exclude sites under the public suffix {suffix}; "
            "panpin never adds it"
        )
    domain = in_any_domain(name.replace("*.", "x."), never_allow)
    if domain is not None:
        raise PlanError(f"{where}: add {name} is in never_allow domain {domain}")


def _refuse_public_suffix_wildcards(adds: Sequence[ExclusionEntry], where: str) -> None:
    for entry in adds:
        check_add_name(entry.name, where)


class RollbackSource(Protocol):
    """What :func:`check_plan_for_apply` reads of the journal record of the change undone.

    :class:`panpin.change.journal.ChangeRecord` is one (not imported: the journal imports this).
    """

    @property
    def change_id(self) -> str: ...

    @property
    def adds(self) -> tuple[ExclusionEntry, ...]: ...

    @property
    def removes(self) -> tuple[ExclusionEntry, ...]: ...


def _check_contents(plan: Plan, where: str, never_allow: Iterable[str] = ()) -> None:
    """The checks that need only the plan itself (run on load and again on apply)."""
    if plan.kind not in PLAN_KINDS:
        raise PlanError(f"{where}: kind {plan.kind!r} is not one of {', '.join(PLAN_KINDS)}")
    domains = tuple(never_allow)
    for i, entry in enumerate(plan.adds):
        at = f"{where}: changes.add[{i}]"
        check_add_name(entry.name, at, domains)
        marker = entry.marker
        # A rollback re-adds removed entries with their original description (and change id).
        if plan.kind == "policy" and (marker is None or marker.change_id != plan.change_id):
            raise PlanError(
                f"{at}: add {entry.name} does not carry this plan's change id {plan.change_id}"
            )
        if marker is None:
            raise PlanError(f"{at}: add {entry.name} carries no panpin marker")
    for i, entry in enumerate(plan.removes):
        if entry.owner != "panpin":
            raise PlanError(
                f"{where}: changes.remove[{i}]: refusing to remove {entry.name}: it belongs to "
                "a person (no panpin marker)"
            )
    if plan.kind == "rollback":
        target = plan.rollback_of
        if not isinstance(target, str) or not CHANGE_ID_RE.match(target):
            raise PlanError(f"{where}: rollback_of {target!r} is not a panpin change id")
        if target == plan.change_id:
            raise PlanError(f"{where}: a rollback cannot undo itself ({target})")
    elif plan.rollback_of is not None:
        raise PlanError(f"{where}: rollback_of is set on a {plan.kind} plan")


def _same(a: ExclusionEntry, b: ExclusionEntry) -> bool:
    return (a.name, a.description, a.exclude) == (b.name, b.description, b.exclude)


def check_plan_for_apply(
    plan: Plan,
    *,
    device_serial: str,
    current: Sequence[ExclusionEntry],
    record: RollbackSource | None = None,
    never_allow: Iterable[str] = (),
    where: str | None = None,
) -> None:
    """Check ``plan`` once more right before it is applied; raise :class:`PlanError` (exit 2).

    Pure. ``device_serial`` is the serial the device reports now; ``current`` is its exclusion
    list now; ``record`` is the journal's record of the change a rollback plan undoes (``None``
    when the journal does not have it: the device's markers must then vouch for every removal,
    and nothing can be restored). ``never_allow`` is the policy's list, when the caller has the
    policy. The digest proves only that nobody edited the plan by accident; these checks hold
    whoever wrote it.
    """
    at = where or f"plan {plan.change_id}"
    serial = plan.device.get("serial", "")
    if not serial:
        raise PlanError(f"{at}: names no device serial; refusing (re-run plan)")
    if not device_serial or serial != device_serial:
        raise PlanError(
            f"{at}: made for serial {serial}, but the device is {device_serial or 'unknown'}; "
            "refusing"
        )
    _check_contents(plan, at, never_allow)
    by_name = {e.name: e for e in current}
    for i, entry in enumerate(plan.removes):
        on_device = by_name.get(entry.name)
        if on_device is None or not _same(on_device, entry):
            raise PlanError(
                f"{at}: changes.remove[{i}]: {entry.name} is not on the device as the plan "
                "shows it; refusing (re-run plan)"
            )
        if on_device.owner != "panpin":
            raise PlanError(
                f"{at}: changes.remove[{i}]: refusing to remove {entry.name}: it belongs to a person"
            )
    if plan.kind == "rollback":
        _check_rollback(plan, at, record)


def _check_rollback(plan: Plan, at: str, record: RollbackSource | None) -> None:
    target = plan.rollback_of
    if record is not None and record.change_id != target:
        raise PlanError(
            f"{at}: the journal record given is {record.change_id}, not {target}; refusing"
        )
    added_by_target = {e.name for e in record.adds} if record is not None else None
    for i, entry in enumerate(plan.removes):
        marker = entry.marker
        # Only what the undone change added and still carries its marker (rollback_plan leaves
        # entries someone took over alone, and so does this check).
        if marker is None or marker.change_id != target:
            raise PlanError(
                f"{at}: changes.remove[{i}]: {entry.name} does not carry {target}'s marker; "
                "a rollback removes only what that change added"
            )
        if added_by_target is not None and entry.name not in added_by_target:
            raise PlanError(
                f"{at}: changes.remove[{i}]: {entry.name} is not among what {target} added "
                "(journal); refusing"
            )
    if plan.adds and record is None:
        raise PlanError(
            f"{at}: the rollback restores entries, but {target} is not in the journal: only "
            "the journal knows what a change removed; refusing"
        )
    removed_by_target = record.removes if record is not None else ()
    for i, entry in enumerate(plan.adds):
        if not any(_same(entry, old) for old in removed_by_target):
            raise PlanError(
                f"{at}: changes.add[{i}]: {entry.name} is not an entry {target} removed "
                "(journal); a rollback restores only those"
            )


_DECISION_KEYS = frozenset(
    {"host", "action", "rule", "reason", "entry", "covered_by", "counted_hits", "clients"}
)


def decision_from_dict(data: object, where: str) -> Decision:
    """A recorded decision, checked strictly (the plan's digest already held)."""
    if not isinstance(data, dict):
        raise PlanError(f"{where}: expected an object")
    unknown = sorted(set(data) - _DECISION_KEYS - {"confirmation", "rule_sha256"})
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
        rule_sha256=text("rule_sha256", optional=True),
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
    scan: dict[str, object] = field(default_factory=dict)
    decisions: tuple[Decision, ...] = ()
    kind: str = "policy"  # "policy" for plan/run, "rollback" for an inverse change
    rollback_of: str | None = None
    # The end of the change window (local ISO time, ``plan --valid-for``); apply refuses it after.
    not_after: str | None = None

    @property
    def has_changes(self) -> bool:
        return bool(self.adds or self.removes)

    def planned_list(self) -> list[ExclusionEntry]:
        """The running list as it must be after this plan is committed."""
        removed = {e.name for e in self.removes}
        kept = [e for e in self.base if e.name not in removed]
        added = {e.name for e in self.adds}
        return [e for e in kept if e.name not in added] + list(self.adds)

    def body(self) -> dict[str, object]:
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
            # Only when set: a plan without a window reads (and digests) as before.
            **({"not_after": self.not_after} if self.not_after is not None else {}),
        }

    def expired(self, now: datetime) -> bool:
        """Past its change window (``not_after``)."""
        return self.not_after is not None and now > datetime.fromisoformat(self.not_after)

    def to_dict(self) -> dict[str, object]:
        body = self.body()
        # Every JSON document panpin prints names its version as format_version; the plan's own
        # is `format`, repeated under that name. Both are under the digest; a plan made before
        # has no format_version and verifies as it was written.
        body["format_version"] = PLAN_FORMAT
        body["digest"] = digest_of(body)
        return body

    def dumps(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"


def digest_of(body: dict[str, object]) -> str:
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
    scan: dict[str, object] | None = None,
    decisions: Sequence[Decision] = (),
    kind: str = "policy",
    rollback_of: str | None = None,
    not_after: str | None = None,
) -> Plan:
    """Assemble a plan (pure). Adds already present with the same content are dropped; removals of
    entries that a person owns are refused here too, as a second line behind the decision module."""
    current = {e.name: e for e in base}
    real_adds = [a for a in adds if current.get(a.name) != a]
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
        not_after=not_after,
    )


_OPTIONAL = {"not_after", "format_version"}
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


def _not_after(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise PlanError(f"{where}: not_after must be a time")
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise PlanError(f"{where}: not_after {value[:40]!r} is not an ISO time") from None
    return value


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


def plan_from_dict(data: object, where: str = "plan") -> Plan:
    if not isinstance(data, dict):
        raise PlanError(f"{where}: expected a JSON object")
    missing = sorted(_TOP - set(data))
    unknown = sorted(set(data) - _TOP - _OPTIONAL)
    if missing or unknown:
        raise PlanError(f"{where}: missing keys {missing or '-'}, unknown keys {unknown or '-'}")
    if data["format"] != PLAN_FORMAT:
        raise PlanError(
            f"{where}: plan format {data['format']!r} is not {PLAN_FORMAT}; re-run plan"
        )
    if data.get("format_version", PLAN_FORMAT) != data["format"]:
        raise PlanError(f"{where}: format_version and format disagree; re-run plan")
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
    decisions = data["decisions"]
    if not isinstance(decisions, list):
        raise PlanError(f"{where}: decisions must be a list")
    rollback_of = data["rollback_of"]
    if rollback_of is not None and not isinstance(rollback_of, str):
        raise PlanError(f"{where}: rollback_of must be a change id or null")
    plan = Plan(
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
        rollback_of=rollback_of,
        not_after=_not_after(data.get("not_after"), where),
    )
    _check_contents(plan, where)
    return plan
