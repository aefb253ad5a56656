"""Confirm pinning from a packet capture: the manual procedure's Wireshark check, as a function.

The procedure ends its search with "double-check the error with Wireshark: look for the client
breaking the connection immediately after the TLS handshake". :func:`analyze_capture` does that
for every TLS connection in a pcap or pcapng file: it follows each TCP stream (any port), reassembles
the TLS record layer in both directions and classifies each handshake by its SNI. Per host the
strongest handshake verdict decides the status:

``confirmed``
    The client sent a cleartext fatal certificate alert (``BadCertificate`` 42,
    ``UnsupportedCertificate`` 43, ``CertificateRevoked`` 44, ``CertificateExpired`` 45,
    ``CertificateUnknown`` 46, ``UnknownCA`` 48) right after the server's Certificate: TLS 1.2 and
    earlier, and TLS 1.3 clients (OpenSSL-based ones) that alert before their keys are switched.
``likely``
    The client broke the connection right after the server's certificate without saying why in
    clear: another fatal alert (named); in TLS 1.2 a FIN/RST without an alert; in TLS 1.3 a FIN/RST,
    or one encrypted record (an alert: too short to be a Finished) and then FIN/RST; or the client
    completed the handshake and closed at once without sending any data (a pin check after the
    handshake, as OkHttp's ``CertificatePinner`` does). "Right after" is within
    :data:`QUICK_CLOSE_SECONDS` for closes; an alert counts whenever it answers the server's flight.
``not-pinning``
    Handshakes completed (the client sent its Finished and then data), none pointing to pinning.
``not-seen``
    No handshake with that SNI got as far as the client's answer to the server's certificate
    (none at all, or only ones the server ended, the capture cut short, or the client left late).

Only reading the file is I/O; everything after :func:`read_frames` is pure. Memory does not grow
with the capture: packets are streamed, TLS is parsed as a byte stream without buffering records,
out-of-order data is capped per direction (:data:`MAX_PENDING_PER_DIRECTION`) and overall, at most
:data:`MAX_LIVE_CONNECTIONS` connections are followed at once, and a connection's state is dropped
as soon as its handshake is classified. Per host only counts and a few pieces of evidence are kept.

The pcap and pcapng containers are read here (strictly, so a truncated or corrupt file is a
:class:`CaptureError`, exit 2, instead of a silently shorter capture); link, IP and TCP headers are
decoded with dpkt.
"""

from __future__ import annotations

import ipaddress
import struct
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final, Literal

import dpkt

from panpin.errors import InputError
from panpin.hosts import is_wildcard, wildcard_matches

Status = Literal["confirmed", "likely", "not-pinning", "not-seen"]
STATUSES: Final[tuple[Status, ...]] = ("confirmed", "likely", "not-pinning", "not-seen")

# A close (not an alert) counts as "right after" the server's flight only within this many
# seconds: a pin check fails in milliseconds, while a client that leaves later timed out or gave up.
QUICK_CLOSE_SECONDS: Final = 2.0
# Bounds that keep memory independent of the capture's size (see the module docstring).
MAX_PENDING_PER_DIRECTION: Final = 64 * 1024
MAX_PENDING_TOTAL: Final = 32 * 1024 * 1024
MAX_LIVE_CONNECTIONS: Final = 20_000
IDLE_SECONDS: Final = 300.0
MAX_EVIDENCE: Final = 3

# libpcap's largest snapshot length; a record that claims more means a corrupt file.
MAX_PACKET_BYTES: Final = 262_144
# Non-packet pcapng blocks (name resolution, decryption secrets) may be larger than a packet.
MAX_BLOCK_BYTES: Final = 16 * 1024 * 1024

# TLS alert descriptions (RFC 8446 section 6, RFC 5246 section 7.2), named as PAN-OS writes them
# in the Decryption log so they read like the policy's signals.
ALERT_NAMES: Final[dict[int, str]] = {
    0: "CloseNotify",
    10: "UnexpectedMessage",
    20: "BadRecordMac",
    21: "DecryptionFailed",
    22: "RecordOverflow",
    30: "DecompressionFailure",
    40: "HandshakeFailure",
    41: "NoCertificate",
    42: "BadCertificate",
    43: "UnsupportedCertificate",
    44: "CertificateRevoked",
    45: "CertificateExpired",
    46: "CertificateUnknown",
    47: "IllegalParameter",
    48: "UnknownCA",
    49: "AccessDenied",
    50: "DecodeError",
    51: "DecryptError",
    60: "ExportRestriction",
    70: "ProtocolVersion",
    71: "InsufficientSecurity",
    80: "InternalError",
    86: "InappropriateFallback",
    90: "UserCanceled",
    100: "NoRenegotiation",
    109: "MissingExtension",
    110: "UnsupportedExtension",
    112: "UnrecognizedName",
    113: "BadCertificateStatusResponse",
    115: "UnknownPskIdentity",
    116: "CertificateRequired",
    120: "NoApplicationProtocol",
}
# The client refused the certificate it was shown: what a pinning client says when it can.
CERTIFICATE_ALERTS: Final = frozenset({42, 43, 44, 45, 46, 48})

Verdict = Literal[
    "certificate-alert",
    "other-alert",
    "closed-after-certificate",
    "closed-after-flight",
    "encrypted-alert",
    "closed-after-handshake",
    "completed",
    "alert-before-certificate",
    "closed-before-certificate",
    "closed-late",
    "resumed",
    "server-alert",
    "server-closed",
    "no-server-hello",
    "no-client-response",
    "gap",
]
VERDICT_STATUS: Final[dict[str, Status]] = {
    "certificate-alert": "confirmed",
    "other-alert": "likely",
    "closed-after-certificate": "likely",
    "closed-after-flight": "likely",
    "encrypted-alert": "likely",
    "closed-after-handshake": "likely",
    "completed": "not-pinning",
    # The rest say nothing about the certificate: on their own a host stays "not-seen".
    "alert-before-certificate": "not-seen",
    "closed-before-certificate": "not-seen",
    "closed-late": "not-seen",
    "resumed": "not-seen",
    "server-alert": "not-seen",
    "server-closed": "not-seen",
    "no-server-hello": "not-seen",
    "no-client-response": "not-seen",
    "gap": "not-seen",
}
_STATUS_RANK: Final[dict[str, int]] = {s: i for i, s in enumerate(STATUSES)}

_VERSION_NAMES: Final = {
    0x0300: "SSL 3.0",
    0x0301: "TLS 1.0",
    0x0302: "TLS 1.1",
    0x0303: "TLS 1.2",
    0x0304: "TLS 1.3",
}
# RFC 8446 4.1.3: a ServerHello with this random is a HelloRetryRequest.
_HRR_RANDOM: Final = bytes.fromhex(
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
)
# The shortest TLS 1.3 Finished record: 4-byte header + 32-byte verify_data + content type + the
# shortest AEAD tag (8, TLS_AES_128_CCM_8). Anything shorter the client sends is an alert.
_MIN_FINISHED_RECORD: Final = 4 + 32 + 1 + 8
_MAX_RECORD: Final = 2**14 + 2048  # TLSCiphertext.length limit (RFC 5246 6.2.3)
# An encrypted alert is 2 bytes + content type + a 16-byte tag (RFC 8446 5.2), a little padding
# allowed; a longer record after the Finished is application data.
_MAX_ALERT_RECORD: Final = 2 + 1 + 16 + 5
_KEEP_HELLO: Final = 64 * 1024  # ClientHello/ServerHello bodies are parsed; larger ones are not

