"""The SSL Decryption Exclusion list at a location: entries, owner, xpaths.

Pure parts (entry model, owner) live here; reading the list from a device goes through
:mod:`panpin.panos.xmlapi`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from panpin.panos.marker import Marker, parse_marker

if TYPE_CHECKING:  # the transport and lxml stay out of the pure decision path's imports
    from lxml import etree

    from panpin.panos.xmlapi import XmlApi
    from panpin.settings import Location


@dataclass(frozen=True)
class ExclusionEntry:
    """One ``ssl-exclude-cert`` entry: ``<entry name><description/><exclude>yes|no</exclude></entry>``."""

    name: str
    description: str = ""
    exclude: bool = True

    @property
    def marker(self) -> Marker | None:
        return parse_marker(self.description)

    @property
    def owner(self) -> str:
        """``panpin`` for entries carrying the marker, ``person`` for every other entry."""
        return "panpin" if self.marker is not None else "person"

    @property
    def expires(self) -> date | None:
        marker = self.marker
        return marker.expires if marker else None


def parse_list(container: etree._Element) -> list[ExclusionEntry]:
    """Entries of an ``ssl-exclude-cert`` element (lxml), in device order."""
    entries: list[ExclusionEntry] = []
    for node in container.iterfind("entry"):
        name = node.get("name")
        if not name:
            continue
        exclude = (node.findtext("exclude") or "yes").strip().lower() != "no"
        entries.append(
            ExclusionEntry(
                name=name, description=(node.findtext("description") or "").strip(), exclude=exclude
            )
        )
    return entries


def read_list(api: XmlApi, location: Location, *, candidate: bool = False) -> list[ExclusionEntry]:
    """Read the list at ``location``: the running config (``show``) or the candidate (``get``).

    A list that does not exist yet is an empty list (``get`` answers code 7, ``show`` "No such node").
    """
    from panpin import errors
    from panpin.panos import panosxml

    xpath = panosxml.list_xpath(location)
    try:
        response = api.config("get" if candidate else "show", xpath)
    except errors.NotPresent:
        return []
    if response.not_present or response.result is None:
        return []
    container = response.result.find("ssl-exclude-cert")
    if container is None:
        container = response.result.find(".//ssl-exclude-cert")
    if container is None:
        return []
    return parse_list(container)


# Where predefined content lives in the running config. UNVERIFIED for decryption exclusions: no
# public source shows the xpath that lists them (docs/causes.md), so the read is tolerant: any
# answer other than a list is "not checked", never "none".
PREDEFINED_XPATH = "/config/predefined/ssl-exclude-cert"


@dataclass(frozen=True)
class Predefined:
    """The predefined exclusions (shipped with content updates, shared, enabled by default).

    ``names`` are the enabled ones when the device showed them, else ``None`` (not checked);
    ``disabled`` are those the location's config turns off
    (``ssl-decrypt/disabled-ssl-exclude-cert-from-predefined``).
    """

    names: tuple[str, ...] | None
    disabled: tuple[str, ...] = ()

    @property
    def checked(self) -> bool:
        return self.names is not None

    def note(self) -> str:
        if self.names is None:
            return "predefined exclusions not checked (the device did not show them)"
        return f"{len(self.names)} enabled predefined exclusion(s) checked" + (
            f"; {len(self.disabled)} disabled at this location" if self.disabled else ""
        )


def read_predefined(api: XmlApi, location: Location) -> Predefined:
    """Read the disabled-predefined list of ``location`` and try the predefined entries.

    Reads the running config only. A failed or empty read of the predefined entries gives
    ``names=None``; the caller says "not checked".
    """
    from panpin import errors
    from panpin.panos import panosxml

    base = panosxml.list_xpath(location)
    disabled_xpath = base[: base.rindex("/")] + "/disabled-ssl-exclude-cert-from-predefined"
    disabled: list[str] = []
    try:
        response = api.config("show", disabled_xpath)
        if not response.not_present and response.result is not None:
            disabled = [
                (m.text or "").strip() for m in response.result.iterfind(".//member") if m.text
            ]
    except errors.NotPresent:
        pass
    names: tuple[str, ...] | None = None
    try:
        response = api.config("show", PREDEFINED_XPATH)
        container = None if response.result is None else response.result.find(".//ssl-exclude-cert")
        if not response.not_present and container is not None:
            off = {d.lower() for d in disabled}
            names = tuple(
                e.name for e in parse_list(container) if e.exclude and e.name.lower() not in off
            )
    except errors.ApiError:
        names = None
    return Predefined(names, tuple(disabled))
