"""Keygen, the three ways to pass a key, and the request log (docs/panos-api.md: transport)."""

from __future__ import annotations

import base64

import requests
import sim_support as support
from sim_support import Client, canon, load_sample, skeleton

from panpin.simulator import Simulator

# Fixtures (see sim_support: no conftest.py, to keep module names unique for mypy).
sim, pano, client, alice, pclient = (
    support.sim,
    support.pano,
    support.client,
    support.alice,
    support.pclient,
)


INFO = "<show><system><info/></system></show>"


def _keygen(client: Client, user: str, password: str, method: str = "POST") -> requests.Response:
    url = client.sim.url + "/api/"
    params = {"type": "keygen", "user": user, "password": password}
    if method == "GET":
        return requests.get(url, params=params, verify=client.verify, timeout=10)
    return requests.post(url, data=params, verify=client.verify, timeout=10)


def test_keygen_success_shape(client: Client) -> None:
    r = _keygen(client, "panpin", "panpin-demo")
    assert r.status_code == 200
    assert r.text.startswith("<response status='success'><result><key>")
    from lxml import etree

    root = etree.fromstring(r.content)
    assert skeleton(root) == skeleton(load_sample("keygen-success.xml"))
    key = root.findtext("./result/key") or ""
    assert key.startswith("LUFRPT") and "+" not in key and "/" not in key


def test_keygen_bad_credentials_is_http_403(client: Client) -> None:
    for user, password in (("panpin", "wrong"), ("nobody", "x")):
        r = _keygen(client, user, password, method="GET")
        assert r.status_code == 403
        assert r.text == (
            "<response status = 'error' code = '403'><result><msg>Invalid Credential</msg>"
            "</result></response>"
        )
    from lxml import etree

    sample = load_sample("keygen-error-403-invalid-credentials.xml")
    assert skeleton(etree.fromstring(r.content)) == skeleton(sample)


def test_keygen_invalidates_previous_key(sim: Simulator, client: Client) -> None:
    old = sim.api_key
    assert client.op(INFO).status == "success"
    r = _keygen(client, "panpin", "panpin-demo")
    new = sim.api_key
    assert new != old and new in r.text
    stale = requests.post(
        sim.url + "/api/",
        data={"type": "op", "cmd": INFO, "key": old},
        verify=client.verify,
        timeout=10,
    )
    assert stale.status_code == 403
    assert client.op(INFO).status == "success"  # the client fetches the current key


def test_scenario_fixed_key(sim: Simulator) -> None:
    assert sim.api_key == "LUFRPT1wYW5waW4tZGVtby1hcGkta2V5LW5vdC1hLXNlY3JldA=="
    assert sim.admin == "panpin"


def test_key_in_header_param_or_basic_auth(sim: Simulator, client: Client) -> None:
    assert client.call({"type": "op", "cmd": INFO}, auth="header").status == "success"
    assert client.call({"type": "op", "cmd": INFO}, auth="param").status == "success"
    basic = base64.b64encode(b"panpin:panpin-demo").decode()
    reply = client.call(
        {"type": "op", "cmd": INFO}, auth="none", headers={"Authorization": f"Basic {basic}"}
    )
    assert reply.status == "success"
    header, param, via_basic = sim.requests
    assert header.has_x_pan_key and not header.key_in_query
    assert param.params["key"] == "******" and not param.has_x_pan_key
    assert via_basic.basic_auth and via_basic.admin == "panpin"


def test_missing_or_invalid_key_is_403(client: Client) -> None:
    reply = client.call({"type": "op", "cmd": INFO}, auth="none")
    assert (reply.http_status, reply.code, reply.lines) == (403, "403", ["Invalid Credential"])
    reply = client.call({"type": "op", "cmd": INFO, "key": "LUFRPTbogus"}, auth="none")
    assert reply.http_status == 403
    bad_basic = base64.b64encode(b"panpin:nope").decode()
    reply = client.call(
        {"type": "op", "cmd": INFO}, auth="none", headers={"Authorization": f"Basic {bad_basic}"}
    )
    assert reply.http_status == 403


def test_key_identifies_the_admin(sim: Simulator) -> None:
    Client(sim, "alice").set(
        "/config/shared/address", "<entry name='x'><fqdn>x.example</fqdn></entry>"
    )
    assert sim.requests[-1].admin == "alice"
    assert sim.device.journal[-1].admin == "alice"


def test_request_log_redacts_and_keeps_the_wire_form(sim: Simulator, client: Client) -> None:
    client.call({"type": "op", "cmd": INFO}, method="GET", auth="param")
    _keygen(client, "panpin", "panpin-demo", method="GET")
    get, keygen = sim.requests[-2:]
    assert get.method == "GET" and get.key_in_query
    assert "key=******" in get.query_string and sim.api_key not in get.query_string
    assert keygen.params["password"] == "******"
    assert "password=******" in keygen.query_string
    assert "panpin-demo" not in repr(sim.requests)
    assert "Content-Type" not in get.header_names  # a GET has no body
    client.set("/config/shared/address", "<entry name='y'><fqdn>y.example</fqdn></entry>")
    post = sim.requests[-1]
    assert post.form["action"] == "set" and post.query_string == ""
    assert sum(1 for r in sim.requests if r.action == "set") == 1


def test_unknown_type_and_missing_type_are_400(client: Client) -> None:
    reply = client.call({"type": "bogus"})
    assert (reply.http_status, reply.lines) == (
        400,
        ['Illegal value for parameter "type" [bogus].'],
    )
    assert client.call({}).http_status == 400


def test_illegal_parameter_sample_shape(client: Client) -> None:
    reply = client.call({"type": "bogus"})
    sample = load_sample("error-400-illegal-parameter.xml")
    assert skeleton(reply.xml) == skeleton(sample)
    assert canon(reply.xml).startswith('<response code="400" status="error">')
