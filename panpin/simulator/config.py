"""Configuration trees and the ``type=config`` semantics (docs/panos-api.md: config API).

Reads use lxml's own XPath. Writes (``set``/``edit``) create missing intermediate nodes by parsing
the xpath as a chain of steps ``name`` or ``name[@name='x']`` (either quote). ``set`` merges the
element's children into the node; ``edit`` replaces the node, and its root tag must be the
xpath's last step (with the same ``name``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from panpin.simulator.scenario import (
    XMLAPI_FLAGS,
    DeviceSpec,
    ExclusionSpec,
    PanoramaSpec,
    Scenario,
)

DEVICE_XPATH = "/config/devices/entry[@name='localhost.localdomain']"
MAX_XPATH = 8192
MAX_DESCRIPTION = 512  # pan-os-codegen spec, docs/panos-api.md: config API
MAX_OBJECT_NAME = 63  # pan-python's live multi-config test expects this limit for address names
NAME_LIMITED = frozenset({"address", "address-group", "service", "service-group"})

_STEP = re.compile(
    r"""\s*(?P<tag>[A-Za-z_][A-Za-z0-9_.:\-]*)\s*
        (?:\[\s*@name\s*=\s*(?:'(?P<sq>[^']*)'|"(?P<dq>[^"]*)")\s*\])?\s*""",
    re.VERBOSE,
)


class ConfigError(Exception):
    """A config request failed; ``code`` and ``lines`` go into the error envelope."""

    def __init__(
        self, code: int | None, lines: Sequence[str], *, status: str = "error", cdata: bool = False
    ) -> None:
        super().__init__("; ".join(lines))
        self.code = code
        self.lines = tuple(lines)
        self.status = status
        self.cdata = cdata


@dataclass(frozen=True)
class Step:
    tag: str
    name: str | None


def parse_steps(xpath: str) -> list[Step] | None:
    """Split a simple absolute xpath into steps; ``None`` when it is not that simple."""
    if not xpath.startswith("/") or xpath.startswith("//"):
        return None
    steps: list[Step] = []
    pos = 1
    while pos <= len(xpath):
        m = _STEP.match(xpath, pos)
        if m is None:
            return None
        name = m.group("sq") if m.group("sq") is not None else m.group("dq")
        steps.append(Step(m.group("tag"), name))
        pos = m.end()
        if pos == len(xpath):
            return steps
        if xpath[pos] != "/":
            return None
        pos += 1
    return None


def select(root: etree._Element, xpath: str) -> list[etree._Element]:
    """Evaluate ``xpath`` against the tree of ``root``; code 6 when it is not a node-set xpath."""
    if not xpath or len(xpath) > MAX_XPATH or not xpath.startswith("/"):
        raise ConfigError(6, ["Bad Xpath"])
    try:
        result = root.getroottree().xpath(xpath)
    except (etree.XPathError, ValueError) as exc:
        raise ConfigError(6, ["Bad Xpath"]) from exc
    if not isinstance(result, list) or not all(isinstance(x, etree._Element) for x in result):
        raise ConfigError(6, ["Bad Xpath"])
    return [x for x in result if isinstance(x, etree._Element)]


def select_for_read(root: etree._Element, xpath: str) -> list[etree._Element]:
    """Like :func:`select`, and an xpath ending in ``/@name`` lists the nodes' names.

    pan-os-python's ``refreshall(name_only=True)`` reads ``.../entry/@name``; PAN-OS answers
    with the entries reduced to their ``name`` attribute (``<entry name="vsys1"/>``).
    """
    if xpath.endswith("/@name"):
        owners = select(root, xpath[: -len("/@name")])
        named = []
        for node in owners:
            name = node.get("name")
            if name is not None:
                named.append(etree.Element(node.tag, name=name))
        return named
    return select(root, xpath)


def ensure_path(root: etree._Element, xpath: str) -> etree._Element:
    """The node at a simple xpath, creating missing steps (what ``set`` does on PAN-OS)."""
    steps = parse_steps(xpath)
    if steps is None:
        raise ConfigError(6, ["Bad Xpath"])
    return ensure_steps(root, steps)


def ensure_steps(root: etree._Element, steps: Sequence[Step]) -> etree._Element:
    if not steps or steps[0].tag != root.tag or steps[0].name is not None:
        raise ConfigError(6, ["Bad Xpath"])
    node = root
    for step in steps[1:]:
        found = None
        for child in node:
            if child.tag == step.tag and (step.name is None or child.get("name") == step.name):
                found = child
                break
        if found is None:
            found = etree.SubElement(node, step.tag)
            if step.name is not None:
                found.set("name", step.name)
        node = found
    return node


