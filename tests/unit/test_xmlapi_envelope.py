"""The envelope parser against the recorded PAN-OS answers in tests/data/panos-samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from panpin import errors
from panpin.panos.xmlapi import check_envelope, parse_xml

# Verbatim PAN-OS answers, each file's first line naming its public source.
SAMPLES = Path(__file__).resolve().parents[1] / "data" / "panos-samples"


def sample(name: str) -> bytes:
    path = SAMPLES / name
    if not path.is_file():
        pytest.fail(f"sample {path} missing from the repository")
    return path.read_bytes()


def test_keygen_success_has_key() -> None:
    resp = check_envelope(parse_xml(sample("keygen-success.xml")))
    assert resp.root.findtext("result/key")


def test_keygen_403_is_auth_error() -> None:
    with pytest.raises(errors.AuthError) as info:
        check_envelope(parse_xml(sample("keygen-error-403-invalid-credentials.xml")), 403)
    assert "invalid credential" in str(info.value).lower()


def test_illegal_parameter_is_bad_request() -> None:
    with pytest.raises(errors.BadRequest) as info:
        check_envelope(parse_xml(sample("error-400-illegal-parameter.xml")), 400)
    assert "Illegal parameter" in str(info.value)


def test_get_not_present_is_success_code7() -> None:
    resp = check_envelope(parse_xml(sample("config-get-not-present-code7.xml")))
    assert resp.not_present


def test_show_no_such_node_is_not_present() -> None:
    with pytest.raises(errors.NotPresent):
        check_envelope(parse_xml(sample("config-show-no-such-node.xml")))


def test_multiline_cdata_code12_keeps_every_line() -> None:
    with pytest.raises(errors.InvalidObject) as info:
        check_envelope(parse_xml(sample("config-error-code12-multiline.xml")))
    text = str(info.value)
    assert "first server  is invalid" in text
    assert "server is invalid" in text
    assert info.value.code == 12


def test_commit_enqueued_has_job_and_no_changes_has_none() -> None:
    assert check_envelope(parse_xml(sample("commit-enqueued.xml"))).job_id
    no_changes = check_envelope(parse_xml(sample("commit-no-changes.xml")))
    assert no_changes.job_id is None
    assert "no changes" in no_changes.message.lower()


def test_commit_locks_code14_is_lock_held() -> None:
    with pytest.raises(errors.LockHeld) as info:
        check_envelope(parse_xml(sample("commit-error-code14-commit-locks.xml")))
    assert info.value.exit_code == errors.EXIT_BUSY


def test_config_lock_already_held_is_lock_held() -> None:
    with pytest.raises(errors.LockHeld):
        check_envelope(parse_xml(sample("config-lock-already-held.xml")))


def test_lock_acquired_message_from_bare_result() -> None:
    resp = check_envelope(parse_xml(sample("config-lock-acquired.xml")))
    assert "acquired" in resp.message.lower()


def test_job_not_found_code7() -> None:
    with pytest.raises(errors.NotPresent):
        check_envelope(parse_xml(sample("show-job-not-found-code7.xml")))


def test_validate_failed_details_lines() -> None:
    resp = check_envelope(parse_xml(sample("show-job-validate-failed.xml")))
    assert resp.root.findtext("result/job/result") == "FAIL"
    assert any("mutually exclusive" in m for m in resp.messages)


def test_log_job_enqueued_has_job() -> None:
    assert check_envelope(parse_xml(sample("log-query-enqueued.xml"))).job_id


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        b'<response status="success"><result>&b;</result></response>',
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<response status="success"><result>&x;</result></response>',
    ],
)
def test_dtd_and_entities_refused(body: bytes) -> None:
    with pytest.raises(errors.ResponseError) as info:
        parse_xml(body)
    assert "DTD" in str(info.value) or "malformed" in str(info.value)


def test_malformed_and_foreign_root_refused() -> None:
    with pytest.raises(errors.ResponseError):
        parse_xml(b"<response status='success'><result>")
    with pytest.raises(errors.ResponseError):
        check_envelope(parse_xml(b"<html><body>502</body></html>"))


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (6, errors.BadXpath),
        (7, errors.NotPresent),
        (12, errors.InvalidObject),
        (13, errors.ObjectNotFound),
        (16, errors.AuthError),
        (17, errors.BadRequest),
        (18, errors.BadRequest),
        (22, errors.SessionTimedOut),
    ],
)
def test_code_table(code: int, cls: type[errors.ApiError]) -> None:
    body = f"<response status='error' code='{code}'><msg><line>x</line></msg></response>".encode()
    with pytest.raises(cls):
        check_envelope(parse_xml(body))


def test_commit_in_progress_without_code_is_busy() -> None:
    body = b"<response status='error'><msg><line>Another commit/validate is in progress. Please try again later</line></msg></response>"
    with pytest.raises(errors.CommitInProgress) as info:
        check_envelope(parse_xml(body))
    assert info.value.exit_code == errors.EXIT_BUSY


def test_nested_line_and_failure_status() -> None:
    body = (
        b"<response status = 'failure'><msg><line><line>User unknown</line></line></msg></response>"
    )
    with pytest.raises(errors.ApiError) as info:
        check_envelope(parse_xml(body))
    assert "User unknown" in str(info.value)


def test_commit_in_progress_with_code13_is_busy() -> None:
    body = b"<response status='error' code='13'><msg><line>Another commit/validate is in progress. Please try again later</line></msg></response>"
    with pytest.raises(errors.CommitInProgress):
        check_envelope(parse_xml(body))
