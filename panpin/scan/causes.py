"""Why a Decryption-log entry failed: its cause, told from the fields a device writes.

A client that rejects the firewall's impersonation certificate is pinning only in one case: the
firewall trusted the server (``root_status trusted``, ``chain_status Trusted``), signed with its
forward-trust CA, on forward proxy, and the *client* sent the alert. Every other reading is
something else, and an exclusion for it would open a hole in inspection for nothing (or worse):

- ``untrusted-server`` / ``incomplete-chain``: the firewall could not verify the server and
  signed with its forward-untrust CA on purpose; the client's alert is the protection working.
  The vendor's remedy for an incomplete chain is to install the intermediate (its URL follows
  ``CA Issuer URL:`` in the error text), never an exclusion.
- ``server-alert``: ``... from server`` (a server that wants a client certificate, say).
- ``not-forward-proxy``: GlobalProtect, Inbound, No Decrypt: the exclusion list affects forward
  proxy only.
- ``truncated-name``: ``sni_len``/``cn_len`` say the logged name was cut short; a prefix of a
  name must never become an exclusion.
- ``unknown``: a text panpin cannot place (PAN-OS 12.1's new wording, a text without a
  direction) or an entry without the trust and proxy fields (a narrow export): shown, never
  counted as pinning.

Sources (docs/causes.md): the vendor's Decryption log field reference and its "Repair Incomplete
Certificate Chains" and exclusion pages, and real log lines (Elastic's PA-220 sample). Pure.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final


class Cause(enum.Enum):
    PINNING = "pinning"
    UNTRUSTED_SERVER = "untrusted-server"
    INCOMPLETE_CHAIN = "incomplete-chain"
    SERVER_ALERT = "server-alert"
    NOT_FORWARD_PROXY = "not-forward-proxy"
    TRUNCATED_NAME = "truncated-name"
    UNKNOWN = "unknown"


CAUSE_VALUES: Final[tuple[str, ...]] = tuple(c.value for c in Cause)

# One line each: what to do about a host whose evidence has this cause.
REMEDIES: Final[Mapping[str, str]] = {
    Cause.PINNING.value: "exclude the host: the client pins the server certificate",
    Cause.UNTRUSTED_SERVER.value: (
        "fix the server's certificate or leave it blocked: the firewall could not verify it, "
        "and an exclusion would let clients reach it uninspected"
    ),
    Cause.INCOMPLETE_CHAIN.value: (
        "install the missing intermediate CA on the firewall (from the CA Issuer URL); "
        "not an exclusion"
    ),
    Cause.SERVER_ALERT.value: (
        "nothing to exclude: the server refused the handshake (a client-certificate demand, "
        "say); the firewall's own exclusion cache handles that"
    ),
    Cause.NOT_FORWARD_PROXY.value: ("nothing to do: the exclusion list affects forward proxy only"),
    Cause.TRUNCATED_NAME.value: (
        "nothing panpin can add: the logged name is cut short; find the full name (a capture)"
    ),
    Cause.UNKNOWN.value: (
        "read the entries: panpin cannot place their text or they lack the trust and proxy "
        "fields; never counted as pinning"
    ),
}

# CA Issuer URLs kept per host (a hint for a person, never fetched).
MAX_ISSUER_URLS: Final = 3
# The client alerts of the manual procedure panpin automates (error contains 'UnknownCA' / ...).
DEFAULT_PINNING_ALERTS: Final[tuple[str, ...]] = ("UnknownCA", "BadCertificate")

# Causes that make a host `review` whatever else its evidence holds: the firewall could not
# verify the server, so the client refusing the forward-untrust certificate is intended.
TRUST_CAUSES: Final = frozenset({Cause.UNTRUSTED_SERVER.value, Cause.INCOMPLETE_CHAIN.value})

# "Received fatal alert UnknownCA from client", with any prefix or suffix. The direction is
# optional: a wording without one is kept, and settled (or not) by the other fields.
_ALERT_RE = re.compile(
    r"fatal\s+alert\s+([A-Za-z0-9_]+)(?:\s+from\s+(client|server)\b)?", re.IGNORECASE
)
# "CA Issuer URL: http://r3.i.lencr.org/" and "CA Issuer URL (truncated):<url>" (real texts).
_ISSUER_RE = re.compile(r"CA\s+Issuer\s+URL(?:\s*\(truncated\))?\s*:\s*(\S*)", re.IGNORECASE)
_URL_RE = re.compile(r"^https?://[\x21-\x7e]{1,300}$", re.IGNORECASE)


@dataclass(frozen=True)
class Reading:
    """One entry read: its cause, the alert it names (``""`` when none), the issuer URL."""

    cause: str
    alert: str
    issuer_url: str = ""


def alert_and_direction(error: str, signals: Sequence[str] = ()) -> tuple[str, str]:
    """``(alert name, "client" | "server" | "")`` from an error text.

    The vendor's wording gives both; another wording that names a signal gives the signal and
    no direction (PAN-OS 12.1 rewords the texts; the alert names stay).
    """
    match = _ALERT_RE.search(error)
    if match:
        return match[1], (match[2] or "").lower()
    lowered = error.lower()
    for name in signals:
        if name.lower() in lowered:
            return name, ""
    return "", ""


def issuer_url(error: str) -> str:
    """The CA Issuer URL in an error text, when it is a plain http(s) URL; else ``""``.

    The URL comes from the server's certificate (attacker-influenced): it is shown to a person
    as a hint, never fetched.
    """
    match = _ISSUER_RE.search(error)
    if match is None:
        return ""
    url = match[1].rstrip(".,;")
    return url if _URL_RE.match(url) else ""


def _length(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def is_truncated(name: str, logged_length: str) -> bool:
    """The device logged a name longer than the one it wrote (``sni_len``/``cn_len``)."""
    length = _length(logged_length) if logged_length else None
    return length is not None and length > len(name.strip())


def classify(entry: Mapping[str, str], signals: Sequence[str]) -> Reading:
    """The cause of one entry (field name → text, as the page reader gives it).

    ``signals`` are the client alerts that point to pinning (strong and weak). Order matters:
    what rules an entry out for any reason comes before the trust fields, and ``pinning`` needs
    every field that proves it; a missing field is ``unknown``, never pinning.
    """
    get = entry.get
    sni = get("sni", "")
    name, length = (sni, get("sni_len", "")) if sni.strip() else (get("cn", ""), get("cn_len", ""))
    return with_name(classify_text(entry, signals), name, length)


# Settled before the name is looked at: a truncated name does not change these.
BEFORE_NAMES: Final = frozenset({Cause.NOT_FORWARD_PROXY.value, Cause.SERVER_ALERT.value})


def with_name(reading: Reading, name: str, logged_length: str) -> Reading:
    """``reading`` with the truncated-name rule applied: a name the device cut short overrides
    every cause but not-forward-proxy and server-alert (:func:`classify`'s order). Split from
    :func:`classify_text` so a caller can memoise the text part, which repeats across entries."""
    if reading.cause in BEFORE_NAMES or not logged_length:
        return reading
    if is_truncated(name, logged_length):
        return Reading(Cause.TRUNCATED_NAME.value, reading.alert, reading.issuer_url)
    return reading


def classify_text(entry: Mapping[str, str], signals: Sequence[str]) -> Reading:
    """The cause from every field but the names (error, direction, proxy and trust fields)."""
    get = entry.get
    error = get("error", "")
    alert, direction = alert_and_direction(error, signals)
    url = issuer_url(error)
    proxy = get("proxy_type")
    if proxy is not None and proxy.strip() and proxy.strip().lower() != "forward":
        return Reading(Cause.NOT_FORWARD_PROXY.value, alert, url)
    if direction == "server":
        return Reading(Cause.SERVER_ALERT.value, alert, url)
    chain = (get("chain_status") or "").strip().lower()
    root = (get("root_status") or "").strip().lower()
    if chain == "incomplete":
        return Reading(Cause.INCOMPLETE_CHAIN.value, alert, url)
    if root == "untrusted" or chain == "untrusted":
        return Reading(Cause.UNTRUSTED_SERVER.value, alert, url)
    known = {s.lower() for s in signals}
    if (
        direction == "client"
        and alert.lower() in known
        and proxy is not None
        and root == "trusted"
        and chain == "trusted"
    ):
        return Reading(Cause.PINNING.value, alert, url)
    return Reading(Cause.UNKNOWN.value, alert, url)


def describe_causes(causes: Mapping[str, int]) -> str:
    """``"3 untrusted-server, 1 server-alert"``: the counts in the fixed cause order."""
    parts = [f"{causes[c]} {c}" for c in CAUSE_VALUES if causes.get(c)]
    return ", ".join(parts) if parts else "no entries"


def main_cause(causes: Mapping[str, int]) -> str:
    """The cause a host is reported under when none of its entries is pinning: the one with
    most entries (ties: the fixed order, trust causes first)."""
    best = ""
    for c in CAUSE_VALUES:
        if c == Cause.PINNING.value:
            continue
        if causes.get(c, 0) > causes.get(best, 0):
            best = c
    return best or Cause.UNKNOWN.value