def _same_node(a: etree._Element, b: etree._Element) -> bool:
    if a.tag != b.tag:
        return False
    if b.get("name") is not None or a.get("name") is not None:
        return a.get("name") == b.get("name")
    if b.tag == "member":
        return (a.text or "") == (b.text or "")
    return True


def merge(target: etree._Element, new: etree._Element, mark: dict[str, str] | None) -> None:
    """Merge ``new`` (a child to be) into ``target`` the way ``set`` does."""
    for existing in target:
        if _same_node(existing, new):
            if len(new) == 0 and new.get("name") is None and new.tag != "member":
                # A leaf: the new value replaces the old one.
                existing.text = new.text
                for child in list(existing):
                    existing.remove(child)
            for key, value in new.attrib.items():
                if key not in ("admin", "dirtyId", "time"):
                    existing.set(key, value)
            for child in new:
                merge(existing, child, mark)
            if mark is not None:
                _mark(existing, mark, deep=False)
            return
    copy = _strip_marks(new)
    target.append(copy)
    if mark is not None:
        _mark(copy, mark, deep=True)


def _strip_marks(node: etree._Element) -> etree._Element:
    copy = etree.fromstring(etree.tostring(node))
    for el in copy.iter():
        for key in ("admin", "dirtyId", "time"):
            if key in el.attrib:
                del el.attrib[key]
    return copy


def _mark(node: etree._Element, mark: dict[str, str], *, deep: bool) -> None:
    # The candidate config carries admin/dirtyId/time on changed nodes (pan-python doc; docs/panos-api.md: errors).
    for el in node.iter() if deep else [node]:
        if isinstance(el.tag, str):
            for key, value in mark.items():
                el.set(key, value)


def strip_marks_inplace(node: etree._Element) -> None:
    for el in node.iter():
        for key in ("admin", "dirtyId", "time"):
            if key in el.attrib:
                del el.attrib[key]


def _label(node: etree._Element) -> str:
    return node.get("name") or str(node.tag)


def validate(target_xpath: str, elements: Sequence[etree._Element]) -> None:
    """Schema checks PAN-OS would make for the objects panpin writes (code 12 on failure).

    Only what the reference pins down: description at most 512 characters anywhere,
    ``exclude`` of an SSL exclusion is yes/no. Lines imitate PAN-OS validation output
    (``profiles -> x -> y unexpected here`` / ``... is invalid``, docs/panos-api.md: errors and pango tests).
    """
    parent = target_xpath.rstrip("/").split("/")[-1].split("[")[0] or "config"
    for el in elements:
        for node in el.iter():
            if not isinstance(node.tag, str):
                continue
            chain = [_label(a) for a in reversed(list(node.iterancestors()))] + [_label(node)]
            where = " -> ".join([parent, *chain])
            text = node.text or ""
            if node.tag == "description" and len(text) > MAX_DESCRIPTION:
                raise ConfigError(
                    12,
                    [
                        f" {where}  can be at most {MAX_DESCRIPTION} characters, "
                        f"but current length: {len(text)}",
                        f" {' -> '.join([parent, *chain[:-1]])} is invalid",
                    ],
                    cdata=True,
                )
            in_exclusions = "ssl-exclude-cert" in target_xpath or any(
                a.tag == "ssl-exclude-cert" for a in node.iterancestors()
            )
            if node.tag == "exclude" and in_exclusions and text not in ("yes", "no"):
                raise ConfigError(
                    12,
                    [
                        f" {where} '{text}' is not a valid value",
                        f" {' -> '.join([parent, *chain[:-1]])} is invalid",
                    ],
                    cdata=True,
                )


def check_name(container: str, name: str) -> None:
    """Object names PAN-OS limits to 63 characters (address and service objects and groups).

    The wording is PAN-OS's, as pan-python's live multi-config test asserts it (a leading space,
    then the name); limits of other containers are not in the reference and are not checked.
    """
    if container in NAME_LIMITED and len(name) > MAX_OBJECT_NAME:
        raise ConfigError(
            12,
            [
                f" {name} can be at most {MAX_OBJECT_NAME} characters, "
                f"but current length: {len(name)}",
                f" {container} is invalid",
            ],
            cdata=True,
        )


