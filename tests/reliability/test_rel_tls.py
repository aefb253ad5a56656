"""TLS: a wrong CA, an expired certificate, a wrong host name and a wrong fingerprint are each
refused before a request (and so the API key) leaves the machine; the right ones work."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import RunCli
from rel_https import OK_INFO, Answer, Pki, cert_fingerprint, host_of, make_pki, serve
from rel_support import record

from panpin import errors
from panpin.panos.timing import RetryPolicy
from panpin.panos.xmlapi import Connection, XmlApi

KEY = "TLS-TEST-KEY-0123456789"
FAST = RetryPolicy(attempts=2, initial=0.01, maximum=0.02, jitter=0.0, deadline=5.0)
INFO = "<show><system><info></info></system></show>"


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("good"))


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("other"))


@pytest.fixture(scope="module")
def expired(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("expired"), expired=True)


@pytest.fixture(scope="module")
def misnamed(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    # Valid and signed by its CA, but for another device.
    return make_pki(tmp_path_factory.mktemp("misnamed"), dns=("fw-other.example.net",), ips=())


def _answer(form: dict[str, str]) -> Answer:
    return Answer(OK_INFO)


CASES = ["wrong CA", "expired certificate", "wrong host name", "wrong fingerprint"]


def _setup(
    case: str, good: Pki, other: Pki, expired: Pki, misnamed: Pki
) -> tuple[Pki, dict[str, str | None], tuple[str, ...]]:
    """(server certificate, client trust settings, words the error must contain)."""
    if case == "wrong CA":
        return good, {"ca_file": str(other.ca_file)}, ("verification failed", "--ca-file")
    if case == "expired certificate":
        return expired, {"ca_file": str(expired.ca_file)}, ("expired",)
    if case == "wrong host name":
        return misnamed, {"ca_file": str(misnamed.ca_file)}, ("match", "127.0.0.1")
    # The fingerprint of another certificate: the device's was replaced, or something is between.
    return good, {"ca_file": None, "fingerprint": cert_fingerprint(other)}, ("--fingerprint",)


@pytest.mark.parametrize("case", CASES)
def test_refused_before_any_request(
    case: str, good: Pki, other: Pki, expired: Pki, misnamed: Pki
) -> None:
    pki, trust, words = _setup(case, good, other, expired, misnamed)
    with serve(pki, _answer) as server:
        api = XmlApi(Connection(host=host_of(server), api_key=KEY, retry=FAST, **trust))  # type: ignore[arg-type]
        with api, pytest.raises(errors.TLSError) as info:
            api.op(INFO)
        seen = list(server.seen)
    message = str(info.value)
    record("tls", {"case": case, "refused": True, "message": message[:200]})
    assert all(w in message for w in words), message
    assert KEY not in message
    assert not seen, "a request reached the server: the key would have left"


@pytest.mark.parametrize("case", CASES)
def test_cli_exits_1_and_says_why(
    case: str,
    good: Pki,
    other: Pki,
    expired: Pki,
    misnamed: Pki,
    tmp_path: Path,
    run_cli: RunCli,
) -> None:
    pki, trust, words = _setup(case, good, other, expired, misnamed)
    flags = ["--ca-file", str(trust["ca_file"])] if trust.get("ca_file") else []
    if trust.get("fingerprint"):
        flags += ["--fingerprint", str(trust["fingerprint"])]
    with serve(pki, _answer) as server:
        result = run_cli(
            "--host",
            host_of(server),
            *flags,
            "--state",
            str(tmp_path / "state.db"),
            "exclusions",
            "list",
            env={"PANPIN_API_KEY": KEY},
        )
        seen = list(server.seen)
    assert result.code == 1, result.err
    assert all(w in result.err for w in words), result.err
    assert KEY not in result.err + result.out
    assert not seen


@pytest.mark.parametrize("pin", ["ca", "fingerprint"])
def test_the_right_trust_works(good: Pki, pin: str) -> None:
    trust = (
        {"ca_file": str(good.ca_file)}
        if pin == "ca"
        else {"fingerprint": cert_fingerprint(good), "ca_file": None}
    )
    with serve(good, _answer) as server:
        with XmlApi(Connection(host=host_of(server), api_key=KEY, retry=FAST, **trust)) as api:
            api.op(INFO)
        assert len(server.seen) == 1
