"""The recording scrubber (panpin.panos.record), without a network."""

from __future__ import annotations

from panpin.panos.record import Scrubber, canonical


def test_addresses_keep_their_network_and_their_stand_in() -> None:
    scrub = Scrubber()
    text = "from 10.1.2.3 and 10.1.2.4 then 10.1.2.3 via 2001:db8:1:2::5; mask 255.255.255.0"
    out = scrub.text(text)
    first, second, again, v6 = (out.split()[i].rstrip(";") for i in (1, 3, 5, 7))
    assert first.startswith("10.1.2.") and first != "10.1.2.3"
    assert second.startswith("10.1.2.") and second not in (first, "10.1.2.4")
    assert again == first
    assert v6.startswith("2001:db8:1:2:") and v6 != "2001:db8:1:2::5"
    assert "255.255.255.0" in out  # a netmask is no one's address


def test_params_drop_secrets_and_replace_users_and_serials() -> None:
    scrub = Scrubber()
    fields, removed = scrub.params(
        {"type": "keygen", "user": "bob", "password": "hunter2secret", "key": "K" * 20}
    )
    assert removed == ["password", "key"]
    assert fields == {"type": "keygen", "user": "user1"}
    body = scrub.xml(
        b"<response><result><serial>007951000345678</serial><owner>bob</owner>"
        b"<note>hunter2secret</note><key>LUFRsecret</key></result></response>"
    )
    assert b"<serial>000000000000001</serial>" in body
    assert b"<owner>user1</owner>" in body
    assert b"hunter2secret" not in body and b"LUFRsecret" not in body


def test_hosts_only_with_the_flag_and_with_their_suffix() -> None:
    assert Scrubber().text("api.vendor.co.uk") == "api.vendor.co.uk"
    out = Scrubber(scrub_hosts=True).text("*.vendor.co.uk api.vendor.co.uk")
    wild, name = out.split()
    assert wild.startswith("*.") and wild.endswith(".co.uk") and "vendor" not in out
    assert name.endswith(wild[2:])  # one registrable name, one stand-in


def test_canonical_masks_stand_ins_and_fresh_ids() -> None:
    one = canonical({"cmd": "<a>user3 10.0.0.9 c-20261203-1208-3734 run=ab12</a>", "key": "x"})
    two = canonical({"cmd": "<a>user1 10.0.0.7 c-20270101-0000-ffff run=cd34</a>"})
    assert one == two
    assert canonical({"xpath": "/a"}) != canonical({"xpath": "/b"})