def check_names(xpath: str, elements: Sequence[etree._Element]) -> None:
    """The names a set/edit creates: the xpath's own entry steps and entries in the element."""
    steps = parse_steps(xpath) or []
    for parent, step in itertools.pairwise(steps):
        if step.tag == "entry" and step.name is not None:
            check_name(parent.tag, step.name)
    container = steps[-1].tag if steps else ""
    for el in elements:
        for node in el.iter():
            if node.tag != "entry" or node.get("name") is None:
                continue
            up = node.getparent()
            # A top-level element of the fragment sits in the xpath's node.
            inside = container if up is None or up.tag == "sim-fragment" else str(up.tag)
            check_name(inside, node.get("name") or "")


def check_edit_root(xpath: str, element: etree._Element) -> None:
    steps = parse_steps(xpath)
    last = steps[-1] if steps else None
    if last is None:
        return
    if element.tag != last.tag or (last.name is not None and element.get("name") != last.name):
        raise ConfigError(
            12,
            [f" {last.tag} -> {element.tag} unexpected here", f" {last.tag} is invalid"],
            cdata=True,
        )


# --- skeletons ------------------------------------------------------------------------------


def _sub(
    parent: etree._Element, tag: str, name: str | None = None, text: str | None = None
) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if name is not None:
        el.set("name", name)
    if text is not None:
        el.text = text
    return el


def _users(root: etree._Element, scenario: Scenario) -> etree._Element:
    """``mgt-config/users``: a superuser, or a custom role by name (``role-based/custom/profile``)."""
    mgt = _sub(root, "mgt-config")
    users = _sub(mgt, "users")
    for admin in scenario.admins:
        based = _sub(_sub(_sub(users, "entry", admin.name), "permissions"), "role-based")
        if admin.role == "superuser":
            _sub(based, "superuser", text="yes")
        else:
            _sub(_sub(based, "custom"), "profile", text=admin.role)
    return mgt


def admin_roles(shared: etree._Element, scenario: Scenario) -> None:
    """``shared/admin-role/entry/role/device/xmlapi/FLAG`` = enable | disable.

    The reference gives the flags under ``role/device/xmlapi``; a firewall config keeps the roles
    at ``/config/shared/admin-role/entry``, referenced from ``mgt-config/users/entry/permissions``
    (public config tooling reads them there). **Unverified** on Panorama, which the simulator
    gives the same place.
    """
    if not scenario.roles:
        return
    holder = _sub(shared, "admin-role")
    for role in scenario.roles:
        xmlapi = _sub(_sub(_sub(_sub(holder, "entry", role.name), "role"), "device"), "xmlapi")
        for flag in XMLAPI_FLAGS:
            _sub(xmlapi, flag, text="enable" if role.allows(flag) else "disable")


def _ssl_decrypt(parent: etree._Element, exclusions: Sequence[ExclusionSpec]) -> None:
    ssl = _sub(parent, "ssl-decrypt")
    _sub(ssl, "forward-trust-certificate").append(_text("rsa", "Forward-Trust-CA"))
    _sub(ssl, "forward-untrust-certificate").append(_text("rsa", "Forward-Untrust-CA"))
    if exclusions:
        # An empty list is absent (``action=get`` then answers code 7, docs/panos-api.md: call sequence step 4).
        lst = _sub(ssl, "ssl-exclude-cert")
        for x in exclusions:
            entry = _sub(lst, "entry", x.name)
            if x.description is not None:
                _sub(entry, "description", text=x.description)
            _sub(entry, "exclude", text="yes" if x.exclude else "no")


def _text(tag: str, text: str) -> etree._Element:
    el = etree.Element(tag)
    el.text = text
    return el


def _vsys_block(
    parent: etree._Element, names: Sequence[str], exclusions: dict[str, tuple[ExclusionSpec, ...]]
) -> None:
    vsys = _sub(parent, "vsys")
    for name in names:
        v = _sub(vsys, "entry", name)
        _sub(v, "display-name", text=name)
        zone = _sub(v, "zone")
        for z in ("trust", "untrust"):
            _sub(_sub(_sub(zone, "entry", z), "network"), "layer3")
        _sub(v, "address")
        rules = _sub(_sub(_sub(v, "rulebase"), "security"), "rules")
        r = _sub(rules, "entry", "LAN Outbound")
        for tag, value in (("from", "trust"), ("to", "untrust")):
            _sub(_sub(r, tag), "member", text=value)
        _sub(r, "action", text="allow")
        drules = _sub(_sub(_sub(v, "rulebase"), "decryption"), "rules")
        d = _sub(drules, "entry", "decrypt-outbound")
        _sub(d, "action", text="decrypt")
        _sub(_sub(d, "type"), "ssl-forward-proxy")
        if exclusions.get(f"vsys:{name}"):
            _ssl_decrypt(v, exclusions[f"vsys:{name}"])


