"""The ownership marker panpin writes into an exclusion entry's description.

``panpin:c-20261126-0932-a1b2 rule=vendor-apps ticket=CHG-1042 expires=2027-05-25``

The device itself is then the record of what panpin owns, which survives the loss of the state
database. An entry whose description does not start with ``panpin:`` belongs to a person and is
never edited or removed by panpin.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime

MARKER_PREFIX = "panpin:"
MAX_DESCRIPTION = 512

CHANGE_ID_RE = re.compile(r"^c-\d{8}-\d{4}-[0-9a-f]{4}$")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9._:/@+-]{1,128}$")


@dataclass(frozen=True)
class Marker:
    change_id: str
    rule: str | None = None
    ticket: str | None = None
    expires: date | None = None

    def render(self) -> str:
        parts = [f"{MARKER_PREFIX}{self.change_id}"]
        if self.rule:
            parts.append(f"rule={self.rule}")
        if self.ticket:
            parts.append(f"ticket={self.ticket}")
        if self.expires:
            parts.append(f"expires={self.expires.isoformat()}")
        text = " ".join(parts)
        if len(text) > MAX_DESCRIPTION:
            raise ValueError(f"description longer than {MAX_DESCRIPTION} characters")
        return text


def new_change_id(now: datetime | None = None) -> str:
    """A change id such as ``c-20261126-0932-a1b2``: sortable by time, unique by a random suffix."""
    now = now or datetime.now()
    return f"c-{now:%Y%m%d-%H%M}-{secrets.token_hex(2)}"


def is_marker_token(value: str) -> bool:
    """True when ``value`` can stand in the marker (no spaces, no XML metacharacters)."""
    return bool(_TOKEN_RE.match(value))


def parse_marker(description: str | None) -> Marker | None:
    """The marker in a description, or ``None`` for an entry a person owns.

    Unknown ``key=value`` words are ignored so a later panpin can add fields; a malformed expiry
    makes the expiry unknown rather than the entry a person's (it still starts with ``panpin:``).
    """
    if not description or not description.startswith(MARKER_PREFIX):
        return None
    words = description[len(MARKER_PREFIX) :].split()
    if not words:
        return None
    change_id = words[0]
    fields: dict[str, str] = {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if sep:
            fields[key] = value
    expires: date | None = None
    if "expires" in fields:
        try:
            expires = date.fromisoformat(fields["expires"])
        except ValueError:
            expires = None
    return Marker(
        change_id=change_id,
        rule=fields.get("rule"),
        ticket=fields.get("ticket"),
        expires=expires,
    )
