"""Facts about the device panpin talks to: identity and clock (read-only op commands)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from datetime import datetime

from lxml import etree

from panpin.errors import ResponseError
from panpin.panos.timing import Backoff
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


# --- HA state (docs/panos-api.md; reference ha-and-roles) ----------------------------------------

# States in which a device takes changes. A firewall's: active, and the two active states of an
# active/active pair. Panorama's: the active member, primary or secondary (after a failover).
_CHANGEABLE_STATES = frozenset(
    {"active", "active-primary", "active-secondary", "primary-active", "secondary-active"}
)
# Known states that must not be changed: the vendor's guidance is to change the active member
# and let config sync carry it; a passive Panorama cannot make configuration changes.
_NOT_CHANGEABLE_STATES = frozenset(
    {
        "passive",
        "initial",
        "tentative",
        "non-functional",
        "suspended",
        "primary-passive",
        "secondary-passive",
        "secondary-suspended",
        "primary-suspended",
        "secondary-non-functional",
        "primary-non-functional",
        "primary-initial",
        "secondary-initial",
    }
)


@dataclass(frozen=True)
class HaState:
    """``show high-availability state``: whether the device is in a pair, and its part in it."""

    enabled: bool
    local_state: str = ""
    peer_state: str = ""
    peer_mgmt_ip: str = ""
    running_sync: str = ""
    # `running-sync-enabled` and the peer's `conn-status`: panpin waits for the sync after a
    # commit only when both say it will happen.
    running_sync_enabled: bool = False
    peer_connected: bool = False

    @property
    def changeable(self) -> bool:
        """A standalone device, or the active member of a pair. An unknown state is not."""
        return not self.enabled or self.local_state in _CHANGEABLE_STATES

    def refusal(self) -> str:
        """Why a change is refused here, naming the active peer where the device gives it."""
        state = self.local_state or "unknown"
        known = "" if state in _NOT_CHANGEABLE_STATES else " (a state panpin does not know)"
        peer = self.peer_mgmt_ip.split("/", 1)[0]
        where = (
            f"its peer {peer} is {self.peer_state or 'in an unknown state'}"
            if peer
            else "its peer gives no management address"
        )
        return (
            f"this HA member is {state}{known}: panpin changes only the active member, "
            f"and config sync carries the change; {where}. Run panpin against the active member."
        )


def parse_ha_state(root: etree._Element) -> HaState:
    """Both shapes: a firewall's ``result/group/...`` and Panorama's ``result/local-info/...``."""
    result = root.find("result")
    if result is None:
        raise ResponseError("show high-availability state: no <result>")
    enabled = (result.findtext("enabled") or "").strip().lower() == "yes"
    group = result.find("group")
    base = group if group is not None else result

    def text(path: str) -> str:
        return (base.findtext(path) or "").strip()

    return HaState(
        enabled=enabled,
        local_state=text("local-info/state").lower(),
        peer_state=text("peer-info/state").lower(),
        peer_mgmt_ip=text("peer-info/mgmt-ip"),
        running_sync=text("running-sync").lower(),
        running_sync_enabled=text("running-sync-enabled").lower() == "yes",
        peer_connected=text("peer-info/conn-status").lower() == "up",
    )


def ha_state(api: XmlApi) -> HaState:
    """Reads the device's HA state."""
    response = api.op("<show><high-availability><state></state></high-availability></show>")
    return parse_ha_state(response.root)


# How long panpin waits for an HA peer's running-config sync after a commit (the vendor's sync
# takes seconds; a peer that lags minutes is worth a warning, not a stuck run).
SYNC_DEADLINE = 120.0


def wait_for_sync(api: XmlApi, backoff: Backoff) -> str | None:
    """After a commit on an HA member: wait (bounded) until ``running-sync`` says synchronized.

    Returns what to record: synchronized (and how long it took), not synchronized within the
    deadline, or why panpin did not wait (sync disabled, peer down); None for a standalone
    device. Reads only; panpin never starts a sync itself.
    """
    from panpin import errors
    from panpin.panos.jobs import poll

    first = ha_state(api)
    if not first.enabled:
        return None
    if not first.running_sync_enabled:
        return (
            "warning: HA running-config sync is disabled on this member: the peer does not get "
            "this change until someone synchronizes it"
        )
    if not first.peer_connected:
        return "warning: the HA peer is down: it gets this change when the pair syncs again"
    started = time.monotonic()
    try:
        poll(
            lambda: ha_state(api),
            finished=lambda s: s.running_sync == "synchronized",
            backoff=replace(backoff, deadline=min(backoff.deadline, SYNC_DEADLINE)),
            timeout=lambda s: errors.JobTimeout(f"running-sync is {s.running_sync or 'unknown'}"),
        )
    except errors.JobTimeout as exc:
        return f"warning: the HA peer was not synchronized within {SYNC_DEADLINE:g}s ({exc})"
    return f"HA peer synchronized (running-sync) after {time.monotonic() - started:.1f}s"


_PANORAMA_DEVICE = "/config/devices/entry[@name='localhost.localdomain']"


def _show(api: XmlApi, xpath: str) -> etree._Element | None:
    """The running config at ``xpath``, or ``None`` where there is nothing."""
    from panpin import errors

    try:
        response = api.config("show", xpath)
    except errors.NotPresent:
        return None
    return None if response.not_present else response.result