_CT_CCS, _CT_ALERT, _CT_HANDSHAKE, _CT_APPDATA, _CT_HEARTBEAT = 20, 21, 22, 23, 24
_HS_CLIENT_HELLO, _HS_SERVER_HELLO, _HS_CERTIFICATE, _HS_SERVER_DONE, _HS_CLIENT_KEX = (
    1,
    2,
    11,
    14,
    16,
)

_TCP_FIN, _TCP_SYN, _TCP_RST, _TCP_ACK = 0x01, 0x02, 0x04, 0x10
_SEQ_MOD: Final = 1 << 32


class CaptureError(InputError):
    """The capture cannot be read: not pcap/pcapng, malformed or truncated (exit 2)."""


# --- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Handshake:
    """One classified TLS handshake: the evidence a reviewer can find again in Wireshark.

    ``stream`` numbers the TLS connections of the capture in the order of their ClientHello (it is
    panpin's number, not Wireshark's ``tcp.stream``; ``wireshark_filter`` selects the connection).
    ``packets`` maps milestones (``client_hello``, ``server_hello``, ``certificate`` or
    ``server_flight``, ``client_answer``, ``client_close``...) to frame numbers as Wireshark counts
    them (from 1). ``delay_ms`` is the time from the end of the server's flight to the client's
    answer (alert, record or close).
    """

    stream: int
    client: str
    server: str
    sni: str | None
    version: str | None
    verdict: Verdict
    detail: str
    alert: str | None = None
    alert_code: int | None = None
    packets: tuple[tuple[str, int], ...] = ()
    start: float = 0.0
    delay_ms: float | None = None

    @property
    def status(self) -> Status:
        return VERDICT_STATUS[self.verdict]

    @property
    def wireshark_filter(self) -> str:
        c_ip, c_port = _split_endpoint(self.client)
        s_ip, s_port = _split_endpoint(self.server)
        field_name = "ipv6.addr" if ":" in c_ip else "ip.addr"
        return (
            f"{field_name}=={c_ip} && tcp.port=={c_port} && "
            f"{field_name}=={s_ip} && tcp.port=={s_port}"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "stream": self.stream,
            "client": self.client,
            "server": self.server,
            "sni": self.sni,
            "version": self.version,
            "verdict": self.verdict,
            "status": self.status,
            "alert": self.alert,
            "alert_code": self.alert_code,
            "packets": dict(self.packets),
            "start": _iso(self.start),
            "delay_ms": self.delay_ms,
            "detail": self.detail,
            "wireshark_filter": self.wireshark_filter,
        }


@dataclass(frozen=True)
class HostConfirmation:
    """What a capture says about one host.

    ``status`` is one of :data:`STATUSES`; ``reason`` is one line for a reviewer; ``handshakes``
    counts the handshakes with this SNI and ``verdicts`` counts them by verdict; ``evidence`` holds
    up to :data:`MAX_EVIDENCE` handshakes, strongest first.
    """

    host: str
    status: Status
    reason: str
    handshakes: int = 0
    verdicts: tuple[tuple[str, int], ...] = ()
    evidence: tuple[Handshake, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "host": self.host,
            "status": self.status,
            "reason": self.reason,
            "handshakes": self.handshakes,
            "verdicts": dict(self.verdicts),
            "evidence": [h.to_dict() for h in self.evidence],
        }


@dataclass
class CaptureStats:
    """Counts over the whole file, for the summary line and for diagnosing an empty result."""

    format: str = ""
    packets: int = 0
    tcp_packets: int = 0
    undecoded: int = 0
    unsupported_link: int = 0
    fragments: int = 0
    tls_connections: int = 0
    handshakes_without_sni: int = 0
    retransmissions: int = 0
    gaps: int = 0
    evicted: int = 0
    first_time: float | None = None
    last_time: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "format": self.format,
            "packets": self.packets,
            "tcp_packets": self.tcp_packets,
            "undecoded": self.undecoded,
            "unsupported_link": self.unsupported_link,
            "fragments": self.fragments,
            "tls_connections": self.tls_connections,
            "handshakes_without_sni": self.handshakes_without_sni,
            "retransmissions": self.retransmissions,
            "gaps": self.gaps,
            "evicted": self.evicted,
            "first_time": _iso(self.first_time) if self.first_time is not None else None,
            "last_time": _iso(self.last_time) if self.last_time is not None else None,
        }


@dataclass(frozen=True)
class CaptureReport:
    capture: str
    hosts: dict[str, HostConfirmation]
    stats: CaptureStats

    def to_dict(self) -> dict[str, object]:
        return {
            "capture": self.capture,
            "stats": self.stats.to_dict(),
            "hosts": [self.hosts[h].to_dict() for h in sorted(self.hosts)],
        }


def confirm_hosts(
    path: str | Path, hosts: Iterable[str] | None = None
) -> dict[str, HostConfirmation]:
    """Classify the TLS handshakes in the capture at ``path`` and return a result per host.

    With ``hosts``, exactly those (lower-cased, without a trailing dot) are returned, ``not-seen``
    when absent; a PAN-OS wildcard such as ``*.vendor.example`` gathers every SNI it matches.
    Without, every SNI in the capture is returned. Raises :class:`CaptureError` for a file that is
    not a readable pcap/pcapng capture. Reads the file, nothing else.
    """
    return analyze_capture(path, hosts).hosts


def analyze_capture(
    path: str | Path,
    hosts: Iterable[str] | None = None,
    *,
    quick_close: float = QUICK_CLOSE_SECONDS,
) -> CaptureReport:
    """:func:`confirm_hosts` with the capture's statistics; see the module docstring for the rules."""
    p = Path(path)
    wanted = None if hosts is None else sorted({_norm_host(h) for h in hosts if h.strip()})
    try:
        fh = p.open("rb")
    except OSError as exc:
        raise CaptureError(f"{p}: cannot read capture: {exc.strerror or exc}") from None
    with fh:
        tracker = _Tracker(wanted, quick_close)
        for frame in read_frames(fh, str(p), tracker.stats):
            tracker.packet(frame)
        tracker.finish()
    return CaptureReport(str(p), tracker.results(), tracker.stats)


# --- pcap and pcapng -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured packet: ``number`` counts from 1 like Wireshark's ``frame.number``."""

    number: int
    time: float
    linktype: int
    data: bytes
    truncated: bool = False


_PCAP_MAGIC: Final = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e6),
    b"\xa1\xb2\xc3\xd4": (">", 1e6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e9),
    b"\xa1\xb2\x3c\x4d": (">", 1e9),
}
_PCAPNG_SHB: Final = b"\x0a\x0d\x0d\x0a"


