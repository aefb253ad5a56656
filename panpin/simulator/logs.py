"""The Decryption log: a deterministic generator, a compact store, filtering, paging, entry XML.

Storage is columnar and dictionary-encoded so a 500 000-entry store stays small and fast: every
entry is a row index into a few ``array`` columns (time, profile, client, ports, sequence number);
everything that repeats between entries (host, SNI, CN, error text, device, rule...) lives once in
a *profile*, and source address/user in a *client* table. A filter atom over a profile field is
evaluated once per distinct profile, not once per entry.

Element names and order follow the traffic/config samples and the Decryption log field list in
docs/panos-api.md: decryption log fields; no verbatim decryption entry XML was found, so those names are an inference.
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from panpin.simulator import filter as flt
from panpin.simulator.scenario import ErrorHostSpec, HostileSpec, LogSpec, PinnedHostSpec
from panpin.simulator.xmlutil import esc, esc_attr

_Net = ipaddress.IPv4Network | ipaddress.IPv6Network
EntryKind = Literal["pinned", "error", "noise", "hostile", "appended"]

# Keys of a profile tuple, in order.
PROFILE_KEYS: tuple[str, ...] = (
    "serial",
    "device_name",
    "vsys",
    "vsys_id",
    "dst",
    "natsrc",
    "natdst",
    "rule",
    "rule_uuid",
    "app",
    "from",
    "to",
    "inbound_if",
    "outbound_if",
    "dport",
    "natdport",
    "hs_stage_c2f",
    "hs_stage_f2s",
    "tls_version",
    "tls_keyxchg",
    "tls_enc",
    "tls_auth",
    "policy_name",
    "ec_curve",
    "err_index",
    "root_status",
    "chain_status",
    "proxy_type",
    "cert_serial",
    "fingerprint",
    "notbefore",
    "notafter",
    "cert_size",
    "cn_len",
    "issuer_len",
    "rootcn_len",
    "sni_len",
    "cn",
    "issuer_cn",
    "root_cn",
    "sni",
    "error",
)
_PK = {k: i for i, k in enumerate(PROFILE_KEYS)}

# Per-entry ("dyn") and per-client ("cli") values, in the order they appear in an entry.
DYN_KEYS: tuple[str, ...] = (
    "receive_time",
    "seqno",
    "time_generated",
    "high_res_timestamp",
    "src",
    "srcuser",
    "time_received",
    "sessionid",
    "sport",
    "natsport",
)

Source = tuple[Literal["const", "prof", "dyn"], str]

# Element order of one entry (after ``<entry logid="...">``), modelled on the traffic sample.
ENTRY_LAYOUT: tuple[tuple[str, Source], ...] = (
    ("domain", ("const", "1")),
    ("receive_time", ("dyn", "receive_time")),
    ("serial", ("prof", "serial")),
    ("seqno", ("dyn", "seqno")),
    ("actionflags", ("const", "0x0")),
    ("is-logging-service", ("const", "no")),
    ("type", ("const", "DECRYPTION")),
    ("config_ver", ("const", "2561")),
    ("time_generated", ("dyn", "time_generated")),
    ("high_res_timestamp", ("dyn", "high_res_timestamp")),
    ("src", ("dyn", "src")),
    ("dst", ("prof", "dst")),
    ("natsrc", ("prof", "natsrc")),
    ("natdst", ("prof", "natdst")),
    ("rule", ("prof", "rule")),
    ("srcuser", ("dyn", "srcuser")),
    ("dstuser", ("const", "")),
    ("app", ("prof", "app")),
    ("vsys", ("prof", "vsys")),
    ("from", ("prof", "from")),
    ("to", ("prof", "to")),
    ("inbound_if", ("prof", "inbound_if")),
    ("outbound_if", ("prof", "outbound_if")),
    ("logset", ("const", "default")),
    ("time_received", ("dyn", "time_received")),
    ("sessionid", ("dyn", "sessionid")),
    ("repeatcnt", ("const", "1")),
    ("sport", ("dyn", "sport")),
    ("dport", ("prof", "dport")),
    ("natsport", ("dyn", "natsport")),
    ("natdport", ("prof", "natdport")),
    ("flags", ("const", "0x400000")),
    ("proto", ("const", "tcp")),
    ("action", ("const", "allow")),
    ("tunnel", ("const", "N/A")),
    ("rule_uuid", ("prof", "rule_uuid")),
    ("hs_stage_c2f", ("prof", "hs_stage_c2f")),
    ("hs_stage_f2s", ("prof", "hs_stage_f2s")),
    ("tls_version", ("prof", "tls_version")),
    ("tls_keyxchg", ("prof", "tls_keyxchg")),
    ("tls_enc", ("prof", "tls_enc")),
    ("tls_auth", ("prof", "tls_auth")),
    ("policy_name", ("prof", "policy_name")),
    ("ec_curve", ("prof", "ec_curve")),
    ("err_index", ("prof", "err_index")),
    ("root_status", ("prof", "root_status")),
    ("chain_status", ("prof", "chain_status")),
    ("proxy_type", ("prof", "proxy_type")),
    ("cert_serial", ("prof", "cert_serial")),
    ("fingerprint", ("prof", "fingerprint")),
    ("notbefore", ("prof", "notbefore")),
    ("notafter", ("prof", "notafter")),
    ("cert_ver", ("const", "V3")),
    ("cert_size", ("prof", "cert_size")),
    ("cn_len", ("prof", "cn_len")),
    ("issuer_len", ("prof", "issuer_len")),
    ("rootcn_len", ("prof", "rootcn_len")),
    ("sni_len", ("prof", "sni_len")),
    ("cert_flags", ("const", ":::::RSA")),
    ("cn", ("prof", "cn")),
    ("issuer_cn", ("prof", "issuer_cn")),
    ("root_cn", ("prof", "root_cn")),
    ("sni", ("prof", "sni")),
    ("error", ("prof", "error")),
    ("dg_hier_level_1", ("const", "0")),
    ("dg_hier_level_2", ("const", "0")),
    ("dg_hier_level_3", ("const", "0")),
    ("dg_hier_level_4", ("const", "0")),
    ("device_name", ("prof", "device_name")),
    ("vsys_id", ("prof", "vsys_id")),
)
FIELD_NAMES = frozenset(name for name, _ in ENTRY_LAYOUT)
_SOURCE = dict(ENTRY_LAYOUT)

# Non-pinning failures used for noise: (error text, err_index), texts and indexes as the vendor's
# "Decryption Log Errors" doc writes them (docs/causes.md); the empty
# text with err_index None is a No Decrypt entry (section 2), which no error query matches.
NOISE_ERRORS: tuple[tuple[str, str], ...] = (
    ("General TLS protocol error", "Protocol"),
    ("Unsupported cipher", "Cipher"),
    ("Received fatal alert HandshakeFailure from server", "Certificate"),
    ("Client and decrypt profile version mismatch", "Version"),
    ("Client and server version mismatch", "Version"),
    ("", "None"),
)
_NOISE_SITES = ("news", "shop", "cdn", "video", "mail", "maps", "docs", "ads", "metrics", "sync")
_NOISE_PREFIX = ("www", "static", "img", "api", "edge", "assets")
_FIRST = ("ana", "ben", "chen", "dara", "eli", "femi", "gus", "hana", "ivan", "jo", "kim", "lea")
_LAST = ("smith", "garcia", "nguyen", "okafor", "muller", "rossi", "tanaka", "silva", "khan")

LOGID_BASE = 6_950_000_000_000_000_000
MAX_NLOGS = 5000  # docs/panos-api.md: log jobs


def pinning_error(alert: str, ca_issuer_url: str | None = None, direction: str = "client") -> str:
    """The error text of a TLS alert, as real lines write it (docs/causes.md)."""
    text = f"Received fatal alert {alert} from {direction}"
    if ca_issuer_url:
        text += f". CA Issuer URL: {ca_issuer_url}"
    return text


@dataclass(frozen=True)
class DeviceIdentity:
    """A firewall whose logs appear in the store (serial, name, NAT source address)."""

    serial: str
    name: str
    public_ip: str = "198.51.100.2"


@dataclass(frozen=True)
class ProfileMeta:
    """What the simulator knows about a profile beyond its log fields (never sent)."""

    host: str
    kind: EntryKind
    alert: str | None
    # False for an entry written to be another cause than pinning (a server alert, an untrusted
    # server, GlobalProtect, a truncated name, another wording): expected() leaves it out.
    pinning: bool = True


def spec_is_pinning(p: PinnedHostSpec) -> bool:
    """The spec writes plain pinning entries: every field at its pinning default."""
    return (
        p.proxy_type == "Forward"
        and p.direction == "client"
        and p.root_status == "trusted"
        and p.chain_status == "Trusted"
        and p.logged_length is None
        and p.wording is None
    )


@dataclass(frozen=True)
class ExpectedHost:
    """Per-host truth computed from the store: what a correct scan must report."""

    host: str
    hits: int
    clients: tuple[str, ...]
    errors: dict[str, int]
    apps: tuple[str, ...]
    first_seen: str
    last_seen: str
    devices: tuple[str, ...]
    # (address, user) of each distinct client entry: a scan counts clients from both.
    client_pairs: tuple[tuple[str, str], ...] = ()


def expected_counts(
    spec: LogSpec,
    signals: Iterable[str] = ("UnknownCA", "BadCertificate"),
    pinning_only: bool = True,
) -> dict[str, dict[str, int]]:
    """Hits per host and alert straight from a scenario's log spec (no generation involved)."""
    wanted = set(signals)
    out: dict[str, dict[str, int]] = {}
    for p in spec.pinned:
        if pinning_only and not spec_is_pinning(p):
            continue
        errs = {a: n for a, n in p.alerts.items() if a in wanted and n > 0}
        if errs:
            slot = out.setdefault(p.host, {})
            for a, n in errs.items():
                slot[a] = slot.get(a, 0) + n
    return out


