"""The transport over real HTTPS against the simulator: retries, refusals, TLS, secrets."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from panpin import errors
from panpin.panos.exclusions import read_list
from panpin.panos.timing import RetryPolicy
from panpin.panos.xmlapi import Connection, XmlApi
from panpin.settings import Location
from panpin.simulator import Simulator, load_scenario

FAST = RetryPolicy(attempts=5, initial=0.01, maximum=0.05, jitter=0.01, deadline=10.0)
PASSWORD = "panpin-demo"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    with Simulator(scenario=load_scenario("demo"), workdir=tmp_path_factory.mktemp("sim")) as s:
        yield s


@pytest.fixture(autouse=True)
def _clean(sim: Simulator) -> None:
    sim.faults.clear()
    sim.clear_requests()


def client(sim: Simulator, **kw: object) -> XmlApi:
    args: dict[str, object] = {
        "host": sim.host,
        "api_key": sim.api_key,
        "ca_file": str(sim.ca_file),
        "retry": FAST,
        "read_timeout": 5.0,
    }
    args.update(kw)
    return XmlApi(Connection(**args))  # type: ignore[arg-type]


INFO = "<show><system><info></info></system></show>"


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_retried(sim: Simulator, status: int) -> None:
    sim.faults.add("http_status", status=status, match={"type": "op"}, times=2)
    with client(sim) as api:
        api.op(INFO)
    assert len(sim.requests) == 3


def test_http_500_is_not_retried(sim: Simulator) -> None:
    sim.faults.add("http_status", status=500, match={"type": "op"}, times=1)
    with client(sim) as api, pytest.raises(errors.HTTPStatusError) as info:
        api.op(INFO)
    assert info.value.status == 500
    assert len(sim.requests) == 1


def test_reset_is_retried_for_reads(sim: Simulator) -> None:
    sim.faults.add("reset", match={"type": "op"}, times=1)
    with client(sim) as api:
        api.op(INFO)
    assert len(sim.requests) == 2


def test_session_timeout_code22_is_retried(sim: Simulator) -> None:
    sim.faults.add("session_timeout", match={"type": "config"}, times=2)
    with client(sim) as api:
        read_list(api, Location("shared"))
    assert len(sim.requests) == 3


def test_commit_that_may_have_arrived_is_never_retried(sim: Simulator) -> None:
    sim.faults.add("reset", match={"type": "commit"}, times=1)
    with client(sim) as api, pytest.raises(errors.ConnectError):
        api.commit("<commit><partial><admin><member>panpin</member></admin></partial></commit>")
    commits = [r for r in sim.requests if r.type == "commit"]
    assert len(commits) == 1


@pytest.mark.parametrize(
    ("xpath", "element", "cls"),
    [
        (
            "/config/shared/ssl-decrypt/ssl-exclude-cert",
            "<entry name='x.example'><exclude>yes",
            errors.BadRequest,  # code 18, malformed element
        ),
        (
            "/config/shared/ssl-decrypt/ssl-exclude-cert",
            "<entry name='x.example'><description>" + "d" * 513 + "</description></entry>",
            errors.InvalidObject,  # code 12, description over 512 characters
        ),
        (
            "/config/shared/ssl-decrypt/ssl-exclude-cert[",
            "<entry name='x.example'/>",
            errors.BadXpath,
        ),
    ],
)
def test_permanent_errors_not_retried(
    sim: Simulator, xpath: str, element: str, cls: type[errors.ApiError]
) -> None:
    with client(sim) as api, pytest.raises(cls):
        api.config("set", xpath, element)
    assert len(sim.requests) == 1


def test_bad_key_403_not_retried_and_key_not_in_message(sim: Simulator) -> None:
    with client(sim, api_key="WRONG-KEY-123") as api, pytest.raises(errors.AuthError) as info:
        api.op(INFO)
    assert len(sim.requests) == 1
    assert "WRONG-KEY-123" not in str(info.value)
    assert info.value.exit_code == 1


def test_deadline_bounds_retries(sim: Simulator) -> None:
    sim.faults.add("http_status", status=503, match={"type": "op"}, times=None)
    policy = RetryPolicy(attempts=100, initial=0.05, maximum=0.1, jitter=0.0, deadline=0.6)
    with client(sim, retry=policy) as api, pytest.raises(errors.ServerUnavailable):
        api.op(INFO)
    # Work done, not seconds: the backoff sleeps 0.05 s, then 0.1 s each time (no jitter), so the
    # 0.6 s deadline has passed after the 8th attempt however slow the machine is; a slower machine
    # only means fewer attempts. Every attempt was answered by the fault.
    requests = sim.requests
    assert 2 <= len(requests) <= 8, len(requests)
    assert all(r.http_status == 503 and r.faults == ("http_status",) for r in requests)


def test_keygen_and_wrong_password(sim: Simulator) -> None:
    with client(sim, api_key=None) as api:
        key = api.keygen(sim.admin, PASSWORD)
        assert key
        with pytest.raises(errors.AuthError):
            api.keygen(sim.admin, "not-the-password")
    keygen = [r for r in sim.requests if r.type == "keygen"]
    assert all("password" not in r.query_string for r in keygen)
    assert all(r.method == "POST" for r in keygen)


def test_key_only_in_header_never_in_url_or_logs(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sim.faults.add("http_status", status=503, match={"type": "op"}, times=1)
    with client(sim) as api:
        api.op(INFO)
        read_list(api, Location("shared"))
    for req in sim.requests:
        assert req.method == "POST"
        assert req.has_x_pan_key and not req.key_in_query
        assert sim.api_key not in req.query_string and sim.api_key not in req.path
    assert sim.api_key not in caplog.text
    assert "retrying" in caplog.text  # the retry was logged, without the key


def test_response_size_limit(sim: Simulator) -> None:
    with client(sim, max_response_bytes=200) as api, pytest.raises(errors.ResponseError) as info:
        api.op(INFO)
    assert "limit" in str(info.value)


# --- TLS -----------------------------------------------------------------------------------------


def _other_ca(tmp_path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "Someone else's CA")])
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "other-ca.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_wrong_ca_refused(sim: Simulator, tmp_path: Path) -> None:
    with (
        client(sim, ca_file=str(_other_ca(tmp_path))) as api,
        pytest.raises(errors.TLSError) as info,
    ):
        api.op(INFO)
    assert "verification failed" in str(info.value)
    assert "--ca-file" in str(info.value)


def test_system_cas_refuse_simulator(sim: Simulator) -> None:
    with client(sim, ca_file=None) as api, pytest.raises(errors.TLSError):
        api.op(INFO)


def test_fingerprint_pin(sim: Simulator) -> None:
    with client(sim, ca_file=None, fingerprint=sim.fingerprint) as api:
        api.op(INFO)
    colon = ":".join(sim.fingerprint[i : i + 2] for i in range(0, 64, 2)).upper()
    with client(sim, ca_file=None, fingerprint=colon) as api:
        api.op(INFO)


def test_wrong_fingerprint_refused(sim: Simulator) -> None:
    wrong = "00" * 32
    with (
        client(sim, ca_file=None, fingerprint=wrong) as api,
        pytest.raises(errors.TLSError) as info,
    ):
        api.op(INFO)
    assert "does not match --fingerprint" in str(info.value)


def test_bad_fingerprint_format_is_settings_error(sim: Simulator) -> None:
    with pytest.raises(errors.SettingsError):
        client(sim, ca_file=None, fingerprint="abc")


def test_insecure_warns_every_time(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(2):
        with client(sim, ca_file=None, insecure=True) as api:
            api.op(INFO)
    err = capsys.readouterr().err
    assert err.count("TLS verification is disabled") == 2
