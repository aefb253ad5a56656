"""Recording of API traffic for bug reports and regression tests (``--record DIR``).

Pure: no HTTP here. The transport (:mod:`panpin.panos.xmlapi`) hands every request and its answer
to a :class:`Recorder`, which scrubs them with a :class:`Scrubber` *before* writing anything, so a
recording can be attached to a public issue:

* removed: the API key (never handed over at all), ``key`` and ``password`` parameters, cookies
  (headers are not recorded), and the text of secret elements (``<key>`` of a keygen answer,
  ``<password>``, ``<phash>``, private keys);
* replaced by stable stand-ins (one original → one stand-in within one recording): serial
  numbers, admin and user names, IPv4 and IPv6 addresses (their network part is kept: the first
  /24 of IPv4, the first /64 of IPv6, so grouping clients by network gives the same answer) and,
  with ``scrub_hosts``, host names (their public suffix is kept);
* kept: host names by default (they are what a report about pinning is about), times, rule and
  object names, everything else.

The same scrubbing, with the stand-ins then masked (:func:`canonical`), is how a replay compares
a live request with the recorded one.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from panpin import errors

REMOVED = "(removed)"
FORMAT = 1

# Parameters that are secrets: dropped from the recorded request altogether.
_SECRET_PARAMS = frozenset({"key", "password"})
# Elements whose text is a secret: emptied to REMOVED.
_SECRET_TAGS = frozenset({"key", "password", "phash", "private-key", "passphrase", "secret"})
_SERIAL_TAGS = frozenset({"serial", "serial-no", "serialno", "device-serial"})
# Elements whose text is an admin or user name. <member> only under <admin>/<admins> (a commit or
# revert of one admin's changes); anywhere else it is an object name and kept.
_USER_TAGS = frozenset({"admin", "owner", "user", "username", "srcuser", "dstuser", "admin-name"})
_USER_PARENTS = frozenset({"admin", "admins"})
_USER_ATTRS = frozenset({"user", "admin", "owner"})

_SERIAL_RE = re.compile(r"(?<![0-9])[0-9]{15}(?![0-9])")
_IPV4_RE = re.compile(r"(?<![0-9.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9]|\.[0-9])")
# Candidates only; ipaddress decides. At least two colons, so times (12:34) never match.
_IPV6_RE = re.compile(
    r"(?<![0-9A-Za-z:])(?=[0-9A-Fa-f:]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]{2,39}(?![0-9A-Za-z:])"
)
_HOST_RE = re.compile(
    r"(?<![A-Za-z0-9.\-@/])(?:\*\.)?(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z][A-Za-z0-9\-]{1,62}(?![A-Za-z0-9\-])"
)
# A user in a log filter: ( srcuser eq 'name' ).
_QUERY_USER_RE = re.compile(
    r"\b((?:src|dst)?user\s+(?:eq|neq|contains)\s+)('[^']*'|\"[^\"]*\"|[^\s)]+)"
)

# What the stand-ins look like, for :func:`canonical`.
_STANDIN_USER_RE = re.compile(r"\buser[0-9]+\b")
_STANDIN_HOST_RE = re.compile(r"\bh[0-9]+(?=\.)")
_TIME_RE = re.compile(r"[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
# What panpin makes up afresh on every run: the change id (time and a random part) and run id.
_CHANGE_ID_RE = re.compile(r"\bc-[0-9]{8}-[0-9]{4}-[0-9a-z]+\b")
_RUN_ID_RE = re.compile(r"\brun=[0-9a-f]+\b")


class Scrubber:
    """Replaces sensitive values consistently; one per recording (its maps are the recording's)."""

    def __init__(self, *, scrub_hosts: bool = False) -> None:
        self.scrub_hosts = scrub_hosts
        self._serials: dict[str, str] = {}
        self._users: dict[str, str] = {}
        self._addresses: dict[str, str] = {}
        self._used_hosts: dict[int, set[int]] = {}  # network → host parts seen or handed out
        self._labels: dict[str, str] = {}
        self._secrets: set[str] = set()
        self._psl: Any = None
        self._lock = threading.Lock()

    # ---- single values --------------------------------------------------------------------

    def forget(self, secret: str | None) -> None:
        """Remove ``secret`` wherever it appears from now on (the key, a password)."""
        if secret and len(secret) >= 4:
            self._secrets.add(secret)

    def serial(self, value: str) -> str:
        value = value.strip()
        if not value or value in self._serials.values():
            return value
        if value not in self._serials:
            self._serials[value] = f"{len(self._serials) + 1:015d}"
        return self._serials[value]

    def user(self, value: str) -> str:
        if not value.strip() or value in self._users.values():
            return value
        if value not in self._users:
            self._users[value] = f"user{len(self._users) + 1}"
        return self._users[value]

    def address(self, text: str) -> str:
        """An IPv4 or IPv6 address with its host part replaced; anything else unchanged."""
        if text in self._addresses:
            return self._addresses[text]
        if text in self._addresses.values():
            return text
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            return text
        if addr.is_loopback or addr.is_unspecified or addr.is_multicast or addr.is_reserved:
            return text  # not anybody's address (and netmasks such as 255.255.255.0)
        bits = 8 if addr.version == 4 else 64
        value = int(addr)
        network = value >> bits << bits
        host = value - network
        used = self._used_hosts.setdefault(network, set())
        used.add(host)
        # Counted down from the top of the network, skipping every host part seen there so far,
        # so a stand-in is never an address of the recording (nor the network or broadcast).
        candidate = (1 << bits) - 2
        while candidate in used and candidate > 0:
            candidate -= 1
        used.add(candidate)
        standin = str(ipaddress.ip_address(network + candidate))
        self._addresses[text] = standin
        return standin

    def note(self, text: str) -> None:
        """See the addresses in ``text`` before replacing any, so no stand-in handed out for
        this document is one of its own addresses."""
        for match in _IPV4_RE.findall(text) + (_IPV6_RE.findall(text) if ":" in text else []):
            if match in self._addresses or match in self._addresses.values():
                continue
            try:
                addr = ipaddress.ip_address(match)
            except ValueError:
                continue
            bits = 8 if addr.version == 4 else 64
            value = int(addr)
            network = value >> bits << bits
            self._used_hosts.setdefault(network, set()).add(value - network)

    def host(self, name: str) -> str:
        """A host name with every label but its public suffix replaced (``*.`` kept)."""
        if self._psl is None:
            from publicsuffixlist import PublicSuffixList

            self._psl = PublicSuffixList()
        wildcard = name.startswith("*.")
        bare = name[2:] if wildcard else name
        suffix = self._psl.publicsuffix(bare.lower(), accept_unknown=True)
        if not suffix or suffix == bare.lower():
            return name
        head = bare[: len(bare) - len(suffix) - 1]
        labels = []
        for label in head.split("."):
            key = label.lower()
            if key not in self._labels:
                self._labels[key] = f"h{len(self._labels) + 1}"
            labels.append(self._labels[key])
        return ("*." if wildcard else "") + ".".join(labels) + "." + bare[-len(suffix) :]

    # ---- text -----------------------------------------------------------------------------

    def text(self, text: str) -> str:
        """Free text: secrets, known serials, any 15-digit serial, addresses, (hosts)."""
        if not text:
            return text
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REMOVED)
        text = _SERIAL_RE.sub(lambda m: self.serial(m.group(0)), text)
        text = _IPV4_RE.sub(lambda m: self.address(m.group(0)), text)
        if ":" in text:
            text = _IPV6_RE.sub(lambda m: self.address(m.group(0)), text)
        if self.scrub_hosts:
            text = _HOST_RE.sub(lambda m: self._host_or_address(m.group(0)), text)
        return text

    def _host_or_address(self, name: str) -> str:
        if name in self._addresses.values() or name.replace(".", "").isdigit():
            return name
        return self.host(name)

    def query(self, text: str) -> str:
        """A log filter: users named in it, then the usual text rules."""
        text = _QUERY_USER_RE.sub(lambda m: m.group(1) + self._quoted_user(m.group(2)), text)
        return self.text(text)

    def _quoted_user(self, raw: str) -> str:
        if raw[:1] in "'\"" and raw[-1:] == raw[:1] and len(raw) >= 2:
            return raw[0] + self.user(raw[1:-1]) + raw[0]
        return self.user(raw)

    # ---- XML ------------------------------------------------------------------------------

    def tree(self, root: etree._Element) -> None:
        """Scrub a parsed document in place."""
        for node in root.iter():
            if not isinstance(node.tag, str):
                continue
            tag = node.tag
            parent = node.getparent()
            ptag = parent.tag if parent is not None and isinstance(parent.tag, str) else ""
            if tag in _SECRET_TAGS and len(node) == 0:
                node.text = REMOVED
            elif tag in _SERIAL_TAGS and len(node) == 0 and node.text:
                node.text = self.serial(node.text)
            elif (
                (tag in _USER_TAGS and len(node) == 0)
                or (tag == "member" and ptag in _USER_PARENTS)
            ) and node.text:
                node.text = self.user(node.text)
            elif tag == "entry" and ptag == "users" and node.get("name"):
                # mgt-config/users/entry[@name]: an admin account.
                node.set("name", self.user(node.get("name") or ""))
            for attr in _USER_ATTRS:
                if node.get(attr):
                    node.set(attr, self.user(node.get(attr) or ""))
        for node in root.iter():
            if not isinstance(node.tag, str):
                continue
            if node.text:
                node.text = self.text(node.text)
            if node.tail:
                node.tail = self.text(node.tail)
            for name, value in node.attrib.items():
                node.set(name, self.text(str(value)))

    def xml(self, data: bytes) -> bytes:
        """A whole answer; falls back to text rules for what does not parse (HTML, a cut page)."""
        self.note(data.decode("utf-8", "replace"))
        if b"<!DOCTYPE" not in data and b"<!ENTITY" not in data:
            try:
                root = etree.fromstring(data, parser=_parser())
            except etree.XMLSyntaxError:
                pass
            else:
                self.tree(root)
                return bytes(etree.tostring(root, encoding="utf-8"))
        return self._fallback(data.decode("utf-8", "replace")).encode("utf-8")

    def fragment(self, text: str) -> str:
        """An XML parameter (``cmd``, ``element``), which may hold several top-level elements."""
        if "<!DOCTYPE" not in text and "<!ENTITY" not in text:
            try:
                root = etree.fromstring(f"<panpin-fragment>{text}</panpin-fragment>", _parser())
            except etree.XMLSyntaxError:
                pass
            else:
                self.tree(root)
                inner = (root.text or "") + "".join(
                    etree.tostring(child, encoding="unicode") for child in root
                )
                return inner
        return self._fallback(text)

    def _fallback(self, text: str) -> str:
        def fields(m: re.Match[str]) -> str:
            tag, value = m.group(1), m.group(2)
            if tag in _SECRET_TAGS:
                value = REMOVED
            elif tag in _SERIAL_TAGS:
                value = self.serial(value)
            else:
                value = self.user(value)
            return f"<{tag}>{value}</{tag}>"

        names = "|".join(re.escape(t) for t in sorted(_SECRET_TAGS | _SERIAL_TAGS | _USER_TAGS))
        text = re.sub(rf"<({names})>([^<]*)</\1>", fields, text)
        text = re.sub(
            r"(<admin>\s*(?:<member>[^<]*</member>\s*)+)",
            lambda m: re.sub(
                r"<member>([^<]*)</member>",
                lambda n: f"<member>{self.user(n.group(1))}</member>",
                m.group(1),
            ),
            text,
        )
        return self.text(text)

    # ---- requests -------------------------------------------------------------------------

    def params(self, params: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
        """A request's form fields, scrubbed; and the names of the fields removed."""
        for name in _SECRET_PARAMS:
            self.forget(params.get(name))
        for name, value in params.items():
            if name not in _SECRET_PARAMS:
                self.note(value)
        out: dict[str, str] = {}
        removed: list[str] = []
        for name, value in params.items():
            if name in _SECRET_PARAMS:
                removed.append(name)
            elif name == "user":
                out[name] = self.user(value)
            elif name == "serial" or name == "target":
                out[name] = self.serial(value)
            elif name in ("cmd", "element"):
                out[name] = self.fragment(value)
            elif name == "query":
                out[name] = self.query(value)
            else:
                out[name] = self.text(value)
        return out, removed


def _parser() -> etree.XMLParser:
    # Our own copy of what the device sent, never resolved or fetched; huge_tree because a log
    # page the transport accepted must not be refused here.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)


def canonical(params: Mapping[str, str]) -> dict[str, str]:
    """Scrubbed fields with the stand-ins masked, for comparing two requests.

    A replayed run sees stand-ins in the answers and originals on its own command line (its
    ``--admin``), so the two can only be compared by the kind of value, not the value. Times in
    log filters, change and run ids depend on when the command ran.
    """
    out = {}
    for name, value in params.items():
        if name in _SECRET_PARAMS:
            continue
        value = _SERIAL_RE.sub("<serial>", value)
        value = _IPV4_RE.sub("<ip>", value)
        value = _IPV6_RE.sub(lambda m: _mask_v6(m.group(0)), value)
        value = _STANDIN_USER_RE.sub("<user>", value)
        value = _STANDIN_HOST_RE.sub("<h>", value)
        value = _TIME_RE.sub("<time>", value)
        value = _CHANGE_ID_RE.sub("<change-id>", value)
        value = _RUN_ID_RE.sub("run=<run-id>", value)
        out[name] = value
    return out


def fresh_ids(params: Mapping[str, str]) -> list[str]:
    """The change and run ids in a request, in order: a replay maps the recorded ones to those of
    the live run, so the answers that echo them (a verification) still agree."""
    found: list[str] = []
    for name in sorted(params):
        found += _CHANGE_ID_RE.findall(params[name]) + _RUN_ID_RE.findall(params[name])
    return found


def _mask_v6(text: str) -> str:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return text
    return "<ip>"


_README = """\
# panpin recording

Made by `panpin --record`{hosts_flag}: one pair of files per API request, in the order sent.

* `NNNN-request.json`: the request's method, path and form fields;
* `NNNN-response.xml`: the answer's body as received (scrubbed), `NNNN-response.json` its HTTP
  status, content type and whether it was read whole (or the error when none came).

Scrubbed before anything was written:

* **removed**: the API key (the `X-PAN-KEY` header and any `key` field), passwords (`password`
  fields), cookies and every other header, and the contents of secret elements (`<key>`,
  `<password>`, `<phash>`, `<private-key>`) — shown as `{removed}`;
* **replaced** by stand-ins, the same original always by the same stand-in in this recording:
  serial numbers (`000000000000001`, ...), admin and user names (`user1`, ...), IPv4 and IPv6
  addresses (the first /24 of IPv4 and the first /64 of IPv6 kept, only the host part
  replaced){hosts_replaced}.

Not replaced: {hosts_kept}times, rule, object and profile names, application and URL categories,
and anything else in the answers. Look before you publish it.

Replay it with `panpin simulator serve --replay DIR`.
"""


class Recorder:
    """Writes one recording; shared by every transport that records into the same directory."""

    def __init__(self, directory: Path, *, scrub_hosts: bool = False) -> None:
        self.directory = directory
        self.scrubber = Scrubber(scrub_hosts=scrub_hosts)
        self._lock = threading.Lock()
        self._count = 0
        try:
            directory.mkdir(parents=True, exist_ok=True)
            if any(directory.glob("[0-9][0-9][0-9][0-9]-request.json")):
                raise errors.SettingsError(
                    f"--record {directory}: already holds a recording; choose an empty directory"
                )
            self._write(
                "README.md",
                _README.format(
                    hosts_flag=" --record-scrub-hosts" if scrub_hosts else "",
                    removed=REMOVED,
                    hosts_replaced=(
                        " and host names (every label but the public suffix, `h1.example.com`)"
                        if scrub_hosts
                        else ""
                    ),
                    hosts_kept="" if scrub_hosts else "host names, ",
                ).encode(),
            )
            self._write_json(
                "recording.json",
                {"format": FORMAT, "scrub_hosts": scrub_hosts},
            )
        except OSError as exc:
            raise errors.SettingsError(f"--record {directory}: {exc.strerror or exc}") from None

    def forget(self, secret: str | None) -> None:
        with self._lock:
            self.scrubber.forget(secret)

    def request(self, method: str, path: str, params: Mapping[str, str]) -> int:
        """Record a request; its number, for :meth:`response`."""
        with self._lock:
            self._count += 1
            number = self._count
            fields, removed = self.scrubber.params(params)
            self._write_json(
                f"{number:04d}-request.json",
                {"method": method, "path": path, "params": fields, "removed": removed},
            )
        return number

    def response(
        self, number: int, status: int, content_type: str, body: bytes, *, complete: bool
    ) -> None:
        with self._lock:
            self._write(f"{number:04d}-response.xml", self.scrubber.xml(body))
            self._write_json(
                f"{number:04d}-response.json",
                {
                    "status": status,
                    "content_type": self.scrubber.text(content_type),
                    "complete": complete,
                },
            )

    def failure(self, number: int, error: BaseException) -> None:
        """No answer came (connection refused or lost, TLS refused): say so instead."""
        with self._lock:
            self._write_json(
                f"{number:04d}-response.json",
                {
                    "status": None,
                    "error": f"{type(error).__name__}: {self.scrubber.text(str(error))}",
                },
            )

    def _write_json(self, name: str, data: object) -> None:
        self._write(name, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())

    def _write(self, name: str, data: bytes) -> None:
        fd = os.open(self.directory / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)


_recorders: dict[tuple[str, bool], Recorder] = {}
_recorders_lock = threading.Lock()


def recorder_for(directory: str | os.PathLike[str], *, scrub_hosts: bool = False) -> Recorder:
    """The recorder of ``directory`` in this process: every device and every transport of one
    command record into one numbering and one set of stand-ins."""
    path = Path(directory).resolve()
    with _recorders_lock:
        key = (str(path), scrub_hosts)
        found = _recorders.get(key)
        if found is None:
            found = _recorders[key] = Recorder(path, scrub_hosts=scrub_hosts)
        return found


@dataclass(frozen=True)
class RecordedPair:
    """One recorded request and its answer: the (scrubbed) parameters, the answer's status,
    content type and completeness (``response``; no status: the connection failed), its body."""

    number: int
    params: dict[str, str]
    response: dict[str, object]
    body: bytes

    @property
    def status(self) -> int | None:
        value = self.response.get("status")
        return value if isinstance(value, int) else None


def load(directory: str | os.PathLike[str]) -> list[RecordedPair]:
    """The pairs of a recording, in order. A file that is not a recording's is a ValueError."""
    path = Path(directory)
    pairs: list[RecordedPair] = []
    for request_file in sorted(path.glob("[0-9][0-9][0-9][0-9]-request.json")):
        stem = request_file.name[:4]
        meta_file = path / f"{stem}-response.json"
        body_file = path / f"{stem}-response.xml"
        request = json.loads(request_file.read_text())
        params = request.get("params", {}) if isinstance(request, dict) else None
        if not isinstance(params, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in params.items()
        ):
            raise ValueError(f"{request_file}: not a recorded request (params)")
        meta = json.loads(meta_file.read_text()) if meta_file.exists() else {}
        if not isinstance(meta, dict):
            raise ValueError(f"{meta_file}: not a recorded answer")
        pairs.append(
            RecordedPair(
                number=int(stem),
                params=params,
                response=meta,
                body=body_file.read_bytes() if body_file.exists() else b"",
            )
        )
    return pairs


def scrub_hosts_of(directory: str | os.PathLike[str]) -> bool:
    meta = Path(directory) / "recording.json"
    if not meta.exists():
        return False
    return bool(json.loads(meta.read_text()).get("scrub_hosts"))
