"""The reviewed YAML policy: model, loading, and strict validation with ``file:line`` errors.

A policy is the one place where a person decides which hosts may bypass decryption, so a typo must
never silently widen or narrow it. Loading therefore rejects unknown keys, wrong types, duplicate
keys and rule names, invalid wildcards and regexes, unparsable durations and dates, and an
``exclude_as`` that does not provably cover what its rule can match. Every problem is reported as
``policy.yaml:14: rules[2].match.regex: <problem>`` (rules are counted from 0), all of them at once.

Reading the file is the only I/O here (:func:`load_policy`); :func:`parse_policy` is pure.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Final, Literal, Protocol

import re2
import yaml

from panpin.errors import InvalidHost, PolicyError
from panpin.hosts import (
    in_any_domain,
    in_domain,
    is_wildcard,
    normalize_host,
    pattern_covers_pattern,
    pattern_reaches_domain,
    patterns_overlap,
    public_suffix_at_or_below,
    public_suffix_reach,
    validate_exclusion_name,
    wildcard_matches,
)
from panpin.panos.marker import is_marker_token
from panpin.scan.causes import CAUSE_VALUES
from panpin.scan.clients import (
    CLIENTS_BY,
    DEFAULT_CLIENT_COUNTING,
    IPV4_PREFIX_RANGE,
    IPV6_PREFIX_RANGE,
    ClientCounting,
    ClientsBy,
)

SUPPORTED_VERSION: Final = 1

Action = Literal["allow", "block", "review"]
ACTIONS: Final[tuple[Action, ...]] = ("allow", "block", "review")

_RULE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ALERT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_APP_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_CAUSE_RE = re.compile(r"^[a-z][a-z-]{0,31}$")
# Windows are read from logs, so hours make sense; an expiry lands on a calendar date, so it does not.
_WINDOW_RE = re.compile(r"^([1-9][0-9]{0,4})([hdw])$")
_EXPIRES_RE = re.compile(r"^([1-9][0-9]{0,4})([dw])$")
_UNIT = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
# A host name is at most 253 characters; a pattern far longer than that is a mistake or an attack
# on the compiler, and RE2's own memory cap (below) is the second bound.
MAX_REGEX_LENGTH: Final = 1024
_RE2_MAX_MEM: Final = 8 << 20

_TAG_PREFIX = "tag:yaml.org,2002:"
_KIND = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "a boolean",
    "null": "nothing (null)",
    "timestamp": "a date",
    "map": "a mapping",
    "seq": "a list",
}


# --- model ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Duration:
    """A span such as ``7d``; ``text`` keeps what the user wrote for messages and summaries."""

    text: str
    delta: timedelta


@dataclass(frozen=True)
class Expiry:
    """When an entry panpin adds expires: a span after the decision day, or a fixed date (``on``)."""

    text: str
    after: timedelta = timedelta(0)
    on: date | None = None

    def date_from(self, today: date) -> date:
        return self.on if self.on is not None else today + self.after


@dataclass(frozen=True)
class Signals:
    """Client alert names: ``strong`` ones point to pinning; ``weak`` ones count only beside them."""

    strong: tuple[str, ...]
    weak: tuple[str, ...] = ()


@dataclass(frozen=True)
class Thresholds:
    """Evidence a host needs before a rule may allow or review it.

    ``window`` is how far back the evidence is read (used by ``scan``/``plan`` as the default
    ``--since``); :func:`panpin.decide.engine.decide` receives candidates already inside it.
    """

    min_hits: int
    min_clients: int
    window: Duration
    # What one "client" is (``clients_by``, ``ipv6_prefix``, ``ipv4_prefix``); the scan counts
    # with it (:func:`panpin.scan.clients.client_key`).
    clients: ClientCounting = DEFAULT_CLIENT_COUNTING


@dataclass(frozen=True)
class Defaults:
    """What happens to a host no rule matches, and the expiry of entries whose rule sets none."""

    action: Action
    expires: Expiry


@dataclass(frozen=True)
class Limits:
    max_changes_per_run: int


class HostRegex(Protocol):
    """A compiled policy regex: RE2 from a policy file (linear time, no backtracking)."""

    @property
    def pattern(self) -> str: ...

    def fullmatch(self, text: str) -> object: ...


def compile_regex(pattern: str) -> HostRegex:
    r"""Compile a policy regex with RE2; raise :class:`ValueError` with RE2's reason if it cannot.

    Host names come from the log, which an attacker writes; Python's backtracking engine takes
    exponential time on ``^(a+)+\.example$`` and a long SNI, RE2 takes linear time on every
    pattern it accepts. Back-references and look-arounds, which need backtracking, are refused.
    """
    if len(pattern) > MAX_REGEX_LENGTH:
        raise ValueError(f"longer than {MAX_REGEX_LENGTH} characters")
    options = re2.Options()
    # RE2 would otherwise print its own error line on stderr beside ours.
    options.log_errors = False
    options.max_mem = _RE2_MAX_MEM
    try:
        compiled: HostRegex = re2.compile(pattern, options=options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        text = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        raise ValueError(text) from None
    return compiled


@dataclass(frozen=True)
class Match:
    """A rule's conditions; every key that is set must hold (AND). Unset keys are ``None``/empty."""

    host: str | None = None
    domain: str | None = None
    regex: HostRegex | None = None
    apps: tuple[str, ...] = ()
    signals: tuple[str, ...] = ()
    # Causes (panpin.scan.causes) of which the host's evidence must hold at least one entry.
    causes: tuple[str, ...] = ()

    def matches(
        self,
        host: str,
        apps: Iterable[str],
        alerts: Mapping[str, int],
        causes: Mapping[str, int] | None = None,
    ) -> bool:
        """True when the normalised ``host`` with these ``apps``, alert counts and cause counts
        meets every key."""
        if self.host is not None and not wildcard_matches(self.host, host):
            return False
        if self.domain is not None and not in_domain(host, self.domain):
            return False
        if self.regex is not None and self.regex.fullmatch(host) is None:
            return False
        if self.apps and not {a.lower() for a in apps} & set(self.apps):
            return False
        if self.causes and not any((causes or {}).get(c, 0) > 0 for c in self.causes):
            return False
        return not self.signals or any(alerts.get(s, 0) > 0 for s in self.signals)

    def describe(self) -> str:
        parts: list[str] = []
        if self.host is not None:
            parts.append(f"host={self.host}")
        if self.domain is not None:
            parts.append(f"domain={self.domain}")
        if self.regex is not None:
            parts.append(f"regex={self.regex.pattern}")
        if self.apps:
            parts.append("apps=" + ",".join(self.apps))
        if self.signals:
            parts.append("signals=" + ",".join(self.signals))
        if self.causes:
            parts.append("causes=" + ",".join(self.causes))
        return " ".join(parts)


