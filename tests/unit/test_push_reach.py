"""A push that Panorama reports OK but that reached no firewall is exit 6, recorded as
push-failed, and says what to do (issue 18)."""

from __future__ import annotations

from typing import Any

import pytest

from panpin import errors
from panpin.change import lifecycle
from panpin.change.lifecycle import ChangeContext, Outcome
from panpin.change.results import ChangeResult
from panpin.panos.jobs import JobStatus
from panpin.settings import Location


class Journal:
    def __init__(self) -> None:
        self.finished: list[tuple[str, ChangeResult, str]] = []

    def change_finished(
        self, change_id: str, result: ChangeResult, *, job_id: str | None = None, detail: str = ""
    ) -> None:
        self.finished.append((change_id, result, detail))


def test_a_push_to_no_firewall_is_exit_6(monkeypatch: pytest.MonkeyPatch) -> None:
    nothing = JobStatus(job_id="9", type="CommitAll", status="FIN", result="OK", progress="100")
    monkeypatch.setattr(lifecycle, "push", lambda *a, **k: nothing)
    journal = Journal()
    ctx = ChangeContext(
        api=object(),  # type: ignore[arg-type]
        location=Location("template", "lab"),
        admin="panpin",
        device_name="pano",
        panorama=True,
        journal=journal,  # type: ignore[arg-type]
    )

    class Api:
        def persisting(self) -> Any:
            import contextlib

            return contextlib.nullcontext()

    ctx.api = Api()  # type: ignore[assignment]
    outcome = Outcome(change_id="c-20261204-0100-abcd", result=ChangeResult.NOTHING_TO_DO)
    with pytest.raises(errors.ManualInterventionNeeded) as info:
        lifecycle._push_and_check(ctx, outcome.change_id, "d", outcome)
    assert info.value.exit_code == 6
    assert "reached no firewall" in str(info.value) and "panpin rollback" in str(info.value)
    assert journal.finished == [
        ("c-20261204-0100-abcd", ChangeResult.PUSH_FAILED, "push job 9 reached no firewall")
    ]
