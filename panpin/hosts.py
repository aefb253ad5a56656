"""Host names from log entries: normalisation, validation and PAN-OS wildcard semantics.

Every host that panpin derives from a log entry passes :func:`normalize_host` before it can reach an
xpath or an XML element. The accepted alphabet is deliberately tiny (``a-z 0-9 - .`` plus ``*`` as a
whole label in exclusion names), so nothing that survives validation can break out of
``entry[@name='...']`` or an XML attribute.

PAN-OS wildcards (web help "SSL Decryption Exclusion"): ``*`` stands for exactly one DNS label, so
``*.example.com`` covers ``a.example.com`` but neither ``example.com`` nor ``a.b.example.com``.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources

import idna

from panpin.errors import InvalidHost

MAX_HOST_LENGTH = 253
MAX_LABEL_LENGTH = 63

_LABEL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# Underscores appear in real SNI values (e.g. service records misused as names); PAN-OS accepts
# them in exclusion names, so they are tolerated inside a label but never at its edges.
_LABEL_LOOSE_RE = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?$")
_ASCII_PRINTABLE = re.compile(r"^[\x21-\x7e]+$")


def _script_of(char: str) -> str:
    """The Unicode script family of a letter, approximated by the first word of its name."""
    try:
        name = unicodedata.name(char)
    except ValueError:
        return "UNKNOWN"
    return name.split(" ", 1)[0]


def _check_mixed_script(label: str, raw: str) -> None:
    # A label mixing scripts (a Latin "a" beside a Cyrillic one) is the classic homoglyph spoof; a
    # reviewer cannot tell it from the real name, so it never becomes an exclusion.
    scripts = {_script_of(c) for c in label if c.isalpha() and ord(c) > 0x7F}
    if any(c.isascii() and c.isalpha() for c in label):
        scripts.add("LATIN")
    if len(scripts) > 1:
        raise InvalidHost(raw, "label mixes scripts (homoglyph)")


def _to_ascii(value: str, raw: str) -> str:
    if value.isascii():
        return value
    labels = value.split(".")
    for label in labels:
        _check_mixed_script(label, raw)
    try:
        return idna.encode(value, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise InvalidHost(raw, f"not a valid internationalised name ({exc})") from None


def _check_punycode(label: str, raw: str) -> None:
    if not label.startswith("xn--"):
        return
    try:
        decoded = idna.decode(label)
    except idna.IDNAError:
        raise InvalidHost(raw, "invalid punycode label") from None
    for part in decoded.split("."):
        _check_mixed_script(part, raw)


def normalize_host(raw: str, *, allow_ip: bool = False) -> str:
    """Return the canonical form of a host from a log entry, or raise :class:`InvalidHost`.

    Lower-cases, strips one trailing dot, converts IDN to punycode and validates the result as a DNS
    name (total length, label length, characters). IP literals are refused unless ``allow_ip``.
    """
    if raw is None or raw.strip() == "":
        raise InvalidHost(raw or "", "empty")
    if len(raw) > 4 * MAX_HOST_LENGTH:
        # Refuse before any Unicode processing so a 10 000-character value costs nothing.
        raise InvalidHost(raw, f"longer than {MAX_HOST_LENGTH} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zs", "Zl", "Zp") for c in raw):
        raise InvalidHost(raw, "contains control or space characters")
    value = raw.lower()
    if value.endswith("."):
        value = value[:-1]
    if value.startswith("[") or ":" in value:
        raise InvalidHost(raw, "IP literal or port, not a host name")
    if _is_ip(value):
        if allow_ip:
            return str(ipaddress.ip_address(value))
        raise InvalidHost(raw, "IP literal, not a host name")
    value = _to_ascii(value, raw)
    if not _ASCII_PRINTABLE.match(value):
        raise InvalidHost(raw, "contains characters not allowed in a host name")
    if len(value) > MAX_HOST_LENGTH:
        raise InvalidHost(raw, f"longer than {MAX_HOST_LENGTH} characters")
    labels = value.split(".")
    if len(labels) < 2:
        raise InvalidHost(raw, "not a fully qualified name (needs at least two labels)")
    for label in labels:
        _check_label(label, raw, wildcard=False)
    if labels[-1].isdigit():
        raise InvalidHost(raw, "top-level label is numeric")
    return value


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _check_label(label: str, raw: str, *, wildcard: bool) -> None:
    if label == "":
        raise InvalidHost(raw, "empty label")
    if wildcard and label == "*":
        return
    if "*" in label:
        raise InvalidHost(raw, "'*' must be a whole label")
    if len(label) > MAX_LABEL_LENGTH:
        raise InvalidHost(raw, f"label longer than {MAX_LABEL_LENGTH} characters")
    if not _LABEL_LOOSE_RE.match(label):
        raise InvalidHost(raw, f"label {label[:63]!r} has characters not allowed in a host name")
    _check_punycode(label, raw)


def validate_exclusion_name(name: str) -> str:
    """Validate a name for an exclusion entry: a host name, or a PAN-OS wildcard pattern.

    ``*`` is accepted only as a whole label, and a wildcard needs at least two concrete labels
    (``*.com`` would exclude a whole top-level domain). A name PAN-OS accepts passes, also
    ``*.co.uk`` (a person may have made one); what panpin itself would add is checked against
    the Public Suffix List too (:func:`public_suffix_wildcard`). Returns the normalised name.
    """
    if name is None or name.strip() == "":
        raise InvalidHost(name or "", "empty")
    if "*" not in name:
        return normalize_host(name)
    value = name.lower()
    if value.endswith("."):
        value = value[:-1]
    if len(value) > MAX_HOST_LENGTH or not _ASCII_PRINTABLE.match(value):
        raise InvalidHost(name, "wildcard names must be ASCII host names")
    labels = value.split(".")
    for label in labels:
        _check_label(label, name, wildcard=True)
    concrete = [label for label in labels if label != "*"]
    if len(concrete) < 2:
        raise InvalidHost(name, "a wildcard needs at least two concrete labels")
    if labels[-1] == "*":
        raise InvalidHost(name, "the top-level label cannot be a wildcard")
    return value


@dataclass(frozen=True)
class _SuffixRules:
    """The Public Suffix List's rules as label tuples (punycode), indexed by their last label.

    Both sections count (ICANN and private: ``github.io`` and ``s3.amazonaws.com`` are where
    strangers publish). A wildcard rule keeps its ``*`` label; an exception rule (``!www.ck``)
    stands for its parent, the suffix it carves from, so it can only make a check stricter.
    """

    by_tld: dict[str, tuple[tuple[str, ...], ...]]
    # The same rules by (last label, number of labels): a pattern only meets rules of its depth.
    by_depth: dict[tuple[str, int], tuple[tuple[str, ...], ...]]

    def rules_for(self, tld: str) -> tuple[tuple[str, ...], ...]:
        return self.by_tld.get(tld, ())

    def rules_of_depth(self, tld: str, depth: int) -> tuple[tuple[str, ...], ...]:
        return self.by_depth.get((tld, depth), ())


def _rule_labels(text: str) -> tuple[str, ...] | None:
    labels = text.lower().split(".")
    out: list[str] = []
    for label in labels:
        if label == "*" or label.isascii():
            out.append(label)
            continue
        try:
            out.append(idna.encode(label, uts46=True).decode("ascii"))
        except idna.IDNAError:
            # A rule the IDNA 2008 encoder refuses cannot be written as an entry name either.
            return None
    return tuple(out) if all(out) else None


@functools.cache
def _suffix_rules() -> _SuffixRules:
    # The list as the publicsuffixlist package ships it (no network), parsed here rather than
    # asked name by name: the package answers "is this name public?", and a wildcard needs
    # "could any expansion of this pattern be public?", which only the rules themselves tell.
    # Loaded on first use (~50 ms); only policy, plan and decision checks need it.
    data = resources.files("publicsuffixlist").joinpath("public_suffix_list.dat")
    by_tld: dict[str, set[tuple[str, ...]]] = {}
    for raw in data.read_text(encoding="utf-8").splitlines():
        line = raw.strip().split(" ", 1)[0]
        if not line or line.startswith("//"):
            continue
        if line.startswith("!"):
            line = line[1:].split(".", 1)[1] if "." in line else ""
        labels = _rule_labels(line) if line else None
        if labels:
            by_tld.setdefault(labels[-1], set()).add(labels)
    by_depth: dict[tuple[str, int], list[tuple[str, ...]]] = {}
    for tld, rules in by_tld.items():
        for rule in sorted(rules):
            by_depth.setdefault((tld, len(rule)), []).append(rule)
    return _SuffixRules(
        {tld: tuple(sorted(rules)) for tld, rules in by_tld.items()},
        {key: tuple(rules) for key, rules in by_depth.items()},
    )


def _could_be_public(labels: Sequence[str]) -> str | None:
    """A public-suffix rule one expansion of ``labels`` (``*`` = any one label) meets, or None.

    A single label is always public: the list's implied default rule makes every top-level
    domain a suffix, listed or not.
    """
    if len(labels) == 1:
        return labels[0]
    tld = labels[-1]
    met = [
        rule
        for rule in _suffix_rules().rules_of_depth(tld, len(labels))
        if all(r == "*" or p == "*" or r == p for r, p in zip(rule, labels, strict=True))
    ]
    # The shortest rule makes the plainest example for a message (``s3.amazonaws.com``).
    return _example(met)


def _example_order(rule: tuple[str, ...]) -> tuple[bool, int, str]:
    return ("*" in rule, len(".".join(rule)), ".".join(rule))


def _example(rules: Sequence[tuple[str, ...]]) -> str | None:
    if not rules:
        return None
    best: tuple[str, ...] = min(rules, key=_example_order)
    return ".".join(best)


def public_suffix_reach(name: str) -> str | None:
    """The public-suffix rule an exclusion name panpin would add reaches, else None.

    For a wildcard, every suffix that starts at, right of, or left of a ``*`` (one label
    further right at most) is checked against every rule of the list, wildcard rules included:
    if one expansion of it can be a public suffix, that ``*`` stands for a stranger's
    registration (``*.github.io``: every user's pages; ``*.*.amazonaws.com``: every S3
    bucket, since ``s3.amazonaws.com`` is a suffix). The check is over the rules, not over
    the expansions, so it is exact and fast.

    A name without ``*`` reaches a suffix when it is one (``github.io``) or has one beneath it
    (``amazonaws.com``): the device also exempts servers whose certificate CN contains the
    name, and ``*.github.io`` is the certificate of every GitHub Pages site.
    """
    labels = name.lower().rstrip(".").split(".")
    if "*" not in labels:
        return public_suffix_at_or_below(".".join(labels))
    last_star = len(labels) - 1 - labels[::-1].index("*")
    # From the right, so the message names the suffix next to the ``*`` (``co.uk`` for
    # ``*.co.uk``) before a longer private rule that also meets it (``adimo.co.uk``).
    for start in reversed(range(min(last_star + 2, len(labels)))):
        rule = _could_be_public(labels[start:])
        if rule is not None:
            return rule
    return None


def public_suffix_at_or_below(domain: str) -> str | None:
    """The rule that makes ``domain`` a public suffix or lies beneath it, else None.

    ``com`` and ``cloudfront.net`` are suffixes; ``amazonaws.com`` is not, but
    ``s3.amazonaws.com`` below it is, so everything under ``amazonaws.com`` includes strangers.
    """
    labels = tuple(domain.lower().rstrip(".").split("."))
    rule = _could_be_public(labels)
    if rule is not None:
        return rule
    below = [
        candidate
        for candidate in _suffix_rules().rules_for(labels[-1])
        if len(candidate) > len(labels) and candidate[-len(labels) :] == labels
    ]
    return _example(below)


def public_suffix_wildcard(name: str) -> str | None:
    """The public suffix a wildcard name reaches (``*.co.uk`` → ``co.uk``), else None.

    Kept for callers that only judge wildcards; a name without ``*`` gives None (it names one
    host). See :func:`public_suffix_reach` for what is checked.
    """
    if "*" not in name:
        return None
    return public_suffix_reach(name)


def in_any_domain(host: str, domains: Iterable[str]) -> str | None:
    """The first of ``domains`` that ``host`` is in or equal to, else None."""
    return next((d for d in domains if in_domain(host, d)), None)


def pattern_reaches_domain(pattern: str, domain: str) -> bool:
    """True when some host an exclusion name covers is ``domain`` or lies under it."""
    p_labels, d_labels = pattern.lower().split("."), domain.lower().split(".")
    if len(p_labels) < len(d_labels):
        return False
    tail = p_labels[len(p_labels) - len(d_labels) :]
    return all(p == "*" or p == d for p, d in zip(tail, d_labels, strict=True))


def is_wildcard(name: str) -> bool:
    return "*" in name


def wildcard_matches(pattern: str, host: str) -> bool:
    """True when the exclusion name ``pattern`` covers ``host`` (one ``*`` = exactly one label).

    Both are compared case-insensitively; a pattern without ``*`` must equal the host.
    """
    p_labels = pattern.lower().rstrip(".").split(".")
    h_labels = host.lower().rstrip(".").split(".")
    if len(p_labels) != len(h_labels):
        return False
    return all(p == "*" or p == h for p, h in zip(p_labels, h_labels, strict=True))


def pattern_covers_pattern(outer: str, inner: str) -> bool:
    """True when every host matched by ``inner`` is also matched by ``outer``."""
    o_labels = outer.lower().rstrip(".").split(".")
    i_labels = inner.lower().rstrip(".").split(".")
    if len(o_labels) != len(i_labels):
        return False
    return all(o == "*" or o == i for o, i in zip(o_labels, i_labels, strict=True))


def patterns_overlap(a: str, b: str) -> bool:
    """True when some host is matched by both exclusion names ``a`` and ``b``."""
    a_labels = a.lower().rstrip(".").split(".")
    b_labels = b.lower().rstrip(".").split(".")
    if len(a_labels) != len(b_labels):
        return False
    return all(x == "*" or y == "*" or x == y for x, y in zip(a_labels, b_labels, strict=True))


def in_domain(host: str, domain: str) -> bool:
    """True when ``host`` is ``domain`` or one of its subdomains (label boundary, not a suffix)."""
    host = host.lower().rstrip(".")
    domain = domain.lower().rstrip(".")
    return host == domain or host.endswith("." + domain)


def covering_entry(host: str, names: Iterable[str]) -> str | None:
    """The first exclusion name that covers ``host``: an exact entry wins over a wildcard."""
    # Same folding as wildcard_matches, so an upper-case host still finds its exact entry first.
    host = host.lower().rstrip(".")
    wildcard: str | None = None
    for name in names:
        if name.lower().rstrip(".") == host:
            return name
        if wildcard is None and is_wildcard(name) and wildcard_matches(name, host):
            wildcard = name
    return wildcard


def host_of_entry(sni: str | None, cn: str | None) -> str:
    """The raw host of a Decryption log entry: its SNI, else its certificate CN."""
    if sni is not None and sni.strip() not in ("", "-", "N/A"):
        return sni
    return cn or ""
