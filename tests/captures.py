"""Packet captures of real TLS handshakes, made in memory for the capture tests.

The TLS bytes are real: Python's ``ssl`` talks to itself through ``MemoryBIO`` pairs, with a server
certificate from a CA made here and a client that trusts either that CA or a different one (so
it sends a real alert). The one thing OpenSSL will not do, send its alert encrypted in TLS 1.3 as
BoringSSL (Chrome, Android) does, is done with the client's own handshake traffic secret from
the key log: that record decrypts in Wireshark with the same key log. The bytes are then framed
into Ethernet/IPv4 or IPv6/TCP packets with correct sequence numbers and checksums, cut into
segments, with retransmissions and reordering on request, and written as pcap or pcapng by the
small writers below (written from the file format specifications, independent of the reader
under test).
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import heapq
import ipaddress
import shutil
import ssl
import struct
import tempfile
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import BinaryIO, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.x509.oid import NameOID

Side = Literal["c", "s"]
# Names the server certificate covers: test hosts live under these.
SERVER_NAMES = ("*.app.example", "*.vendor.example", "*.partner.example")
T0 = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC).timestamp()


# --- PKI ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    directory: Path
    real_ca_pem: str
    other_ca_pem: str
    chain: Path
    key: Path


def _ca(name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


@cache
def pki() -> Pki:
    """A CA that signs the server, and another CA that a "pinning" client trusts instead."""
    directory = Path(tempfile.mkdtemp(prefix="panpin-pki-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    ca_key, ca_cert = _ca("panpin test site CA")
    _, other_cert = _ca("panpin test pinned CA")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "server.example")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in SERVER_NAMES]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    chain = directory / "chain.pem"
    chain.write_bytes(cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    key_path = directory / "key.pem"
    key_path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Pki(
        directory,
        ca_cert.public_bytes(pem).decode(),
        other_cert.public_bytes(pem).decode(),
        chain,
        key_path,
    )


@cache
def _server_context(p256_only: bool = False) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki().chain, pki().key)
    if p256_only:
        # Clients offer an X25519 key share first: this server answers with a HelloRetryRequest.
        ctx.set_ecdh_curve("prime256v1")
    return ctx


def _client_context(trusted: bool, tls: str, keylog: Path | None = None) -> ssl.SSLContext:
    p = pki()
    ctx = ssl.create_default_context(cadata=p.real_ca_pem if trusted else p.other_ca_pem)
    if tls == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    if keylog is not None:
        ctx.keylog_filename = str(keylog)
    return ctx


# --- TLS exchanges -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Flight:
    """Bytes one side sends in one go; ``pause`` is the time before it (seconds)."""

    side: Side
    data: bytes
    pause: float = 0.0


@dataclass(frozen=True)
class Exchange:
    """What a connection carries: TLS flights, then how it ends (``None``: it stays open)."""

    sni: str
    flights: tuple[Flight, ...]
    close: tuple[Side, Literal["FIN", "RST"]] | None = None
    close_pause: float = 0.0005


class _Pair:
    """A client and a server SSLObject wired together through memory BIOs."""

    def __init__(
        self,
        sni: str,
        *,
        trusted: bool,
        tls: str,
        keylog: Path | None = None,
        hrr: bool = False,
    ) -> None:
        self.c_in, self.c_out, self.s_in, self.s_out = (ssl.MemoryBIO() for _ in range(4))
        ctx = _client_context(trusted, tls, keylog)
        self.client = ctx.wrap_bio(self.c_in, self.c_out, server_hostname=sni)
        server = _server_context(hrr)
        self.server = server.wrap_bio(self.s_in, self.s_out, server_side=True)
        self.flights: list[Flight] = []
        self.client_error: ssl.SSLError | None = None

    def move(self, side: Side, pause: float = 0.0) -> bytes:
        out, into = (self.c_out, self.s_in) if side == "c" else (self.s_out, self.c_in)
        data = out.read()
        if data:
            into.write(data)
            self.flights.append(Flight(side, data, pause))
        return data

    def step(self, side: Side) -> bool:
        """One handshake step of ``side``; True once it completed."""
        obj = self.client if side == "c" else self.server
        try:
            obj.do_handshake()
            return True
        except ssl.SSLWantReadError:
            return False
        except ssl.SSLError as exc:
            if side == "s":
                raise
            self.client_error = exc
            return False

    def handshake(self) -> None:
        c_done = s_done = False
        for _ in range(8):
            if not c_done:
                c_done = self.step("c")
            self.move("c", 0.0002)
            if self.client_error is not None:
                return
            if not s_done:
                s_done = self.step("s")
            self.move("s", 0.01)
            if c_done and s_done:
                # TLS 1.3 servers send session tickets once they read the client's Finished.
                return
        raise AssertionError("handshake did not finish")

    def request(self, sni: str) -> None:
        self.client.write(f"GET / HTTP/1.1\r\nHost: {sni}\r\n\r\n".encode())
        self.move("c", 0.001)
        self.server.read(65536)
        self.server.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
        self.move("s", 0.01)
        self.client.read(65536)


def pinned_alert(sni: str, tls: str = "1.2", *, hrr: bool = False) -> Exchange:
    """The client trusts another CA: OpenSSL sends a cleartext fatal alert (UnknownCA) and closes.

    OpenSSL sends it in clear in TLS 1.3 too: it has not switched its own keys yet. With ``hrr``
    the server first asks for another key share (HelloRetryRequest).
    """
    pair = _Pair(sni, trusted=False, tls=tls, hrr=hrr)
    pair.handshake()
    assert isinstance(pair.client_error, ssl.SSLCertVerificationError), pair.client_error
    return Exchange(sni, tuple(pair.flights), close=("c", "FIN"))


def completed(sni: str, tls: str = "1.3", *, data: bool = True, hrr: bool = False) -> Exchange:
    """A client that trusts the CA: full handshake, then a request and an answer (or nothing)."""
    pair = _Pair(sni, trusted=True, tls=tls, hrr=hrr)
    pair.handshake()
    assert pair.client_error is None
    if data:
        pair.request(sni)
    return Exchange(sni, tuple(pair.flights))


def completed_then_closed(sni: str, tls: str = "1.3") -> Exchange:
    """The handshake completes, then the client sends close_notify and FIN without any data, as a
    client that checks its pins after the handshake (OkHttp's CertificatePinner) does."""
    pair = _Pair(sni, trusted=True, tls=tls)
    pair.handshake()
    with contextlib.suppress(ssl.SSLWantReadError):
        pair.client.unwrap()
    pair.move("c", 0.003)
    return Exchange(sni, tuple(pair.flights), close=("c", "FIN"))


def tls13_abort(sni: str, *, how: Literal["alert", "RST", "FIN"] = "alert") -> Exchange:
    """A TLS 1.3 client that rejects the server's flight without its Finished.

    ``alert``: like BoringSSL, it sends its middlebox CCS and ONE encrypted alert record (really
    encrypted with its handshake traffic key), then FIN. ``RST``/``FIN``: it just closes.
    """
    keylog = pki().directory / f"keys-{sni}.log"
    pair = _Pair(sni, trusted=True, tls="1.3", keylog=keylog)
    pair.step("c")
    pair.move("c")
    pair.step("s")
    pair.move("s", 0.01)
    pair.step("c")  # completes on the client side; its real flight is thrown away
    pair.c_out.read()
    if how != "alert":
        return Exchange(sni, tuple(pair.flights), close=("c", how))
    client_random = pair.flights[0].data[11:43]
    secret = _keylog_secret(keylog, "CLIENT_HANDSHAKE_TRAFFIC_SECRET", client_random)
    suite = pair.client.cipher()
    assert suite is not None
    _check_server_record(keylog, client_random, pair.flights[1].data, suite[0])
    alert = bytes([2, 48])  # fatal unknown_ca, as a pinning client would say it
    record = encrypt_tls13_record(secret, suite[0], 0, alert, inner_type=21)
    ccs = bytes([20, 3, 3, 0, 1, 1])
    flights = (*pair.flights, Flight("c", ccs + record, 0.0004))
    return Exchange(sni, flights, close=("c", "FIN"))


def server_flight_only(sni: str, tls: str = "1.3") -> list[Flight]:
    """ClientHello and the server's flight, nothing from the client after it."""
    pair = _Pair(sni, trusted=True, tls=tls)
    pair.step("c")
    pair.move("c")
    pair.step("s")
    pair.move("s", 0.01)
    return pair.flights


def _keylog_secret(path: Path, label: str, client_random: bytes) -> bytes:
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == label and parts[1] == client_random.hex():
            return bytes.fromhex(parts[2])
    raise AssertionError(f"{label} not in the key log")


def _suite(name: str) -> tuple[type[AESGCM] | type[ChaCha20Poly1305], int, hashes.HashAlgorithm]:
    if name == "TLS_AES_256_GCM_SHA384":
        return AESGCM, 32, hashes.SHA384()
    if name == "TLS_AES_128_GCM_SHA256":
        return AESGCM, 16, hashes.SHA256()
    if name == "TLS_CHACHA20_POLY1305_SHA256":
        return ChaCha20Poly1305, 32, hashes.SHA256()
    raise AssertionError(f"unexpected TLS 1.3 suite {name}")


def _expand_label(secret: bytes, label: bytes, length: int, algo: hashes.HashAlgorithm) -> bytes:
    # HKDF-Expand-Label with an empty context (RFC 8446 section 7.1).
    full = b"tls13 " + label
    info = struct.pack("!HB", length, len(full)) + full + b"\x00"
    return HKDFExpand(algo, length, info).derive(secret)


def _traffic_keys(secret: bytes, suite: str) -> tuple[AESGCM | ChaCha20Poly1305, bytes]:
    cls, key_len, algo = _suite(suite)
    key = _expand_label(secret, b"key", key_len, algo)
    iv = _expand_label(secret, b"iv", 12, algo)
    return cls(key), iv


def encrypt_tls13_record(
    secret: bytes, suite: str, seq: int, content: bytes, *, inner_type: int
) -> bytes:
    """A TLSCiphertext record (RFC 8446 section 5.2) protecting ``content`` of ``inner_type``."""
    aead, iv = _traffic_keys(secret, suite)
    nonce = bytes(a ^ b for a, b in zip(iv, seq.to_bytes(12, "big"), strict=True))
    inner = content + bytes([inner_type])
    header = bytes([23, 3, 3]) + (len(inner) + 16).to_bytes(2, "big")
    return header + aead.encrypt(nonce, inner, header)


def _check_server_record(keylog: Path, client_random: bytes, flight: bytes, suite: str) -> None:
    """Decrypt the server's first encrypted record: proves the key derivation above is right."""
    secret = _keylog_secret(keylog, "SERVER_HANDSHAKE_TRAFFIC_SECRET", client_random)
    aead, iv = _traffic_keys(secret, suite)
    pos = 0
    while flight[pos] != 23:
        pos += 5 + int.from_bytes(flight[pos + 3 : pos + 5], "big")
    length = int.from_bytes(flight[pos + 3 : pos + 5], "big")
    plain = aead.decrypt(iv, flight[pos + 5 : pos + 5 + length], flight[pos : pos + 5])
    assert plain[-1] == 22 and plain[0] == 8, "EncryptedExtensions expected"


# --- TCP/IP framing ----------------------------------------------------------------------------


@dataclass
class Framing:
    """How a connection's bytes become packets."""

    client: tuple[str, int] = ("10.1.2.3", 51000)
    server: tuple[str, int] = ("203.0.113.10", 443)
    start: float = T0
    mss: int = 1460
    rtt: float = 0.02
    retransmit: bool = False  # send one segment of the server's flight twice
    reorder: bool = False  # deliver two segments of the server's flight swapped
    handshake: bool = True  # include SYN / SYN-ACK / ACK
    vlan: int | None = None
    client_isn: int = 0x1000_0000
    server_isn: int = 0xFFFF_FF00  # close to wrapping: sequence arithmetic is mod 2**32
    snaplen: int | None = None  # cut each frame to this many bytes (origlen stays)
    drop_segment: int | None = None  # index of a server segment never captured
    link: Link = "ethernet"


Link = Literal["ethernet", "sll", "sll2", "raw", "null"]
# pcap/pcapng link-layer type numbers (tcpdump.org link-layer header types).
LINKTYPES: dict[str, int] = {"ethernet": 1, "sll": 113, "sll2": 276, "raw": 101, "null": 0}


@dataclass(frozen=True, order=True)
class Packet:
    time: float
    order: int
    frame: bytes = field(compare=False)
    origlen: int = field(compare=False, default=0)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(array("H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    # array("H") read the words in host order; swap back when that is little-endian.
    value = ~total & 0xFFFF
    if array("H", b"\x01\x00")[0] == 1:
        value = ((value & 0xFF) << 8) | (value >> 8)
    return value


def _frame(
    src: tuple[str, int],
    dst: tuple[str, int],
    seq: int,
    ack: int,
    flags: int,
    payload: bytes,
    vlan: int | None,
    link: Link = "ethernet",
) -> bytes:
    s_ip, d_ip = ipaddress.ip_address(src[0]), ipaddress.ip_address(dst[0])
    tcp = struct.pack(
        "!HHIIBBHHH", src[1], dst[1], seq % 2**32, ack % 2**32, 5 << 4, flags, 64240, 0, 0
    )
    segment = tcp + payload
    if s_ip.version == 4:
        pseudo = s_ip.packed + d_ip.packed + struct.pack("!BBH", 0, 6, len(segment))
    else:
        pseudo = s_ip.packed + d_ip.packed + struct.pack("!IxxxB", len(segment), 6)
    csum = _checksum(pseudo + segment)
    segment = segment[:16] + struct.pack("!H", csum) + segment[18:]
    if s_ip.version == 4:
        ip = struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(segment),
            0,
            0x4000,
            64,
            6,
            0,
            s_ip.packed,
            d_ip.packed,
        )
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        ethertype = 0x0800
    else:
        ip = struct.pack("!IHBB16s16s", 6 << 28, len(segment), 6, 64, s_ip.packed, d_ip.packed)
        ethertype = 0x86DD
    mac = b"\x02\x00\x00\x00\x00\x01"
    if link == "sll":  # Linux cooked v1: packet type, ARPHRD, address length and address, protocol
        return struct.pack("!HHH8sH", 4, 1, 6, mac, ethertype) + ip + segment
    if link == "sll2":  # v2: protocol, reserved, interface index, ARPHRD, type, address
        return struct.pack("!HHiHBB8s", ethertype, 0, 2, 1, 4, 6, mac) + ip + segment
    if link == "raw":
        return ip + segment
    if link == "null":  # BSD loopback: address family in the capturing host's byte order
        family = 2 if ethertype == 0x0800 else 30
        return struct.pack("<I", family) + ip + segment
    eth = b"\x02\x00\x00\x00\x00\x02" + mac
    if vlan is not None:
        eth += struct.pack("!HH", 0x8100, vlan)
    return eth + struct.pack("!H", ethertype) + ip + segment


SYN, FIN, RST, PSH, ACK = 0x02, 0x01, 0x04, 0x08, 0x10


def frame_exchange(ex: Exchange, fr: Framing, order: int = 0) -> list[Packet]:
    """The packets of one connection, in capture order."""
    packets: list[Packet] = []
    now = fr.start
    seq = {"c": fr.client_isn, "s": fr.server_isn}
    ends = {"c": (fr.client, fr.server), "s": (fr.server, fr.client)}

    def emit(side: Side, flags: int, payload: bytes = b"", at_seq: int | None = None) -> None:
        other: Side = "s" if side == "c" else "c"
        src, dst = ends[side]
        frame = _frame(
            src,
            dst,
            seq[side] if at_seq is None else at_seq,
            seq[other],
            flags,
            payload,
            fr.vlan,
            fr.link,
        )
        origlen = len(frame)
        if fr.snaplen is not None:
            frame = frame[: fr.snaplen]
        packets.append(Packet(now, order * 10_000 + len(packets), frame, origlen))

    if fr.handshake:
        emit("c", SYN)
        seq["c"] += 1
        now += fr.rtt / 2
        emit("s", SYN | ACK)
        seq["s"] += 1
        now += fr.rtt / 2
        emit("c", ACK)
    for index, flight in enumerate(ex.flights):
        now += flight.pause
        side = flight.side
        cuts = [flight.data[i : i + fr.mss] for i in range(0, len(flight.data), fr.mss)]
        starts = []
        pos = seq[side]
        for cut in cuts:
            starts.append(pos)
            pos += len(cut)
        indices = list(range(len(cuts)))
        server_flight = side == "s" and index == 1
        if server_flight and fr.reorder and len(cuts) >= 3:
            indices[0], indices[1] = indices[1], indices[0]
        for k in indices:
            now += 0.0001
            if server_flight and fr.drop_segment == k:
                continue
            flags = ACK | (PSH if k == len(cuts) - 1 else 0)
            emit(side, flags, cuts[k], at_seq=starts[k])
            if server_flight and fr.retransmit and k == 0:
                now += 0.0002
                emit(side, flags, cuts[k], at_seq=starts[k])
        seq[side] = pos
        now += fr.rtt / 2
        emit("s" if side == "c" else "c", ACK)
    if ex.close is not None:
        side, kind = ex.close
        now += ex.close_pause
        other: Side = "s" if side == "c" else "c"
        if kind == "RST":
            emit(side, RST | ACK)
        else:
            emit(side, FIN | ACK)
            seq[side] += 1
            now += fr.rtt / 2
            emit(other, FIN | ACK)
            seq[other] += 1
            now += fr.rtt / 2
            emit(side, ACK)
    return packets


def merge(streams: Iterable[Iterable[Packet]]) -> Iterator[Packet]:
    """Packets of many connections, interleaved by time as a capture would show them."""
    return heapq.merge(*streams)


# --- pcap and pcapng writers -------------------------------------------------------------------


class PcapWriter:
    """Classic libpcap format: 24-byte header, 16-byte record headers."""

    def __init__(
        self,
        fh: BinaryIO,
        *,
        linktype: int = 1,
        nanoseconds: bool = False,
        big_endian: bool = False,
        snaplen: int = 262144,
    ) -> None:
        self.fh = fh
        self.e = ">" if big_endian else "<"
        self.scale = 10**9 if nanoseconds else 10**6
        magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
        fh.write(struct.pack(self.e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))

    def write(self, time: float, data: bytes, origlen: int | None = None) -> None:
        ticks = round(time * self.scale)
        sec, frac = divmod(ticks, self.scale)
        self.fh.write(struct.pack(self.e + "IIII", sec, frac, len(data), origlen or len(data)))
        self.fh.write(data)


class PcapngWriter:
    """pcapng: Section Header, Interface Description(s), Enhanced Packet Blocks."""

    def __init__(
        self,
        fh: BinaryIO,
        *,
        linktypes: Sequence[int] = (1,),
        big_endian: bool = False,
        tsresol: int = 6,
        comment_block: bool = True,
    ) -> None:
        self.fh = fh
        self.e = ">" if big_endian else "<"
        self.scale = 10**tsresol
        shb_opts = self._option(4, b"panpin tests") + self._option(0, b"")
        self._block(0x0A0D0D0A, struct.pack(self.e + "IHHq", 0x1A2B3C4D, 1, 0, -1) + shb_opts)
        for linktype in linktypes:
            opts = self._option(2, b"eth0") + self._option(9, bytes([tsresol]))
            self._block(
                1, struct.pack(self.e + "HHI", linktype, 0, 0) + opts + self._option(0, b"")
            )
        if comment_block:
            # A Name Resolution Block: a reader must skip what it does not use.
            record = struct.pack(self.e + "HH", 1, 4 + 12) + bytes([203, 0, 113, 10])
            record += b"api.example\x00"
            self._block(4, record + struct.pack(self.e + "HH", 0, 0))

    def _option(self, code: int, value: bytes) -> bytes:
        pad = b"\x00" * (-len(value) % 4)
        return struct.pack(self.e + "HH", code, len(value)) + value + pad

    def _block(self, block_type: int, body: bytes) -> None:
        body += b"\x00" * (-len(body) % 4)
        length = len(body) + 12
        self.fh.write(struct.pack(self.e + "II", block_type, length) + body)
        self.fh.write(struct.pack(self.e + "I", length))

    def write(
        self, time: float, data: bytes, origlen: int | None = None, interface: int = 0
    ) -> None:
        ticks = round(time * self.scale)
        head = struct.pack(
            self.e + "IIIII",
            interface,
            ticks >> 32,
            ticks & 0xFFFFFFFF,
            len(data),
            origlen or len(data),
        )
        self._block(6, head + data)


def write_capture(
    path: Path,
    packets: Iterable[Packet],
    fmt: Literal["pcap", "pcapng"] = "pcap",
    **options: object,
) -> Path:
    with path.open("wb") as fh:
        writer: PcapWriter | PcapngWriter
        writer = PcapWriter(fh, **options) if fmt == "pcap" else PcapngWriter(fh, **options)  # type: ignore[arg-type]
        for packet in packets:
            writer.write(packet.time, packet.frame, packet.origlen)
    return path


def capture_of(
    path: Path,
    exchanges: Sequence[Exchange],
    fmt: Literal["pcap", "pcapng"] = "pcap",
    framing: Framing | None = None,
    spacing: float = 0.5,
    **options: object,
) -> Path:
    """Write ``exchanges`` as connections from different client ports, ``spacing`` s apart."""
    base = framing or Framing()
    if base.link != "ethernet":
        key = "linktype" if fmt == "pcap" else "linktypes"
        options.setdefault(key, LINKTYPES[base.link] if fmt == "pcap" else (LINKTYPES[base.link],))
    streams = []
    for i, ex in enumerate(exchanges):
        fr = replace(
            base,
            client=(base.client[0], base.client[1] + i),
            start=base.start + i * spacing,
        )
        streams.append(frame_exchange(ex, fr, i))
    return write_capture(path, merge(streams), fmt, **options)


# --- a sample plan for the report tests --------------------------------------------------------

SAMPLE_POLICY = """\
version: 1
signals:
  strong: [UnknownCA, BadCertificate]
  weak: [CertificateUnknown]
thresholds: {min_hits: 3, min_clients: 2, window: 14d}
defaults: {action: review, expires: 90d}
rules:
  - name: never-bypass-banking
    match: {domain: bank.example}
    action: block
  - name: vendor-apps
    match: {host: "*.vendor.example"}
    action: allow
    exclude_as: "*.vendor.example"
    ticket: CHG-1042
    expires: 180d
  - name: partner-api
    match: {host: "*.partner.example"}
    action: allow
    require_confirmation: true
"""


def sample_plan(tmp: Path, *, timeline: bool = True) -> object:
    """A plan as ``plan --confirm`` makes it: real policy, decide(), a generated capture.

    Returns a :class:`panpin.change.plan.Plan` (typed ``object`` to keep this module import-light).
    """
    from datetime import date

    from panpin.capture import confirm_hosts, statuses_of
    from panpin.change.plan import build_plan, decision_from_dict
    from panpin.decide.engine import decide
    from panpin.decide.policy import parse_policy
    from panpin.panos.exclusions import ExclusionEntry
    from panpin.scan.evidence import Candidate

    change = "c-20261126-0932-a1b2"
    today = date(2026, 11, 26)
    rows = [
        (
            "api.vendor.example",
            41,
            9,
            {"UnknownCA": 38, "BadCertificate": 3},
            "2026/11/13 08:02:11",
            "2026/11/26 07:55:40",
        ),
        (
            "cdn.vendor.example",
            17,
            4,
            {"UnknownCA": 17},
            "2026/11/19 10:12:00",
            "2026/11/25 18:30:02",
        ),
        (
            "api.partner.example",
            12,
            3,
            {"BadCertificate": 12},
            "2026/11/20 09:30:00",
            "2026/11/26 06:01:00",
        ),
        (
            "feeds.partner.example",
            6,
            2,
            {"UnknownCA": 6},
            "2026/11/22 11:00:00",
            "2026/11/24 16:20:00",
        ),
        (
            "login.bank.example",
            9,
            5,
            {"UnknownCA": 9},
            "2026/11/14 07:00:00",
            "2026/11/26 08:00:00",
        ),
        (
            "telemetry.app.example",
            5,
            3,
            {"UnknownCA": 4, "CertificateUnknown": 1},
            "2026/11/21 12:00:00",
            "2026/11/25 12:00:00",
        ),
        (
            "<b>odd</b>.app.example",
            2,
            1,
            {"UnknownCA": 2},
            "2026/11/25 12:00:00",
            "2026/11/25 12:05:00",
        ),
    ]
    candidates = [
        Candidate(
            host=h,
            hits=hits,
            clients=tuple(f"10.20.0.{i}" for i in range(1, n + 1)),
            errors=errors,
            apps=("ssl", "incomplete"),
            first_seen=first,
            last_seen=last,
            devices=("fw1",),
        )
        for h, hits, n, errors, first, last in rows
    ]
    capture = capture_of(
        tmp / "sample.pcapng",
        [
            pinned_alert("api.partner.example", "1.2"),
            tls13_abort("feeds.partner.example"),
            completed("cdn.vendor.example", "1.3"),
            pinned_alert("api.vendor.example", "1.3"),
        ],
        "pcapng",
    )
    hosts = [c.host for c in candidates if "<" not in c.host]
    results = confirm_hosts(capture, hosts)
    expired = ExclusionEntry(
        "old.vendor.example",
        "panpin:c-20260520-1000-beef rule=vendor-apps ticket=CHG-0990 expires=2026-11-16",
        True,
    )
    person = ExclusionEntry("intranet.example", "added by alice for INC-7", True)
    policy = parse_policy(SAMPLE_POLICY, "policy.yaml")
    result = decide(
        candidates,
        policy,
        [expired, person],
        today=today,
        change_id=change,
        confirmations=statuses_of(results),
    )
    scan: dict[str, object] = {
        "query": "(error contains 'UnknownCA') or (error contains 'BadCertificate')",
        "logs_read": 92,
        "candidates": [
            {
                "host": c.host,
                "hits": c.hits,
                "clients": list(c.clients),
                "errors": c.errors,
                "apps": list(c.apps),
                "first_seen": c.first_seen,
                "last_seen": c.last_seen,
                "devices": list(c.devices),
            }
            for c in candidates
        ],
        "confirmations": {h: r.to_dict() for h, r in results.items()},
    }
    if timeline:
        series: dict[str, list[list[object]]] = {}
        for k, c in enumerate(candidates):
            first = dt.datetime.strptime(c.first_seen[:10], "%Y/%m/%d").date()
            last = dt.datetime.strptime(c.last_seen[:10], "%Y/%m/%d").date()
            days = (last - first).days + 1
            left = c.hits
            points = []
            for i in range(days):
                n = left if i == days - 1 else (c.hits * ((i * 7 + k) % 5 + 1)) // (days * 3)
                n = min(n, left)
                left -= n
                if n:
                    points.append([(first + dt.timedelta(days=i)).strftime("%Y/%m/%d"), n])
            series[c.host] = points
        scan["timeline"] = series
    return build_plan(
        change_id=change,
        created="2026-11-26T09:32:00",
        device={
            "name": "fw1",
            "host": "fw1.corp.example",
            "serial": "007051000123456",
            "kind": "firewall",
        },
        location="shared",
        xpath="/config/shared/ssl-decrypt/ssl-exclude-cert",
        admin="panpin",
        base=[expired, person],
        adds=result.adds,
        removes=result.removes,
        policy={"path": "configs/policy.yaml", "sha256": "9f2c" + "0" * 60},
        scan=scan,
        decisions=[decision_from_dict(d.to_dict(), "decision") for d in result.decisions],
    )
