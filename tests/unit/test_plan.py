"""The plan document: round trip, tamper detection, person-owned entries."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from panpin.change.plan import Plan, build_plan, list_fingerprint, load_plan
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