def _serials(
    stacks: etree._Element | None, own: etree._Element | None, kind: str, name: str
) -> tuple[str, ...]:
    found: set[str] = set()
    for stack in stacks.iterfind(".//template-stack/entry") if stacks is not None else ():
        members = {(m.text or "").strip() for m in stack.iterfind("templates/member")}
        if (kind == "template-stack" and stack.get("name") == name) or (
            kind == "template" and name in members
        ):
            found.update(d.get("name", "") for d in stack.iterfind("devices/entry"))
    for d in own.iterfind("devices/entry") if own is not None else ():
        found.add(d.get("name", ""))
    return tuple(sorted(s for s in found if s))


def template_serials(api: XmlApi, kind: str, name: str) -> tuple[str, ...]:
    """The serials of the firewalls a Panorama template or template stack serves.

    A stack lists its devices (``template-stack/entry/devices/entry/@name``); a template serves
    the devices of every stack that holds it, and, on releases that still assign devices to a
    template directly, its own ``devices`` list. Reads the running config (the stacks, and a
    template's own devices); a location that does not exist serves no device (empty).
    """
    stacks = _show(api, f"{_PANORAMA_DEVICE}/template-stack")
    own = None
    if kind == "template":
        # Only the constant prefix and a validated location name are formatted in.
        # The answer's <result> holds <devices>, as the template's entry does.
        own = _show(api, f"{_PANORAMA_DEVICE}/template/entry[@name='{name}']/devices")
    return _serials(stacks, own, kind, name)


@dataclass(frozen=True)
class PanoramaLayout:
    """A Panorama's templates and stacks, read once: names, and whom each serves."""

    templates: tuple[str, ...]
    stacks: tuple[str, ...]
    _stacks: etree._Element | None
    _templates: etree._Element | None

    def serials(self, kind: str, name: str) -> tuple[str, ...]:
        own = None
        if kind == "template" and self._templates is not None:
            own = next(
                (e for e in self._templates.iterfind(".//template/entry") if e.get("name") == name),
                None,
            )
        return _serials(self._stacks, own, kind, name)


def panorama_layout(api: XmlApi) -> PanoramaLayout:
    """Reads the running config's templates and template stacks (two requests)."""
    templates = _show(api, f"{_PANORAMA_DEVICE}/template")
    stacks = _show(api, f"{_PANORAMA_DEVICE}/template-stack")

    def names(root: etree._Element | None, kind: str) -> tuple[str, ...]:
        found = root.iterfind(f".//{kind}/entry") if root is not None else iter(())
        return tuple(sorted(e.get("name", "") for e in found if e.get("name")))

    return PanoramaLayout(
        names(templates, "template"), names(stacks, "template-stack"), stacks, templates
    )


# --- the admin's role (reference ha-and-roles: role/device/xmlapi/...) --------------------------

# Predefined roles (``permissions/role-based/NAME``) and whether they may commit.
_PREDEFINED_COMMIT = {
    "superuser": True,
    "deviceadmin": True,
    "panorama-admin": True,
    "superreader": False,
    "devicereader": False,
}
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,63}$")


@dataclass(frozen=True)
class RolePermission:
    """Whether the admin's role allows an XML API request type: ``allowed`` is ``None`` when the
    config does not tell (a remote admin, a role kept elsewhere)."""

    allowed: bool | None
    detail: str


def commit_permission(api: XmlApi, admin: str) -> RolePermission:
    """Reads the admin's role from ``mgt-config/users`` and, for a custom role, its
    ``role/device/xmlapi/commit`` flag under ``/config/shared/admin-role``. A commit cannot be
    tried without committing, so this is the only way to know beforehand. Raises
    :class:`~panpin.errors.PermissionDenied` when the key may not read the config."""
    from panpin import errors

    if not _SAFE_NAME.match(admin):
        return RolePermission(
            None, f"cannot tell: the admin name {admin[:40]!r} cannot be looked up"
        )
    remote = RolePermission(
        None, f"cannot tell: {admin} is not a local admin (a remote or Panorama admin?)"
    )
    try:
        response = api.config(
            "show", f"/config/mgt-config/users/entry[@name='{admin}']/permissions/role-based"
        )
    except errors.NotPresent:
        return remote
    node = response.result.find("role-based") if response.result is not None else None
    if node is None:
        return remote
    for child in node:
        tag = str(child.tag)
        if tag in _PREDEFINED_COMMIT:
            if _PREDEFINED_COMMIT[tag]:
                return RolePermission(True, f"{admin} has the predefined role {tag}")
            return RolePermission(
                False,
                f"{admin} has the read-only role {tag}: it lacks the XML API commit permission",
            )
    profile = (node.findtext("custom/profile") or "").strip()
    if not _SAFE_NAME.match(profile):
        return RolePermission(None, f"cannot tell: {admin}'s role is none panpin can look up")
    try:
        flags = api.config(
            "show", f"/config/shared/admin-role/entry[@name='{profile}']/role/device/xmlapi"
        )
    except errors.NotPresent:
        return RolePermission(
            None, f"cannot tell: {admin}'s role {profile} is not in /config/shared/admin-role"
        )
    xmlapi = flags.result.find("xmlapi") if flags.result is not None else None
    value = (xmlapi.findtext("commit") or "").strip() if xmlapi is not None else ""
    if value == "enable":
        return RolePermission(True, f"{admin}'s role {profile} allows XML API commit")
    if value == "disable":
        return RolePermission(
            False, f"{admin}'s role {profile} lacks the XML API commit permission"
        )
    return RolePermission(
        None, f"cannot tell: {admin}'s role {profile} does not say (commit={value or 'unset'})"
    )
