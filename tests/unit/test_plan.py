"""The plan document: round trip, tamper detection, person-owned entries."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from panpin.change.plan import (
    Plan,
    build_plan,
    check_plan_for_apply,
    digest_of,
    list_fingerprint,
    load_plan,
    plan_from_dict,
)
from panpin.errors import PlanError
from panpin.panos.exclusions import ExclusionEntry

CHANGE = "c-20261126-0932-a1b2"
PERSON = ExclusionEntry("intranet.example", "added by alice for INC-7", True)
OURS_OLD = ExclusionEntry(
    "old.example", "panpin:c-20260101-0000-0000 rule=r expires=2026-02-01", True
)


def make(**kw: Any) -> Plan:
    args: dict[str, Any] = {
        "change_id": CHANGE,
        "created": "2026-11-26T09:32:00",
        "device": {"name": "fw1", "host": "fw1", "serial": "0070", "kind": "firewall"},
        "location": "shared",
        "xpath": "/config/shared/ssl-decrypt/ssl-exclude-cert",
        "admin": "panpin",
        "base": [PERSON, OURS_OLD],
        "adds": [ExclusionEntry("api.pinned.example", f"panpin:{CHANGE} rule=vendor", True)],
        "removes": [OURS_OLD],
    }
    args.update(kw)
    return build_plan(**args)


def test_round_trip(tmp_path: Path) -> None:
    plan = make()
    path = tmp_path / "plan.json"
    path.write_text(plan.dumps())
    loaded = load_plan(path)
    assert loaded == plan
    assert [e.name for e in loaded.planned_list()] == ["intranet.example", "api.pinned.example"]


def test_fingerprint_ignores_order() -> None:
    assert list_fingerprint([PERSON, OURS_OLD]) == list_fingerprint([OURS_OLD, PERSON])
    assert list_fingerprint([PERSON]) != list_fingerprint([PERSON, OURS_OLD])


def _tamper(tmp_path: Path, edit: Callable[[dict[str, Any]], object]) -> Path:
    data = json.loads(make().dumps())
    edit(data)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["changes"]["add"].append(
            {"name": "evil.example", "description": f"panpin:{CHANGE}", "exclude": True}
        ),
        lambda d: d.__setitem__("base_fingerprint", "0" * 64),
        lambda d: d["device"].__setitem__("serial", "9999"),
        lambda d: d.__setitem__("change_id", "c-20261126-0932-ffff"),
    ],
)
def test_hand_edits_refused(tmp_path: Path, edit: Callable[[dict[str, Any]], object]) -> None:
    with pytest.raises(PlanError) as info:
        load_plan(_tamper(tmp_path, edit))
    assert info.value.exit_code == 2


def test_edit_with_recomputed_digest_still_checked(tmp_path: Path) -> None:
    from panpin.change.plan import digest_of

    def edit(d: dict[str, Any]) -> None:
        d["changes"]["add"].append(
            {"name": "x'] | //evil", "description": f"panpin:{CHANGE}", "exclude": True}
        )
        d["digest"] = digest_of({k: v for k, v in d.items() if k != "digest"})

    with pytest.raises(PlanError) as info:
        load_plan(_tamper(tmp_path, edit))
    assert "name" in str(info.value)


def test_add_without_this_change_id_refused(tmp_path: Path) -> None:
    from panpin.change.plan import digest_of

    def edit(d: dict[str, Any]) -> None:
        d["changes"]["add"].append(
            {"name": "other.example", "description": "by hand", "exclude": True}
        )
        d["digest"] = digest_of({k: v for k, v in d.items() if k != "digest"})

    with pytest.raises(PlanError) as info:
        load_plan(_tamper(tmp_path, edit))
    assert "change id" in str(info.value)


def test_not_json_names_line(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{\n  "format": 1,\n  oops\n}')
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert f"{path}:3" in str(info.value)


def test_person_entry_never_removed() -> None:
    with pytest.raises(PlanError):
        make(removes=[PERSON])


def test_noop_add_dropped() -> None:
    plan = make(adds=[PERSON], removes=[])
    assert not plan.has_changes


def test_a_wildcard_over_a_public_suffix_is_never_added(tmp_path: Path) -> None:
    from panpin.change.plan import digest_of

    broad = ExclusionEntry("*.co.uk", f"panpin:{CHANGE} rule=bank", True)
    with pytest.raises(PlanError, match=r"public suffix co\.uk"):
        make(adds=[broad], removes=[])

    # Nor from a plan file (one built before this check, say).
    def edit(d: dict[str, Any]) -> None:
        d["changes"]["add"] = [
            {"name": "*.co.uk", "description": broad.description, "exclude": True}
        ]
        d["digest"] = digest_of({k: v for k, v in d.items() if k != "digest"})

    with pytest.raises(PlanError, match="public suffix"):
        load_plan(_tamper(tmp_path, edit))
    # A person's entry like it may be in the list, and stays readable in the base.
    person = ExclusionEntry("*.co.uk", "alice, INC-9", True)
    assert make(base=[PERSON, OURS_OLD, person]).base[-1] == person


# --- checked again at apply, whatever the digest says ---------------------------------------------

ROLLED = "c-20261120-0800-beef"
ROLLED_ADD = ExclusionEntry("api.pinned.example", f"panpin:{ROLLED} rule=vendor", True)
ROLLED_REMOVED = ExclusionEntry(
    "gone.example", "panpin:c-20260101-0000-0000 rule=r expires=2026-11-19", True
)


@dataclass(frozen=True)
class Record:
    """The parts of a journal ChangeRecord that check_plan_for_apply reads."""

    change_id: str
    adds: tuple[ExclusionEntry, ...]
    removes: tuple[ExclusionEntry, ...]


RECORD = Record(ROLLED, (ROLLED_ADD,), (ROLLED_REMOVED,))


def rollback() -> Plan:
    return make(
        base=[PERSON, ROLLED_ADD],
        adds=[ROLLED_REMOVED],
        removes=[ROLLED_ADD],
        kind="rollback",
        rollback_of=ROLLED,
    )


def resealed(plan: Plan, edit: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    """``plan`` as JSON, edited, with base fingerprint and digest recomputed to match."""
    data: dict[str, Any] = json.loads(plan.dumps())
    edit(data)
    base = [ExclusionEntry(e["name"], e["description"], e["exclude"]) for e in data["base"]]
    data["base_fingerprint"] = list_fingerprint(base)
    data["digest"] = digest_of({k: v for k, v in data.items() if k != "digest"})
    return data


def applied(
    data: dict[str, Any],
    *,
    serial: str = "0070",
    current: Sequence[ExclusionEntry] | None = None,
    record: Record | None = None,
) -> None:
    """Load the (edited) plan and check it as apply would, against the device as the plan shows."""
    plan = plan_from_dict(data, "plan.json")
    check_plan_for_apply(
        plan,
        device_serial=serial,
        current=plan.base if current is None else current,
        record=record,
    )


def _entry(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "description": description, "exclude": True}


def test_untampered_plans_pass_the_apply_check() -> None:
    applied(json.loads(make().dumps()))
    applied(json.loads(rollback().dumps()), record=RECORD)
    # From the device's markers alone, a rollback may delete what the change added.
    no_restore = make(
        base=[PERSON, ROLLED_ADD],
        adds=[],
        removes=[ROLLED_ADD],
        kind="rollback",
        rollback_of=ROLLED,
    )
    applied(json.loads(no_restore.dumps()), record=None)


def _as_rollback(data: dict[str, Any], add: dict[str, Any]) -> None:
    data["kind"] = "rollback"
    data["rollback_of"] = ROLLED
    data["changes"]["add"] = [add]
    data["changes"]["remove"] = []


TAMPERED_POLICY_PLANS: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    (
        "add a wildcard over a private-section suffix",
        lambda d: d["changes"]["add"].append(_entry("*.*.amazonaws.com", f"panpin:{CHANGE}")),
        "public suffix s3.amazonaws.com",
    ),
    (
        "add a wildcard over an IDN suffix",
        lambda d: d["changes"]["add"].append(_entry("*.xn--55qx5d.cn", f"panpin:{CHANGE}")),
        "public suffix xn--55qx5d.cn",
    ),
    (
        "add a public suffix as an exact name",
        lambda d: d["changes"]["add"].append(_entry("github.io", f"panpin:{CHANGE}")),
        "public suffix github.io",
    ),
    (
        "remove a person's entry",
        lambda d: d["changes"]["remove"].append(
            {"name": PERSON.name, "description": PERSON.description, "exclude": True}
        ),
        "belongs to a person",
    ),
    (
        "add under another change id",
        lambda d: d["changes"]["add"].append(_entry("c2.example", "panpin:c-20250101-0000-dead")),
        "change id",
    ),
    ("empty the serial", lambda d: d["device"].__setitem__("serial", ""), "serial"),
    ("drop the serial", lambda d: d["device"].pop("serial"), "serial"),
    ("change the serial", lambda d: d["device"].__setitem__("serial", "9999"), "serial 9999"),
    ("an unknown kind", lambda d: d.__setitem__("kind", "emergency"), "kind"),
    (
        "rollback_of on a policy plan",
        lambda d: d.__setitem__("rollback_of", ROLLED),
        "rollback_of",
    ),
    (
        # The attack of issue 15: kind set to rollback so the change id is not checked.
        "turn into a rollback adding *.co.uk under a foreign change id",
        lambda d: _as_rollback(d, _entry("*.co.uk", "panpin:c-20250101-0000-dead")),
        "public suffix co.uk",
    ),
    (
        "turn into a rollback adding a plain host the undone change never removed",
        lambda d: _as_rollback(d, _entry("c2.example", "panpin:c-20250101-0000-dead")),
        f"not an entry {ROLLED} removed",
    ),
]


@pytest.mark.parametrize(
    ("what", "edit", "fragment"),
    TAMPERED_POLICY_PLANS,
    ids=[t[0] for t in TAMPERED_POLICY_PLANS],
)
def test_tampered_plan_with_recomputed_digest_is_refused(
    what: str, edit: Callable[[dict[str, Any]], object], fragment: str
) -> None:
    with pytest.raises(PlanError) as info:
        applied(resealed(make(), edit), record=RECORD)
    assert info.value.exit_code == 2
    assert fragment in str(info.value), what
    assert "\n" not in str(info.value)


TAMPERED_ROLLBACKS: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    (
        "restore an entry the change never removed",
        lambda d: d["changes"]["add"].append(
            _entry("extra.example", "panpin:c-20260101-0000-0000 rule=r")
        ),
        "not an entry",
    ),
    (
        "point at another change",
        lambda d: d.__setitem__("rollback_of", "c-20261120-0800-f00d"),
        "journal record given is",
    ),
    (
        "remove a panpin entry of another change",
        lambda d: (
            d["base"].append(
                {"name": "o.example", "description": OURS_OLD.description, "exclude": True}
            ),
            d["changes"]["remove"].append(
                {"name": "o.example", "description": OURS_OLD.description, "exclude": True}
            ),
        ),
        f"does not carry {ROLLED}'s marker",
    ),
    ("undo itself", lambda d: d.__setitem__("rollback_of", d["change_id"]), "cannot undo itself"),
    ("a malformed rollback_of", lambda d: d.__setitem__("rollback_of", "latest"), "rollback_of"),
]


@pytest.mark.parametrize(
    ("what", "edit", "fragment"), TAMPERED_ROLLBACKS, ids=[t[0] for t in TAMPERED_ROLLBACKS]
)
def test_tampered_rollback_with_recomputed_digest_is_refused(
    what: str, edit: Callable[[dict[str, Any]], object], fragment: str
) -> None:
    with pytest.raises(PlanError) as info:
        applied(resealed(rollback(), edit), record=RECORD)
    assert info.value.exit_code == 2
    assert fragment in str(info.value), what


def test_rollback_outside_the_journal_restores_nothing() -> None:
    # Only the journal knows what a change removed; the device's markers cannot vouch for it.
    with pytest.raises(PlanError, match="not in the journal"):
        applied(json.loads(rollback().dumps()), record=None)


def test_rollback_removes_only_what_the_journal_says_the_change_added() -> None:
    record = Record(ROLLED, (), (ROLLED_REMOVED,))
    with pytest.raises(PlanError, match=f"not among what {ROLLED} added"):
        applied(json.loads(rollback().dumps()), record=record)


def test_a_removal_must_match_the_device_now() -> None:
    # The plan's base may be edited to match itself; the device's list is what counts.
    edited = ExclusionEntry(OURS_OLD.name, OURS_OLD.description.replace("rule=r", "rule=x"), True)
    with pytest.raises(PlanError, match="not on the device as the plan shows it"):
        applied(json.loads(make().dumps()), current=[PERSON, edited])
    # A person took the entry over (their description, no marker): theirs now.
    taken = ExclusionEntry(OURS_OLD.name, "kept by bob", True)
    with pytest.raises(PlanError, match="not on the device as the plan shows it"):
        applied(json.loads(make().dumps()), current=[PERSON, taken])


def test_the_device_serial_must_be_known() -> None:
    with pytest.raises(PlanError, match="serial"):
        applied(json.loads(make().dumps()), serial="")


def test_never_allow_is_checked_at_apply() -> None:
    plan = make()
    with pytest.raises(PlanError, match=r"never_allow domain pinned\.example"):
        check_plan_for_apply(
            plan, device_serial="0070", current=plan.base, never_allow=["pinned.example"]
        )