def read_frames(fh: IO[bytes], name: str, stats: CaptureStats | None = None) -> Iterator[Frame]:
    """Stream the packets of a pcap or pcapng file, raising :class:`CaptureError` on any defect."""
    magic = fh.read(4)
    stats = stats if stats is not None else CaptureStats()
    if magic in _PCAP_MAGIC:
        stats.format = "pcap"
        yield from _read_pcap(fh, name, magic)
    elif magic == _PCAPNG_SHB:
        stats.format = "pcapng"
        yield from _read_pcapng(fh, name)
    elif not magic:
        raise CaptureError(f"{name}: the file is empty")
    elif magic[:2] == b"\x1f\x8b":
        raise CaptureError(f"{name}: the capture is gzip-compressed; decompress it first")
    else:
        raise CaptureError(
            f"{name}: not a pcap or pcapng capture (it starts with {magic.hex(' ')}); save it "
            "from Wireshark or tcpdump as pcap or pcapng"
        )


def _read_exact(fh: IO[bytes], size: int, name: str, what: str) -> bytes:
    data = fh.read(size)
    if len(data) != size:
        raise CaptureError(
            f"{name}: truncated: the file ends inside {what} ({len(data)} of {size} bytes); "
            "was the capture cut short?"
        )
    return data


def _read_pcap(fh: IO[bytes], name: str, magic: bytes) -> Iterator[Frame]:
    endian, divisor = _PCAP_MAGIC[magic]
    header = _read_exact(fh, 20, name, "the file header")
    major, _minor, _zone, _sigfigs, _snaplen, network = struct.unpack(endian + "HHiIII", header)
    if major != 2:
        raise CaptureError(f"{name}: pcap version {major} is not supported (only 2.x)")
    # The upper bits of the link type field carry FCS information, not the type.
    linktype = network & 0xFFFF
    record = struct.Struct(endian + "IIII")
    number = 0
    while True:
        head = fh.read(16)
        if not head:
            return
        number += 1
        if len(head) < 16:
            raise CaptureError(
                f"{name}: truncated: the file ends inside the header of packet {number}; "
                "was the capture cut short?"
            )
        sec, frac, caplen, origlen = record.unpack(head)
        if caplen > MAX_PACKET_BYTES:
            raise CaptureError(
                f"{name}: malformed: packet {number} claims {caplen} bytes "
                f"(more than {MAX_PACKET_BYTES}); the file is corrupt"
            )
        if frac >= divisor:
            raise CaptureError(f"{name}: malformed: packet {number} has an invalid timestamp")
        data = _read_exact(fh, caplen, name, f"packet {number}")
        yield Frame(number, sec + frac / divisor, linktype, data, origlen > caplen)


@dataclass
class _Interface:
    linktype: int
    snaplen: int
    divisor: float = 1e6
    offset: int = 0


def _read_pcapng(fh: IO[bytes], name: str) -> Iterator[Frame]:
    endian = "<"
    interfaces: list[_Interface] = []
    number = 0
    last_time = 0.0
    first = True
    while True:
        head = _PCAPNG_SHB if first else fh.read(4)
        first = False
        if not head:
            return
        where = f"the block after packet {number}" if number else "the first blocks"
        if len(head) < 4:
            raise CaptureError(f"{name}: truncated: the file ends inside {where}")
        if head == _PCAPNG_SHB:
            raw = _read_exact(fh, 8, name, "a section header")
            bom = raw[4:8]
            if bom == b"\x4d\x3c\x2b\x1a":
                endian = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                endian = ">"
            else:
                raise CaptureError(f"{name}: malformed: section header has no byte-order magic")
            length = struct.unpack(endian + "I", raw[:4])[0]
            _check_block_length(length, 28, name, where)
            body = _read_exact(fh, length - 12, name, "a section header")
            if struct.unpack(endian + "I", body[-4:])[0] != length:
                raise CaptureError(f"{name}: malformed: section header lengths disagree")
            major = struct.unpack(endian + "H", body[:2])[0]
            if major != 1:
                raise CaptureError(f"{name}: pcapng version {major} is not supported (only 1.x)")
            interfaces = []  # interface ids are per section
            continue
        block_type = struct.unpack(endian + "I", head)[0]
        length = struct.unpack(endian + "I", _read_exact(fh, 4, name, where))[0]
        _check_block_length(length, 12, name, where)
        if block_type not in (1, 2, 3, 6):
            _skip(fh, length - 8, name, where)
            continue
        if length > MAX_PACKET_BYTES + 64:
            raise CaptureError(f"{name}: malformed: a packet block claims {length} bytes")
        block = _read_exact(fh, length - 8, name, where)
        body, trailer = block[:-4], block[-4:]
        if struct.unpack(endian + "I", trailer)[0] != length:
            raise CaptureError(f"{name}: malformed: block lengths disagree in {where}")
        if block_type == 1:
            interfaces.append(_interface(body, endian, name))
            continue
        number += 1
        if block_type == 3:  # Simple Packet Block: interface 0, no timestamp
            if len(body) < 4:
                raise CaptureError(f"{name}: malformed: packet {number} is too short")
            iface_id, origlen = 0, struct.unpack(endian + "I", body[:4])[0]
            iface = _iface(interfaces, iface_id, name, number)
            data = body[4 : 4 + min(origlen, iface.snaplen or origlen)]
            caplen, when = len(data), last_time
        else:
            fmt = endian + ("IIIII" if block_type == 6 else "HHIIII")
            size = struct.calcsize(fmt)
            if len(body) < size:
                raise CaptureError(f"{name}: malformed: packet {number} is too short")
            if block_type == 6:
                iface_id, ts_high, ts_low, caplen, origlen = struct.unpack(fmt, body[:size])
            else:  # obsolete Packet Block
                iface_id, _drops, ts_high, ts_low, caplen, origlen = struct.unpack(fmt, body[:size])
            iface = _iface(interfaces, iface_id, name, number)
            if size + caplen > len(body):
                raise CaptureError(
                    f"{name}: malformed: packet {number} claims {caplen} bytes, its block holds "
                    f"{len(body) - size}"
                )
            data = body[size : size + caplen]
            when = iface.offset + ((ts_high << 32) | ts_low) / iface.divisor
        last_time = when
        yield Frame(number, when, iface.linktype, data, origlen > caplen)


def _check_block_length(length: int, minimum: int, name: str, where: str) -> None:
    if length < minimum or length % 4 or length > MAX_BLOCK_BYTES:
        raise CaptureError(f"{name}: malformed: {where} has an invalid length ({length})")


def _skip(fh: IO[bytes], size: int, name: str, where: str) -> None:
    # Read in pieces so a large block (e.g. embedded TLS secrets) costs no large allocation.
    while size > 0:
        chunk = fh.read(min(size, 1 << 16))
        if not chunk:
            raise CaptureError(f"{name}: truncated: the file ends inside {where}")
        size -= len(chunk)


def _iface(interfaces: list[_Interface], iface_id: int, name: str, number: int) -> _Interface:
    if iface_id >= len(interfaces):
        raise CaptureError(
            f"{name}: malformed: packet {number} names interface {iface_id}, which was not described"
        )
    return interfaces[iface_id]


