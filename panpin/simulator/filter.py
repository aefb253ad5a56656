"""The PAN-OS log filter language (docs/panos-api.md: log filters): tokenizer, recursive-descent parser, evaluator.

Grammar (what the Monitor tab and the XML API ``query`` accept, as far as the reference shows)::

    expr    := and_expr ( 'or' and_expr )*
    and_expr:= unary ( 'and' unary )*
    unary   := ( '!' | 'not' ) unary | primary
    primary := '(' FIELD OP VALUE ')' | '(' expr ')' | FIELD OP VALUE
    OP      := eq | neq | contains | geq | leq | in
    VALUE   := 'single quoted, \\' escapes a quote' | bare-token

Atoms normally sit in parentheses with optional inner spaces (``( err_index neq None )`` and
``(app eq ssl)`` both occur); a bare ``src in 10.0.0.1 and vsys eq vsys1`` is accepted too, as a
pan-python user reported it working (kevinsteves/pan-python#41). Keywords are case-insensitive.

Reference unsure: the relative precedence of ``and``/``or`` (we bind ``and`` tighter, like every
boolean language); whether ``contains`` ignores case (we say yes; ``eq`` is exact).
"""

from __future__ import annotations

import calendar
import ipaddress
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias

OPERATORS = frozenset({"eq", "neq", "contains", "geq", "leq", "in"})
TIME_FORMAT = "%Y/%m/%d %H:%M:%S"

FieldKind = Literal["str", "int", "time", "addr"]

# Monitor-tab names for fields whose XML element has another name (docs/panos-api.md: log filters examples).
FIELD_ALIASES: dict[str, str] = {
    "addr.src": "src",
    "addr.dst": "dst",
    "port.src": "sport",
    "port.dst": "dport",
    "natport.src": "natsport",
    "natport.dst": "natdport",
    "zone.src": "from",
    "zone.dst": "to",
    "user.src": "srcuser",
    "user.dst": "dstuser",
    "interface.src": "inbound_if",
    "interface.dst": "outbound_if",
    "natsrc": "natsrc",
    "natdst": "natdst",
}
# ``addr`` means "source or destination" (``(addr in 1.1.1.1)``, docs/panos-api.md: log filters).
EITHER_ADDRESS = "addr"


