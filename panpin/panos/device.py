"""Facts about the device panpin talks to: identity and clock (read-only op commands)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from panpin.errors import ResponseError
from panpin.panos.xmlapi import XmlApi


@dataclass(frozen=True)
class DeviceInfo:
    hostname: str
    serial: str
    model: str
    sw_version: str

    @property
    def kind(self) -> str:
        """``panorama`` or ``firewall`` (Panorama reports model ``Panorama`` / ``M-*``)."""
        model = self.model.lower()
        return (
            "panorama" if model.startswith("panorama") or re.match(r"^m-\d", model) else "firewall"
        )

    def as_dict(self) -> dict[str, str]:
        return {
            "hostname": self.hostname,
            "serial": self.serial,
            "model": self.model,
            "sw_version": self.sw_version,
            "kind": self.kind,
        }


def system_info(api: XmlApi) -> DeviceInfo:
    """``show system info``: hostname, serial, model and PAN-OS version."""
    response = api.op("<show><system><info></info></system></show>")
    system = response.root.find("result/system")
    if system is None:
        raise ResponseError("show system info answered without <system>")
    return DeviceInfo(
        hostname=(system.findtext("hostname") or "").strip(),
        serial=(system.findtext("serial") or "").strip(),
        model=(system.findtext("model") or "").strip(),
        sw_version=(system.findtext("sw-version") or "").strip(),
    )


_CLOCK_RE = re.compile(
    r"(?P<mon>[A-Z][a-z]{2})\s+(?P<day>\d{1,2})\s+(?P<time>\d{2}:\d{2}:\d{2})\s+(?:(?P<tz>[A-Za-z+\-0-9]+)\s+)?(?P<year>\d{4})"
)


def parse_clock(text: str) -> datetime:
    """Parse ``show clock`` (``Wed Nov 26 09:30:00 PST 2026``) into a naive device-local datetime.

    Log times are device-local and carry no zone, so the zone name is dropped on purpose: a
    duration such as ``24h`` counts back from this value and is compared with ``receive_time``.
    """
    match = _CLOCK_RE.search(text)
    if not match:
        raise ResponseError(f"cannot read the device clock from {text[:80]!r}")
    stamp = f"{match['year']} {match['mon']} {int(match['day']):02d} {match['time']}"
    return datetime.strptime(stamp, "%Y %b %d %H:%M:%S")


def device_clock(api: XmlApi) -> datetime:
    response = api.op("<show><clock></clock></show>")
    result = response.root.find("result")
    text = "".join(str(t) for t in result.itertext()) if result is not None else ""
    return parse_clock(text)