def _interface(body: bytes, endian: str, name: str) -> _Interface:
    if len(body) < 8:
        raise CaptureError(f"{name}: malformed: interface description is too short")
    linktype, _reserved, snaplen = struct.unpack(endian + "HHI", body[:8])
    iface = _Interface(linktype, snaplen)
    pos = 8
    while pos + 4 <= len(body):
        code, size = struct.unpack(endian + "HH", body[pos : pos + 4])
        value = body[pos + 4 : pos + 4 + size]
        pos += 4 + size + (-size % 4)
        if code == 0:
            break
        if code == 9 and size == 1:  # if_tsresol: 10^-n, or 2^-n when the top bit is set
            exp = value[0] & 0x7F
            iface.divisor = float(2**exp if value[0] & 0x80 else 10**exp)
        elif code == 14 and size == 8:  # if_tsoffset, seconds
            iface.offset = struct.unpack(endian + "q", value)[0]
    return iface


# --- link, IP and TCP (dpkt) ---------------------------------------------------------------------

_Endpoint = tuple[bytes, int]


@dataclass(frozen=True, slots=True)
class _Segment:
    src: _Endpoint
    dst: _Endpoint
    seq: int
    flags: int
    payload: bytes


class _Undecodable(Exception):
    pass


def _network_layer(linktype: int, data: bytes) -> Any:
    """The dpkt IP/IP6 object in a frame, or ``None`` when the frame carries no IP."""
    if linktype == 1:
        packet = dpkt.ethernet.Ethernet(data)
    elif linktype == 113:
        packet = dpkt.sll.SLL(data)
    elif linktype == 276:
        packet = dpkt.sll2.SLL2(data)
    elif linktype in (0, 108):
        packet = dpkt.loopback.Loopback(data)
    elif linktype in (101, 12, 14, 228, 229):  # raw IP, version in the first nibble
        if not data:
            return None
        version = data[0] >> 4
        return dpkt.ip.IP(data) if version == 4 else dpkt.ip6.IP6(data) if version == 6 else None
    else:
        raise _Undecodable(f"link type {linktype}")
    return packet.data


def _decode(frame: Frame, stats: CaptureStats) -> _Segment | None:
    try:
        ip = _network_layer(frame.linktype, frame.data)
    except _Undecodable:
        stats.unsupported_link += 1
        return None
    except (dpkt.Error, struct.error, IndexError, ValueError):
        stats.undecoded += 1
        return None
    if isinstance(ip, dpkt.ip.IP):
        if ip.p != 6:
            return None
        if ip.mf or ip.offset:
            # TCP over fragmented IP is rare enough that reassembling fragments is not worth it.
            stats.fragments += 1
            return None
    elif isinstance(ip, dpkt.ip6.IP6):
        if 44 in ip.extension_hdrs:
            stats.fragments += 1
            return None
        if ip.p != 6:
            return None
    else:
        return None
    tcp = ip.data
    if not isinstance(tcp, dpkt.tcp.TCP):
        stats.undecoded += 1
        return None
    stats.tcp_packets += 1
    return _Segment(
        (bytes(ip.src), int(tcp.sport)),
        (bytes(ip.dst), int(tcp.dport)),
        int(tcp.seq),
        int(tcp.flags),
        bytes(tcp.data),
    )


def _endpoint_text(ep: _Endpoint) -> str:
    addr = ipaddress.ip_address(ep[0])
    return f"[{addr}]:{ep[1]}" if addr.version == 6 else f"{addr}:{ep[1]}"


def _split_endpoint(text: str) -> tuple[str, str]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), port


# --- TCP reassembly and the TLS byte stream ------------------------------------------------------


class _Direction:
    """One direction of a TCP connection: in-order delivery, then a streaming TLS record parser.

    Nothing but headers is buffered: record and handshake bodies are counted, except the first
    two bytes of an alert and the bodies of ClientHello/ServerHello, which are parsed.
    """

    __slots__ = (
        "closed",
        "encrypted",
        "fin_seq",
        "hs_body",
        "hs_head",
        "hs_left",
        "hs_type",
        "lost",
        "next_seq",
        "pending",
        "pending_bytes",
        "rec_body",
        "rec_head",
        "rec_left",
        "rec_len",
        "rec_type",
    )

    def __init__(self) -> None:
        self.next_seq: int | None = None
        self.pending: dict[int, tuple[bytes, int, float]] = {}
        self.pending_bytes = 0
        self.fin_seq: tuple[int, int, float] | None = None
        self.closed = False
        self.lost = False
        self.rec_head = bytearray()
        self.rec_type = 0
        self.rec_len = 0
        self.rec_left = 0
        self.rec_body = bytearray()
        self.encrypted = False  # after this side's ChangeCipherSpec
        self.hs_head = bytearray()
        self.hs_type = 0
        self.hs_left = 0
        self.hs_body: bytearray | None = None


class _Connection:
    """One TCP connection: reassembly state for both sides and the handshake's classification."""

    __slots__ = (
        "alert",
        "client",
        "client_done",
        "client_hello_pkt",
        "client_records",
        "dirs",
        "done",
        "flight_end",
        "hrr",
        "last_seen",
        "last_server",
        "not_tls",
        "packets",
        "psk",
        "server",
        "server_cert",
        "server_hello_pkt",
        "sni",
        "start",
        "stream",
        "tls13",
        "verdict",
        "version",
    )

    def __init__(self, client: _Endpoint, server: _Endpoint, now: float) -> None:
        self.client = client
        self.server = server
        self.dirs: dict[_Endpoint, _Direction] = {}
        self.stream = -1
        self.start = now
        self.last_seen = now
        self.not_tls = False
        self.done = False
        self.sni: str | None = None
        self.version: int | None = None
        self.tls13 = False
        self.psk = False
        self.hrr = False  # the server asked for another ClientHello: both stay in clear
        self.client_hello_pkt: int | None = None
        self.server_hello_pkt: int | None = None
        self.server_cert: tuple[int, float] | None = None  # TLS <= 1.2 Certificate message
        self.flight_end: tuple[int, float] | None = None  # last server record before the answer
        self.client_records: list[tuple[int, int, float]] = []  # TLS 1.3: (length, pkt, time)
        # When the client went on with the handshake (key exchange, CCS or Finished): it had
        # accepted the certificate by then.
        self.client_done: tuple[int, float] | None = None
        self.last_server: tuple[int, float] | None = None
        self.packets: list[tuple[str, int]] = []  # milestones after the server's flight
        self.alert: tuple[str, int] | None = None
        self.verdict: tuple[Verdict, str, float | None] | None = None

    def direction(self, ep: _Endpoint) -> _Direction:
        d = self.dirs.get(ep)
        if d is None:
            d = self.dirs[ep] = _Direction()
        return d


class _Tally:
    __slots__ = ("evidence", "handshakes", "verdicts")

    def __init__(self) -> None:
        self.handshakes = 0
        self.verdicts: Counter[str] = Counter()
        self.evidence: list[Handshake] = []

    def add(self, hs: Handshake) -> None:
        self.handshakes += 1
        self.verdicts[hs.verdict] += 1
        self.evidence.append(hs)
        # Strongest status first, then the earliest: the first rows are the ones worth opening.
        self.evidence.sort(key=lambda h: (_STATUS_RANK[h.status], h.start, h.stream))
        del self.evidence[MAX_EVIDENCE:]