@dataclass(frozen=True)
class Rule:
    """One policy rule. ``index`` is its position (from 0) and ``line`` its line in the file."""

    name: str
    match: Match
    action: Action
    exclude_as: str | None = None
    ticket: str | None = None
    owner: str | None = None
    expires: Expiry | None = None
    note: str | None = None
    index: int = 0
    line: int = 0
    # Allow only hosts that a packet capture confirms (``panpin plan --confirm CAPTURE``).
    require_confirmation: bool = False


def expiry_from_text(text: str) -> Expiry | None:
    """An expiry as the policy writes one (``90d``, ``12w``, ``2027-05-25``), or ``None``."""
    found = _EXPIRES_RE.match(text)
    if found is not None:
        return Expiry(text, after=int(found.group(1)) * _UNIT[found.group(2)])
    try:
        return Expiry(text, on=date.fromisoformat(text))
    except ValueError:
        return None


def rule_digest(rule: Rule) -> str:
    """SHA-256 of what a rule says (its match, action and settings; not its place or line).

    A rollback's hold is tied to the rule that allowed the entry: the hold ends when this digest
    changes, so moving the rule or editing another one leaves the hold in place.
    """
    m = rule.match
    content = {
        "name": rule.name,
        "match": {
            "host": m.host,
            "domain": m.domain,
            "regex": m.regex.pattern if m.regex is not None else None,
            "apps": list(m.apps),
            "signals": list(m.signals),
            "causes": list(m.causes),
        },
        "action": rule.action,
        "exclude_as": rule.exclude_as,
        "ticket": rule.ticket,
        "owner": rule.owner,
        "expires": rule.expires.text if rule.expires is not None else None,
        "require_confirmation": rule.require_confirmation,
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Policy:
    version: int
    signals: Signals
    thresholds: Thresholds
    defaults: Defaults
    limits: Limits
    rules: tuple[Rule, ...]
    source: str = "<policy>"
    # SHA-256 of the text the policy was read from: a plan names the policy it was decided by.
    sha256: str = ""
    # Domains whose hosts are never excluded (user content beyond the Public Suffix List).
    never_allow: tuple[str, ...] = ()

    def first_match(
        self,
        host: str,
        apps: Iterable[str] = (),
        alerts: Mapping[str, int] | None = None,
        causes: Mapping[str, int] | None = None,
    ) -> Rule | None:
        """The first rule whose match holds, like a security rulebase; ``None`` means defaults."""
        app_list = tuple(apps)
        alert_counts = alerts or {}
        for rule in self.rules:
            if rule.match.matches(host, app_list, alert_counts, causes):
                return rule
        return None

    def deciding_rule(
        self,
        host: str,
        apps: Iterable[str] = (),
        alerts: Mapping[str, int] | None = None,
        causes: Mapping[str, int] | None = None,
    ) -> Rule | None:
        """The rule that decides ``host``: the first matching ``block`` rule wherever it stands,
        else the first matching rule. A block always wins: an allow written above it by mistake
        (or a broad one written above it on purpose) never exempts what the block protects."""
        app_list = tuple(apps)
        alert_counts = alerts or {}
        for rule in self.rules:
            if rule.action == "block" and rule.match.matches(host, app_list, alert_counts, causes):
                return rule
        return self.first_match(host, app_list, alert_counts, causes)

    def never_allowed(self, host: str) -> str | None:
        """The ``never_allow`` domain ``host`` is in, else None."""
        return in_any_domain(host, self.never_allow)


DEFAULT_SIGNALS: Final = Signals(strong=("UnknownCA", "BadCertificate"), weak=())
DEFAULT_THRESHOLDS: Final = Thresholds(
    min_hits=3, min_clients=2, window=Duration("7d", timedelta(days=7))
)
DEFAULT_DEFAULTS: Final = Defaults(action="review", expires=Expiry("90d", after=timedelta(days=90)))
DEFAULT_LIMITS: Final = Limits(max_changes_per_run=25)


# --- errors --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyProblem:
    source: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.path}: {self.message}"


