"""The PAN-OS log filter language: parser, evaluator, and the store's fast compiler."""

from __future__ import annotations

import random

import pytest

from panpin.simulator import filter as flt
from panpin.simulator.logs import FIELD_NAMES, DeviceIdentity, LogStore
from panpin.simulator.scenario import load_scenario

ENTRY = {
    "src": "10.20.1.5",
    "dst": "203.0.113.10",
    "sport": "51234",
    "dport": "443",
    "app": "incomplete",
    "sni": "api.example.com",
    "error": "Received fatal alert UnknownCA from client",
    "err_index": "Protocol",
    "proxy_type": "Forward",
    "receive_time": "2026/11/25 10:00:00",
    "srcuser": "acme\\jdoe",
    "rule": "my policy",
    "policy_name": "it's decrypted",
}


def matches(query: str, entry: dict[str, str] | None = None) -> bool:
    return flt.compile_for_mapping(flt.parse(query))(entry or ENTRY)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("(app eq incomplete)", True),
        ("( app eq incomplete )", True),
        ("(app eq ssl)", False),
        ("(app neq ssl)", True),
        ("(error contains 'UnknownCA')", True),
        (
            "(error contains 'unknownca')",
            True,
        ),  # contains ignores case (unverified: docs/panos-api.md)
        ("(sni eq 'API.example.com')", False),  # eq is exact
        ("(error contains 'BadCertificate')", False),
        ("(dport eq 443)", True),
        ("(dport geq 444)", False),
        ("(dport leq 443)", True),
        ("(port.dst eq 443)", True),
        ("(port.src geq 50000)", True),
        ("(receive_time geq '2026/11/25 00:00:00')", True),
        ("(receive_time geq '2026/11/25 10:00:01')", False),
        ("(receive_time leq '2026/11/25 10:00:00')", True),
        ("(addr.src in 10.20.0.0/16)", True),
        ("(addr.src in 10.21.0.0/16)", False),
        ("(addr.dst in 203.0.113.10)", True),
        ("(addr in 203.0.113.0/24)", True),
        ("(addr in 10.20.1.5)", True),
        ("(addr in 192.0.2.0/24)", False),
        ("(addr.src in 10.20.1.1-10.20.1.9)", True),
        ("(addr.src eq 10.20.1.5)", True),
        ("(addr.src neq 10.20.1.5)", False),
        ("( err_index neq None ) and ( proxy_type eq Forward )", True),
        ("(srcuser eq 'acme\\jdoe')", True),  # a lone backslash is literal
        ("(rule eq 'my policy')", True),
        ("(policy_name eq 'it\\'s decrypted')", True),  # \' escapes a quote
        ("(zone.src eq trust)", False),
    ],
)
def test_atoms(query: str, expected: bool) -> None:
    assert matches(query) is expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("!(app eq ssl)", True),
        ("!(app eq incomplete)", False),
        ("not (app eq incomplete)", False),
        ("NOT (app eq ssl)", True),
        ("!!(app eq incomplete)", True),
        # and binds tighter than or: false or (true and true)
        ("(app eq ssl) or (dport eq 443) and (sni eq 'api.example.com')", True),
        # (false or true) and false
        ("((app eq ssl) or (dport eq 443)) and (app eq ssl)", False),
        ("(app eq ssl) or (dport eq 443) and (app eq ssl)", False),
        ("((error contains 'UnknownCA') or (error contains 'BadCertificate'))", True),
        (
            "(( error contains 'UnknownCA' ) or ( error contains 'BadCertificate' )) and "
            "( receive_time geq '2026/11/19 00:00:00' )",
            True,
        ),
        ("src in 10.20.1.5 and app eq incomplete", True),  # bare atoms (pan-python#41)
        ("(app eq incomplete) AND (dport eq 443)", True),
        ("", True),
        ("   ", True),
    ],
)
def test_boolean_structure(query: str, expected: bool) -> None:
    assert matches(query) is expected


@pytest.mark.parametrize(
    "query",
    [
        "(app eq)",
        "(app eq incomplete",
        "app eq incomplete)",
        "(error contains 'UnknownCA)",
        "(app equals ssl)",
        "(app eq ssl) and",
        "(app eq ssl) (dport eq 443)",
        "or (app eq ssl)",
        "()",
        "(dport geq many)",
        "(receive_time geq 'yesterday')",
        "(addr.src in not-an-ip)",
        "!",
    ],
)
def test_malformed_queries_raise(query: str) -> None:
    with pytest.raises(flt.FilterError):
        flt.compile_for_mapping(flt.parse(query))


