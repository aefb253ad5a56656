"""The Decryption-log query builder and --since/--until parsing (pure)."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panpin import errors
from panpin.scan.logs import (
    DEFAULT_SIGNALS,
    build_query,
    check_user_filter,
    parse_when,
    quote,
    signal_query,
    validate_signal,
    validate_signals,
)
from panpin.simulator import filter as flt

DEFAULT_QUERY = "( error contains 'UnknownCA' ) or ( error contains 'BadCertificate' )"
CLOCK = datetime(2026, 11, 26, 9, 30, 0)


def test_default_query_is_the_documented_one() -> None:
    assert signal_query(DEFAULT_SIGNALS) == DEFAULT_QUERY
    assert build_query(()) == DEFAULT_QUERY  # no signals given means the defaults


def test_window_and_filter_are_anded_around_the_signals() -> None:
    query = build_query(
        ["UnknownCA", "BadCertificate"],
        since="2026/11/19 09:30:00",
        until="2026/11/26 09:30:00",
        user_filter="( addr.src in 10.20.0.0/16 )",
    )
    assert query == (
        f"( {DEFAULT_QUERY} ) and ( receive_time geq '2026/11/19 09:30:00' ) and "
        "( receive_time leq '2026/11/26 09:30:00' ) and ( ( addr.src in 10.20.0.0/16 ) )"
    )
    flt.parse(query)  # the simulator's independent parser accepts it


def test_one_signal_and_duplicates() -> None:
    assert signal_query(["UnknownCA", "UnknownCA"]) == "( error contains 'UnknownCA' )"
    assert validate_signals([]) == DEFAULT_SIGNALS


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("UnknownCA", "'UnknownCA'"),
        ("a'b", "'a\\'b'"),
        ("ends\\", "'ends\\\\'"),
        ("corp\\jdoe", "'corp\\\\jdoe'"),
        ("2026/11/26 09:30:00", "'2026/11/26 09:30:00'"),
    ],
)
def test_quote_escapes_quotes_and_backslashes(value: str, quoted: str) -> None:
    assert quote(value) == quoted
    tokens = flt.tokenize(quote(value))
    assert [(t.kind, t.text) for t in tokens] == [("quoted", value)]


def test_quote_refuses_control_characters() -> None:
    with pytest.raises(errors.InputError):
        quote("a\nb")


@pytest.mark.parametrize(
    "name", ["", "Unknown CA", "x'", "a)b", "UnknownCA' ) or ( 'a", "ünknown", "a-b", "a.b"]
)
def test_bad_signal_names_are_input_errors(name: str) -> None:
    with pytest.raises(errors.InputError, match="--signal"):
        validate_signal(name)
    with pytest.raises(errors.InputError):
        build_query([name])


@pytest.mark.parametrize(
    "expr",
    [
        "a eq b) or (receive_time geq '1970/01/01 00:00:00'",
        "(a eq b",
        "a eq 'b",
        ")(",
        "   ",
        "a eq\nb",
    ],
)
def test_user_filter_that_could_escape_its_parentheses_is_refused(expr: str) -> None:
    with pytest.raises(errors.InputError, match="--filter"):
        check_user_filter(expr)


def test_user_filter_with_quoted_parentheses_is_fine() -> None:
    assert check_user_filter("( rule eq 'LAN (outbound)' )") == "( rule eq 'LAN (outbound)' )"
    assert check_user_filter("( srcuser eq 'acme\\'s' )")


def test_bad_times_are_refused() -> None:
    with pytest.raises(errors.InputError, match="--since"):
        build_query(DEFAULT_SIGNALS, since="yesterday")


def _balanced(query: str) -> bool:
    depth = 0
    i = 0
    in_quote = False
    while i < len(query):
        ch = query[i]
        if in_quote:
            if ch == "\\":
                i += 2
                continue
            if ch == "'":
                in_quote = False
        elif ch == "'":
            in_quote = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return False
        i += 1
    return depth == 0 and not in_quote


def _atoms(expr: flt.Expr) -> list[flt.Atom]:
    if isinstance(expr, flt.Atom):
        return [expr]
    if isinstance(expr, flt.And | flt.Or):
        return _atoms(expr.left) + _atoms(expr.right)
    if isinstance(expr, flt.Not):
        return _atoms(expr.operand)
    return []


def _conjuncts(expr: flt.Expr) -> list[flt.Expr]:
    if isinstance(expr, flt.And):
        return _conjuncts(expr.left) + _conjuncts(expr.right)
    return [expr]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=20), min_size=1, max_size=4))
def test_any_signal_is_rejected_or_yields_a_balanced_query(signals: list[str]) -> None:
    try:
        query = build_query(signals, since="2026/11/19 00:00:00")
    except errors.InputError:
        return
    assert _balanced(query)
    parsed = flt.parse(query)
    # Exactly one `error contains` atom per distinct signal, nothing smuggled in.
    atoms = _atoms(parsed)
    errors_atoms = [a for a in atoms if a.field == "error"]
    assert [a.value for a in errors_atoms] == list(dict.fromkeys(signals))
    assert all(a.op == "contains" for a in errors_atoms)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                *"()' \\ab",
                " eq ",
                " or ",
                " and ",
                "!",
                "receive_time",
                " geq ",
                "'1970/01/01 00:00:00'",
            ]
        ),
        max_size=16,
    ).map("".join)
)
def test_a_user_filter_never_widens_the_time_window(expr: str) -> None:
    since = "2026/11/19 00:00:00"
    try:
        query = build_query(DEFAULT_SIGNALS, since=since, user_filter=expr)
    except errors.InputError:
        return
    assert _balanced(query)
    try:
        parsed = flt.parse(query)
    except flt.FilterError:
        return  # a malformed filter the device would refuse; it cannot widen anything
    window = [
        c
        for c in _conjuncts(parsed)
        if isinstance(c, flt.Atom) and c.field == "receive_time" and c.value == since
    ]
    assert window, f"the window is no longer ANDed at the top of {query!r}"


def test_durations_count_back_from_the_device_clock() -> None:
    assert parse_when("24h", now=CLOCK) == "2026/11/25 09:30:00"
    assert parse_when("7d", now=CLOCK) == "2026/11/19 09:30:00"
    assert parse_when("30m", now=CLOCK) == "2026/11/26 09:00:00"
    assert parse_when("2w", now=CLOCK) == "2026/11/12 09:30:00"


def test_timestamps_are_device_local_as_given() -> None:
    assert parse_when("2026/11/20 08:00:00", now=None) == "2026/11/20 08:00:00"
    assert parse_when("2026-11-20 08:00:00", now=None) == "2026/11/20 08:00:00"
    assert parse_when("2026/11/20", now=None) == "2026/11/20 00:00:00"


@pytest.mark.parametrize("text", ["yesterday", "24", "h", "-1d", "2026/13/01 00:00:00", "7 days"])
def test_unparseable_since_names_the_option(text: str) -> None:
    with pytest.raises(errors.InputError, match="--until"):
        parse_when(text, now=CLOCK, option="--until")
