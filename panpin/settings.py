"""Device and connection settings: ``configs/panpin.yaml``, ``PANPIN_*`` environment, global flags.

Precedence is flags > environment > file (click resolves flag-over-environment; this module lays
that result over the file). The API key comes only from ``PANPIN_API_KEY`` or a key file, never a
flag, and a key file readable by group or others is refused. ``repr`` never shows the key.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from panpin.errors import SettingsError
from panpin.panos.timing import Backoff, RetryPolicy

if TYPE_CHECKING:
    from panpin.panos.xmlapi import Connection

DEFAULT_CONFIG_PATHS = (Path("configs/panpin.yaml"), Path("~/.config/panpin/panpin.yaml"))
DEFAULT_STATE = Path("~/.local/state/panpin/state.db")

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_LOCATION_KINDS = ("shared", "vsys", "template", "template-stack")


def default_key_file(host: str) -> Path:
    """``~/.config/panpin/HOST_PORT.key``: where ``panpin login`` writes a key by default."""
    return Path("~/.config/panpin").expanduser() / f"{host.replace(':', '_')}.key"


def check_readable_file(path: str, what: str) -> None:
    """A file the user named must exist, be a file, and be readable: else one clear line."""
    target = Path(path).expanduser()
    if not target.exists():
        raise SettingsError(f"{what} {path}: no such file")
    if target.is_dir():
        raise SettingsError(f"{what} {path}: is a folder, not a file")
    if not os.access(target, os.R_OK):
        raise SettingsError(f"{what} {path}: not readable (permissions)")


@dataclass(frozen=True)
class Location:
    """Where the exclusion list lives: ``shared``, ``vsys:NAME``, ``template:NAME``, ``template-stack:NAME``."""

    kind: str
    name: str | None = None

    def __str__(self) -> str:
        return self.kind if self.name is None else f"{self.kind}:{self.name}"

    @property
    def on_panorama(self) -> bool:
        return self.kind in ("template", "template-stack")

    @property
    def lock_scope(self) -> str:
        """The ``vsys=`` scope for lock commands: a vsys name, else ``shared``."""
        return self.name if self.kind == "vsys" and self.name else "shared"

    @classmethod
    def parse(cls, value: str) -> Location:
        text = value.strip()
        kind, sep, name = text.partition(":")
        if kind not in _LOCATION_KINDS:
            raise SettingsError(
                f"location {value!r}: expected shared, vsys:NAME, template:NAME or template-stack:NAME"
            )
        if kind == "shared":
            if sep:
                raise SettingsError(f"location {value!r}: 'shared' takes no name")
            return cls("shared")
        if not sep or not _NAME_RE.match(name):
            raise SettingsError(
                f"location {value!r}: {kind} needs a name of letters, digits, '.', '_' or '-'"
            )
        return cls(kind, name)


@dataclass(frozen=True)
class DeviceSettings:
    """One device as panpin will talk to it. ``api_key`` is masked in ``repr``."""

    name: str
    host: str
    api_key: str | None = field(default=None, repr=False)
    api_key_file: str | None = None
    ca_file: str | None = None
    fingerprint: str | None = None
    insecure: bool = False
    location: Location = field(default_factory=lambda: Location("shared"))
    admin: str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    # One request in all (headers and body), and one `run` in all (never inside a commit job).
    request_timeout: float = 300.0
    run_timeout: float = 1800.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    commit_poll: Backoff = field(default_factory=Backoff)
    log_poll: Backoff = field(default_factory=lambda: Backoff(deadline=300.0))
    # --record DIR / PANPIN_RECORD (panpin.panos.record); never from the config file, since a
    # recording is for one command.
    record_dir: str | None = None
    record_scrub_hosts: bool = False
    # ``ha_peer: NAME``: the other member of this firewall's HA pair, another device of the
    # config. `peer` is that device's settings, resolved with the same overrides and key.
    ha_peer: str | None = None
    peer: DeviceSettings | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        key = "***" if self.api_key else None
        return (
            f"DeviceSettings(name={self.name!r}, host={self.host!r}, api_key={key!r}, "
            f"api_key_file={self.api_key_file!r}, ca_file={self.ca_file!r}, "
            f"fingerprint={self.fingerprint!r}, insecure={self.insecure!r}, "
            f"location={str(self.location)!r}, admin={self.admin!r})"
        )

    def connection(self) -> Connection:
        """The transport's connection (imported here, not at the top: cron start-up stays fast)."""
        from panpin.panos.xmlapi import Connection

        return Connection(
            host=self.host,
            api_key=self.api_key,
            ca_file=self.ca_file,
            fingerprint=self.fingerprint,
            insecure=self.insecure,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            request_deadline=self.request_timeout,
            retry=self.retry,
            record_dir=self.record_dir,
            record_scrub_hosts=self.record_scrub_hosts,
            user=self.admin,
        )

    def require_admin(self) -> str:
        if not self.admin:
            raise SettingsError(
                f"device {self.name}: no admin set; pass --admin or set `admin:` in the config "
                "(the admin whose changes panpin commits, i.e. the key's user)"
            )
        return self.admin