def test_error_position_points_at_problem() -> None:
    with pytest.raises(flt.FilterError) as info:
        flt.parse("(app eq ssl) xor (dport eq 443)")
    assert info.value.position == 13


def test_tokenizer_quotes_and_escapes() -> None:
    tokens = flt.tokenize(r"(path contains '\'my policy\'') and (x eq 'a\\b')")
    quoted = [t.text for t in tokens if t.kind == "quoted"]
    assert quoted == ["'my policy'", "a\\b"]


def test_unknown_field_rejected_when_fields_known() -> None:
    with pytest.raises(flt.FilterError, match="unknown field"):
        flt.compile_for_mapping(flt.parse("(nosuch eq 1)"), FIELD_NAMES)


def _store(noise: int = 400) -> LogStore:
    spec = load_scenario("demo").logs
    spec = type(spec)(**{**spec.__dict__, "noise": noise})
    return LogStore(
        spec=spec,
        devices=(DeviceIdentity("007951000345678", "pa-branch-01"),),
        clock_start=flt.parse_time("2026/11/26 09:30:00"),
    )


QUERIES = [
    "(error contains 'UnknownCA')",
    "(error contains 'UnknownCA') or (error contains 'BadCertificate')",
    "!(error contains 'UnknownCA') and (app eq incomplete)",
    "(receive_time geq '2026/11/22 00:00:00') and (receive_time leq '2026/11/24 12:00:00')",
    "(time_generated geq '2026/11/22 00:00:00')",
    "(addr.src in 10.20.0.0/17) and (err_index neq None)",
    "(addr in 203.0.113.0/24)",
    "(sni eq '') and (cn contains 'vendor')",
    "(sport geq 40000) or (seqno leq 1100)",
    "(sessionid geq 2000000)",
    "(srcuser contains 'smith')",
    "(serial eq 007951000345678) and (dport eq 443)",
    "(high_res_timestamp contains 'T09')",
    "(sni eq 'a\\'b.example')",
    "(proxy_type eq Forward) and not (err_index eq Certificate)",
]


@pytest.mark.parametrize("query", QUERIES)
def test_store_compiler_agrees_with_reference(query: str) -> None:
    store = _store()
    entries = store.entries()
    reference = flt.compile_for_mapping(flt.parse(query), FIELD_NAMES)
    expected = [i for i, e in enumerate(entries) if reference(e)]
    assert list(store.query(query)) == expected


def test_store_compiler_agrees_on_random_combinations() -> None:
    store = _store(noise=200)
    entries = store.entries()
    rng = random.Random(5)
    atoms = [
        "(error contains 'UnknownCA')",
        "(app eq incomplete)",
        "(dport eq 443)",
        "(addr.src in 10.20.128.0/17)",
        "(receive_time geq '2026/11/23 00:00:00')",
        "(sni contains 'vendor')",
        "(err_index eq Protocol)",
    ]
    for _ in range(40):
        parts = [rng.choice(atoms) for _ in range(rng.randint(1, 4))]
        query = parts[0]
        for part in parts[1:]:
            neg = "!" if rng.random() < 0.3 else ""
            query = f"({query}) {rng.choice(['and', 'or'])} {neg}{part}"
        reference = flt.compile_for_mapping(flt.parse(query), FIELD_NAMES)
        assert list(store.query(query)) == [i for i, e in enumerate(entries) if reference(e)], query


def test_group_holds_a_compound_expression() -> None:
    from panpin.simulator.filter import compile_for_mapping
    from panpin.simulator.filter import parse as parse_filter

    pred = compile_for_mapping(
        parse_filter("( app eq ssl and sni eq x.example ) or ( error contains 'UnknownCA' )")
    )
    assert pred({"app": "ssl", "sni": "x.example", "error": ""})
    assert not pred({"app": "ssl", "sni": "y.example", "error": ""})
    assert pred({"app": "web", "sni": "y.example", "error": "Received fatal alert UnknownCA"})
