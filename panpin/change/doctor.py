"""``panpin doctor``: the read-only preflight before the first cron job.

Each check gives ``pass``, ``warn`` or ``fail``, a detail and, unless it passed, what to do.
Reads only: system info, clock, HA state, locks, pending changes, a few config reads (the key's
own admin and role, the location) and one log query job of at most one entry. Nothing is locked,
written or committed; a check that cannot be made says so instead of guessing
(docs/doctor.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from panpin import errors
from panpin.change.lifecycle import LockEntry, lock_entries, pending_owners
from panpin.change.workflow import check_location
from panpin.panos import versions
from panpin.panos.device import (
    DeviceInfo,
    HaState,
    commit_permission,
    ha_state,
    parse_clock,
    system_info,
)
from panpin.panos.xmlapi import XmlApi, certificate_expiry
from panpin.scan.logs import format_time, run_log_job
from panpin.settings import DeviceSettings

Verdict = Literal["pass", "warn", "fail"]

# A certificate that ends this soon is a warning; one that has ended fails every request anyway.
CERT_WARN_DAYS = 30
# A device clock this far from ours shifts --since windows (log times are device-local).
CLOCK_WARN = timedelta(minutes=5)
# The Decryption log should hold something this recent, or there is nothing to find.
LOG_WINDOW = timedelta(days=1)

# Zone names `show clock` prints whose offset is not in doubt. Names used by more than one zone
# (CST: US Central or China; IST: India, Israel or Ireland; BST) are left out on purpose: the
# clock is then "cannot compare" rather than compared wrongly.
ZONE_HOURS: dict[str, float] = {
    "UTC": 0,
    "GMT": 0,
    "Z": 0,
    "PST": -8,
    "PDT": -7,
    "MST": -7,
    "MDT": -6,
    "EST": -5,
    "EDT": -4,
    "AKST": -9,
    "AKDT": -8,
    "HST": -10,
    "CET": 1,
    "CEST": 2,
    "EET": 2,
    "EEST": 3,
    "WET": 0,
    "WEST": 1,
    "JST": 9,
    "KST": 9,
    "AEST": 10,
    "AEDT": 11,
    "NZST": 12,
    "NZDT": 13,
}

_ZONE_RE = re.compile(r"\d{2}:\d{2}:\d{2}\s+([A-Za-z][A-Za-z0-9+\-]*)\s+\d{4}")


@dataclass(frozen=True)
class Check:
    """One finding: ``name`` (stable, e.g. ``permission-commit``), its verdict, what was found
    and, unless it passed, what to do about it."""

    name: str
    verdict: Verdict
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "verdict": self.verdict, "detail": self.detail, "fix": self.fix}


@dataclass(frozen=True)
class DoctorReport:
    """Every check made on one device."""

    device: str
    checks: tuple[Check, ...]

    def verdict_of(self, name: str) -> Verdict | None:
        return next((c.verdict for c in self.checks if c.name == name), None)

    @property
    def failed(self) -> bool:
        return any(c.verdict == "fail" for c in self.checks)

    @property
    def warned(self) -> bool:
        return any(c.verdict == "warn" for c in self.checks)

    def exit_code(self, *, strict: bool = False) -> int:
        """0 when nothing failed (warnings too, with ``strict``), else 1 (docs/doctor.md)."""
        bad = self.failed or (strict and self.warned)
        return errors.EXIT_RUNTIME if bad else errors.EXIT_OK


@dataclass
class _Doctor:
    api: XmlApi
    device: DeviceSettings
    now: Callable[[], datetime]
    checks: list[Check] = field(default_factory=list)
    denied: set[str] = field(default_factory=set)

    def add(self, name: str, verdict: Verdict, detail: str, fix: str = "") -> None:
        self.checks.append(Check(name, verdict, detail, fix if verdict != "pass" else ""))

    def not_checked(self, name: str, exc: errors.PanpinError) -> None:
        """A check the device did not let us make: a warning that says why, never a pass."""
        if isinstance(exc, errors.PermissionDenied):
            kind = _denied_kind(exc)
            self.add(
                name,
                "warn",
                f"not checked: the admin's role lacks the XML API {kind} permission",
                f"see the permission-{kind} check",
            )
            return
        self.add(name, "warn", f"not checked: {exc}", "re-run doctor with -v to see the request")

    # --- the checks, in the order they are shown ---------------------------------------------

    def run(self) -> None:
        info = self.identity()
        if info is None:
            return
        self.tls()
        self.version(info)
        self.clock()
        self.permission_config()
        self.permission_commit()
        self.location(info)
        self.decryption_log(info)
        self.ha()
        self.locks()
        self.pending()

    def identity(self) -> DeviceInfo | None:
        """TLS and the key, told from the first request (``show system info``)."""
        try:
            info = system_info(self.api)
        except errors.TLSError as exc:
            self.add(
                "tls",
                "fail",
                str(exc),
                "pass --ca-file with the CA that signed the management certificate, or "
                "--fingerprint with its SHA-256",
            )
            return None
        except errors.PermissionDenied as exc:
            self.add("api-key", "pass", "the device accepted the key")
            self.add("permission-op", "fail", str(exc), _allow("op"))
            self.denied.add("op")
            self.tls()
            self.permission_config()
            self.permission_commit()
            return None
        except errors.AuthError as exc:
            self.add("api-key", "fail", str(exc), "make a new key with `panpin login --user USER`")
            return None
        except errors.TransportError as exc:
            self.add("connect", "fail", str(exc), "check the address, port and firewall rules")
            return None
        self.add("api-key", "pass", "the device accepted the key")
        self.add("permission-op", "pass", "op commands answer (show system info)")
        return info

    def tls(self) -> None:
        conn = self.device.connection()
        if conn.insecure and not conn.fingerprint:
            how: Verdict = "warn"
            detail = "not verified (--insecure): anyone on the path can read the API key"
        elif conn.fingerprint:
            how, detail = "pass", "verified by fingerprint"
        else:
            how = "pass"
            detail = f"verified by CA ({conn.ca_file or 'system CAs'})"
        try:
            ends = certificate_expiry(conn)
        except errors.PanpinError as exc:
            self.add("tls", "warn" if how == "pass" else how, f"{detail}; expiry unknown: {exc}")
            return
        left = ends - self.now().astimezone(UTC)
        when = ends.strftime("%Y-%m-%d")
        fix = "use --ca-file or --fingerprint" if how == "warn" else ""
        if left <= timedelta(0):
            self.add("tls", "fail", f"{detail}; the certificate expired on {when}", _renew_cert())
        elif left <= timedelta(days=CERT_WARN_DAYS):
            self.add(
                "tls",
                "warn",
                f"{detail}; the certificate expires on {when} ({left.days} days)",
                _renew_cert(),
            )
        else:
            self.add("tls", how, f"{detail}; the certificate is valid until {when}", fix)

    def version(self, info: DeviceInfo) -> None:
        what = f"PAN-OS {info.sw_version} on {info.model or 'an unknown model'}"
        try:
            version = versions.parse_version(info.sw_version)
        except errors.ResponseError:
            self.add(
                "version", "warn", f"{what}: not a version panpin can read", "report it to panpin"
            )
            return
        if not versions.supports(version, versions.DECRYPTION_LOG):
            low = versions.MINIMUM
            self.add(
                "version",
                "fail",
                f"{what}: no Decryption log before PAN-OS {low[0]}.{low[1]}",
                "upgrade the device, or scan a web-UI CSV export with `panpin scan --from-csv`",
            )
        elif not versions.tested(version):
            span = versions.behaviour(versions.TESTED)
            until = span.until or span.since
            self.add(
                "version",
                "warn",
                f"{what}: outside the releases panpin has test data for "
                f"({span.since[0]}.{span.since[1]} to {until[0]}.{until[1]})",
                "try `panpin scan` first and check that its findings make sense",
            )
        else:
            self.add("version", "pass", what)

    def clock(self) -> None:
        try:
            response = self.api.op("<show><clock></clock></show>")
        except errors.PanpinError as exc:
            self.not_checked("clock", exc)
            return
        result = response.result
        text = (
            " ".join("".join(str(t) for t in result.itertext()).split())
            if result is not None
            else ""
        )
        try:
            local = parse_clock(text)
        except errors.ResponseError as exc:
            self.add("clock", "warn", str(exc), "report the device's `show clock` to panpin")
            return
        zone_match = _ZONE_RE.search(text)
        zone = zone_match.group(1).upper() if zone_match else ""
        hours = ZONE_HOURS.get(zone)
        if hours is None:
            self.add(
                "clock",
                "warn",
                f"device clock {text!r}: cannot compare, the zone {zone or '(none)'} is "
                "ambiguous or unknown to panpin",
                "compare it with a trusted clock yourself; set NTP on the device",
            )
            return
        device_utc = local.replace(tzinfo=UTC) - timedelta(hours=hours)
        off = device_utc - self.now().astimezone(UTC)
        seconds = abs(off.total_seconds())
        shown = _duration(seconds)
        if off > CLOCK_WARN or -off > CLOCK_WARN:
            way = "ahead of" if off.total_seconds() > 0 else "behind"
            self.add(
                "clock",
                "warn",
                f"device clock {text!r} is {shown} {way} this machine's: log time windows "
                "(--since) shift by as much",
                "set NTP on the device (Device > Setup > Services), or this machine's clock",
            )
        else:
            self.add("clock", "pass", f"device clock {text!r} is within {shown} of this machine's")

    def permission_config(self) -> None:
        try:
            self.api.config("show", _user_xpath(self.device.admin or ""))
        except errors.PermissionDenied as exc:
            self.denied.add("config")
            self.add("permission-config", "fail", str(exc), _allow("config"))
            return
        except errors.NotPresent:
            pass
        except errors.PanpinError as exc:
            self.not_checked("permission-config", exc)
            return
        self.add("permission-config", "pass", "config reads answer")

    def permission_commit(self) -> None:
        """Commit cannot be tried: the admin's role, read from the config where the key may."""
        admin = self.device.admin
        if not admin:
            self.add(
                "permission-commit",
                "warn",
                "cannot tell: no admin given, so panpin cannot read whose role to check",
                "give --admin (or admin: in the config): the key's user",
            )
            return
        if "config" in self.denied:
            self.add(
                "permission-commit",
                "warn",
                "cannot tell: the role may not read the config where roles live",
                "check Device > Admin Roles > XML API > Commit for this admin by hand",
            )
            return
        try:
            found = commit_permission(self.api, admin)
        except errors.PanpinError as exc:
            self.not_checked("permission-commit", exc)
            return
        verdicts: dict[bool | None, Verdict] = {True: "pass", False: "fail", None: "warn"}
        verdict = verdicts[found.allowed]
        detail = found.detail
        fix = {"fail": _allow("commit"), "warn": "check Device > Admin Roles by hand"}.get(
            verdict, ""
        )
        self.add("permission-commit", verdict, detail, fix)

    def location(self, info: DeviceInfo) -> None:
        loc = self.device.location
        try:
            check_location(self.api, self.device, info)
            if loc.kind == "vsys" and not _exists(self.api, _vsys_xpath(loc.name or "")):
                self.add(
                    "location",
                    "fail",
                    f"{loc} does not exist on {info.hostname}",
                    "use --location shared, or a vsys the device has",
                )
                return
        except errors.SettingsError as exc:
            self.add(
                "location", "fail", str(exc), "choose a location that exists and serves firewalls"
            )
            return
        except errors.PanpinError as exc:
            self.not_checked("location", exc)
            return
        self.add("location", "pass", f"{loc} exists on {info.hostname}")

    def decryption_log(self, info: DeviceInfo) -> None:
        """One log job of at most one entry: tells the log permission and whether there is
        anything to find (a job is no change to the device)."""
        if not versions.supports(info.sw_version, versions.DECRYPTION_LOG):
            self.add(
                "permission-log",
                "warn",
                f"cannot tell: PAN-OS {info.sw_version} has no Decryption log to query",
            )
            return
        try:
            since = format_time(_device_now(self.api) - LOG_WINDOW)
            seen = [0]

            def count(entry: dict[str, str]) -> None:
                seen[0] += 1

            run_log_job(
                self.api,
                f"( receive_time geq '{since}' )",
                skip=0,
                nlogs=1,
                on_entry=count,
                backoff=self.device.log_poll,
            )
        except errors.PermissionDenied as exc:
            self.add("permission-log", "fail", str(exc), _allow("log"))
            return
        except errors.PanpinError as exc:
            self.not_checked("permission-log", exc)
            return
        self.add("permission-log", "pass", "a Decryption-log query answers")
        if seen[0]:
            self.add("decryption-log", "pass", f"entries since {since} (device time)")
        else:
            self.add(
                "decryption-log",
                "warn",
                f"no Decryption-log entry since {since} (device time): nothing to find",
                "make the decryption rules log failures (Policies > Decryption > rule > "
                "Options: Log Unsuccessful SSL Handshake) and check that traffic is decrypted",
            )

    def ha(self) -> None:
        try:
            state = ha_state(self.api)
        except errors.PanpinError as exc:
            self.not_checked("ha", exc)
            return
        self.add("ha", *_ha_verdict(state))

    def locks(self) -> None:
        admin = self.device.admin or ""
        try:
            held = [
                (what, lock)
                for what in ("config-locks", "commit-locks")
                for lock in lock_entries(self.api, what)
                if lock.owner != admin
            ]
        except errors.PanpinError as exc:
            self.not_checked("locks", exc)
            return
        if held:
            self.add(
                "locks",
                "warn",
                "held now: " + "; ".join(_lock_text(what, lock) for what, lock in held),
                "a run waits (exit 5) until they are released; ask the holders",
            )
        else:
            self.add("locks", "pass", "no config or commit lock held by others")

    def pending(self) -> None:
        admin = self.device.admin or ""
        try:
            answer = self.api.op("<check><pending-changes></pending-changes></check>")
            if (answer.root.findtext("result") or "").strip().lower() != "yes":
                self.add("pending-changes", "pass", "no uncommitted changes")
                return
            owners = pending_owners(self.api)
        except errors.PanpinError as exc:
            self.not_checked("pending-changes", exc)
            return
        if owners is None:
            self.add(
                "pending-changes",
                "warn",
                "the device has uncommitted changes (owner unknown)",
                "panpin commits only its admin's changes; check whose they are",
            )
            return
        others = sorted(owners - {admin})
        parts = []
        if others:
            parts.append(f"uncommitted changes by {', '.join(others)} (panpin leaves them alone)")
        if admin in owners:
            parts.append(f"{admin} (panpin's admin) has uncommitted changes: a run exits 5")
        self.add(
            "pending-changes",
            "warn",
            "; ".join(parts),
            "commit or revert them first"
            if admin in owners
            else "none needed: panpin commits only its own admin's changes",
        )


