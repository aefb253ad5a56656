"""How the next run settles the journal records that an interrupted run left open.

A record stays open ("started", "revert-failed", "in-doubt", "unverified") only until the running
list says what became of it; an open record is also what licenses the next run to revert leftovers
of panpin's admin, so none may linger once nothing of ours is pending.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from panpin.change.journal import ChangeJournal
from panpin.change.lifecycle import settle_interrupted
from panpin.change.plan import Plan, build_plan
from panpin.change.results import UNFINISHED, ChangeResult
from panpin.panos.exclusions import ExclusionEntry

PERSON = ExclusionEntry("login.partner.example", "excluded by jdoe, INC-4711")
OLD = ExclusionEntry("old.example", "panpin:c-20260101-0000-0000 rule=r expires=2026-02-01")
OTHER = ExclusionEntry("other.example", "someone else's later change")


def _plan(change_id: str) -> Plan:
    return build_plan(
        change_id=change_id,
        created="2026-11-26T09:32:00",
        device={"name": "fw1", "host": "fw1", "serial": "0070", "kind": "firewall"},
        location="shared",
        xpath="/config/shared/ssl-decrypt/ssl-exclude-cert",
        admin="panpin",
        base=[PERSON, OLD],
        adds=[ExclusionEntry("api.pinned.example", f"panpin:{change_id} rule=vendor")],
        removes=[OLD],
    )


def _journal(tmp_path: Path, result: str) -> tuple[ChangeJournal, Plan]:
    journal = ChangeJournal(tmp_path / "state.db")
    plan = _plan("c-20261126-0932-a1b2")
    journal.change_started(plan, "fw1")
    if result != "started":
        journal.change_finished(plan.change_id, ChangeResult(result), detail="test")
    return journal, plan


def _result(journal: ChangeJournal, plan: Plan) -> str:
    record = journal.get(plan.change_id)
    assert record is not None
    return record.result


@pytest.mark.parametrize("result", sorted(UNFINISHED))
@pytest.mark.parametrize(
    ("found", "pending_ours", "expected"),
    [
        ("planned", None, "committed"),
        ("planned", False, "committed"),
        ("base", False, "aborted"),
        ("base", None, "open"),  # leftovers may still be in the candidate
        ("moved on", False, "superseded"),
        ("moved on", None, "open"),
    ],
)
def test_settled_by_the_running_list(
    tmp_path: Path, result: str, found: str, pending_ours: bool | None, expected: str
) -> None:
    journal, plan = _journal(tmp_path, result)
    running = {
        "planned": plan.planned_list(),
        "base": list(plan.base),
        "moved on": [*plan.planned_list(), OTHER],
    }[found]
    settle_interrupted(journal, "fw1", running, pending_ours=pending_ours)
    now = _result(journal, plan)
    if expected == "open":
        assert now == result
    elif result == "unverified" and expected == "aborted":
        # It was committed: its base back on the device means someone undid it.
        assert now == "superseded"
    else:
        assert now == expected
    if pending_ours is False:
        assert not journal.unfinished_changes("fw1")


def test_other_devices_are_left_alone(tmp_path: Path) -> None:
    journal, plan = _journal(tmp_path, "started")
    settle_interrupted(journal, "fw2", plan.planned_list(), pending_ours=False)
    assert _result(journal, plan) == "started"