class _Tracker:
    """Follows every TCP connection of a capture and tallies classified handshakes per host."""

    def __init__(self, wanted: list[str] | None, quick_close: float) -> None:
        self.wanted = wanted
        self.wanted_exact = {w for w in wanted or () if not is_wildcard(w)}
        self.wanted_wild = [w for w in wanted or () if is_wildcard(w)]
        self.quick = quick_close
        self.stats = CaptureStats()
        self.live: OrderedDict[tuple[_Endpoint, _Endpoint], _Connection] = OrderedDict()
        self.tallies: dict[str, _Tally] = {}
        self.pending_total = 0
        self.streams = 0

    # --- packets ---

    def packet(self, frame: Frame) -> None:
        stats = self.stats
        stats.packets += 1
        if stats.first_time is None:
            stats.first_time = frame.time
        stats.last_time = frame.time
        seg = _decode(frame, stats)
        if seg is not None:
            self._segment(seg, frame)
        if stats.packets % 1024 == 0:
            self._expire(frame.time)

    def _segment(self, seg: _Segment, frame: Frame) -> None:
        key = (seg.src, seg.dst) if seg.src <= seg.dst else (seg.dst, seg.src)
        conn = self.live.get(key)
        syn_only = seg.flags & (_TCP_SYN | _TCP_ACK) == _TCP_SYN
        if conn is not None and syn_only and (conn.client != seg.src or conn.stream >= 0):
            # A new connection on the same ports: the old one ends here.
            self._finalize(key, conn)
            conn = None
        if conn is None:
            if not syn_only and not _looks_like_client_hello(seg.payload):
                return  # mid-stream traffic, or the rest of a connection already classified
            if len(self.live) >= MAX_LIVE_CONNECTIONS:
                old_key, old = next(iter(self.live.items()))
                self.stats.evicted += 1
                self._finalize(old_key, old)
            # The side that sends the SYN, or else the ClientHello, is the client.
            conn = _Connection(seg.src, seg.dst, frame.time)
            self.live[key] = conn
        else:
            self.live.move_to_end(key)
        conn.last_seen = frame.time
        d = conn.direction(seg.src)
        if seg.flags & _TCP_SYN:
            d.next_seq = (seg.seq + 1) % _SEQ_MOD
        if seg.payload:
            if frame.truncated:
                self._lose(conn, d, frame.number, "the capture's snapshot length cut packets short")
            else:
                self._data(conn, seg.src, d, seg.seq, seg.payload, frame)
        if not conn.done:
            if seg.flags & _TCP_RST:
                self._close(conn, seg.src, "RST", frame.number, frame.time)
            elif seg.flags & _TCP_FIN:
                fin = (seg.seq + len(seg.payload)) % _SEQ_MOD
                d.fin_seq = (fin, frame.number, frame.time)
                self._maybe_fin(conn, seg.src, d)
        closing = seg.flags & (_TCP_FIN | _TCP_RST)
        if conn.done or (closing and (conn.not_tls or conn.stream < 0)):
            self._finalize(key, conn)

    def _data(
        self,
        conn: _Connection,
        src: _Endpoint,
        d: _Direction,
        seq: int,
        payload: bytes,
        frame: Frame,
    ) -> None:
        if d.lost or conn.not_tls:
            return
        if d.next_seq is None:
            d.next_seq = seq  # capture started after the SYN: take the first data as the start
        ahead = (seq - d.next_seq) % _SEQ_MOD
        if ahead >= _SEQ_MOD // 2:  # starts before what was delivered: retransmission/overlap
            overlap = _SEQ_MOD - ahead
            if overlap >= len(payload):
                self.stats.retransmissions += 1
                return
            payload = payload[overlap:]
            ahead = 0
        if ahead:
            if (
                d.pending_bytes + len(payload) > MAX_PENDING_PER_DIRECTION
                or self.pending_total + len(payload) > MAX_PENDING_TOTAL
            ):
                self._lose(conn, d, frame.number, "segments are missing from the capture")
                return
            if seq not in d.pending:
                d.pending[seq] = (payload, frame.number, frame.time)
                d.pending_bytes += len(payload)
                self.pending_total += len(payload)
            return
        self._deliver(conn, src, d, payload, frame.number, frame.time)
        while d.pending and not conn.done and not d.lost:
            nxt = self._take_pending(d)
            if nxt is None:
                break
            self._deliver(conn, src, d, *nxt)

    def _take_pending(self, d: _Direction) -> tuple[bytes, int, float] | None:
        assert d.next_seq is not None
        for seq in list(d.pending):
            data, pkt, when = d.pending[seq]
            ahead = (seq - d.next_seq) % _SEQ_MOD
            if ahead and ahead < _SEQ_MOD // 2:
                continue
            del d.pending[seq]
            d.pending_bytes -= len(data)
            self.pending_total -= len(data)
            overlap = (_SEQ_MOD - ahead) % _SEQ_MOD
            if overlap < len(data):
                return data[overlap:], pkt, when
        return None

    def _deliver(
        self, conn: _Connection, src: _Endpoint, d: _Direction, data: bytes, pkt: int, when: float
    ) -> None:
        assert d.next_seq is not None
        d.next_seq = (d.next_seq + len(data)) % _SEQ_MOD
        _feed(self, conn, src, d, memoryview(data), pkt, when)
        if not conn.done:
            self._maybe_fin(conn, src, d)

    def _maybe_fin(self, conn: _Connection, src: _Endpoint, d: _Direction) -> None:
        # A FIN is in sequence space: it counts once every byte before it was delivered.
        if d.fin_seq is None or d.closed or d.next_seq is None:
            return
        fin, pkt, when = d.fin_seq
        if (fin - d.next_seq) % _SEQ_MOD and (fin - d.next_seq) % _SEQ_MOD < _SEQ_MOD // 2:
            return
        self._close(conn, src, "FIN", pkt, when)

    def _lose(self, conn: _Connection, d: _Direction, pkt: int, why: str) -> None:
        if not any(x.lost for x in conn.dirs.values()):
            self.stats.gaps += 1  # counted per connection, not per direction
        d.lost = True
        for data, _, _ in d.pending.values():
            self.pending_total -= len(data)
        d.pending.clear()
        d.pending_bytes = 0
        if conn.stream >= 0 and conn.verdict is None:
            conn.packets.append(("gap", pkt))
            _decide(conn, "gap", f"{why}, so the handshake cannot be followed", None)

    def _expire(self, now: float) -> None:
        while self.live:
            key, conn = next(iter(self.live.items()))
            if now - conn.last_seen < IDLE_SECONDS:
                break
            self._finalize(key, conn)

    def finish(self) -> None:
        for key, conn in list(self.live.items()):
            self._finalize(key, conn)

    # --- closing ---

    def _close(self, conn: _Connection, src: _Endpoint, kind: str, pkt: int, when: float) -> None:
        d = conn.direction(src)
        if d.closed:
            return
        d.closed = True
        if conn.stream < 0 or conn.verdict is not None:
            return
        other = conn.dirs.get(conn.server if src == conn.client else conn.client)
        if other is not None and other.pending:
            # Data the other side sent before this close is missing: the order is unknown.
            self.stats.gaps += 1
            conn.packets.append(("gap", pkt))
            _decide(conn, "gap", "segments are missing from the capture before the close", None)
        elif src == conn.client:
            _client_closed(conn, kind, pkt, when, self.quick)
        else:
            _server_closed(conn, kind, pkt)

    def _finalize(self, key: tuple[_Endpoint, _Endpoint], conn: _Connection) -> None:
        if self.live.get(key) is conn:
            del self.live[key]
        if conn.stream >= 0 and conn.verdict is None and any(d.pending for d in conn.dirs.values()):
            self.stats.gaps += 1
            _decide(conn, "gap", "segments are missing from the capture", None)
        for d in conn.dirs.values():
            self.pending_total -= d.pending_bytes
            d.pending.clear()
            d.pending_bytes = 0
        if conn.stream < 0:
            return
        if conn.verdict is None:
            _undecided(conn)
        self._record(conn)
        conn.stream = -1  # recorded once

    def _record(self, conn: _Connection) -> None:
        assert conn.verdict is not None
        verdict, detail, delay = conn.verdict
        alert_name, alert_code = conn.alert if conn.alert is not None else (None, None)
        hs = Handshake(
            stream=conn.stream,
            client=_endpoint_text(conn.client),
            server=_endpoint_text(conn.server),
            sni=conn.sni,
            version=_VERSION_NAMES.get(conn.version or 0) if conn.version else None,
            verdict=verdict,
            detail=detail,
            alert=alert_name,
            alert_code=alert_code,
            packets=tuple(conn.packets),
            start=conn.start,
            delay_ms=None if delay is None else round(delay * 1000, 3),
        )
        if conn.sni is None:
            self.stats.handshakes_without_sni += 1
            return
        for name in self._names_for(conn.sni):
            tally = self.tallies.get(name)
            if tally is None:
                tally = self.tallies[name] = _Tally()
            tally.add(hs)

    def _names_for(self, sni: str) -> list[str]:
        if self.wanted is None:
            return [sni]
        names = [sni] if sni in self.wanted_exact else []
        return names + [w for w in self.wanted_wild if wildcard_matches(w, sni)]

    def start_stream(self, conn: _Connection) -> None:
        conn.stream = self.streams
        self.streams += 1
        self.stats.tls_connections += 1

    # --- results ---

    def results(self) -> dict[str, HostConfirmation]:
        names = self.wanted if self.wanted is not None else sorted(self.tallies)
        return {name: _host_result(name, self.tallies.get(name)) for name in names}


