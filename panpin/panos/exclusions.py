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
