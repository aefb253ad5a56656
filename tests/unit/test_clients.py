"""Client keys: one machine or person is one client, however many addresses it shows."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from panpin.scan.clients import (
    ClientCounting,
    ClientKeys,
    address_key,
    client_key,
    fold_client,
    user_key,
)

SETTINGS = settings(max_examples=200, deadline=None)
ADDRESS_ONLY = ClientCounting(by="address")
DEFAULT = ClientCounting()


def distinct(entries: list[tuple[str, str]], counting: ClientCounting = DEFAULT) -> int:
    keys = {client_key(src, user, counting) for src, user in entries}
    keys.discard(None)
    return len(keys)


# --- the two cases of issue 15 ---------------------------------------------------------------------


def test_one_user_over_ipv4_and_ipv6_is_one_client() -> None:
    # The same laptop on the office LAN, on Wi-Fi with privacy addresses, and over the VPN.
    entries = [
        ("10.1.2.3", "CORP\\alice"),
        ("10.9.9.9", "corp\\alice"),
        ("2001:db8:1:2:aaaa::1", "CORP\\Alice"),
        ("2001:db8:7:7::99", "corp\\alice "),
        ("::ffff:10.1.2.3", "CORP\\ALICE"),
    ]
    assert distinct(entries) == 1


def test_many_ipv6_privacy_addresses_without_a_user_are_one_client() -> None:
    # One host rotating its interface identifier: 500 addresses, one /64.
    prefix = ipaddress.IPv6Network("2001:db8:abcd:12::/64")
    entries = [(str(prefix[i * 7919 + 1]), "") for i in range(500)]
    assert len({src for src, _ in entries}) == 500
    assert distinct(entries) == 1


def test_an_office_behind_one_ipv4_slash_24_is_many_clients() -> None:
    entries = [(f"192.0.2.{i}", "") for i in range(1, 41)]
    assert distinct(entries) == 40


def test_two_ipv6_networks_are_two_clients() -> None:
    assert distinct([("2001:db8:0:1::5", ""), ("2001:db8:0:2::5", "")]) == 2


def test_different_users_behind_one_nat_address_are_different_clients() -> None:
    entries = [("198.51.100.7", "corp\\alice"), ("198.51.100.7", "corp\\bob")]
    assert distinct(entries) == 2
    assert distinct(entries, ADDRESS_ONLY) == 1


# --- the key function itself -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "user", "counting", "key"),
    [
        ("10.0.0.1", "", ClientCounting(), "addr:10.0.0.1/32"),
        ("10.0.0.1", "CORP\\Bob", ClientCounting(), "user:corp\\bob"),
        ("10.0.0.1", "bob@corp.example", ClientCounting(), "user:bob@corp.example"),
        ("10.0.0.1", "CORP\\Bob", ADDRESS_ONLY, "addr:10.0.0.1/32"),
        ("10.0.0.77", "", ClientCounting(ipv4_prefix=24), "addr:10.0.0.0/24"),
        ("2001:DB8::1", "", ClientCounting(), "addr:2001:db8::/64"),
        ("2001:db8:1:2:3:4:5:6", "", ClientCounting(ipv6_prefix=56), "addr:2001:db8:1::/56"),
        (
            "2001:db8:1:2:3:4:5:6",
            "",
            ClientCounting(ipv6_prefix=128),
            "addr:2001:db8:1:2:3:4:5:6/128",
        ),
        ("::ffff:192.0.2.9", "", ClientCounting(), "addr:192.0.2.9/32"),
        ("fe80::1%eth0", "", ClientCounting(), "addr:fe80::/64"),
        (" 10.0.0.1 ", "", ClientCounting(), "addr:10.0.0.1/32"),
        # Placeholders that name nobody fall back to the address.
        ("10.0.0.1", "unknown", ClientCounting(), "addr:10.0.0.1/32"),
        ("10.0.0.1", "pre-logon", ClientCounting(), "addr:10.0.0.1/32"),
        ("10.0.0.1", "  ", ClientCounting(), "addr:10.0.0.1/32"),
        ("10.0.0.1", None, ClientCounting(), "addr:10.0.0.1/32"),
        # Not an address: counts as nobody rather than as whatever text the log carried.
        ("not-an-ip", "", ClientCounting(), None),
        ("10.0.0.1:443", "", ClientCounting(), None),
        ("", "", ClientCounting(), None),
        (None, None, ClientCounting(), None),
        # ...unless a user is named.
        ("garbage", "corp\\carol", ClientCounting(), "user:corp\\carol"),
    ],
)
def test_client_key(
    src: str | None, user: str | None, counting: ClientCounting, key: str | None
) -> None:
    assert client_key(src, user, counting) == key


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ipv6_prefix": 0},
        {"ipv6_prefix": 129},
        {"ipv4_prefix": 8},
        {"ipv4_prefix": 33},
        {"by": "user"},
    ],
)
def test_counting_settings_that_would_fold_everyone_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ClientCounting(**kwargs)  # type: ignore[arg-type]


ipv6 = st.integers(0, 2**128 - 1).map(lambda n: ipaddress.IPv6Address(n))
ipv4 = st.integers(0, 2**32 - 1).map(lambda n: ipaddress.IPv4Address(n))
prefix6 = st.integers(32, 128)


@SETTINGS
@given(ipv6, st.integers(0, 2**64 - 1))
def test_every_address_in_one_slash_64_is_one_client(
    address: ipaddress.IPv6Address, low: int
) -> None:
    assume_not_mapped(address)
    base = int(address) & ~((1 << 64) - 1)
    other = ipaddress.IPv6Address(base | low)
    # ::/64 holds the whole IPv4-mapped range (::ffff:0:0/96), and a mapped address is the IPv4
    # client it carries (test_ipv4_addresses_count_one_by_one_by_default), not a member of ::/64.
    assume_not_mapped(other)
    assert address_key(str(address)) == address_key(str(other))


@SETTINGS
@given(ipv6, ipv6, prefix6)
def test_ipv6_keys_are_equal_exactly_when_the_networks_are(
    a: ipaddress.IPv6Address, b: ipaddress.IPv6Address, prefix: int
) -> None:
    assume_not_mapped(a)
    assume_not_mapped(b)
    counting = ClientCounting(ipv6_prefix=prefix)
    same = int(a) >> (128 - prefix) == int(b) >> (128 - prefix)
    assert (address_key(str(a), counting) == address_key(str(b), counting)) == same


@SETTINGS
@given(ipv4, ipv4)
def test_ipv4_addresses_count_one_by_one_by_default(
    a: ipaddress.IPv4Address, b: ipaddress.IPv4Address
) -> None:
    assert (address_key(str(a)) == address_key(str(b))) == (a == b)
    # Written as an IPv4-mapped IPv6 address it is the same client.
    assert address_key(f"::ffff:{a}") == address_key(str(a))


@SETTINGS
@given(st.text(max_size=40), st.one_of(ipv4.map(str), ipv6.map(str)))
def test_a_named_user_decides_whatever_the_address(user: str, src: str) -> None:
    key = client_key(src, user)
    named = user_key(user)
    assert key == (named if named is not None else address_key(src))
    if named is not None:
        # Another address, same user: the same client.
        assert client_key("203.0.113.1", user) == key


@SETTINGS
@given(st.text(max_size=60))
def test_any_text_gives_a_key_or_none_and_never_raises(text: str) -> None:
    key = client_key(text, "")
    assert key is None or key.startswith("addr:")


def assume_not_mapped(address: ipaddress.IPv6Address) -> None:
    # An IPv4-mapped address is keyed as the IPv4 address it carries (tested above).
    assume(address.ipv4_mapped is None)


# --- keys as decide() re-reads them ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "counting", "folded"),
    [
        ("10.0.0.1", DEFAULT, "addr:10.0.0.1/32"),  # a bare address from older stored evidence
        ("addr:10.0.0.1/32", DEFAULT, "addr:10.0.0.1/32"),  # and its key: one client
        ("2001:db8::1", DEFAULT, "addr:2001:db8::/64"),
        ("addr:2001:db8:0:0:1::/80", DEFAULT, "addr:2001:db8::/64"),  # re-folded to the policy's
        ("addr:10.0.0.1/32", ClientCounting(ipv4_prefix=24), "addr:10.0.0.0/24"),
        ("user:corp\\alice", DEFAULT, "user:corp\\alice"),
        ("user:corp\\alice", ADDRESS_ONLY, None),  # its address is not known
        ("c1", DEFAULT, None),
    ],
)
def test_fold_client(value: str, counting: ClientCounting, folded: str | None) -> None:
    assert fold_client(value, counting) == folded


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.one_of(ipv4.map(str), ipv6.map(str), st.text(max_size=8)), st.text(max_size=6)
        ),
        max_size=30,
    )
)
def test_the_memo_gives_what_client_key_gives(pairs: list[tuple[str, str]]) -> None:
    keys = ClientKeys(DEFAULT, limit=4)  # small, so the memo is dropped along the way
    for src, user in pairs + pairs:
        assert keys(src, user) == client_key(src, user, DEFAULT)


@SETTINGS
@given(st.one_of(ipv4.map(str), ipv6.map(str)), st.text(max_size=10))
def test_a_key_folds_to_itself(src: str, user: str) -> None:
    key = client_key(src, user)
    assert key is not None and fold_client(key) == key
