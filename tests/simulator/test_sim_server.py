"""The HTTPS listener: TLS material, GET/POST/multipart parsing, keep-alive, odd requests."""

from __future__ import annotations

import hashlib
import socket
import ssl
from pathlib import Path

import pytest
import requests
import sim_support as support
from lxml import etree
from sim_support import Client

from panpin.simulator import Simulator
from panpin.simulator.server import summarize

# Fixtures (see sim_support: no conftest.py, to keep module names unique for mypy).
sim, pano, client, alice, pclient = (
    support.sim,
    support.pano,
    support.client,
    support.alice,
    support.pclient,
)


INFO = "<show><system><info/></system></show>"


def test_tls_verifies_with_ca_for_ip_and_localhost(sim: Simulator) -> None:
    ctx = sim.ssl_context()
    for host in ("127.0.0.1", "localhost"):
        with (
            socket.create_connection(("127.0.0.1", sim.port), timeout=5) as raw,
            ctx.wrap_socket(raw, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
            assert der is not None
            assert hashlib.sha256(der).hexdigest() == sim.fingerprint
    assert len(sim.tls.fingerprint_colons.split(":")) == 32


def test_tls_is_refused_without_the_ca(sim: Simulator) -> None:
    ctx = ssl.create_default_context()
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as raw:
        try:
            ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        except ssl.SSLCertVerificationError:
            pass
        else:  # pragma: no cover - would mean the system trusts our throwaway CA
            raise AssertionError("certificate unexpectedly trusted")
    # A failed handshake does not disturb the server.
    assert Client(sim).op(INFO).status == "success"


def test_get_with_query_string(client: Client) -> None:
    reply = client.call({"type": "op", "cmd": INFO}, method="GET", auth="param")
    assert reply.status == "success"
    assert client.sim.requests[-1].method == "GET"


def test_plus_in_query_string_is_a_space(sim: Simulator, client: Client) -> None:
    url = f"{sim.url}/api/?type=config&action=get&xpath=/config/shared/ssl-decrypt/ssl-exclude-cert/entry[@name='a+b']"
    r = requests.get(url, headers={"X-PAN-KEY": sim.api_key}, verify=client.verify, timeout=10)
    assert r.status_code == 200
    assert sim.requests[-1].params["xpath"].endswith("[@name='a b']")


def test_multipart_form_data(sim: Simulator, client: Client) -> None:
    files = {"type": (None, "op"), "cmd": (None, INFO), "key": (None, sim.api_key)}
    r = requests.post(sim.url + "/api/", files=files, verify=client.verify, timeout=10)
    root = etree.fromstring(r.content)
    assert root.get("status") == "success"
    assert sim.requests[-1].form["key"] == "******"


def test_unicode_values_round_trip(client: Client) -> None:
    xpath = "/config/shared/ssl-decrypt/ssl-exclude-cert"
    element = "<entry name='bücher.example'><description>für Bücher ✓</description><exclude>yes</exclude></entry>"
    assert client.set(xpath, element).code == "20"
    got = client.get(f"{xpath}/entry[@name='bücher.example']/description")
    assert got.findtext("./result/description") == "für Bücher ✓"


def test_keep_alive_reuses_the_connection(sim: Simulator, client: Client) -> None:
    session = requests.Session()
    for _ in range(5):
        r = session.post(
            sim.url + "/api/",
            data={"type": "op", "cmd": INFO},
            headers={"X-PAN-KEY": sim.api_key},
            verify=client.verify,
            timeout=10,
        )
        assert r.status_code == 200
        assert r.headers["Content-Type"] == "application/xml; charset=UTF-8"
    assert len(session.adapters["https://"].poolmanager.pools) == 1  # type: ignore[attr-defined]


def test_unknown_path_is_404(sim: Simulator, client: Client) -> None:
    r = requests.get(sim.url + "/php/login.php", verify=client.verify, timeout=10)
    assert r.status_code == 404
    assert sim.requests == []


def test_oversized_body_is_refused(sim: Simulator, client: Client) -> None:
    # The server answers 413 and closes without reading the body, so the client may see the
    # answer or a broken pipe while it is still sending; either way nothing was processed.
    try:
        r = requests.post(
            sim.url + "/api/",
            data=b"x" * (7 * 1024 * 1024),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            verify=client.verify,
            timeout=30,
        )
    except requests.ConnectionError:
        pass
    else:
        assert r.status_code == 413
    assert sim.requests == []
    assert client.op(INFO).status == "success"


def test_stop_drops_keep_alive_connections(tmp_path: Path) -> None:
    sim = Simulator("demo", workdir=tmp_path)
    sim.start()
    client = Client(sim)
    assert client.op(INFO).status == "success"  # leaves a pooled keep-alive connection
    url, key = sim.url + "/api/", sim.api_key
    sim.stop()
    with pytest.raises(requests.ConnectionError):
        client.session.post(
            url,
            data={"type": "op", "cmd": INFO},
            headers={"X-PAN-KEY": key},
            verify=client.verify,
            timeout=5,
        )
    # Starting again gives a fresh listener (and fresh TLS material) that answers.
    sim.start()
    try:
        assert Client(sim).op(INFO).status == "success"
    finally:
        sim.stop()


def test_request_summary_names_no_secret() -> None:
    line = summarize(
        {
            "type": "keygen",
            "user": "panpin",
            "password": "s3cret-pass",
            "key": "LUFRPTsecret",
        }
    )
    assert line == "type=keygen user=panpin"
    op = summarize(
        {"type": "op", "cmd": "<request><x><passphrase>hunter2</passphrase></x></request>"}
    )
    assert op == 'type=op cmd="request x passphrase"'
