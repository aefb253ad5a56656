"""pan-os-python as the PAN-OS schema and command model, never as a transport.

The only module that imports ``panos``. Its objects build xpaths and element/command XML offline,
so panpin speaks the same vocabulary as the rest of the PAN-OS ecosystem; every request still goes
through :mod:`panpin.panos.xmlapi`. Trap handled here: ``Firewall()`` defaults to vsys1, while the GUI's
list is ``/config/shared/ssl-decrypt/ssl-exclude-cert``; under Panorama a ``Template`` needs a
``Vsys('shared')`` child to reach the template's ``config/shared``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from panpin.hosts import validate_exclusion_name
from panpin.settings import Location

if TYPE_CHECKING:  # an annotation only: exclusions imports this module to build its xpaths
    from panpin.panos.exclusions import ExclusionEntry

with warnings.catch_warnings():
    # pan-os-python imports distutils-era modules that warn on import under Python 3.11+.
    warnings.simplefilter("ignore")
    from panos.device import SslDecrypt, SslDecryptExcludeCert, Vsys
    from panos.firewall import Firewall, FirewallCommit
    from panos.panorama import Panorama, PanoramaCommit, PanoramaCommitAll, Template, TemplateStack


def _ssl_decrypt(location: Location) -> Any:
    if location.kind == "shared":
        root: Any = Firewall(vsys="shared")
        return root.add(SslDecrypt())
    if location.kind == "vsys":
        root = Firewall(vsys=location.name)
        return root.add(SslDecrypt())
    pano = Panorama("panorama")
    holder: Any = (
        Template(location.name) if location.kind == "template" else TemplateStack(location.name)
    )
    pano.add(holder)
    return holder.add(Vsys("shared")).add(SslDecrypt())


def list_xpath(location: Location) -> str:
    """The xpath of the ``ssl-exclude-cert`` list at ``location``."""
    probe = _ssl_decrypt(location).add(SslDecryptExcludeCert("probe.invalid"))
    full: str = probe.xpath()
    return full[: full.rindex("/entry[")]


def entry_xpath(location: Location, name: str) -> str:
    """The xpath of one entry; the name is validated first so it cannot break out of the predicate."""
    safe = validate_exclusion_name(name)
    xpath: str = _ssl_decrypt(location).add(SslDecryptExcludeCert(safe)).xpath()
    return xpath


def entry_element(entry: ExclusionEntry) -> str:
    """``<entry name=…><description>…</description><exclude>yes</exclude></entry>`` (escaped by lxml)."""
    safe = validate_exclusion_name(entry.name)
    obj = SslDecryptExcludeCert(safe, description=entry.description or None, exclude=entry.exclude)
    text: str = obj.element_str().decode("utf-8")
    return text


def entries_element(entries: list[ExclusionEntry]) -> str:
    """Several entries as the element of one ``action=set`` on the list xpath."""
    return "".join(entry_element(e) for e in entries)


def commit_cmd(description: str, admins: list[str], *, panorama: bool = False) -> str:
    """A commit of only ``admins``' changes (``<partial><admin>``), with a description."""
    cls: Any = PanoramaCommit if panorama else FirewallCommit
    text: str = cls(description=description, admins=admins).element_str().decode("utf-8")
    return text


def push_cmd(location: Location, description: str) -> str:
    """Panorama ``commit-all`` pushing the template or template stack that holds the list."""
    if location.kind not in ("template", "template-stack"):
        raise ValueError(f"{location} is not a Panorama location")
    style = "template" if location.kind == "template" else "template stack"
    cmd = PanoramaCommitAll(style=style, name=location.name, description=description)
    text: str = cmd.element_str().decode("utf-8")
    return text