def _looks_like_client_hello(payload: bytes) -> bool:
    """A handshake record (any record version 3.x) opening with a ClientHello whose lengths agree.

    The lengths are checked too because encrypted handshake records (TLS 1.2 renegotiation) have
    the same first bytes, and following one of those as a new connection would invent a handshake.
    """
    if len(payload) < 11 or payload[0] != _CT_HANDSHAKE or payload[1] != 3 or payload[2] > 4:
        return False
    record = int.from_bytes(payload[3:5], "big")
    message = int.from_bytes(payload[6:9], "big")
    fits = message + 4 == record or (message + 4 > record and record == 2**14)
    return payload[5] == _HS_CLIENT_HELLO and fits and payload[9] == 3


def _feed(
    tracker: _Tracker,
    conn: _Connection,
    src: _Endpoint,
    d: _Direction,
    data: memoryview,
    pkt: int,
    when: float,
) -> None:
    """Parse TLS records from in-order bytes without keeping them (see :class:`_Direction`)."""
    i, n = 0, len(data)
    while i < n and not conn.done and not conn.not_tls:
        if d.rec_left == 0:
            take = min(5 - len(d.rec_head), n - i)
            d.rec_head += data[i : i + take]
            i += take
            if len(d.rec_head) < 5:
                return
            rtype, major, minor = d.rec_head[0], d.rec_head[1], d.rec_head[2]
            length = (d.rec_head[3] << 8) | d.rec_head[4]
            d.rec_head.clear()
            if (
                rtype not in (_CT_CCS, _CT_ALERT, _CT_HANDSHAKE, _CT_APPDATA, _CT_HEARTBEAT)
                or major != 3
                or minor > 4
                or length > _MAX_RECORD
            ):
                _not_tls(tracker, conn, pkt)
                return
            d.rec_type, d.rec_len, d.rec_left = rtype, length, length
            d.rec_body.clear()
            if length == 0:
                _record(tracker, conn, src, d, pkt, when)
                continue
        take = min(d.rec_left, n - i)
        chunk = data[i : i + take]
        i += take
        d.rec_left -= take
        if d.rec_type == _CT_HANDSHAKE and not d.encrypted:
            _feed_handshake(tracker, conn, src, d, chunk, pkt, when)
        elif d.rec_type in (_CT_ALERT, _CT_CCS) and len(d.rec_body) < 2:
            d.rec_body += chunk[: 2 - len(d.rec_body)]
        if d.rec_left == 0 and not conn.not_tls:
            _record(tracker, conn, src, d, pkt, when)


def _feed_handshake(
    tracker: _Tracker,
    conn: _Connection,
    src: _Endpoint,
    d: _Direction,
    chunk: memoryview,
    pkt: int,
    when: float,
) -> None:
    """Split cleartext handshake records into messages; messages may span records and vice versa."""
    j, n = 0, len(chunk)
    while j < n and not conn.done and not conn.not_tls:
        if d.hs_left == 0:
            take = min(4 - len(d.hs_head), n - j)
            d.hs_head += chunk[j : j + take]
            j += take
            if len(d.hs_head) < 4:
                return
            d.hs_type = d.hs_head[0]
            d.hs_left = int.from_bytes(d.hs_head[1:4], "big")
            d.hs_head.clear()
            keep = d.hs_type in (_HS_CLIENT_HELLO, _HS_SERVER_HELLO) and d.hs_left <= _KEEP_HELLO
            d.hs_body = bytearray() if keep else None
            if d.hs_left == 0:
                _handshake(tracker, conn, src, d.hs_type, b"", pkt, when)
                continue
        take = min(d.hs_left, n - j)
        if d.hs_body is not None:
            d.hs_body += chunk[j : j + take]
        j += take
        d.hs_left -= take
        if d.hs_left == 0:
            body = bytes(d.hs_body) if d.hs_body is not None else b""
            d.hs_body = None
            _handshake(tracker, conn, src, d.hs_type, body, pkt, when)


def _not_tls(tracker: _Tracker, conn: _Connection, pkt: int) -> None:
    conn.not_tls = True
    if conn.stream >= 0 and conn.verdict is None:
        conn.packets.append(("not_tls", pkt))
        verdict: Verdict = "no-server-hello" if conn.server_hello_pkt is None else "gap"
        _decide(conn, verdict, f"the connection stops being TLS at packet {pkt}", None)