class PolicyValidationError(PolicyError):
    """A policy with one or more problems; the message has one ``file:line: path: problem`` each."""

    def __init__(self, problems: Sequence[PolicyProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


# --- loading -------------------------------------------------------------------------------------


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read and validate the policy file at ``path``; raise :class:`PolicyError` if it is invalid.

    Messages name the file as the user gave it, so they point where the user looks.
    """
    source = os.fspath(path)
    try:
        raw = Path(source).read_bytes()
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError(f"{source}: not a UTF-8 text file") from None
    except OSError as exc:
        raise PolicyError(f"{source}: cannot read policy: {exc.strerror or exc}") from None
    # The file's own bytes, as `sha256sum` shows them (a plan names the reviewed file).
    return replace(parse_policy(text, source), sha256=hashlib.sha256(raw).hexdigest())


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Validate policy YAML ``text``; ``source`` names it in messages. Pure."""
    loader: yaml.SafeLoader | None = None
    try:
        # The reader checks the characters as the loader is built, so a control character
        # fails here and must become a PolicyError like any other YAML problem.
        loader = yaml.SafeLoader(text)
        # Composing (not constructing) keeps every node's line; nothing is built from tags, so
        # a hostile file cannot instantiate objects.
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise PolicyValidationError([_yaml_problem(source, exc)]) from None
    except yaml.YAMLError as exc:
        raise PolicyValidationError([PolicyProblem(source, 1, "yaml", str(exc))]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if root is None:
        raise PolicyValidationError([PolicyProblem(source, 1, "policy", "the file is empty")])
    reader = _Reader(source)
    policy = reader.policy(root)
    if reader.problems or policy is None:
        raise PolicyValidationError(sorted(reader.problems, key=lambda p: p.line))
    return replace(policy, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())


def _yaml_problem(source: str, exc: yaml.MarkedYAMLError) -> PolicyProblem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else 1
    message = " ".join(part for part in (exc.context, exc.problem) if part)
    if exc.context and "alias" in exc.context:
        # `host: *.vendor.example` is the classic mistake: YAML reads a leading * as an alias.
        message += " (quote values that start with '*', e.g. \"*.vendor.example\")"
    return PolicyProblem(source, line, "yaml", message or str(exc))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(node: yaml.Node) -> str:
    tag = node.tag.removeprefix(_TAG_PREFIX)
    if tag not in _KIND:
        # Explicit tags such as !!python/object are never constructed; name them so it is clear.
        shown = f"!!{tag}" if node.tag.startswith(_TAG_PREFIX) else node.tag
        return f"a value tagged {shown}"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    kind = _KIND[tag]
    return kind if tag == "null" else f"{kind} ({node.value!r})"


class _Reader:
    """Walks the composed YAML tree, collecting every problem instead of stopping at the first."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[PolicyProblem] = []
        # Only used to build scalars from already-resolved tags (int, bool, date...).
        self._constructor = yaml.SafeLoader("")
        self._never_allow: tuple[str, ...] = ()

    def problem(self, where: yaml.Node | int, path: str, message: str) -> None:
        line = where if isinstance(where, int) else where.start_mark.line + 1
        self.problems.append(PolicyProblem(self.source, line, path or "policy", message))

    # --- generic shapes ---

    def mapping(
        self,
        node: yaml.Node,
        path: str,
        *,
        allowed: Sequence[str],
        required: Sequence[str] = (),
    ) -> dict[str, yaml.Node] | None:
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, path, f"expected a mapping, got {_kind(node)}")
            return None
        seen: dict[str, yaml.Node] = {}
        result: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _TAG_PREFIX + "merge":
                self.problem(key_node, path, "YAML merge keys (<<) are not supported")
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _TAG_PREFIX + "str":
                self.problem(key_node, path, f"keys must be plain strings, got {_kind(key_node)}")
                continue
            key = str(key_node.value)
            sub = _join(path, key)
            if key in seen:
                first = seen[key].start_mark.line + 1
                self.problem(key_node, sub, f"duplicate key (first given on line {first})")
                continue
            seen[key] = key_node
            if key not in allowed:
                self.problem(key_node, sub, _unknown_key_message(key, allowed))
                continue
            result[key] = value_node
        for key in required:
            if key not in seen:
                self.problem(node, _join(path, key), "missing required key")
        return result

    def string(self, node: yaml.Node, path: str) -> str | None:
        if not isinstance(node, yaml.ScalarNode) or node.tag != _TAG_PREFIX + "str":
            self.problem(node, path, f"expected a string, got {_kind(node)}")
            return None
        value = str(node.value)
        if value.strip() == "":
            self.problem(node, path, "must not be empty")
            return None
        return value

    def boolean(self, node: yaml.Node, path: str) -> bool | None:
        if not isinstance(node, yaml.ScalarNode) or node.tag != _TAG_PREFIX + "bool":
            self.problem(node, path, f"expected true or false, got {_kind(node)}")
            return None
        return bool(self._constructor.construct_object(node))

    def integer(self, node: yaml.Node, path: str, *, minimum: int) -> int | None:
        # YAML booleans are not integers here, even though Python's bool is an int.
        if not isinstance(node, yaml.ScalarNode) or node.tag != _TAG_PREFIX + "int":
            self.problem(node, path, f"expected an integer, got {_kind(node)}")
            return None
        value = self._constructor.construct_object(node)
        if not isinstance(value, int):
            return None
        if value < minimum:
            self.problem(node, path, f"must be at least {minimum}, got {value}")
            return None
        return value

    def string_list(
        self, node: yaml.Node, path: str, *, pattern: re.Pattern[str], what: str
    ) -> tuple[tuple[str, yaml.Node], ...] | None:
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, path, f"expected a list of {what}s, got {_kind(node)}")
            return None
        items: list[tuple[str, yaml.Node]] = []
        ok = True
        for i, item in enumerate(node.value):
            item_path = f"{path}[{i}]"
            value = self.string(item, item_path)
            if value is None:
                ok = False
            elif not pattern.match(value):
                self.problem(item, item_path, f"{value!r} is not a valid {what}")
                ok = False
            elif value in (v for v, _ in items):
                self.problem(item, item_path, f"{value!r} is listed twice")
                ok = False
            else:
                items.append((value, item))
        if not node.value:
            self.problem(node, path, f"must list at least one {what}")
            return None
        return tuple(items) if ok else None

    # --- specific values ---

    def duration(self, node: yaml.Node, path: str) -> Duration | None:
        text = self.string(node, path)
        if text is None:
            return None
        found = _WINDOW_RE.match(text)
        if found is None:
            self.problem(node, path, f"{text!r} is not a duration like 24h, 7d or 2w")
            return None
        return Duration(text, int(found.group(1)) * _UNIT[found.group(2)])

    def expiry(self, node: yaml.Node, path: str) -> Expiry | None:
        if isinstance(node, yaml.ScalarNode) and node.tag == _TAG_PREFIX + "timestamp":
            try:
                value = self._constructor.construct_object(node, deep=True)
            except ValueError as exc:
                self.problem(node, path, f"{node.value!r} is not a valid date: {exc}")
                return None
            if isinstance(value, datetime):
                self.problem(node, path, "expected a date (YYYY-MM-DD), not a date and time")
                return None
            if isinstance(value, date):
                return Expiry(value.isoformat(), on=value)
        text = self.string(node, path)
        if text is None:
            return None
        expiry = expiry_from_text(text)
        if expiry is not None:
            return expiry
        self.problem(
            node, path, f"{text!r} is not an expiry like 90d or 12w, or a date like 2027-05-25"
        )
        return None

    def action(self, node: yaml.Node, path: str) -> Action | None:
        text = self.string(node, path)
        if text is None:
            return None
        for action in ACTIONS:
            if text == action:
                return action
        self.problem(node, path, f"{text!r} is not an action; use one of: {', '.join(ACTIONS)}")
        return None

    def exclusion_name(self, node: yaml.Node, path: str) -> str | None:
        text = self.string(node, path)
        if text is None:
            return None
        try:
            return validate_exclusion_name(text)
        except InvalidHost as exc:
            self.problem(node, path, f"{text!r} is not a name PAN-OS accepts: {exc.reason}")
            return None

    def domain(self, node: yaml.Node, path: str) -> str | None:
        text = self.string(node, path)
        if text is None:
            return None
        try:
            # normalize_host insists on two labels; a domain matcher may name a single label
            # (`gov`), so the labels are validated under a throwaway first label.
            return normalize_host("x." + text.rstrip("."))[2:]
        except InvalidHost as exc:
            self.problem(node, path, f"{text!r} is not a domain name: {exc.reason}")
            return None

    def regex(self, node: yaml.Node, path: str) -> HostRegex | None:
        text = self.string(node, path)
        if text is None:
            return None
        try:
            return compile_regex(text)
        except ValueError as exc:
            self.problem(
                node, path, f"invalid regular expression (RE2 syntax, no backtracking): {exc}"
            )
            return None

    # --- sections ---

    def policy(self, root: yaml.Node) -> Policy | None:
        top = self.mapping(
            root,
            "",
            allowed=(
                "version",
                "signals",
                "thresholds",
                "defaults",
                "limits",
                "never_allow",
                "rules",
            ),
            required=("version", "rules"),
        )
        if top is None:
            return None
        version: int | None = None
        if "version" in top:
            version = self.integer(top["version"], "version", minimum=0)
            if version is not None and version != SUPPORTED_VERSION:
                self.problem(
                    top["version"],
                    "version",
                    f"unsupported version {version}; this panpin reads version {SUPPORTED_VERSION}",
                )
                version = None
        signals = self.signals(top["signals"]) if "signals" in top else DEFAULT_SIGNALS
        thresholds = (
            self.thresholds(top["thresholds"]) if "thresholds" in top else DEFAULT_THRESHOLDS
        )
        defaults = self.defaults(top["defaults"]) if "defaults" in top else DEFAULT_DEFAULTS
        limits = self.limits(top["limits"]) if "limits" in top else DEFAULT_LIMITS
        # Read before the rules: allow rules are checked against these domains.
        never_allow = self.never_allow(top["never_allow"]) if "never_allow" in top else ()
        if never_allow is not None:
            self._never_allow = never_allow
        rules = self.rules(top["rules"]) if "rules" in top else None
        if (
            version is None
            or signals is None
            or thresholds is None
            or defaults is None
            or limits is None
            or never_allow is None
            or rules is None
        ):
            return None
        return Policy(
            version,
            signals,
            thresholds,
            defaults,
            limits,
            rules,
            self.source,
            never_allow=never_allow,
        )

    def never_allow(self, node: yaml.Node) -> tuple[str, ...] | None:
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, "never_allow", f"expected a list of domains, got {_kind(node)}")
            return None
        domains: list[str] = []
        ok = True
        for i, item in enumerate(node.value):
            domain = self.domain(item, f"never_allow[{i}]")
            if domain is None:
                ok = False
            elif domain in domains:
                self.problem(item, f"never_allow[{i}]", f"{domain!r} is listed twice")
                ok = False
            else:
                domains.append(domain)
        return tuple(domains) if ok else None

    def signals(self, node: yaml.Node) -> Signals | None:
        section = self.mapping(node, "signals", allowed=("strong", "weak"), required=("strong",))
        if section is None:
            return None
        strong: tuple[tuple[str, yaml.Node], ...] | None = None
        if "strong" in section:
            strong = self.string_list(
                section["strong"], "signals.strong", pattern=_ALERT_RE, what="alert name"
            )
        weak: tuple[tuple[str, yaml.Node], ...] | None = ()
        if "weak" in section:
            weak = self.string_list(
                section["weak"], "signals.weak", pattern=_ALERT_RE, what="alert name"
            )
        if strong is None or weak is None:
            return None
        strong_names = {name for name, _ in strong}
        ok = True
        for i, (name, item) in enumerate(weak):
            if name in strong_names:
                # An alert cannot be both enough and never enough on its own.
                self.problem(item, f"signals.weak[{i}]", f"{name!r} is also a strong signal")
                ok = False
        if not ok:
            return None
        return Signals(tuple(name for name, _ in strong), tuple(name for name, _ in weak))

    def thresholds(self, node: yaml.Node) -> Thresholds | None:
        section = self.mapping(
            node,
            "thresholds",
            allowed=(
                "min_hits",
                "min_clients",
                "window",
                "clients_by",
                "ipv6_prefix",
                "ipv4_prefix",
            ),
        )
        if section is None:
            return None
        base = DEFAULT_THRESHOLDS
        # At least 1: with 0 a host with weak-only evidence would pass, which signals forbid.
        min_hits = (
            self.integer(section["min_hits"], "thresholds.min_hits", minimum=1)
            if "min_hits" in section
            else base.min_hits
        )
        min_clients = (
            self.integer(section["min_clients"], "thresholds.min_clients", minimum=1)
            if "min_clients" in section
            else base.min_clients
        )
        window = (
            self.duration(section["window"], "thresholds.window")
            if "window" in section
            else base.window
        )
        clients = self.client_counting(section)
        if min_hits is None or min_clients is None or window is None or clients is None:
            return None
        return Thresholds(min_hits, min_clients, window, clients)

    def client_counting(self, section: Mapping[str, yaml.Node]) -> ClientCounting | None:
        base = DEFAULT_CLIENT_COUNTING
        by: ClientsBy | None = base.by
        if "clients_by" in section:
            text = self.string(section["clients_by"], "thresholds.clients_by")
            by = next((choice for choice in CLIENTS_BY if choice == text), None)
            if text is not None and by is None:
                self.problem(
                    section["clients_by"],
                    "thresholds.clients_by",
                    f"{text!r} is not one of: {', '.join(CLIENTS_BY)}",
                )
        prefixes: dict[str, int | None] = {
            "ipv6_prefix": base.ipv6_prefix,
            "ipv4_prefix": base.ipv4_prefix,
        }
        for key, (low, high) in (
            ("ipv6_prefix", IPV6_PREFIX_RANGE),
            ("ipv4_prefix", IPV4_PREFIX_RANGE),
        ):
            if key not in section:
                continue
            value = self.integer(section[key], f"thresholds.{key}", minimum=low)
            if value is not None and value > high:
                self.problem(
                    section[key], f"thresholds.{key}", f"must be at most {high}, got {value}"
                )
                value = None
            prefixes[key] = value
        ipv6, ipv4 = prefixes["ipv6_prefix"], prefixes["ipv4_prefix"]
        if by is None or ipv6 is None or ipv4 is None:
            return None
        return ClientCounting(by, ipv6, ipv4)

    def defaults(self, node: yaml.Node) -> Defaults | None:
        section = self.mapping(node, "defaults", allowed=("action", "expires"))
        if section is None:
            return None
        action = (
            self.action(section["action"], "defaults.action")
            if "action" in section
            else DEFAULT_DEFAULTS.action
        )
        expires = (
            self.expiry(section["expires"], "defaults.expires")
            if "expires" in section
            else DEFAULT_DEFAULTS.expires
        )
        if action is None or expires is None:
            return None
        return Defaults(action, expires)

    def limits(self, node: yaml.Node) -> Limits | None:
        section = self.mapping(node, "limits", allowed=("max_changes_per_run",))
        if section is None:
            return None
        if "max_changes_per_run" not in section:
            return DEFAULT_LIMITS
        # 0 is allowed: a run that only reports (everything is listed as cut).
        value = self.integer(
            section["max_changes_per_run"], "limits.max_changes_per_run", minimum=0
        )
        return None if value is None else Limits(value)

    def rules(self, node: yaml.Node) -> tuple[Rule, ...] | None:
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, "rules", f"expected a list of rules, got {_kind(node)}")
            return None
        if not node.value:
            self.problem(node, "rules", "must contain at least one rule")
            return None
        rules: list[Rule] = []
        name_lines: dict[str, int] = {}
        exclude_nodes: dict[int, yaml.Node] = {}
        ok = True
        for index, item in enumerate(node.value):
            path = f"rules[{index}]"
            parsed = self.rule(item, path, index)
            if parsed is None:
                ok = False
                continue
            rule, name_node, exclude_node = parsed
            if rule.name in name_lines:
                self.problem(
                    name_node,
                    f"{path}.name",
                    f"duplicate rule name {rule.name!r} (first on line {name_lines[rule.name]})",
                )
                ok = False
            else:
                name_lines[rule.name] = name_node.start_mark.line + 1
            if exclude_node is not None:
                exclude_nodes[index] = exclude_node
            rules.append(rule)
        for rule in rules:
            exclude_node = exclude_nodes.get(rule.index)
            if exclude_node is not None and not self._exclude_as_is_safe(rule, rules, exclude_node):
                ok = False
        return tuple(rules) if ok else None

    def rule(
        self, node: yaml.Node, path: str, index: int
    ) -> tuple[Rule, yaml.Node, yaml.Node | None] | None:
        section = self.mapping(
            node,
            path,
            allowed=(
                "name",
                "match",
                "action",
                "exclude_as",
                "ticket",
                "owner",
                "expires",
                "note",
                "require_confirmation",
            ),
            required=("name", "match", "action"),
        )
        if section is None:
            return None
        ok = all(key in section for key in ("name", "match", "action"))
        name: str | None = None
        if "name" in section:
            name = self.string(section["name"], f"{path}.name")
            if name is not None and not _RULE_NAME_RE.match(name):
                # The name is written into the ownership marker, which is split on spaces.
                self.problem(
                    section["name"],
                    f"{path}.name",
                    f"{name!r}: use letters, digits, '.', '_' or '-' (at most 64, no spaces)",
                )
                name = None
        match = self.match(section["match"], f"{path}.match") if "match" in section else None
        action = self.action(section["action"], f"{path}.action") if "action" in section else None
        exclude_as: str | None = None
        if "exclude_as" in section:
            exclude_as = self.exclusion_name(section["exclude_as"], f"{path}.exclude_as")
            if exclude_as is not None and not self._name_is_narrow(
                section["exclude_as"], f"{path}.exclude_as", exclude_as
            ):
                exclude_as = None
            ok = ok and exclude_as is not None
            if action is not None and action != "allow":
                self.problem(
                    section["exclude_as"],
                    f"{path}.exclude_as",
                    f"only an allow rule adds entries; this rule's action is {action}",
                )
                ok = False
        ticket: str | None = None
        if "ticket" in section:
            ticket = self.string(section["ticket"], f"{path}.ticket")
            if ticket is not None and not is_marker_token(ticket):
                self.problem(
                    section["ticket"],
                    f"{path}.ticket",
                    f"{ticket!r}: one word without spaces (it is written into the entry)",
                )
                ticket = None
            ok = ok and ticket is not None
        require_confirmation = False
        if "require_confirmation" in section:
            value = self.boolean(section["require_confirmation"], f"{path}.require_confirmation")
            ok = ok and value is not None
            require_confirmation = bool(value)
            if action is not None and action != "allow" and value:
                # Only an allow can be held back; on block/review it would promise a check
                # that never happens.
                self.problem(
                    section["require_confirmation"],
                    f"{path}.require_confirmation",
                    f"only an allow rule can require confirmation; this rule's action is {action}",
                )
                ok = False
        owner = note = None
        if "owner" in section:
            owner = self.string(section["owner"], f"{path}.owner")
            ok = ok and owner is not None
        if "note" in section:
            note = self.string(section["note"], f"{path}.note")
            ok = ok and note is not None
        expires: Expiry | None = None
        if "expires" in section:
            expires = self.expiry(section["expires"], f"{path}.expires")
            ok = ok and expires is not None
            if action is not None and action != "allow":
                self.problem(
                    section["expires"],
                    f"{path}.expires",
                    f"only an allow rule adds entries that expire; this rule's action is {action}",
                )
                ok = False
        if (
            action == "allow"
            and match is not None
            and not self._allow_is_narrow(section["match"], f"{path}.match", match)
        ):
            ok = False
        if not ok or name is None or match is None or action is None:
            return None
        rule = Rule(
            name=name,
            match=match,
            action=action,
            exclude_as=exclude_as,
            ticket=ticket,
            owner=owner,
            expires=expires,
            note=note,
            require_confirmation=require_confirmation,
            index=index,
            line=node.start_mark.line + 1,
        )
        return rule, section["name"], section.get("exclude_as")

    def match(self, node: yaml.Node, path: str) -> Match | None:
        keys = ("host", "domain", "regex", "apps", "signals", "causes")
        section = self.mapping(node, path, allowed=keys)
        if section is None:
            return None
        if not node.value:
            # A catch-all rule would hide the defaults; say so instead of guessing.
            self.problem(node, path, f"needs at least one of: {', '.join(keys)}")
            return None
        ok = True
        host = domain = None
        regex: HostRegex | None = None
        apps: tuple[str, ...] = ()
        signals: tuple[str, ...] = ()
        if "host" in section:
            host = self.exclusion_name(section["host"], f"{path}.host")
            ok = ok and host is not None
        if "domain" in section:
            domain = self.domain(section["domain"], f"{path}.domain")
            ok = ok and domain is not None
        if "regex" in section:
            regex = self.regex(section["regex"], f"{path}.regex")
            ok = ok and regex is not None
        if "apps" in section:
            app_items = self.string_list(
                section["apps"], f"{path}.apps", pattern=_APP_RE, what="App-ID name"
            )
            ok = ok and app_items is not None
            # App-ID names are lower-case in logs; compare them without case.
            apps = tuple(name.lower() for name, _ in app_items or ())
        if "signals" in section:
            signal_items = self.string_list(
                section["signals"], f"{path}.signals", pattern=_ALERT_RE, what="alert name"
            )
            ok = ok and signal_items is not None
            signals = tuple(name for name, _ in signal_items or ())
        causes: tuple[str, ...] = ()
        if "causes" in section:
            cause_items = self.string_list(
                section["causes"], f"{path}.causes", pattern=_CAUSE_RE, what="cause"
            )
            ok = ok and cause_items is not None
            for i, (name, item) in enumerate(cause_items or ()):
                if name not in CAUSE_VALUES:
                    self.problem(
                        item,
                        f"{path}.causes[{i}]",
                        f"unknown cause {name!r}; expected one of {', '.join(CAUSE_VALUES)}",
                    )
                    ok = False
            causes = tuple(name for name, _ in cause_items or ())
        if not ok:
            return None
        return Match(
            host=host, domain=domain, regex=regex, apps=apps, signals=signals, causes=causes
        )

    def _name_is_narrow(self, node: yaml.Node, path: str, name: str) -> bool:
        """An entry name (``exclude_as``, an allow ``host:``) that reaches no stranger's site."""
        suffix = public_suffix_reach(name)
        if suffix is not None:
            if is_wildcard(name):
                why = (
                    f"{name!r} would exclude sites registered under the public suffix {suffix!r} "
                    "(Public Suffix List): one '*' stands for anyone's name there; name the "
                    "site's own domain, e.g. *.vendor.example"
                )
            else:
                why = (
                    f"{name!r} is or holds the public suffix {suffix!r} (Public Suffix List): "
                    "the device also exempts every certificate whose name contains it"
                )
            self.problem(node, path, why)
            return False
        for domain in self._never_allow:
            if pattern_reaches_domain(name, domain):
                self.problem(node, path, f"{name!r} reaches never_allow domain {domain!r}")
                return False
        return True

    def _allow_is_narrow(self, node: yaml.Node, path: str, match: Match) -> bool:
        """An allow rule's ``host``/``domain`` matchers name no public suffix or user content.

        A ``regex`` cannot be judged statically: what it allows is added host by host (or as its
        ``exclude_as``, checked like any name), and decide() refuses a public suffix per host.
        """
        nodes = (
            {str(k.value): v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
            if isinstance(node, yaml.MappingNode)
            else {}
        )
        ok = True
        if match.host is not None:
            where = nodes.get("host", node)
            ok = self._name_is_narrow(where, f"{path}.host", match.host) and ok
        if match.domain is not None:
            where = nodes.get("domain", node)
            suffix = public_suffix_at_or_below(match.domain)
            if suffix is not None:
                beneath = "is" if suffix == match.domain else f"has {suffix!r} beneath it, which is"
                self.problem(
                    where,
                    f"{path}.domain",
                    f"{match.domain!r} {beneath} a public suffix (Public Suffix List): an allow "
                    "would reach every site registered there; allow the site's own domain",
                )
                ok = False
            else:
                hit = next(
                    (
                        d
                        for d in self._never_allow
                        if in_domain(d, match.domain) or in_domain(match.domain, d)
                    ),
                    None,
                )
                if hit is not None:
                    self.problem(
                        where,
                        f"{path}.domain",
                        f"{match.domain!r} reaches never_allow domain {hit!r}",
                    )
                    ok = False
        return ok

    def _exclude_as_is_safe(self, rule: Rule, rules: Sequence[Rule], node: yaml.Node) -> bool:
        """Check statically that ``exclude_as`` covers the rule's hosts and no blocked host.

        A PAN-OS wildcard has a fixed depth, so only a ``host`` matcher can be proven covered.
        A ``regex`` cannot be proven; decide() then checks each host and makes an uncovered one a
        review, never a silent add. A ``domain`` alone matches every depth, and apps/signals alone
        match any host: no single entry can cover those, which is an error here.
        """
        exclude_as = rule.exclude_as
        if exclude_as is None:
            return True
        path = f"rules[{rule.index}].exclude_as"
        match = rule.match
        if match.host is not None:
            if not pattern_covers_pattern(exclude_as, match.host):
                self.problem(
                    node,
                    path,
                    f"{exclude_as!r} does not cover every host of host {match.host!r} "
                    "(one '*' is exactly one label)",
                )
                return False
        elif match.regex is None:
            if match.domain is not None:
                why = (
                    f"domain {match.domain!r} matches subdomains at every depth and a PAN-OS "
                    f"wildcard covers exactly one depth; add a host matcher such as "
                    f'host: "*.{match.domain}" (or a regex)'
                )
            else:
                why = "the rule matches any host (no host, domain or regex); add a host matcher"
            self.problem(node, path, f"{exclude_as!r} cannot cover what this rule matches: {why}")
            return False
        for other in rules:
            if other.action == "block" and _may_exclude_blocked(exclude_as, other.match):
                self.problem(
                    node,
                    path,
                    f"{exclude_as!r} would also exclude hosts that block rule {other.name!r} "
                    f"(rules[{other.index}]) protects",
                )
                return False
        return True


def _unknown_key_message(key: str, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key{hint} (expected one of: {', '.join(allowed)})"


def _may_exclude_blocked(exclude_as: str, block: Match) -> bool:
    """True when ``exclude_as`` may cover a host that a ``host``/``domain`` block rule names.

    ``apps`` and ``signals`` on the block only narrow when it applies; the entry exempts the
    host for all traffic, so they do not make the overlap safe. A block with only a ``regex``
    (and apps/signals) cannot be intersected with a wildcard here: decide() checks it against
    every observed host, and adds single hosts instead of a wildcard that would cover one.
    """
    if block.host is None and block.domain is None:
        return False
    if block.host is not None and not patterns_overlap(exclude_as, block.host):
        return False
    return block.domain is None or pattern_reaches_domain(exclude_as, block.domain)