class FilterError(ValueError):
    """The query is malformed; ``position`` is the character offset of the problem."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at position {position}")
        self.position = position
        self.detail = message


@dataclass(frozen=True)
class Token:
    kind: Literal["lparen", "rparen", "not", "word", "quoted"]
    text: str
    pos: int


@dataclass(frozen=True)
class Atom:
    field: str
    op: str
    value: str
    pos: int


@dataclass(frozen=True)
class And:
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Or:
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Not:
    operand: Expr


@dataclass(frozen=True)
class MatchAll:
    """The empty query."""


Expr: TypeAlias = "Atom | And | Or | Not | MatchAll"


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    n = len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
        elif ch == "(":
            tokens.append(Token("lparen", ch, i))
            i += 1
        elif ch == ")":
            tokens.append(Token("rparen", ch, i))
            i += 1
        elif ch == "!":
            tokens.append(Token("not", ch, i))
            i += 1
        elif ch == "'":
            start = i
            i += 1
            chars: list[str] = []
            while True:
                if i >= n:
                    raise FilterError("unterminated quoted value", start)
                c = query[i]
                if c == "\\" and i + 1 < n and query[i + 1] in "'\\":
                    # Only \' and \\ are escapes (pan-os-python writes '\'my policy\'');
                    # any other backslash is literal, so 'corp\jdoe' means corp\jdoe.
                    chars.append(query[i + 1])
                    i += 2
                elif c == "'":
                    i += 1
                    break
                else:
                    chars.append(c)
                    i += 1
            tokens.append(Token("quoted", "".join(chars), start))
        else:
            start = i
            while i < n and not query[i].isspace() and query[i] not in "()'":
                i += 1
            tokens.append(Token("word", query[start:i], start))
    return tokens


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = tokenize(query)
        self.i = 0

    def peek(self, offset: int = 0) -> Token | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def take(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise FilterError("unexpected end of query", len(self.query))
        self.i += 1
        return tok

    def is_keyword(self, tok: Token | None, word: str) -> bool:
        return tok is not None and tok.kind == "word" and tok.text.lower() == word

    def parse(self) -> Expr:
        if not self.tokens:
            return MatchAll()
        expr = self.parse_or()
        tok = self.peek()
        if tok is not None:
            raise FilterError(f"unexpected {tok.text!r}", tok.pos)
        return expr

    def parse_or(self) -> Expr:
        left = self.parse_and()
        while self.is_keyword(self.peek(), "or"):
            self.take()
            left = Or(left, self.parse_and())
        return left

    def parse_and(self) -> Expr:
        left = self.parse_unary()
        while self.is_keyword(self.peek(), "and"):
            self.take()
            left = And(left, self.parse_unary())
        return left

    def parse_unary(self) -> Expr:
        tok = self.peek()
        if tok is not None and (tok.kind == "not" or self.is_keyword(tok, "not")):
            self.take()
            return Not(self.parse_unary())
        return self.parse_primary()

    def starts_atom(self) -> bool:
        first, second = self.peek(), self.peek(1)
        return (
            first is not None
            and first.kind == "word"
            and first.text.lower() not in ("and", "or", "not")
            and second is not None
            and second.kind == "word"
            and second.text.lower() in OPERATORS
        )

    def parse_atom(self) -> Atom:
        field_tok = self.take()
        op_tok = self.take()
        value_tok = self.peek()
        if value_tok is None or value_tok.kind not in ("word", "quoted"):
            pos = value_tok.pos if value_tok is not None else len(self.query)
            raise FilterError(f"missing value after {op_tok.text!r}", pos)
        self.take()
        return Atom(field_tok.text.lower(), op_tok.text.lower(), value_tok.text, field_tok.pos)

    def parse_primary(self) -> Expr:
        tok = self.peek()
        if tok is None:
            raise FilterError("unexpected end of query", len(self.query))
        if tok.kind == "lparen":
            self.take()
            # A group holds a whole expression: `( app eq ssl and sni eq x )` is a filter the web
            # UI accepts, and a single atom is just the shortest such expression.
            inner: Expr = self.parse_or()
            close = self.peek()
            if close is None or close.kind != "rparen":
                pos = close.pos if close is not None else len(self.query)
                raise FilterError("expected ')'", pos)
            self.take()
            return inner
        if self.starts_atom():
            return self.parse_atom()
        raise FilterError(f"unexpected {tok.text!r}", tok.pos)


def parse(query: str) -> Expr:
    """Parse a query; raise :class:`FilterError` when it is malformed."""
    return _Parser(query).parse()


def parse_time(value: str) -> int:
    """``YYYY/MM/DD HH:MM:SS`` (device-local time) as seconds, treating the clock as naive UTC."""
    try:
        return calendar.timegm(time.strptime(value.strip(), TIME_FORMAT))
    except ValueError as exc:
        raise FilterError(f"invalid time {value!r}, expected YYYY/MM/DD HH:MM:SS", 0) from exc


def format_time(seconds: int) -> str:
    return time.strftime(TIME_FORMAT, time.gmtime(seconds))


def _address_predicate(op: str, value: str) -> Callable[[str], bool]:
    if op == "contains":
        return lambda v: value in v
    try:
        if op == "in":
            if "-" in value:
                lo_s, hi_s = value.split("-", 1)
                lo, hi = ipaddress.ip_address(lo_s.strip()), ipaddress.ip_address(hi_s.strip())

                def in_range(v: str) -> bool:
                    try:
                        a = ipaddress.ip_address(v)
                    except ValueError:
                        return False
                    return a.version == lo.version and int(lo) <= int(a) <= int(hi)

                return in_range
            net = ipaddress.ip_network(value, strict=False)

            def in_net(v: str) -> bool:
                try:
                    return ipaddress.ip_address(v) in net
                except ValueError:
                    return False

            return in_net
        target = ipaddress.ip_address(value)
    except ValueError as exc:
        raise FilterError(f"invalid address {value!r}", 0) from exc

    def cmp(v: str) -> int | None:
        try:
            a = ipaddress.ip_address(v)
        except ValueError:
            return None
        if a.version != target.version:
            return None
        return (int(a) > int(target)) - (int(a) < int(target))

    if op == "eq":
        return lambda v: cmp(v) == 0
    if op == "neq":
        return lambda v: cmp(v) != 0
    if op == "geq":
        return lambda v: (c := cmp(v)) is not None and c >= 0
    return lambda v: (c := cmp(v)) is not None and c <= 0


def value_predicate(kind: FieldKind, op: str, value: str) -> Callable[[str], bool]:
    """A predicate over a field's *text* as it appears in the entry.

    ``str``: eq/neq exact, contains case-insensitive, geq/leq lexicographic, ``in`` as eq.
    ``int``: numeric comparisons (a non-number value is a malformed query).
    ``time``: ``YYYY/MM/DD HH:MM:SS`` compared as times.
    ``addr``: IP equality, ``in`` with an address, a CIDR or ``a-b`` range.
    """
    if op not in OPERATORS:
        raise FilterError(f"unknown operator {op!r}", 0)
    if kind == "addr":
        return _address_predicate(op, value)
    if kind == "time":
        if op == "contains":
            return lambda v: value in v
        t = parse_time(value)
        int_pred = numeric_predicate(op, t)
        return lambda v: _safe_time(v, int_pred)
    if kind == "int":
        if op == "contains":
            return lambda v: value in v
        try:
            number = int(value)
        except ValueError as exc:
            raise FilterError(f"invalid number {value!r}", 0) from exc
        int_pred = numeric_predicate(op, number)
        return lambda v: v.lstrip("-").isdigit() and int_pred(int(v))
    if op in ("eq", "in"):
        return lambda v: v == value
    if op == "neq":
        return lambda v: v != value
    if op == "contains":
        needle = value.casefold()
        return lambda v: needle in v.casefold()
    if op == "geq":
        return lambda v: v >= value
    return lambda v: v <= value


def _safe_time(v: str, pred: Callable[[int], bool]) -> bool:
    try:
        return pred(parse_time(v))
    except FilterError:
        return False


def numeric_predicate(op: str, number: int) -> Callable[[int], bool]:
    """Compare an integer field (a port, a time in seconds) with ``number``."""
    if op in ("eq", "in"):
        return lambda v: v == number
    if op == "neq":
        return lambda v: v != number
    if op == "geq":
        return lambda v: v >= number
    return lambda v: v <= number


def canonical_field(name: str) -> str:
    return FIELD_ALIASES.get(name, name)


# Field kinds of the Decryption log elements the simulator writes; anything else is a string.
FIELD_KINDS: dict[str, FieldKind] = {
    "receive_time": "time",
    "time_generated": "time",
    "time_received": "time",
    "start": "time",
    "src": "addr",
    "dst": "addr",
    "natsrc": "addr",
    "natdst": "addr",
    "sport": "int",
    "dport": "int",
    "natsport": "int",
    "natdport": "int",
    "seqno": "int",
    "sessionid": "int",
    "repeatcnt": "int",
    "config_ver": "int",
    "vsys_id": "int",
    "cn_len": "int",
    "issuer_len": "int",
    "rootcn_len": "int",
    "sni_len": "int",
    "cert_size": "int",
}


def compile_for_mapping(
    expr: Expr, known_fields: frozenset[str] | None = None
) -> Callable[[Mapping[str, str]], bool]:
    """Compile ``expr`` into a predicate over an entry given as ``{element name: text}``.

    The log store has a faster, column-aware compiler with the same value semantics; this one is
    the reference implementation the tests compare it to.
    """
    if isinstance(expr, MatchAll):
        return lambda _e: True
    if isinstance(expr, Not):
        inner = compile_for_mapping(expr.operand, known_fields)
        return lambda e: not inner(e)
    if isinstance(expr, And):
        left, right = (compile_for_mapping(x, known_fields) for x in (expr.left, expr.right))
        return lambda e: left(e) and right(e)
    if isinstance(expr, Or):
        left, right = (compile_for_mapping(x, known_fields) for x in (expr.left, expr.right))
        return lambda e: left(e) or right(e)
    field = canonical_field(expr.field)
    if field == EITHER_ADDRESS:
        pred = value_predicate("addr", expr.op, expr.value)
        if expr.op == "neq":
            return lambda e: pred(e.get("src", "")) and pred(e.get("dst", ""))
        return lambda e: pred(e.get("src", "")) or pred(e.get("dst", ""))
    if known_fields is not None and field not in known_fields:
        raise FilterError(f"unknown field {expr.field!r}", expr.pos)
    try:
        pred = value_predicate(FIELD_KINDS.get(field, "str"), expr.op, expr.value)
    except FilterError as exc:
        raise FilterError(exc.detail, expr.pos) from exc
    return lambda e: pred(e.get(field, ""))