def _handshake(
    tracker: _Tracker,
    conn: _Connection,
    src: _Endpoint,
    htype: int,
    body: bytes,
    pkt: int,
    when: float,
) -> None:
    is_client = src == conn.client
    if htype == _HS_CLIENT_HELLO:
        if not is_client:
            _not_tls(tracker, conn, pkt)
        elif conn.stream < 0:
            tracker.start_stream(conn)
            conn.start = when
            conn.client_hello_pkt = pkt
            conn.sni = _client_hello_sni(body)
        # A second ClientHello answers a HelloRetryRequest; the first one named the host.
        return
    if conn.stream < 0 or conn.verdict is not None:
        return
    if is_client:
        if htype == _HS_CLIENT_KEX:
            _client_went_on(conn, pkt, when)
        return
    if htype == _HS_SERVER_HELLO:
        version, hrr, psk = _server_hello(body)
        if hrr:
            conn.hrr = True
            conn.packets.append(("hello_retry_request", pkt))
            return
        conn.version = version
        conn.tls13 = version == 0x0304
        conn.psk = psk
        conn.server_hello_pkt = pkt
    elif htype == _HS_CERTIFICATE:
        conn.server_cert = (pkt, when)
        conn.flight_end = (pkt, when)
    elif htype == _HS_SERVER_DONE:
        conn.flight_end = (pkt, when)


def _record(
    tracker: _Tracker, conn: _Connection, src: _Endpoint, d: _Direction, pkt: int, when: float
) -> None:
    """One complete TLS record (its body already consumed) from ``src``."""
    rtype, length = d.rec_type, d.rec_len
    if rtype == _CT_CCS:
        # Only TLS 1.2 and earlier switch keys here; in TLS 1.3 it is a middlebox decoy, and
        # after a HelloRetryRequest the client's next ClientHello still comes in clear.
        if conn.tls13 or conn.hrr or d.encrypted:
            return
        d.encrypted = True
        if src == conn.client and conn.stream >= 0 and conn.server_hello_pkt is not None:
            _client_went_on(conn, pkt, when)  # also ends an abbreviated (resumed) handshake
        return
    if conn.stream < 0 or conn.verdict is not None:
        return
    is_client = src == conn.client
    if rtype == _CT_ALERT:
        if not d.encrypted and length == 2 and len(d.rec_body) == 2:
            level, desc = d.rec_body[0], d.rec_body[1]
            if is_client:
                _client_alert(tracker, conn, level, desc, pkt, when)
            else:
                _server_alert(conn, (level, desc), pkt)
        elif not is_client:
            _server_alert(conn, None, pkt)
        # An encrypted client alert after its Finished is its close_notify: the close decides.
        return
    if not is_client:
        conn.last_server = (pkt, when)
        # In TLS 1.3 the server's flight is every encrypted record before the client answers.
        if (
            conn.tls13
            and rtype == _CT_APPDATA
            and conn.client_done is None
            and not conn.client_records
        ):
            conn.flight_end = (pkt, when)
        return
    if rtype == _CT_APPDATA:
        if conn.tls13:
            if conn.flight_end is not None:
                _client_tls13_record(conn, length, pkt, when)
            # else: 0-RTT early data, sent before the server's flight
        elif conn.client_done is not None:
            _decide(conn, "completed", "the client completed the handshake and sent data", None)
    elif rtype == _CT_HANDSHAKE and d.encrypted and conn.client_done is None:
        _client_went_on(conn, pkt, when)


def _client_went_on(conn: _Connection, pkt: int, when: float) -> None:
    """The client continued the handshake after the server's flight: it accepted the certificate."""
    if conn.client_done is None:
        conn.client_done = (pkt, when)
        conn.packets.append(("client_key_exchange" if not conn.tls13 else "client_finished", pkt))


def _client_tls13_record(conn: _Connection, length: int, pkt: int, when: float) -> None:
    if conn.client_done is None:
        if len(conn.client_records) < 8:
            conn.client_records.append((length, pkt, when))
        if length >= _MIN_FINISHED_RECORD:
            _client_went_on(conn, pkt, when)
        # A shorter record is an alert (or the empty client Certificate a server asked for):
        # what follows it, a Finished or a close, tells which.
        return
    if length > _MAX_ALERT_RECORD:
        _decide(conn, "completed", "the client completed the handshake and sent data", None)


def _client_alert(
    tracker: _Tracker, conn: _Connection, level: int, desc: int, pkt: int, when: float
) -> None:
    name = ALERT_NAMES.get(desc, f"Alert{desc}")
    if conn.client_done is not None:
        return
    server = conn.dirs.get(conn.server)
    if server is not None and server.pending:
        # Part of the server's flight is missing: what the client answered cannot be known.
        tracker.stats.gaps += 1
        conn.packets.append(("gap", pkt))
        _decide(conn, "gap", "segments of the server's flight are missing from the capture", None)
        return
    if level == 1 and desc in (0, 90):
        # close_notify/user_canceled before finishing: the client leaves, it does not object.
        _client_closed(conn, f"{name} alert", pkt, when, tracker.quick)
        return
    conn.alert = (name, desc)
    conn.packets.append(("client_alert", pkt))
    strength = "fatal" if level == 2 else "warning"
    said = f"the client sent {strength} alert {name} ({desc})"
    if conn.tls13 and conn.psk:
        _decide(
            conn, "resumed", f"{said}, but the server had resumed a session: no certificate", None
        )
        return
    flight = conn.flight_end if conn.tls13 else conn.server_cert
    if flight is None or conn.flight_end is None:
        _decide(
            conn,
            "alert-before-certificate",
            f"{said} before the server's certificate: it is not about the certificate",
            None,
        )
        return
    delay = max(when - conn.flight_end[1], 0.0)
    after = "the server's encrypted flight" if conn.tls13 else "the server's Certificate"
    if desc in CERTIFICATE_ALERTS:
        _decide(
            conn,
            "certificate-alert",
            f"{said} {_ms(delay)} after {after}: it refused the certificate",
            delay,
        )
    else:
        _decide(conn, "other-alert", f"{said} {_ms(delay)} after {after}", delay)


def _server_alert(conn: _Connection, alert: tuple[int, int] | None, pkt: int) -> None:
    if conn.client_done is not None:
        _decide(conn, "completed", "the client completed the handshake", None)
        return
    conn.packets.append(("server_alert", pkt))
    if alert is None:
        _decide(conn, "server-alert", "the server sent an encrypted alert first", None)
        return
    name = ALERT_NAMES.get(alert[1], f"Alert{alert[1]}")
    conn.alert = (name, alert[1])
    _decide(conn, "server-alert", f"the server sent alert {name} ({alert[1]}) first", None)


_HOW: Final = {"FIN": "closed the connection (FIN)", "RST": "reset the connection (RST)"}