def _device_config(parent: etree._Element, device: DeviceSpec) -> None:
    system = _sub(_sub(parent, "deviceconfig"), "system")
    _sub(system, "hostname", text=device.hostname)
    _sub(system, "ip-address", text=device.ip_address)
    _sub(system, "timezone", text=device.timezone)


def firewall_skeleton(scenario: Scenario) -> etree._Element:
    """A realistic, small firewall ``<config>`` with the scenario's exclusions."""
    dev = scenario.device
    root = etree.Element(
        "config", version=_config_version(dev.sw_version), urldb="paloaltonetworks"
    )
    _users(root, scenario)
    shared = _sub(root, "shared")
    admin_roles(shared, scenario)
    _sub(shared, "application")
    _sub(shared, "service")
    _ssl_decrypt(shared, scenario.exclusions.get("shared", ()))
    devices = _sub(root, "devices")
    entry = _sub(devices, "entry", "localhost.localdomain")
    _device_config(entry, dev)
    net = _sub(entry, "network")
    _sub(net, "interface")
    _vsys_block(entry, dev.vsys, scenario.exclusions)
    _predefined(root, scenario)
    return root


def _predefined(root: etree._Element, scenario: Scenario) -> None:
    """Predefined exclusions and the per-location lists that disable some, when asked for."""
    if scenario.predefined_exclusions:
        lst = _sub(_sub(root, "predefined"), "ssl-exclude-cert")
        for x in scenario.predefined_exclusions:
            entry = _sub(lst, "entry", x.name)
            if x.description is not None:
                _sub(entry, "description", text=x.description)
            _sub(entry, "exclude", text="yes" if x.exclude else "no")
    for where, names in scenario.disabled_predefined.items():
        if where == "shared":
            holder = root.find("shared/ssl-decrypt")
        elif where.startswith("vsys:"):
            holder = root.find(
                f"devices/entry/vsys/entry[@name='{where[5:]}']/ssl-decrypt"  # scenario text
            )
        else:
            raise ValueError(f"disabled_predefined: unsupported location {where!r}")
        if holder is None:
            raise ValueError(f"disabled_predefined: no ssl-decrypt at {where!r}")
        off = _sub(holder, "disabled-ssl-exclude-cert-from-predefined")
        for name in names:
            _sub(off, "member", text=name)


def _config_version(sw_version: str) -> str:
    parts = re.findall(r"\d+", sw_version)[:2]
    return ".".join([*parts, "0"]) if len(parts) == 2 else "11.1.0"


def panorama_skeleton(scenario: Scenario, pano: PanoramaSpec) -> etree._Element:
    """A Panorama ``<config>`` with managed devices, templates and template stacks."""
    dev = scenario.device
    root = etree.Element(
        "config", version=_config_version(dev.sw_version), urldb="paloaltonetworks"
    )
    mgt = _users(root, scenario)
    mdevs = _sub(mgt, "devices")
    for md in pano.devices:
        _sub(mdevs, "entry", md.serial)
    shared = _sub(root, "shared")
    admin_roles(shared, scenario)
    _sub(shared, "address")
    devices = _sub(root, "devices")
    entry = _sub(devices, "entry", "localhost.localdomain")
    _device_config(entry, dev)
    templates = _sub(entry, "template")
    for t in pano.templates:
        te = _sub(templates, "entry", t.name)
        if t.description:
            _sub(te, "description", text=t.description)
        _sub(_sub(te, "settings"), "default-vsys", text="vsys1")
        cfg = _sub(te, "config")
        tdev = _sub(_sub(cfg, "devices"), "entry", "localhost.localdomain")
        _sub(_sub(tdev, "vsys"), "entry", "vsys1")
        tshared = _sub(cfg, "shared")
        excl = scenario.exclusions.get(f"template:{t.name}", ())
        if excl:
            _ssl_decrypt(tshared, excl)
    stacks = _sub(entry, "template-stack")
    for s in pano.template_stacks:
        se = _sub(stacks, "entry", s.name)
        tm = _sub(se, "templates")
        for name in s.templates:
            _sub(tm, "member", text=name)
        ds = _sub(se, "devices")
        for serial in s.devices:
            _sub(ds, "entry", serial)
        _sub(se, "settings")
        cfg = _sub(se, "config")
        excl = scenario.exclusions.get(f"template-stack:{s.name}", ())
        if excl:
            _ssl_decrypt(_sub(cfg, "shared"), excl)
    _sub(entry, "device-group")
    _sub(root, "panorama")
    return root
