"""``type=config``: get/show/set/edit/delete semantics and answers (docs/panos-api.md: config API)."""

from __future__ import annotations

import sim_support as support
from lxml import etree
from sim_support import Client, canon, load_sample

from panpin.simulator import Simulator

# Fixtures (see sim_support: no conftest.py, to keep module names unique for mypy).
sim, pano, client, alice, pclient = (
    support.sim,
    support.pano,
    support.client,
    support.alice,
    support.pclient,
)


LIST = "/config/shared/ssl-decrypt/ssl-exclude-cert"
ENTRY = "<entry name='{n}'><description>{d}</description><exclude>yes</exclude></entry>"


def test_get_existing_node_code19_with_counts(client: Client) -> None:
    reply = client.get(LIST)
    assert (reply.http_status, reply.status, reply.code) == (200, "success", "19")
    result = reply.find("./result")
    assert result.get("total-count") == "1" and result.get("count") == "1"
    names = [e.get("name") for e in result.iterfind("ssl-exclude-cert/entry")]
    assert names == ["*.oldvendor.example", "*.mdm.example", "login.partner.example"]


def test_get_multiple_matches_counts_each(client: Client) -> None:
    reply = client.get(f"{LIST}/entry[@name='*.mdm.example' or @name='login.partner.example']")
    result = reply.find("./result")
    assert result.get("total-count") == "2"
    assert [e.get("name") for e in result] == ["*.mdm.example", "login.partner.example"]


def test_get_missing_is_success_code7_like_sample(client: Client) -> None:
    reply = client.get(f"{LIST}/entry[@name='nope.example']")
    assert reply.root is not None
    assert canon(reply.xml) == canon(load_sample("config-get-not-present-code7.xml"))


def test_show_missing_is_no_such_node_like_sample(client: Client) -> None:
    reply = client.show(f"{LIST}/entry[@name='nope.example']")
    assert reply.root is not None
    assert canon(reply.xml) == canon(load_sample("config-show-no-such-node.xml"))


def test_set_answers_like_sample_and_changes_candidate_only(client: Client) -> None:
    reply = client.set(LIST, ENTRY.format(n="app.vendor.example", d="panpin:c-1 rule=r"))
    assert reply.root is not None
    assert canon(reply.xml) == canon(load_sample("config-set-success-code20.xml"))
    assert client.get(f"{LIST}/entry[@name='app.vendor.example']").code == "19"
    assert client.show(f"{LIST}/entry[@name='app.vendor.example']").lines == ["No such node"]


def test_candidate_changes_carry_admin_dirtyid_time(client: Client) -> None:
    client.set(LIST, ENTRY.format(n="app.vendor.example", d="x"))
    entry = client.get(f"{LIST}/entry[@name='app.vendor.example']").find("./result/entry")
    assert entry.get("admin") == "panpin"
    assert entry.get("dirtyId") is not None and entry.get("time") == "2026/11/26 09:30:00"
    assert entry.findall("description")[0].get("admin") == "panpin"
    # Untouched siblings carry no marks.
    other = client.get(f"{LIST}/entry[@name='*.mdm.example']").find("./result/entry")
    assert other.get("admin") is None


def test_set_creates_missing_intermediate_nodes(client: Client) -> None:
    xpath = (
        "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']"
        "/ssl-decrypt/ssl-exclude-cert"
    )
    assert client.get(xpath).code == "7"
    assert client.set(xpath, ENTRY.format(n="v.example", d="d")).code == "20"
    assert (
        client.get(f"{xpath}/entry[@name='v.example']/exclude").find("./result/exclude").text
        == "yes"
    )


def test_set_merges_and_replaces_leaves(client: Client) -> None:
    client.set(LIST, ENTRY.format(n="m.example", d="first"))
    client.set(f"{LIST}/entry[@name='m.example']", "<description>second</description>")
    entry = client.get(f"{LIST}/entry[@name='m.example']").find("./result/entry")
    assert [c.tag for c in entry] == ["description", "exclude"]
    assert entry.findtext("description") == "second"