@dataclass(frozen=True)
class Overrides:
    """Values from flags or the environment (click has already applied flag-over-env)."""

    host: str | None = None
    api_key_file: str | None = None
    ca_file: str | None = None
    fingerprint: str | None = None
    insecure: bool | None = None
    location: str | None = None
    admin: str | None = None
    record: str | None = None
    record_scrub_hosts: bool = False


@dataclass(frozen=True)
class Settings:
    config_path: Path | None
    devices: dict[str, DeviceSettings]
    default_device: str | None
    state: Path

    def device(self, name: str | None) -> DeviceSettings:
        chosen = name or self.default_device
        if chosen is None:
            if len(self.devices) == 1:
                return next(iter(self.devices.values()))
            where = f" in {self.config_path}" if self.config_path else ""
            raise SettingsError(
                f"no device chosen: pass --host, or --device NAME{where} "
                f"(known: {', '.join(sorted(self.devices)) or 'none'})"
            )
        if chosen not in self.devices:
            raise SettingsError(
                f"unknown device {chosen!r}; known: {', '.join(sorted(self.devices)) or 'none'}"
            )
        return self.devices[chosen]


_DEVICE_KEYS = {
    "host",
    "api_key_file",
    "ca_file",
    "fingerprint",
    "insecure",
    "location",
    "admin",
    "timeouts",
    "retry_deadline",
    "retry",
    "jobs",
    "ha_peer",
}
_TOP_KEYS = {"version", "defaults", "devices", "default_device", "state"}


# A key is about 100 characters; a "key file" far larger is the wrong file (or /dev/zero).
MAX_KEY_FILE_BYTES = 64 * 1024


