"""Job parsing against the recorded samples."""

from __future__ import annotations

from pathlib import Path

from panpin.panos.jobs import JobStatus, parse_job
from panpin.panos.xmlapi import parse_xml

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "panos-samples"


def job(name: str) -> JobStatus:
    return parse_job(parse_xml((SAMPLES / name).read_bytes()), "1")


def test_active_commit_not_finished() -> None:
    status = job("show-job-commit-active.xml")
    assert not status.finished


def test_finished_ok() -> None:
    status = job("show-job-commit-finished-ok.xml")
    assert status.finished and status.ok
    assert any("committed successfully" in d for d in status.details)


def test_failed_validate() -> None:
    status = job("show-job-validate-failed.xml")
    assert status.finished and not status.ok


def test_commit_all_devices() -> None:
    status = job("show-job-commitall-push-devices.xml")
    assert status.ok
    assert [d.serial for d in status.devices] == ["007051000050926", "007051000086000"]
    assert status.devices[0].name == "PA-VM"