# The order checks are shown in (a check that was not made is simply absent).
ORDER = (
    "connect",
    "tls",
    "api-key",
    "permission-op",
    "permission-config",
    "permission-log",
    "permission-commit",
    "version",
    "clock",
    "location",
    "decryption-log",
    "ha",
    "locks",
    "pending-changes",
)


def doctor(
    api: XmlApi, device: DeviceSettings, *, now: Callable[[], datetime] | None = None
) -> DoctorReport:
    """Reads only: every preflight check on one device (docs/doctor.md). Never raises for what
    it finds; a device it cannot reach is a failed check."""
    run = _Doctor(api, device, now or (lambda: datetime.now(UTC)))
    run.run()
    checks = sorted(run.checks, key=lambda c: ORDER.index(c.name))
    return DoctorReport(device.name, tuple(checks))


def reports_dict(reports: Sequence[DoctorReport]) -> dict[str, object]:
    """The JSON document's body: one ``checks`` row per check and device (the CLI adds
    ``format_version``, as for every document)."""
    return {
        "checks": [{"device": r.device, **c.to_dict()} for r in reports for c in r.checks],
    }


# --- helpers ---------------------------------------------------------------------------------


def _allow(kind: str) -> str:
    return f"allow `{kind}` under Device > Admin Roles > (role) > XML API for this admin"