def test_set_accepts_a_fragment_of_siblings(client: Client) -> None:
    reply = client.set(
        f"{LIST}/entry[@name='f.example']", "<description>x</description><exclude>no</exclude>"
    )
    assert reply.code == "20"
    assert (
        client.get(f"{LIST}/entry[@name='f.example']/exclude").find("./result/exclude").text == "no"
    )


def test_names_with_quotes_and_brackets(client: Client) -> None:
    assert (
        client.set(LIST, '<entry name="a\'b.example"><exclude>yes</exclude></entry>').code == "20"
    )
    assert client.get(f'{LIST}/entry[@name="a\'b.example"]').code == "19"
    assert client.set(LIST, "<entry name='x]y.example'><exclude>yes</exclude></entry>").code == "20"
    assert client.get(f"{LIST}/entry[@name='x]y.example']").code == "19"
    assert client.delete(f"{LIST}/entry[@name='x]y.example']").code == "20"


def test_edit_replaces_node(client: Client) -> None:
    xpath = f"{LIST}/entry[@name='*.mdm.example']"
    assert (
        client.edit(xpath, "<entry name='*.mdm.example'><exclude>no</exclude></entry>").code == "20"
    )
    entry = client.get(xpath).find("./result/entry")
    assert [c.tag for c in entry] == ["exclude"]


def test_edit_with_wrong_root_is_code12_cdata_lines(client: Client) -> None:
    reply = client.edit(f"{LIST}/entry[@name='*.mdm.example']", "<entry name='other'/>")
    assert (reply.status, reply.code) == ("error", "12")
    assert "<![CDATA[" in reply.text
    assert reply.lines[-1].strip().endswith("is invalid")


def test_description_longer_than_512_is_code12(client: Client) -> None:
    reply = client.set(LIST, ENTRY.format(n="long.example", d="x" * 513))
    assert (reply.status, reply.code) == ("error", "12")
    assert any("can be at most 512 characters" in line for line in reply.lines)
    assert client.set(LIST, ENTRY.format(n="ok.example", d="x" * 512)).code == "20"


def test_exclude_must_be_yes_or_no(client: Client) -> None:
    reply = client.set(LIST, "<entry name='e.example'><exclude>maybe</exclude></entry>")
    assert (reply.status, reply.code) == ("error", "12")


def test_delete_existing_and_missing(client: Client) -> None:
    xpath = f"{LIST}/entry[@name='login.partner.example']"
    assert client.delete(xpath).code == "20"
    assert client.get(xpath).code == "7"
    missing = client.delete(xpath)
    assert (missing.status, missing.code) == ("error", "7")


def test_bad_xpath_is_code6(client: Client) -> None:
    for xpath in (
        "/config/shared[",
        "count(/config)",
        "config/shared",
        "/config/@version",
    ):
        reply = client.get(xpath)
        assert (reply.status, reply.code) == ("error", "6"), xpath
    reply = client.set("//ssl-exclude-cert/x", "<a/>")
    assert reply.code == "6"


def test_malformed_element_is_refused(client: Client) -> None:
    for element in ("<entry name='x'>", "not xml", "<a/>trailing", "<a>&undefined;</a>"):
        reply = client.set(LIST, element)
        assert reply.status == "error", element
        assert reply.code in ("18", "12"), element
    assert client.get(f"{LIST}/entry[@name='x']").code == "7"


def test_dtd_and_entities_are_refused(client: Client) -> None:
    evil = (
        '<!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        "<entry name='e'><description>&e;</description></entry>"
    )
    reply = client.set(LIST, evil)
    assert reply.status == "error"
    assert "root:" not in client.get(LIST).text


def test_missing_parameters_are_http_400(client: Client) -> None:
    reply = client.call({"type": "config", "action": "get"})
    assert (reply.http_status, reply.code) == (400, "400")
    reply = client.call({"type": "config", "action": "rename", "xpath": LIST})
    assert reply.http_status == 400


def test_candidate_and_running_trees_exposed(sim: Simulator, client: Client) -> None:
    client.set(LIST, ENTRY.format(n="t.example", d="d"))
    cand = sim.device.candidate.xpath(f"{LIST}/entry[@name='t.example']")
    run = sim.device.running.xpath(f"{LIST}/entry[@name='t.example']")
    assert isinstance(cand, list) and len(cand) == 1
    assert run == []
    assert isinstance(cand[0], etree._Element)
