"""PAN-OS error envelopes become classes in one table (panpin.errors), lock answers included, so no
caller has to recognise an answer by its text."""

from __future__ import annotations

from pathlib import Path

import pytest

from panpin import errors
from panpin.panos.xmlapi import ApiResponse, check_envelope, parse_xml

SAMPLES = Path(__file__).parents[1] / "data" / "panos-samples"


@pytest.mark.parametrize(
    ("message", "code", "cls"),
    [
        ("You already own a config lock for scope shared", None, errors.LockAlreadyOurs),
        ("Config is not currently locked for scope shared", None, errors.NotLocked),
        ("Commit lock is not currently held", None, errors.NotLocked),
        ("Config for scope shared is currently locked by alice", None, errors.LockHeld),
        ("Config lock is already held by alice", 13, errors.LockHeld),
        (
            "Another commit/validate is in progress. Please try again later",
            13,
            errors.CommitInProgress,
        ),
        ("No such node", None, errors.NotPresent),
        ("Session timed out", 22, errors.SessionTimedOut),
        ("something new", None, errors.ApiError),
    ],
)
def test_messages_without_a_code_of_their_own(
    message: str, code: int | None, cls: type[errors.ApiError]
) -> None:
    exc = errors.api_error_for(message, code)
    assert type(exc) is cls
    assert str(exc) == message or message in str(exc)


def test_our_own_lock_is_not_someone_elses() -> None:
    # "You already own a config lock" must not fall to LockHeld (exit 5) via a broader fragment.
    assert not issubclass(errors.LockAlreadyOurs, errors.BusyError)
    assert not issubclass(errors.NotLocked, errors.BusyError)


def test_the_real_not_locked_answer() -> None:
    body = (SAMPLES / "config-lock-not-held.xml").read_bytes()
    with pytest.raises(errors.NotLocked):
        answer: ApiResponse = check_envelope(parse_xml(body))
        del answer


def test_a_role_without_a_permission_is_named() -> None:
    # Verbatim shape from the reference (spaces around '=', single quotes); HTTP 403.
    body = (
        b"<response status = 'error' code = '403'><result><msg>"
        b"Type [commit] not authorized for user role</msg></result></response>"
    )
    with pytest.raises(errors.PermissionDenied) as caught:
        check_envelope(parse_xml(body), 403)
    assert "lacks the XML API commit permission" in str(caught.value)
    assert caught.value.exit_code == 1
    # A bad key stays a plain credential error.
    bad_key = (
        b"<response status = 'error' code = '403'><result><msg>Invalid Credential</msg>"
        b"</result></response>"
    )
    with pytest.raises(errors.AuthError) as other:
        check_envelope(parse_xml(bad_key), 403)
    assert not isinstance(other.value, errors.PermissionDenied)


def test_a_custom_roles_empty_commit_is_nothing_to_commit() -> None:
    # Code 13 "would be the same as the previous" (custom role) means no changes, like code 19.
    body = (
        b'<response status="success" code="13"><msg>The result of this commit would be the '
        b"same as the previous commit</msg></response>"
    )
    assert check_envelope(parse_xml(body)).job_id is None