def _client_closed(conn: _Connection, kind: str, pkt: int, when: float, quick: float) -> None:
    conn.packets.append(("client_close", pkt))
    how = _HOW.get(kind, f"sent {kind}")
    if conn.client_done is not None:
        last = max(conn.client_done[1], conn.last_server[1] if conn.last_server else 0.0)
        delay = max(when - last, 0.0)
        if delay <= quick:
            _decide(
                conn,
                "closed-after-handshake",
                f"the client completed the handshake and {how} {_ms(delay)} later without sending "
                "any data (a pin check after the handshake)",
                delay,
            )
        else:
            _decide(
                conn,
                "completed",
                f"the client completed the handshake and {how} {_ms(delay)} later without data",
                delay,
            )
        return
    if conn.tls13 and conn.psk:
        _decide(conn, "resumed", f"the client {how}; the server had resumed a session", None)
        return
    flight = conn.flight_end if conn.tls13 else conn.server_cert
    if flight is None or conn.flight_end is None:
        _decide(
            conn,
            "closed-before-certificate",
            f"the client {how} before the server's certificate",
            None,
        )
        return
    after = "the server's encrypted flight" if conn.tls13 else "the server's Certificate"
    first_answer = conn.client_records[0][2] if conn.client_records else when
    delay = max(first_answer - conn.flight_end[1], 0.0)
    if delay > quick or when - first_answer > quick:
        _decide(
            conn,
            "closed-late",
            f"the client {how} {_ms(when - conn.flight_end[1])} after {after}: too late for a "
            "certificate check",
            delay,
        )
        return
    if conn.client_records:
        sizes = ", ".join(str(r[0]) for r in conn.client_records)
        conn.packets.insert(-1, ("client_answer", conn.client_records[0][1]))
        _decide(
            conn,
            "encrypted-alert",
            f"the client sent {_plural(len(conn.client_records), 'encrypted record')} ({sizes} "
            f"bytes: an alert, too short for a Finished) {_ms(delay)} after {after} and then "
            f"{how}",
            delay,
        )
        return
    verdict: Verdict = "closed-after-flight" if conn.tls13 else "closed-after-certificate"
    without = "its Finished" if conn.tls13 else "its key exchange"
    _decide(
        conn,
        verdict,
        f"the client {how} {_ms(delay)} after {after}, without an alert or {without}",
        delay,
    )


def _server_closed(conn: _Connection, kind: str, pkt: int) -> None:
    conn.packets.append(("server_close", pkt))
    if conn.client_done is not None:
        _decide(conn, "completed", "the client completed the handshake; the server closed", None)
        return
    how = _HOW.get(kind, kind)
    _decide(conn, "server-closed", f"the server {how} before the client answered", None)


def _undecided(conn: _Connection) -> None:
    """The capture ended (or the connection idled) before the handshake showed an outcome."""
    if conn.client_done is not None:
        _decide(conn, "completed", "the client completed the handshake", None)
    elif conn.server_hello_pkt is None:
        _decide(conn, "no-server-hello", "no ServerHello in the capture", None)
    elif conn.client_records:
        _decide(
            conn,
            "no-client-response",
            "the client sent an alert-sized encrypted record, but the capture ends before it "
            "closes the connection",
            None,
        )
    else:
        _decide(
            conn,
            "no-client-response",
            "the capture shows no answer from the client to the server's flight",
            None,
        )


def _decide(conn: _Connection, verdict: Verdict, detail: str, delay: float | None) -> None:
    milestones: list[tuple[str, int]] = []
    if conn.client_hello_pkt is not None:
        milestones.append(("client_hello", conn.client_hello_pkt))
    if conn.server_hello_pkt is not None:
        milestones.append(("server_hello", conn.server_hello_pkt))
    if conn.server_cert is not None:
        milestones.append(("certificate", conn.server_cert[0]))
    elif conn.tls13 and conn.flight_end is not None:
        milestones.append(("server_flight", conn.flight_end[0]))
    conn.packets = milestones + conn.packets
    conn.verdict = (verdict, detail, delay)
    conn.done = True


# --- TLS messages --------------------------------------------------------------------------------


def _client_hello_sni(body: bytes) -> str | None:
    """The host_name from a ClientHello's server_name extension (RFC 6066 section 3), if any."""
    try:
        pos = 34 + 1 + body[34]  # legacy_version, random, session id
        pos += 2 + int.from_bytes(body[pos : pos + 2], "big")  # cipher suites
        pos += 1 + body[pos]  # compression methods
        end = min(pos + 2 + int.from_bytes(body[pos : pos + 2], "big"), len(body))
        pos += 2
        while pos + 4 <= end:
            etype = int.from_bytes(body[pos : pos + 2], "big")
            elen = int.from_bytes(body[pos + 2 : pos + 4], "big")
            ext = body[pos + 4 : pos + 4 + elen]
            pos += 4 + elen
            if etype != 0:
                continue
            q = 2
            while q + 3 <= len(ext):
                ntype, nlen = ext[q], int.from_bytes(ext[q + 1 : q + 3], "big")
                name = ext[q + 3 : q + 3 + nlen]
                q += 3 + nlen
                if ntype == 0:
                    return _sni_text(name)
    except IndexError:
        return None
    return None


def _sni_text(raw: bytes) -> str | None:
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    text = _norm_host(text)
    if not text or len(text) > 253 or not all(33 <= ord(c) < 127 for c in text):
        return None
    return text


def _server_hello(body: bytes) -> tuple[int, bool, bool]:
    """(selected version, is a HelloRetryRequest, a PSK was accepted) from a ServerHello."""
    version = int.from_bytes(body[0:2], "big")
    hrr = body[2:34] == _HRR_RANDOM
    psk = False
    try:
        pos = 34 + 1 + body[34] + 2 + 1
        end = min(pos + 2 + int.from_bytes(body[pos : pos + 2], "big"), len(body))
        pos += 2
        while pos + 4 <= end:
            etype = int.from_bytes(body[pos : pos + 2], "big")
            elen = int.from_bytes(body[pos + 2 : pos + 4], "big")
            if etype == 43 and elen == 2:  # supported_versions: the real version (TLS 1.3)
                version = int.from_bytes(body[pos + 4 : pos + 6], "big")
            elif etype == 41:  # pre_shared_key: resumed, the server sends no certificate
                psk = True
            pos += 4 + elen
    except IndexError:
        pass
    return version, hrr, psk


# --- per host ------------------------------------------------------------------------------------


def _host_result(name: str, tally: _Tally | None) -> HostConfirmation:
    if tally is None or tally.handshakes == 0:
        return HostConfirmation(name, "not-seen", "no TLS handshake for this host in the capture")
    status = min((VERDICT_STATUS[v] for v in tally.verdicts), key=_STATUS_RANK.__getitem__)
    verdicts = tuple(sorted(tally.verdicts.items(), key=lambda kv: (-kv[1], kv[0])))
    total = _plural(tally.handshakes, "handshake")
    if status == "not-seen":
        counts = ", ".join(f"{v} {n}" for v, n in verdicts)
        reason = f"{total}, none reached the client's answer to the certificate ({counts})"
    else:
        best = tally.evidence[0]
        frames = [p for _, p in best.packets]
        reason = f"{best.detail} (stream {best.stream}, packets {min(frames)}-{max(frames)})"
        if tally.handshakes > 1:
            same = sum(n for v, n in verdicts if VERDICT_STATUS[v] == status)
            reason += f"; {same} of {total} {status}"
    return HostConfirmation(name, status, reason, tally.handshakes, verdicts, tuple(tally.evidence))


def _norm_host(value: str) -> str:
    return value.strip().lower().rstrip(".")


def _ms(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.1f} s"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def statuses_of(results: Mapping[str, HostConfirmation]) -> dict[str, str]:
    """host -> status, the form :func:`panpin.decide.engine.decide` takes as ``confirmations``."""
    return {host: result.status for host, result in results.items()}
