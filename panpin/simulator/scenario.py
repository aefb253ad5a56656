"""Scenario files: the device, its admins, existing configuration, pending work, locks, logs, faults.

A scenario is YAML loaded with ``yaml.safe_load`` into frozen dataclasses. Unknown keys, wrong
types and unknown values are errors naming the key path (``logs.pinned[2]: unknown key 'hitz'``),
so a typo in a test scenario fails loudly instead of silently changing the device.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from panpin.simulator.filter import FilterError, parse_time


class ScenarioError(ValueError):
    """The scenario file is invalid."""


FIREWALL_HA_STATES = frozenset(
    {
        "initial",
        "active",
        "passive",
        "active-primary",
        "active-secondary",
        "tentative",
        "non-functional",
        "suspended",
        "unknown",
    }
)
PANORAMA_HA_STATES = frozenset(
    {
        "primary-active",
        "primary-passive",
        "secondary-active",
        "secondary-passive",
        "primary-suspended",
        "secondary-suspended",
        "unknown",
    }
)


RunningSync = Literal["synchronized", "not synchronized", "unknown", "synchronization in progress"]


@dataclass(frozen=True)
class HaSpec:
    """The device is one of an HA pair (``show high-availability state|all``).

    States are PAN-OS's lower-case words (reference ha-and-roles): a firewall's active,
    passive, active-primary, ...; Panorama's primary-active, secondary-passive, ...
    """

    mode: Literal["Active-Passive", "Active-Active"] = "Active-Passive"
    local_state: str = "active"
    peer_state: str = "passive"
    # A peer that was never reached shows an empty mgmt-ip, state unknown and conn-status down.
    peer_connected: bool = True
    peer_mgmt_ip: str = "192.0.2.11/24"
    running_sync: RunningSync = "synchronized"
    # group/running-sync-enabled: whether a commit on the active member is synced to the peer.
    running_sync_enabled: bool = True


@dataclass(frozen=True)
class DeviceSpec:
    """The device answering the API (a firewall, or Panorama in Panorama mode)."""

    hostname: str = "PA-VM"
    serial: str = "007951000123456"
    sw_version: str = "11.1.4-h7"
    model: str = "PA-VM"
    family: str = "vm"
    ip_address: str = "192.0.2.10"
    # Device-local wall clock when the simulator starts; it then advances in real time.
    clock: str = "2026/11/26 09:30:00"
    # Set the clock relative to the real time instead (``0s``, ``2h``, ``-90m``, ``1d``): the
    # device-local time is now in ``timezone`` (a name the simulator knows, else UTC) plus this.
    # Wins over ``clock``.
    clock_offset: str | None = None
    # Abbreviation printed by ``show clock``. pan-os-python parses it with ``%Z``, which only
    # accepts UTC/GMT and the host's own zone names, so the default is UTC.
    timezone: str = "UTC"
    app_version: str = "8912-9340"
    vsys: tuple[str, ...] = ("vsys1",)
    first_job_id: int = 1
    # None: a standalone device (``<enabled>no</enabled>``).
    ha: HaSpec | None = None


# The XML API permissions of an admin role (reference ha-and-roles: role/device/xmlapi/...).
XMLAPI_FLAGS = ("report", "log", "config", "op", "commit", "user-id", "iot", "import", "export")


@dataclass(frozen=True)
class RoleSpec:
    """A custom admin role. ``xmlapi`` maps a flag of :data:`XMLAPI_FLAGS` to allowed or not;
    a flag left out is allowed (so a scenario names only what it takes away)."""

    name: str
    xmlapi: dict[str, bool] = field(default_factory=dict)

    def allows(self, flag: str) -> bool:
        return self.xmlapi.get(flag, True)


@dataclass(frozen=True)
class AdminSpec:
    name: str
    password: str
    # A fixed API key accepted until the admin runs keygen (which replaces it, like PAN-OS).
    api_key: str | None = None
    # ``superuser`` (every permission), or the name of a custom role in the scenario's ``roles``.
    role: str = "superuser"


@dataclass(frozen=True)
class ExclusionSpec:
    name: str
    description: str | None = None
    exclude: bool = True


@dataclass(frozen=True)
class ManagedDeviceSpec:
    serial: str
    hostname: str
    ip_address: str = "192.0.2.1"
    model: str = "PA-VM"
    sw_version: str = "11.1.4-h7"
    connected: bool = True
    vsys: tuple[str, ...] = ("vsys1",)


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    description: str | None = None


@dataclass(frozen=True)
class TemplateStackSpec:
    name: str
    templates: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()


@dataclass(frozen=True)
class PanoramaSpec:
    devices: tuple[ManagedDeviceSpec, ...] = ()
    templates: tuple[TemplateSpec, ...] = ()
    template_stacks: tuple[TemplateStackSpec, ...] = ()


@dataclass(frozen=True)
class PendingChangeSpec:
    """An uncommitted candidate change by another admin, present when the simulator starts."""

    admin: str
    xpath: str
    action: Literal["set", "edit", "delete"] = "set"
    element: str | None = None


@dataclass(frozen=True)
class LockSpec:
    admin: str
    type: Literal["config", "commit"] = "config"
    scope: str = "shared"
    comment: str | None = None


KNOWN_ALERTS = ("UnknownCA", "BadCertificate", "CertificateUnknown")
VARIANTS = ("no_sni", "upper", "trailing_dot", "idn")


@dataclass(frozen=True)
class PinnedHostSpec:
    """A site whose clients reject the forged certificate: each hit is one Decryption log entry.

    ``alerts`` maps the client's TLS alert to a hit count. ``variants`` renders some of those hits
    differently, as real logs do: ``no_sni`` (SNI empty, only the CN names the host), ``upper``
    (SNI in upper case), ``trailing_dot`` (``host.``), ``idn`` (an internationalised name in the
    other form: ``xn--bcher-kva.example`` logged as ``bücher.example`` or the reverse). The
    logical host stays ``host``.
    """

    host: str
    alerts: dict[str, int]
    clients: int = 1
    app: str = "incomplete"
    variants: dict[str, int] = field(default_factory=dict)
    cn: str | None = None
    issuer_cn: str = "R3"
    root_cn: str = "ISRG Root X1"
    ca_issuer_url: str | None = None
    devices: tuple[str, ...] = ()
    tls_version: str = "TLS1.3"
    # The fields that tell pinning from other failures (docs/causes.md): the
    # defaults are a pinning client behind forward proxy with a server the firewall trusted.
    proxy_type: str = "Forward"
    root_status: str = "trusted"
    chain_status: str = "Trusted"
    direction: str = "client"  # "server": the alert came from the server
    # The name's length as the device logs it (sni_len, or cn_len when there is no SNI); larger
    # than the name written means the device cut the name short.
    logged_length: int | None = None
    vsys: str = "vsys1"
    # An error text in another wording (PAN-OS 12.1's), with {alert} for the alert name.
    wording: str | None = None


@dataclass(frozen=True)
class ErrorHostSpec:
    """Decryption failures that are *not* pinning (expired certificate, cipher, protocol)."""

    host: str
    error: str
    hits: int
    err_index: str = "Certificate"
    clients: int = 1
    app: str = "ssl"


@dataclass(frozen=True)
class HostileSpec:
    """A pinning-looking entry whose SNI/CN must never reach an xpath or element unchecked.

    ``pad_to`` repeats the value up to that many characters (a 10 000-character name).
    """

    sni: str | None = None
    cn: str | None = None
    alert: str = "UnknownCA"
    hits: int = 1
    pad_to: int | None = None


@dataclass(frozen=True)
class LogSpec:
    seed: int = 1
    start: str | None = None  # default: device clock minus 7 days
    end: str | None = None  # default: device clock minus one minute
    pinned: tuple[PinnedHostSpec, ...] = ()
    errors: tuple[ErrorHostSpec, ...] = ()
    noise: int = 0
    hostile: tuple[HostileSpec, ...] = ()
    client_network: str = "10.20.0.0/16"
    rule: str = "LAN Outbound"
    policy_name: str = "decrypt-outbound"


FAULT_KINDS = (
    "http_status",
    "reset",
    "delay",
    "hold_answer",
    "drip",
    "session_timeout",
    "job_stuck",
    "commit_fail",
    "push_device_fail",
    "lock_by",
    "pending_by",
    "restart",
    "cut",
)


@dataclass(frozen=True)
class FaultSpec:
    kind: str
    match: dict[str, str] = field(default_factory=dict)
    times: int | None = 1
    after: int = 0
    status: int = 503
    seconds: float = 1.0
    serial: str | None = None
    admin: str = "alice"
    scope: str = "shared"
    xpath: str | None = None
    element: str | None = None
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scenario:
    name: str = "scenario"
    description: str = ""
    mode: Literal["firewall", "panorama"] = "firewall"
    device: DeviceSpec = field(default_factory=DeviceSpec)
    # The factory default admin of a fresh PAN-OS device.
    admins: tuple[AdminSpec, ...] = (AdminSpec(name="admin", password="admin"),)  # noqa: S106
    # Custom admin roles that admins may name as their ``role``.
    roles: tuple[RoleSpec, ...] = ()
    # location (``shared``, ``vsys:NAME``, ``template:NAME``, ``template-stack:NAME``) -> entries
    exclusions: dict[str, tuple[ExclusionSpec, ...]] = field(default_factory=dict)
    panorama: PanoramaSpec | None = None
    pending: tuple[PendingChangeSpec, ...] = ()
    locks: tuple[LockSpec, ...] = ()
    logs: LogSpec = field(default_factory=LogSpec)
    faults: tuple[FaultSpec, ...] = ()
    # Predefined decryption exclusions, served under /config/predefined/ssl-exclude-cert only when
    # a scenario lists them (that xpath is unverified on real devices: docs/causes.md).
    predefined_exclusions: tuple[ExclusionSpec, ...] = ()
    # location -> names of predefined exclusions turned off there
    # (ssl-decrypt/disabled-ssl-exclude-cert-from-predefined/member).
    disabled_predefined: dict[str, tuple[str, ...]] = field(default_factory=dict)


# --- generic strict conversion ---------------------------------------------------------------


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        return _convert(non_none[0], value, path)
    if origin is Literal:
        if value not in args:
            allowed = ", ".join(repr(a) for a in args)
            raise ScenarioError(f"{path}: {value!r} is not one of {allowed}")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise ScenarioError(f"{path}: expected a list")
        return tuple(_convert(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ScenarioError(f"{path}: expected a mapping")
        return {
            _convert(args[0], k, f"{path}.{k}"): _convert(args[1], v, f"{path}.{k}")
            for k, v in value.items()
        }
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _build(tp, value, path)
    if tp is bool:
        if not isinstance(value, bool):
            raise ScenarioError(f"{path}: expected true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(f"{path}: expected an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScenarioError(f"{path}: expected a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ScenarioError(f"{path}: expected a string (quote numbers such as versions)")
        return value
    raise ScenarioError(f"{path}: unsupported type {tp!r}")  # pragma: no cover


def _build(cls: type[Any], data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise ScenarioError(f"{path or 'scenario'}: expected a mapping")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = str(raw_key).replace("-", "_")
        where = f"{path}.{raw_key}" if path else str(raw_key)
        if key not in names:
            raise ScenarioError(f"{path or 'scenario'}: unknown key {raw_key!r}")
        kwargs[key] = _convert(hints[key], value, where)
    missing = [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
        and f.name not in kwargs
    ]
    if missing:
        raise ScenarioError(f"{path or 'scenario'}: missing key {missing[0]!r}")
    return cls(**kwargs)


def _validate(s: Scenario) -> None:
    if not s.admins:
        raise ScenarioError("admins: at least one admin is required")
    names = [a.name for a in s.admins]
    if len(set(names)) != len(names):
        raise ScenarioError("admins: duplicate admin name")
    roles = {r.name for r in s.roles}
    for i, r in enumerate(s.roles):
        unknown = sorted(set(r.xmlapi) - set(XMLAPI_FLAGS))
        if unknown:
            raise ScenarioError(
                f"roles[{i}].xmlapi: unknown flag {unknown[0]!r} (known: {', '.join(XMLAPI_FLAGS)})"
            )
    for i, a in enumerate(s.admins):
        if a.role != "superuser" and a.role not in roles:
            raise ScenarioError(f"admins[{i}].role: no role {a.role!r} in roles")
    if s.device.clock_offset is not None and parse_offset(s.device.clock_offset) is None:
        raise ScenarioError(
            f"device.clock_offset: {s.device.clock_offset!r} is not a duration such as 2h, -90m, 0s"
        )
    for loc in s.exclusions:
        kind, _, name = loc.partition(":")
        if loc != "shared" and (kind not in ("vsys", "template", "template-stack") or not name):
            raise ScenarioError(f"exclusions.{loc}: unknown location")
    for path, value in (("device.clock", s.device.clock), ("logs.start", s.logs.start)):
        if value is not None:
            _check_time(path, value)
    if s.logs.end is not None:
        _check_time("logs.end", s.logs.end)
    for i, p in enumerate(s.logs.pinned):
        for variant in p.variants:
            if variant not in VARIANTS:
                raise ScenarioError(f"logs.pinned[{i}].variants: unknown variant {variant!r}")
        if sum(p.variants.values()) > sum(p.alerts.values()):
            raise ScenarioError(f"logs.pinned[{i}].variants: more variants than hits")
        if p.clients < 1:
            raise ScenarioError(f"logs.pinned[{i}].clients: must be at least 1")
    for i, f in enumerate(s.faults):
        if f.kind not in FAULT_KINDS:
            raise ScenarioError(f"faults[{i}].kind: unknown fault kind {f.kind!r}")
    ha = s.device.ha
    if ha is not None:
        known = PANORAMA_HA_STATES if s.mode == "panorama" else FIREWALL_HA_STATES
        for path, state in (("local_state", ha.local_state), ("peer_state", ha.peer_state)):
            if state not in known:
                raise ScenarioError(
                    f"device.ha.{path}: {state!r} is not one of {', '.join(sorted(known))}"
                )
    if s.mode == "panorama" and s.panorama is None:
        raise ScenarioError("panorama: required when mode is panorama")


_OFFSET_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_offset(text: str) -> int | None:
    """``2h``, ``-90m``, ``+30s``, ``1d``, ``0`` as seconds; ``None`` when it is none of those."""
    value = text.strip()
    sign = -1 if value.startswith("-") else 1
    value = value.lstrip("+-")
    if value.isdigit():
        return sign * int(value)
    if len(value) < 2 or not value[:-1].isdigit() or value[-1] not in _OFFSET_UNITS:
        return None
    return sign * int(value[:-1]) * _OFFSET_UNITS[value[-1]]


def _check_time(path: str, value: str) -> None:
    try:
        parse_time(value)
    except FilterError as exc:
        raise ScenarioError(f"{path}: {exc.detail}") from exc


def scenario_from_dict(data: object, source: str = "scenario") -> Scenario:
    """Build and validate a scenario from already-parsed YAML/JSON data."""
    try:
        scenario: Scenario = _build(Scenario, data if data is not None else {}, "")
        _validate(scenario)
    except ScenarioError as exc:
        raise ScenarioError(f"{source}: {exc}") from None
    return scenario


def bundled_scenarios() -> list[str]:
    folder = resources.files("panpin.simulator") / "scenarios"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a bundled scenario by name (``demo``, ``panorama``) or a YAML file by path."""
    path = Path(name_or_path)
    if isinstance(name_or_path, Path) or path.suffix in (".yaml", ".yml") or "/" in str(path):
        if not path.is_file():
            raise ScenarioError(f"{path}: no such scenario file")
        text = path.read_text(encoding="utf-8")
        source = str(path)
    else:
        resource = resources.files("panpin.simulator") / "scenarios" / f"{name_or_path}.yaml"
        if not resource.is_file():
            known = ", ".join(bundled_scenarios())
            raise ScenarioError(f"unknown scenario {name_or_path!r} (bundled: {known})")
        text = resource.read_text(encoding="utf-8")
        source = f"{name_or_path}.yaml"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: invalid YAML: {exc}") from None
    return scenario_from_dict(data, source)