def _other_idn_form(host: str) -> str:
    """``xn--`` labels as Unicode, or Unicode labels as ``xn--`` (Python's IDNA 2003 codec)."""
    labels = []
    for label in host.split("."):
        try:
            if label.startswith("xn--"):
                labels.append(label.encode("ascii").decode("idna"))
            elif not label.isascii():
                labels.append(label.encode("idna").decode("ascii"))
            else:
                labels.append(label)
        except UnicodeError:
            labels.append(label)
    return ".".join(labels)


def _stable_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:8], "big")


def _server_ip(host: str) -> str:
    h = _stable_int(host)
    net = ("203.0.113", "198.51.100", "192.0.2")[h % 3]
    return f"{net}.{(h >> 8) % 250 + 3}"


@dataclass
class _Acc:
    first: int
    last: int
    hits: int = 0
    clients: set[str] = field(default_factory=set)
    errors: dict[str, int] = field(default_factory=dict)
    apps: set[str] = field(default_factory=set)
    devices: set[str] = field(default_factory=set)
    pairs: set[tuple[str, str]] = field(default_factory=set)


@dataclass
class _QueryResult:
    matches: array[int]
    version: int


@dataclass
class LogStore:
    """All Decryption log entries of one simulated device (or of Panorama's managed firewalls).

    Thread safety: callers hold the simulator's device lock; :meth:`append` takes its own lock so
    tests may append while no request runs.
    """

    spec: LogSpec
    devices: tuple[DeviceIdentity, ...]
    clock_start: int  # device clock (seconds) when the simulator started
    tz_offset: str = "+00:00"
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _generated: bool = False
    _times: array[int] = field(default_factory=lambda: array("q"))
    _prof: array[int] = field(default_factory=lambda: array("I"))
    _cli: array[int] = field(default_factory=lambda: array("I"))
    _sport: array[int] = field(default_factory=lambda: array("H"))
    _seq: array[int] = field(default_factory=lambda: array("q"))
    _sess: array[int] = field(default_factory=lambda: array("I"))
    _gdelta: array[int] = field(default_factory=lambda: array("B"))
    profiles: list[tuple[str, ...]] = field(default_factory=list)
    meta: list[ProfileMeta] = field(default_factory=list)
    clients: list[tuple[str, str]] = field(default_factory=list)  # (ip, user)
    _profile_ids: dict[tuple[tuple[str, ...], ProfileMeta], int] = field(default_factory=dict)
    _client_ids: dict[str, int] = field(default_factory=dict)
    _templates: dict[int, str] = field(default_factory=dict)
    _cache: OrderedDict[str, _QueryResult] = field(default_factory=OrderedDict)
    version: int = 0
    _next_seq: int = 1000

    # ---- generation ------------------------------------------------------------------------

    def ensure(self) -> None:
        """Generate the scenario's entries on first use (so config-only tests start fast)."""
        with self._lock:
            if not self._generated:
                self._generated = True
                self._generate()

    def _span(self) -> tuple[int, int]:
        start = flt.parse_time(self.spec.start) if self.spec.start else self.clock_start - 7 * 86400
        end = flt.parse_time(self.spec.end) if self.spec.end else self.clock_start - 60
        if end < start:
            start, end = end, start
        return start, end

    def _generate(self) -> None:
        rng = random.Random(self.spec.seed)
        start, end = self._span()
        net = ipaddress.ip_network(self.spec.client_network, strict=False)
        size = max(net.num_addresses - 2, 1)
        rows: list[tuple[int, int, int]] = []  # (time, profile, client)
        for p in self.spec.pinned:
            rows.extend(self._gen_pinned(rng, p, start, end, net, size))
        for e in self.spec.errors:
            rows.extend(self._gen_error(rng, e, start, end, net, size))
        for h in self.spec.hostile:
            rows.extend(self._gen_hostile(rng, h, start, end, net, size))
        rows.extend(self._gen_noise(rng, self.spec.noise, start, end, net, size))
        rows.sort(key=lambda r: r[0])
        self._extend(rng, rows)

    def _client(self, rng: random.Random, ip: str) -> int:
        cid = self._client_ids.get(ip)
        if cid is None:
            # About one client in five has no User-ID mapping, as on a real network.
            user = "" if rng.random() < 0.2 else f"acme\\{rng.choice(_FIRST)}.{rng.choice(_LAST)}"
            cid = len(self.clients)
            self.clients.append((ip, user))
            self._client_ids[ip] = cid
        return cid

    def _pick_clients(self, rng: random.Random, n: int, net: _Net, size: int) -> list[int]:
        n = min(n, size)
        offsets = rng.sample(range(1, size + 1), n)
        return [self._client(rng, str(net.network_address + off)) for off in offsets]

    def _device_for(self, serials: Sequence[str], i: int) -> DeviceIdentity:
        pool = [d for d in self.devices if d.serial in serials] if serials else list(self.devices)
        if not pool:
            pool = list(self.devices)
        return pool[i % len(pool)]

    def profile_id(
        self,
        *,
        host: str,
        kind: EntryKind,
        alert: str | None,
        device: DeviceIdentity,
        sni: str,
        cn: str,
        error: str,
        err_index: str,
        app: str,
        issuer_cn: str = "R3",
        root_cn: str = "ISRG Root X1",
        tls_version: str = "TLS1.3",
        dst: str | None = None,
        pinning: bool = True,
        proxy_type: str = "Forward",
        root_status: str = "trusted",
        chain_status: str = "Trusted",
        logged_length: int | None = None,
        vsys: str = "vsys1",
    ) -> int:
        cert_key = cn or sni or host
        digest = hashlib.sha256(cert_key.encode("utf-8", "surrogatepass")).hexdigest()
        server = dst or _server_ip(host)
        values = {
            "serial": device.serial,
            "device_name": device.name,
            "vsys": vsys,
            "vsys_id": vsys[4:] if vsys.startswith("vsys") and vsys[4:].isdigit() else "1",
            "dst": server,
            "natsrc": device.public_ip,
            "natdst": server,
            "rule": self.spec.rule,
            "rule_uuid": "6a1c0b1e-4d2f-4f5e-9a3b-"
            + hashlib.md5(self.spec.rule.encode()).hexdigest()[:12],
            "app": app,
            "from": "trust",
            "to": "untrust",
            "inbound_if": "ethernet1/2",
            "outbound_if": "ethernet1/1",
            "dport": "443",
            "natdport": "443",
            # The entry carries the stage each leg reached, underscored as devices write them
            # (docs/causes.md): a client rejecting the forged
            # certificate stops the client leg at Certificate.
            "hs_stage_c2f": "Certificate" if kind != "noise" else "Client_Hello",
            "hs_stage_f2s": "Server_Hello_Done" if kind != "noise" else "Server_Hello",
            "tls_version": tls_version,
            "tls_keyxchg": "ECDHE",
            "tls_enc": "AES_128_GCM",
            "tls_auth": "SHA256",
            "policy_name": self.spec.policy_name,
            "ec_curve": "secp256r1",
            "err_index": err_index,
            "root_status": root_status,
            "chain_status": chain_status,
            "proxy_type": proxy_type,
            "cert_serial": digest[:32].upper(),
            "fingerprint": digest,
            "notbefore": "2026/10/01 00:00:00",
            "notafter": "2026/12/30 23:59:59",
            "cert_size": "2048",
            "cn_len": str(logged_length if logged_length is not None and not sni else len(cn)),
            "issuer_len": str(len(issuer_cn)),
            "rootcn_len": str(len(root_cn)),
            "sni_len": str(logged_length if logged_length is not None and sni else len(sni)),
            "cn": cn,
            "issuer_cn": issuer_cn,
            "root_cn": root_cn,
            "sni": sni,
            "error": error,
        }
        prof = tuple(values[k] for k in PROFILE_KEYS)
        meta = ProfileMeta(host=host, kind=kind, alert=alert, pinning=pinning)
        key = (prof, meta)
        pid = self._profile_ids.get(key)
        if pid is None:
            pid = len(self.profiles)
            self.profiles.append(prof)
            self.meta.append(meta)
            self._profile_ids[key] = pid
        return pid

    def _gen_pinned(
        self,
        rng: random.Random,
        p: PinnedHostSpec,
        start: int,
        end: int,
        net: _Net,
        size: int,
        kind: EntryKind = "pinned",
    ) -> list[tuple[int, int, int]]:
        alerts = [a for a, n in sorted(p.alerts.items()) for _ in range(n)]
        rng.shuffle(alerts)
        total = len(alerts)
        variants: list[str | None] = [v for v, n in sorted(p.variants.items()) for _ in range(n)]
        variants += [None] * (total - len(variants))
        rng.shuffle(variants)
        host_clients = self._pick_clients(rng, p.clients, net, size)
        chosen = host_clients[:total] + [
            rng.choice(host_clients) for _ in range(total - len(host_clients))
        ]
        rng.shuffle(chosen)
        rows = []
        for i, alert in enumerate(alerts):
            variant = variants[i]
            cn = p.cn if p.cn is not None else p.host
            sni = p.host
            if variant == "no_sni":
                sni = ""
            elif variant == "upper":
                sni = p.host.upper()
            elif variant == "trailing_dot":
                sni = p.host + "."
            elif variant == "idn":
                sni = _other_idn_form(p.host)
            pid = self.profile_id(
                host=p.host,
                kind=kind,
                alert=alert,
                device=self._device_for(p.devices, i),
                sni=sni,
                cn=cn,
                error=(
                    p.wording.format(alert=alert)
                    if p.wording is not None
                    else pinning_error(alert, p.ca_issuer_url, p.direction)
                ),
                # Client alerts are Certificate errors (the docs' index; both real lines).
                err_index="Certificate",
                app=p.app,
                issuer_cn=p.issuer_cn,
                root_cn=p.root_cn,
                tls_version=p.tls_version,
                pinning=spec_is_pinning(p),
                proxy_type=p.proxy_type,
                root_status=p.root_status,
                chain_status=p.chain_status,
                logged_length=p.logged_length,
                vsys=p.vsys,
            )
            rows.append((rng.randint(start, end), pid, chosen[i]))
        return rows

    def _gen_error(
        self,
        rng: random.Random,
        e: ErrorHostSpec,
        start: int,
        end: int,
        net: _Net,
        size: int,
    ) -> list[tuple[int, int, int]]:
        host_clients = self._pick_clients(rng, e.clients, net, size)
        rows = []
        for i in range(e.hits):
            pid = self.profile_id(
                host=e.host,
                kind="error",
                alert=None,
                device=self._device_for((), i),
                sni=e.host,
                cn=e.host,
                error=e.error,
                err_index=e.err_index,
                app=e.app,
            )
            rows.append((rng.randint(start, end), pid, host_clients[i % len(host_clients)]))
        return rows

    def _gen_hostile(
        self,
        rng: random.Random,
        h: HostileSpec,
        start: int,
        end: int,
        net: _Net,
        size: int,
    ) -> list[tuple[int, int, int]]:
        def pad(v: str | None) -> str:
            if v is None:
                return ""
            if h.pad_to and v:
                return (v * (h.pad_to // len(v) + 1))[: h.pad_to]
            return v

        sni, cn = pad(h.sni), pad(h.cn)
        client = self._pick_clients(rng, 1, net, size)[0]
        rows = []
        for i in range(h.hits):
            pid = self.profile_id(
                host=sni or cn,
                kind="hostile",
                alert=h.alert,
                device=self._device_for((), i),
                sni=sni,
                cn=cn,
                error=pinning_error(h.alert),
                err_index="Certificate",
                app="incomplete",
            )
            rows.append((rng.randint(start, end), pid, client))
        return rows

    def _gen_noise(
        self,
        rng: random.Random,
        count: int,
        start: int,
        end: int,
        net: _Net,
        size: int,
    ) -> list[tuple[int, int, int]]:
        if count <= 0:
            return []
        hosts = [
            f"{prefix}{k}.{site}.example"
            for site in _NOISE_SITES
            for prefix in _NOISE_PREFIX
            for k in (1, 2)
        ]
        pool = self._pick_clients(rng, min(300, size), net, size)
        profile_cache: dict[tuple[int, int, int], int] = {}
        rows = []
        ndev = len(self.devices)
        for _ in range(count):
            hi = rng.randrange(len(hosts))
            ei = rng.randrange(len(NOISE_ERRORS))
            di = rng.randrange(ndev)
            key = (hi, ei, di)
            pid = profile_cache.get(key)
            if pid is None:
                host = hosts[hi]
                error, index = NOISE_ERRORS[ei]
                # No Decrypt entries: nothing was decrypted, so nothing was verified.
                quiet = index == "None"
                pid = self.profile_id(
                    proxy_type="No Decrypt" if quiet else "Forward",
                    root_status="uninspected" if quiet else "trusted",
                    chain_status="Uninspected" if quiet else "Trusted",
                    host=host,
                    kind="noise",
                    alert=None,
                    device=self.devices[di],
                    sni=host,
                    cn=host,
                    error=error,
                    err_index=index,
                    app="ssl",
                )
                profile_cache[key] = pid
            rows.append((rng.randint(start, end), pid, pool[rng.randrange(len(pool))]))
        return rows

    def _extend(self, rng: random.Random, rows: Sequence[tuple[int, int, int]]) -> None:
        """Append time-sorted rows; keep the whole store sorted by time."""
        if not rows:
            return
        needs_sort = bool(self._times) and rows[0][0] < self._times[-1]
        for t, pid, cid in rows:
            self._times.append(t)
            self._prof.append(pid)
            self._cli.append(cid)
            self._sport.append(rng.randint(1024, 65535))
            self._seq.append(self._next_seq)
            self._next_seq += 1
            self._sess.append(rng.randint(10_000, 4_000_000))
            self._gdelta.append(rng.randint(0, 2))
        if needs_sort:
            self._resort()
        self.version += 1
        self._cache.clear()

    def _resort(self) -> None:
        order = sorted(range(len(self._times)), key=lambda i: (self._times[i], self._seq[i]))
        for name in ("_times", "_prof", "_cli", "_sport", "_seq", "_sess", "_gdelta"):
            col: array[int] = getattr(self, name)
            setattr(self, name, array(col.typecode, (col[i] for i in order)))

    # ---- appending (incremental-scan tests) ------------------------------------------------

    def append(
        self,
        host: str,
        *,
        alert: str = "UnknownCA",
        count: int = 1,
        time: str | None = None,
        clients: Sequence[str] = ("10.20.250.1",),
        sni: str | None = None,
        cn: str | None = None,
        app: str = "incomplete",
        error: str | None = None,
        err_index: str = "Certificate",
        serial: str | None = None,
        seed: int = 0,
    ) -> None:
        """Add ``count`` entries for ``host`` at device-local ``time`` (default: the clock start).

        ``sni``/``cn`` default to ``host``; ``error`` defaults to the client-alert text for
        ``alert``. Entries are spread over ``clients`` round-robin.
        """
        with self._lock:
            self.ensure()
            rng = random.Random(seed or (self.version + 1) * 7919)
            t = flt.parse_time(time) if time else self.clock_start
            device = self._device_for((serial,) if serial else (), 0)
            pid = self.profile_id(
                host=host,
                kind="appended",
                alert=alert if error is None else None,
                device=device,
                sni=host if sni is None else sni,
                cn=host if cn is None else cn,
                error=error if error is not None else pinning_error(alert),
                err_index=err_index,
                app=app,
            )
            rows = [(t, pid, self._client(rng, clients[i % len(clients)])) for i in range(count)]
            self._extend(rng, rows)

    def append_pinned(self, spec: PinnedHostSpec, start: str, end: str, seed: int = 0) -> None:
        """Generate entries for another pinned-host spec between ``start`` and ``end``."""
        with self._lock:
            self.ensure()
            rng = random.Random(seed or (self.version + 1) * 104729)
            net = ipaddress.ip_network(self.spec.client_network, strict=False)
            size = max(net.num_addresses - 2, 1)
            rows = self._gen_pinned(
                rng, spec, flt.parse_time(start), flt.parse_time(end), net, size, "appended"
            )
            rows.sort(key=lambda r: r[0])
            self._extend(rng, rows)

    # ---- reading -----------------------------------------------------------------------------

    def __len__(self) -> int:
        self.ensure()
        return len(self._times)

    def entry(self, i: int) -> dict[str, str]:
        """Entry ``i`` (time order) as ``{element: text}``, plus ``logid``."""
        self.ensure()
        out = {"logid": str(LOGID_BASE + self._seq[i])}
        dyn = self._dyn(i)
        prof = self.profiles[self._prof[i]]
        for name, (kind, key) in ENTRY_LAYOUT:
            if kind == "const":
                out[name] = key
            elif kind == "prof":
                out[name] = prof[_PK[key]]
            else:
                out[name] = dyn[DYN_KEYS.index(key)]
        return out

    def entries(self) -> list[dict[str, str]]:
        return [self.entry(i) for i in range(len(self))]

    def _dyn(self, i: int) -> tuple[str, ...]:
        t = self._times[i]
        rt = flt.format_time(t)
        tg_s = t - self._gdelta[i]
        tg = flt.format_time(tg_s)
        ms = (self._seq[i] * 37) % 1000
        hrt = f"{tg[0:4]}-{tg[5:7]}-{tg[8:10]}T{tg[11:]}.{ms:03d}{self.tz_offset}"
        ip, user = self.clients[self._cli[i]]
        sport = self._sport[i]
        return (
            rt,
            str(self._seq[i]),
            tg,
            hrt,
            ip,
            user,
            rt,
            str(self._sess[i]),
            str(sport),
            str((sport * 7 + 1025) % 64511 + 1024),
        )

    def meta_of(self, i: int) -> ProfileMeta:
        return self.meta[self._prof[i]]

    # ---- filtering ---------------------------------------------------------------------------

    def compile(self, query: str) -> Callable[[int], bool]:
        """Compile a filter query into a predicate over entry indexes."""
        return self._compile(flt.parse(query))

    def _compile(self, expr: flt.Expr) -> Callable[[int], bool]:
        if isinstance(expr, flt.MatchAll):
            return lambda _i: True
        if isinstance(expr, flt.Not):
            inner = self._compile(expr.operand)
            return lambda i: not inner(i)
        if isinstance(expr, flt.And):
            a, b = self._compile(expr.left), self._compile(expr.right)
            return lambda i: a(i) and b(i)
        if isinstance(expr, flt.Or):
            a, b = self._compile(expr.left), self._compile(expr.right)
            return lambda i: a(i) or b(i)
        assert isinstance(expr, flt.Atom)
        try:
            return self._compile_atom(expr)
        except flt.FilterError as exc:
            raise flt.FilterError(exc.detail, expr.pos) from exc

    def _compile_atom(self, atom: flt.Atom) -> Callable[[int], bool]:
        name = flt.canonical_field(atom.field)
        if name == flt.EITHER_ADDRESS:
            src = self._field_pred("src", atom.op, atom.value)
            dst = self._field_pred("dst", atom.op, atom.value)
            if atom.op == "neq":
                return lambda i: src(i) and dst(i)
            return lambda i: src(i) or dst(i)
        if name not in FIELD_NAMES:
            raise flt.FilterError(f"unknown field {atom.field!r}", atom.pos)
        return self._field_pred(name, atom.op, atom.value)

    def _field_pred(self, name: str, op: str, value: str) -> Callable[[int], bool]:
        kind = flt.FIELD_KINDS.get(name, "str")
        pred = flt.value_predicate(kind, op, value)
        source, key = _SOURCE[name]
        if source == "const":
            const = pred(key)
            return lambda _i: const
        if source == "prof":
            k = _PK[key]
            table = [pred(p[k]) for p in self.profiles]
            prof = self._prof
            return lambda i: table[prof[i]]
        if name == "src" or name == "srcuser":
            slot = 0 if name == "src" else 1
            ctable = [pred(c[slot]) for c in self.clients]
            cli = self._cli
            return lambda i: ctable[cli[i]]
        numeric = op != "contains"
        if name in ("receive_time", "time_received") and numeric:
            cmp = flt.numeric_predicate(op, flt.parse_time(value))
            times = self._times
            return lambda i: cmp(times[i])
        if name == "time_generated" and numeric:
            cmp = flt.numeric_predicate(op, flt.parse_time(value))
            times, gd = self._times, self._gdelta
            return lambda i: cmp(times[i] - gd[i])
        column = {"seqno": self._seq, "sessionid": self._sess, "sport": self._sport}.get(name)
        if column is not None and numeric:
            cmp = flt.numeric_predicate(op, int(value))
            col = column
            return lambda i: cmp(col[i])
        slot = DYN_KEYS.index(key)
        return lambda i: pred(self._dyn(i)[slot])

    def query(self, query: str) -> array[int]:
        """Indexes (ascending time) of entries matching ``query``; cached per store version."""
        self.ensure()
        with self._lock:
            hit = self._cache.get(query)
            if hit is not None and hit.version == self.version:
                self._cache.move_to_end(query)
                return hit.matches
            pred = self.compile(query)
            n = len(self._times)
            matches = array("I", (i for i in range(n) if pred(i)))
            self._cache[query] = _QueryResult(matches, self.version)
            while len(self._cache) > 16:
                self._cache.popitem(last=False)
            return matches

    @staticmethod
    def page(matches: Sequence[int], *, skip: int, nlogs: int, direction: str) -> Sequence[int]:
        """The slice of ``matches`` a job returns: newest first for ``backward`` (the default)."""
        total = len(matches)
        if direction == "forward":
            return matches[skip : skip + nlogs]
        hi = total - skip
        lo = max(hi - nlogs, 0)
        if hi <= 0:
            return []
        return [matches[j] for j in range(hi - 1, lo - 1, -1)]

    # ---- XML ---------------------------------------------------------------------------------

    def _template(self, pid: int) -> str:
        tmpl = self._templates.get(pid)
        if tmpl is not None:
            return tmpl
        prof = self.profiles[pid]
        parts = ['<entry logid="%s">']
        for name, (source, key) in ENTRY_LAYOUT:
            if source == "dyn":
                parts.append(f"<{name}>%s</{name}>")
                continue
            text = key if source == "const" else prof[_PK[key]]
            if text == "":
                parts.append(f"<{name}/>")
            else:
                parts.append(f"<{name}>{esc(text).replace('%', '%%')}</{name}>")
        parts.append("</entry>")
        tmpl = "".join(parts)
        self._templates[pid] = tmpl
        return tmpl

    def render(self, indexes: Iterable[int]) -> str:
        """Entry XML for ``indexes``, in that order."""
        out = []
        for i in indexes:
            tmpl = self._template(self._prof[i])
            d = self._dyn(i)
            out.append(
                tmpl
                % (
                    LOGID_BASE + self._seq[i],
                    d[0],
                    d[1],
                    d[2],
                    d[3],
                    d[4],
                    esc(d[5]) if d[5] else "",
                    d[6],
                    d[7],
                    d[8],
                    d[9],
                )
            )
        return "".join(out).replace("<srcuser></srcuser>", "<srcuser/>")

    def meta_xml(self) -> str:
        """The trailing ``<meta>`` block of a finished log job (sample log-job-finished-config-logs)."""
        devices = "".join(
            f'<entry name="{esc_attr(d.serial if len(self.devices) > 1 else "localhost.localdomain")}">'
            f"<hostname>{esc(d.name)}</hostname>"
            '<vsys><entry name="vsys1"><display-name>vsys1</display-name></entry></vsys>'
            "</entry>"
            for d in self.devices
        )
        return f"<meta><devices>{devices}</devices></meta>"

    # ---- expectations ------------------------------------------------------------------------

    def expected(
        self,
        signals: Iterable[str] = ("UnknownCA", "BadCertificate"),
        since: str | None = None,
        until: str | None = None,
        kinds: Iterable[EntryKind] = ("pinned", "appended"),
        pinning_only: bool = True,
    ) -> dict[str, ExpectedHost]:
        """Per logical host: hits, clients, alerts, apps, first/last seen and devices.

        Counts entries whose alert is in ``signals`` and whose receive time is within
        ``[since, until]``; hostile entries are reported by :meth:`expected_hostile` instead.
        ``pinning_only`` leaves out the entries written as another cause (a scan reports them
        under ``not_pinning``); ``False`` counts every entry the signal query matches.
        """
        self.ensure()
        wanted, kind_set = set(signals), set(kinds)
        lo = flt.parse_time(since) if since else None
        hi = flt.parse_time(until) if until else None
        acc: dict[str, _Acc] = {}
        for i in range(len(self._times)):
            meta = self.meta[self._prof[i]]
            if meta.kind not in kind_set or meta.alert is None or meta.alert not in wanted:
                continue
            if pinning_only and not meta.pinning:
                continue
            t = self._times[i]
            if (lo is not None and t < lo) or (hi is not None and t > hi):
                continue
            slot = acc.get(meta.host)
            if slot is None:
                slot = acc[meta.host] = _Acc(first=t, last=t)
            prof = self.profiles[self._prof[i]]
            slot.hits += 1
            slot.clients.add(self.clients[self._cli[i]][0])
            slot.pairs.add(self.clients[self._cli[i]])
            slot.errors[meta.alert] = slot.errors.get(meta.alert, 0) + 1
            slot.apps.add(prof[_PK["app"]])
            slot.devices.add(prof[_PK["serial"]])
            slot.first = min(slot.first, t)
            slot.last = max(slot.last, t)
        return {
            host: ExpectedHost(
                host=host,
                hits=s.hits,
                clients=tuple(sorted(s.clients)),
                errors=dict(sorted(s.errors.items())),
                apps=tuple(sorted(s.apps)),
                first_seen=flt.format_time(s.first),
                last_seen=flt.format_time(s.last),
                devices=tuple(sorted(s.devices)),
                client_pairs=tuple(sorted(s.pairs)),
            )
            for host, s in sorted(acc.items())
        }

    def expected_hostile(self) -> list[str]:
        """The raw SNI (or CN when SNI is empty) of every hostile entry, once each."""
        self.ensure()
        seen: dict[str, None] = {}
        for pid, meta in enumerate(self.meta):
            if meta.kind == "hostile":
                prof = self.profiles[pid]
                seen.setdefault(prof[_PK["sni"]] or prof[_PK["cn"]], None)
        return list(seen)