def _renew_cert() -> str:
    return "renew the management certificate (Device > Certificate Management)"


def _denied_kind(exc: errors.PermissionDenied) -> str:
    found = re.search(r"XML API ([a-z-]+) permission", str(exc))
    return found.group(1) if found else "?"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{int(seconds)}s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def _device_now(api: XmlApi) -> datetime:
    from panpin.panos.device import device_clock

    return device_clock(api)


_DEVICE = "/config/devices/entry[@name='localhost.localdomain']"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,63}$")


def _user_xpath(admin: str) -> str:
    # An admin name outside the safe set never reaches an xpath; the users list is read instead.
    if _SAFE_NAME.match(admin):
        return f"/config/mgt-config/users/entry[@name='{admin}']"
    return "/config/mgt-config/users"


def _vsys_xpath(name: str) -> str:
    return f"{_DEVICE}/vsys/entry[@name='{name}']"  # the name was validated by Location


def _exists(api: XmlApi, xpath: str) -> bool:
    try:
        response = api.config("show", xpath)
    except errors.NotPresent:
        return False
    return not response.not_present and response.result is not None and len(response.result) > 0


def _ha_verdict(state: HaState) -> tuple[Verdict, str, str]:
    if not state.enabled:
        return "pass", "standalone (HA not enabled)", ""
    peer = state.peer_mgmt_ip.split("/", 1)[0] or "(no address)"
    local = state.local_state or "unknown"
    if local in ("non-functional", "suspended") or local.endswith(
        ("-non-functional", "-suspended")
    ):
        return (
            "fail",
            f"this HA member is {local}; its peer {peer} is {state.peer_state or 'unknown'}",
            "fix the HA pair first (Device > High Availability); panpin changes only the active member",
        )
    if not state.changeable:
        return (
            "warn",
            f"this HA member is {local}: panpin changes only the active member; "
            f"the peer {peer} is {state.peer_state or 'unknown'}",
            f"point panpin at the active member ({peer} if it is active)",
        )
    sync = state.running_sync or "unknown"
    if sync != "synchronized":
        return (
            "warn",
            f"this HA member is {local}; running config {sync} with its peer {peer}",
            "enable config sync and synchronize (Device > High Availability > Operational Commands)",
        )
    return (
        "pass",
        f"this HA member is {local}; running config synchronized with its peer {peer}",
        "",
    )


def _lock_text(what: str, lock: LockEntry) -> str:
    kind = what.removesuffix("s").replace("-", " ")
    comment = f", {lock.comment!r}" if lock.comment and lock.comment != "(null)" else ""
    return f"{lock.owner} holds a {kind} (scope {lock.scope}{comment})"
