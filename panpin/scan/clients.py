"""Who a log entry's client is, for counting distinct clients: one key per person or machine.

``min_clients`` is the threshold an attacker most wants to reach cheaply. A single laptop with
IPv6 privacy addresses shows a new source address every few hours (and can pick any of 2^64 in
its /64 at will); the same user on Wi-Fi and on the VPN shows an IPv4 and an IPv6 address. Counted
by raw address, one machine is many clients. So a client is:

- the **user** (User-ID, the log's ``srcuser``) when the log names one, folded to lower case
  (``CORP\\Alice`` and ``corp\\alice`` are one person), unless ``clients_by`` is ``address``;
- otherwise the **address**: IPv6 folded to its /``ipv6_prefix`` network (default /64, the size
  one link hands out), IPv4 to its /``ipv4_prefix`` network (default /32: every address counts,
  because an office behind one /24 is many machines, and NAT already folds what it folds);
- nothing at all when the address is not an IP address: a value the log reader could not parse
  must not become a client an attacker can multiply by writing varied garbage.

Pure: no I/O, no import from the log reader, so the aggregator and tests can call it alike.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Final, Literal

ClientsBy = Literal["user-or-address", "address"]
CLIENTS_BY: Final[tuple[ClientsBy, ...]] = ("user-or-address", "address")

# srcuser values that name nobody: PAN-OS writes "" when User-ID knows no one; GlobalProtect's
# pre-logon tunnel and placeholders from exports name no person either.
_NO_USER: Final = frozenset({"", "-", "unknown", "any", "n/a", "none", "pre-logon"})

IPV6_PREFIX_RANGE: Final = (32, 128)
IPV4_PREFIX_RANGE: Final = (16, 32)


@dataclass(frozen=True)
class ClientCounting:
    """How distinct clients are counted (the policy's ``thresholds.clients_by`` and prefixes)."""

    by: ClientsBy = "user-or-address"
    ipv6_prefix: int = 64
    ipv4_prefix: int = 32

    def __post_init__(self) -> None:
        # Checked here too, so a caller bug cannot fold every address into one network (/0).
        if self.by not in CLIENTS_BY:
            raise ValueError(f"clients_by {self.by!r} is not one of {', '.join(CLIENTS_BY)}")
        low6, high6 = IPV6_PREFIX_RANGE
        low4, high4 = IPV4_PREFIX_RANGE
        if not low6 <= self.ipv6_prefix <= high6:
            raise ValueError(f"ipv6_prefix {self.ipv6_prefix} is not in {low6}..{high6}")
        if not low4 <= self.ipv4_prefix <= high4:
            raise ValueError(f"ipv4_prefix {self.ipv4_prefix} is not in {low4}..{high4}")

    def describe(self) -> str:
        what = "user, else address" if self.by == "user-or-address" else "address"
        return f"by {what} (IPv6 /{self.ipv6_prefix}, IPv4 /{self.ipv4_prefix})"


DEFAULT_CLIENT_COUNTING: Final = ClientCounting()
# A dotted quad whose octets have no leading zero (ipaddress refuses those, and so does this).
_PLAIN_IPV4: Final = re.compile(r"^(?:0|[1-9][0-9]{0,2})(?:\.(?:0|[1-9][0-9]{0,2})){3}$")


def user_key(user: str | None) -> str | None:
    """The key of a User-ID user, or None when the value names nobody."""
    if user is None:
        return None
    value = user.strip().casefold()
    if value in _NO_USER:
        return None
    return "user:" + value


def address_key(src: str | None, counting: ClientCounting = DEFAULT_CLIENT_COUNTING) -> str | None:
    """The key of a source address folded to its network, or None when it is not an address.

    An IPv4-mapped IPv6 address (``::ffff:192.0.2.7``) is the IPv4 address it carries, so a
    dual-stack socket does not make one client two.
    """
    if src is None:
        return None
    text = src.strip()
    if counting.ipv4_prefix == 32 and _PLAIN_IPV4.match(text):
        # The common case, without ipaddress (which costs more than the rest of an entry):
        # a dotted quad of 0-255 without leading zeros is its own /32.
        if all(int(octet) <= 255 for octet in text.split(".")):
            return f"addr:{text}/32"
        return None
    # A zone index (fe80::1%eth0) names the interface, not the machine.
    text = text.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if isinstance(address, ipaddress.IPv4Address):
        network = ipaddress.IPv4Network((address, counting.ipv4_prefix), strict=False)
        return f"addr:{network.network_address}/{network.prefixlen}"
    network6 = ipaddress.IPv6Network((address, counting.ipv6_prefix), strict=False)
    return f"addr:{network6.network_address}/{network6.prefixlen}"


def client_key(
    src: str | None, user: str | None, counting: ClientCounting = DEFAULT_CLIENT_COUNTING
) -> str | None:
    """The key one log entry's client counts under, or None when the entry names no client.

    ``src`` and ``user`` are the entry's ``src`` and ``srcuser`` fields as text. Keys are
    ``user:<name>`` or ``addr:<network>/<prefix>``; two entries are one client exactly when their
    keys are equal, so a set of keys counts distinct clients.
    """
    if counting.by == "user-or-address":
        key = user_key(user)
        if key is not None:
            return key
    return address_key(src, counting)


def fold_client(value: str, counting: ClientCounting = DEFAULT_CLIENT_COUNTING) -> str | None:
    """A client as a candidate carries it, as the key ``counting`` counts it under.

    ``value`` is a key from :func:`client_key` (``user:...``, ``addr:NET/LEN``) or a bare address,
    as evidence stored before keys existed holds. Decide applies the policy's counting to both,
    so a raw address and its key are one client, and a ``user:`` key stays a user unless the
    policy counts by address only (then it counts as no client: its address is not known).
    """
    if value.startswith("user:"):
        return value if counting.by == "user-or-address" else None
    if value.startswith("addr:"):
        value = value[len("addr:") :].split("/", 1)[0]
    return address_key(value, counting)


class ClientKeys:
    """:func:`client_key` with bounded memos, for the aggregator's per-entry loop.

    A key depends on the user alone when the log names one (and clients are counted by user),
    else on the address alone, so each is memoised on its own: users repeat across a scan's
    entries far more than (address, user) pairs do, and parsing an address each time would cost
    more than the rest of the loop. Bounded, as hostile logs can carry endless distinct values:
    a memo is dropped whole when full, which only costs recomputation.
    """

    def __init__(self, counting: ClientCounting = DEFAULT_CLIENT_COUNTING, limit: int = 20_000):
        self.counting = counting
        self._limit = limit
        self._by_user = counting.by == "user-or-address"
        self._users: dict[str, str | None] = {}
        self._addresses: dict[str, str | None] = {}

    def __call__(self, src: str, user: str) -> str | None:
        if user and self._by_user:
            try:
                key = self._users[user]
            except KeyError:
                key = self._remember(self._users, user, user_key(user))
            if key is not None:
                return key
        try:
            return self._addresses[src]
        except KeyError:
            return self._remember(self._addresses, src, address_key(src, self.counting))

    def _remember(self, memo: dict[str, str | None], value: str, key: str | None) -> str | None:
        # Long values are not kept (they are rare and would fill the memo fastest).
        if len(value) <= 256:
            if len(memo) >= self._limit:
                memo.clear()
            memo[value] = key
        return key