def read_key_file(path: str) -> str:
    """Read an API key file, refusing anything but a private regular file of this user.

    Symlinks are followed (a mounted secret is often one) and the **target** is what is checked:
    a regular file, owned by the user panpin runs as, not readable or writable by group or others
    (like ssh). The file is opened with ``O_NONBLOCK`` so a FIFO put in its place cannot hang a
    cron run, and checked again through the open descriptor (``fstat``), so a file swapped
    between the check and the open is caught. Every refusal is one :class:`SettingsError` line.
    """
    p = Path(path).expanduser()
    try:
        target = p.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "cannot be resolved"
        raise SettingsError(f"API key file {p}: {why}") from None
    shown = f"{p} (-> {target})" if target != p.absolute() else str(p)
    try:
        before = target.stat()
    except OSError as exc:
        raise SettingsError(f"API key file {shown}: {exc.strerror}") from None
    _check_key_stat(before, shown)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(target, flags)
    except OSError as exc:
        raise SettingsError(f"API key file {shown}: {exc.strerror}") from None
    try:
        after = os.fstat(fd)
        if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
            raise SettingsError(f"API key file {shown} changed while it was read; refusing")
        _check_key_stat(after, shown)
        data = os.read(fd, MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise SettingsError(f"API key file {shown}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_KEY_FILE_BYTES:
        raise SettingsError(f"API key file {shown} is larger than {MAX_KEY_FILE_BYTES} bytes")
    try:
        key = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise SettingsError(f"API key file {shown} is not UTF-8 text") from None
    if not key:
        raise SettingsError(f"API key file {shown} is empty")
    return key


def _check_key_stat(st: os.stat_result, shown: str) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise SettingsError(f"API key file {shown} is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "not a regular file"
        raise SettingsError(f"API key file {shown} is {kind}; refusing to read it")
    uid = os.geteuid()
    if st.st_uid != uid:
        raise SettingsError(
            f"API key file {shown} is owned by uid {st.st_uid}, not by this user (uid {uid}); "
            "refusing"
        )
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SettingsError(
            f"API key file {shown} is accessible by group or others "
            f"(mode {stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {shown.split(' (')[0]}"
        )


def write_key_file(path: str, key: str) -> Path:
    """Write a key file created with mode 0600 from the start (no window where it is readable)."""
    p = Path(path).expanduser()
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (key + "\n").encode("utf-8"))
    finally:
        os.close(fd)
    return p


def _find_config(explicit: str | None) -> Path | None:
    if explicit:
        p = Path(explicit).expanduser()
        if not p.is_file():
            raise SettingsError(f"config file {p} not found")
        return p
    for candidate in DEFAULT_CONFIG_PATHS:
        p = candidate.expanduser()
        if p.is_file():
            return p
    return None


def _check_keys(where: str, data: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise SettingsError(f"{where}: unknown key(s) {', '.join(unknown)}")


def _device_from(
    name: str, raw: dict[str, Any], defaults: dict[str, Any], path: Path
) -> DeviceSettings:
    where = f"{path}: devices.{name}"
    merged = {**defaults, **raw}
    _check_keys(where, merged, _DEVICE_KEYS)
    host = merged.get("host")
    if not isinstance(host, str) or not host:
        raise SettingsError(f"{where}: 'host' is required")
    timeouts = merged.get("timeouts") or {}
    if not isinstance(timeouts, dict):
        raise SettingsError(f"{where}.timeouts: expected a mapping")
    _check_keys(f"{where}.timeouts", timeouts, {"connect", "read", "request", "run"})
    for key, value in timeouts.items():
        _positive_number(value, f"{where}.timeouts.{key}")
    if "retry_deadline" in merged:
        _positive_number(merged["retry_deadline"], f"{where}.retry_deadline")
    location = merged.get("location", "shared")
    if not isinstance(location, str):
        raise SettingsError(f"{where}.location: expected a string, got {_kind(location)}")
    retry = _numbers(merged, "retry", _RETRY_KEYS, where)
    jobs = _numbers(merged, "jobs", _JOB_KEYS, where)
    poll = Backoff()
    try:
        return DeviceSettings(
            name=name,
            host=host,
            api_key_file=_opt_str(merged, "api_key_file", where),
            ca_file=_opt_str(merged, "ca_file", where),
            fingerprint=_opt_str(merged, "fingerprint", where),
            insecure=_boolean(merged, "insecure", where, default=False),
            location=Location.parse(location),
            admin=_opt_str(merged, "admin", where),
            ha_peer=_opt_str(raw, "ha_peer", where),
            connect_timeout=float(timeouts.get("connect", 10.0)),
            read_timeout=float(timeouts.get("read", 120.0)),
            request_timeout=float(timeouts.get("request", 300.0)),
            run_timeout=float(timeouts.get("run", 1800.0)),
            retry=RetryPolicy(
                attempts=int(retry.get("attempts", RetryPolicy.attempts)),
                initial=retry.get("initial", RetryPolicy.initial),
                maximum=retry.get("maximum", RetryPolicy.maximum),
                jitter=retry.get("jitter", RetryPolicy.jitter),
                deadline=float(merged.get("retry_deadline", RetryPolicy.deadline)),
            ),
            commit_poll=replace(
                poll,
                initial=jobs.get("poll_initial", poll.initial),
                maximum=jobs.get("poll_maximum", poll.maximum),
                deadline=jobs.get("commit_timeout", 600.0),
            ),
            log_poll=replace(
                poll,
                initial=jobs.get("poll_initial", poll.initial),
                maximum=jobs.get("poll_maximum", poll.maximum),
                deadline=jobs.get("log_timeout", 300.0),
            ),
        )
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{where}: {exc}") from None


# The config file's ``retry:`` and ``jobs:`` keys (documented names), mapped onto the one retry
# policy and the one poll backoff above.
_RETRY_KEYS = {"attempts": int, "initial": float, "maximum": float, "jitter": float}
_JOB_KEYS = {
    "poll_initial": float,
    "poll_maximum": float,
    "commit_timeout": float,
    "log_timeout": float,
}


def _numbers(
    data: dict[str, Any], key: str, kinds: dict[str, type[int] | type[float]], where: str
) -> dict[str, float]:
    """A mapping of non-negative numbers (``retry:``, ``jobs:``) with only the known keys."""
    raw = data.get(key) or {}
    if not isinstance(raw, dict):
        raise SettingsError(f"{where}.{key}: expected a mapping")
    _check_keys(f"{where}.{key}", raw, set(kinds))
    values: dict[str, float] = {}
    for name, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise SettingsError(f"{where}.{key}.{name}: expected a number of at least 0")
        values[name] = kinds[name](value)
    if values.get("attempts", 1) < 1:
        raise SettingsError(f"{where}.{key}.attempts: expected at least 1")
    return values


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _boolean(data: dict[str, Any], key: str, where: str, *, default: bool) -> bool:
    """A YAML boolean and nothing else: ``insecure: "false"`` is a string, and ``bool("false")``
    is True, which would turn TLS verification off. So a string is an error, never truthy."""
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise SettingsError(f"{where}.{key}: expected true or false (unquoted), got {_kind(value)}")
    return value


def _positive_number(value: object, where: str) -> float:
    # YAML's true is an int to Python; "10" is a string: neither is a number of seconds.
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise SettingsError(f"{where}: expected a number of seconds above 0, got {_kind(value)}")
    return float(value)


def _opt_str(data: dict[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        # A number (an all-digit admin, a fingerprint YAML read as an int) is refused rather
        # than guessed back into text: 0o17 or 1e3 would not come back as written.
        raise SettingsError(f"{where}.{key}: expected a string, got {_kind(value)} (quote it)")
    return value


def load_settings(config: str | None, state: str | None = None) -> Settings:
    """Read the config file (if any). Nothing here touches the network."""
    path = _find_config(config)
    devices: dict[str, DeviceSettings] = {}
    default_device: str | None = None
    state_path = DEFAULT_STATE
    if path is not None:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise SettingsError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise SettingsError(f"{path}: expected a mapping at the top level")
        _check_keys(str(path), data, _TOP_KEYS)
        version = data.get("version", 1)
        if isinstance(version, bool) or version != 1:
            raise SettingsError(f"{path}: version: expected 1, got {_kind(version)}")
        defaults = data.get("defaults") or {}
        raw_devices = data.get("devices") or {}
        if not isinstance(defaults, dict) or not isinstance(raw_devices, dict):
            raise SettingsError(f"{path}: 'defaults' and 'devices' must be mappings")
        for name, raw in raw_devices.items():
            if not isinstance(raw, dict):
                raise SettingsError(f"{path}: devices.{name}: expected a mapping")
            devices[str(name)] = _device_from(str(name), raw, defaults, path)
        for name, dev in devices.items():
            if dev.ha_peer is not None and (dev.ha_peer not in devices or dev.ha_peer == name):
                raise SettingsError(
                    f"{path}: devices.{name}.ha_peer: {dev.ha_peer!r} is not another device "
                    f"of this file (known: {', '.join(sorted(devices))})"
                )
        default_device = data.get("default_device")
        if default_device is not None and not isinstance(default_device, str):
            raise SettingsError(
                f"{path}: default_device: expected a device name, got {_kind(default_device)}"
            )
        state_value = data.get("state")
        if state_value is not None and not isinstance(state_value, str):
            raise SettingsError(f"{path}: state: expected a path, got {_kind(state_value)}")
        if state_value:
            state_path = Path(state_value)
    if state:
        state_path = Path(state)
    return Settings(
        config_path=path,
        devices=devices,
        default_device=default_device,
        state=state_path.expanduser(),
    )


def resolve_device(
    settings: Settings, device: str | None, overrides: Overrides, env: dict[str, str] | None = None
) -> DeviceSettings:
    """The device to work on: from ``--host`` alone, or a configured device with overrides laid on.

    The key is taken from ``PANPIN_API_KEY`` or else the key file (override, then config). A
    device with ``ha_peer`` gets its peer's settings in ``peer``, resolved the same way (the
    same overrides and key source, its own host).
    """
    resolved = _resolve_one(settings, device, overrides, env)
    if resolved.ha_peer and not (overrides.host and device is None):
        peer = _resolve_one(settings, resolved.ha_peer, replace(overrides, host=None), env)
        resolved = replace(resolved, peer=peer)
    return resolved


def _resolve_one(
    settings: Settings, device: str | None, overrides: Overrides, env: dict[str, str] | None
) -> DeviceSettings:
    environ = os.environ if env is None else env
    if overrides.host and device is None:
        base = DeviceSettings(name=overrides.host, host=overrides.host)
    else:
        base = settings.device(device)
        if overrides.host:
            base = replace(base, host=overrides.host)
    changes: dict[str, Any] = {}
    for attr in ("api_key_file", "ca_file", "fingerprint", "admin"):
        value = getattr(overrides, attr)
        if value is not None:
            changes[attr] = value
    if overrides.insecure is not None:
        changes["insecure"] = overrides.insecure
    if overrides.location is not None:
        changes["location"] = Location.parse(overrides.location)
    if overrides.record:
        changes["record_dir"] = overrides.record
        changes["record_scrub_hosts"] = overrides.record_scrub_hosts
    resolved = replace(base, **changes)
    if resolved.insecure and resolved.fingerprint:
        raise SettingsError("--insecure and --fingerprint contradict each other; choose one")
    if resolved.ca_file:
        # Checked here, before any request: requests would raise a bare OSError later.
        check_readable_file(resolved.ca_file, "--ca-file" if overrides.ca_file else "ca_file")
    key: str | None = environ.get("PANPIN_API_KEY")
    if not key and not resolved.api_key_file and resolved.host:
        # Where `panpin login` writes a key when told no other place: found again here, so
        # `login` then `--host H …` works without naming the file.
        default = default_key_file(resolved.host)
        if default.is_file():
            resolved = replace(resolved, api_key_file=str(default))
    if not key and resolved.api_key_file:
        key = read_key_file(resolved.api_key_file)
    return replace(resolved, api_key=key or None)
