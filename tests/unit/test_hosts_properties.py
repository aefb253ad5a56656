"""Property tests for host normalisation and PAN-OS wildcard semantics (one ``*`` = one label)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from panpin.errors import InvalidHost
from panpin.hosts import (
    _suffix_rules,
    covering_entry,
    in_domain,
    normalize_host,
    pattern_covers_pattern,
    patterns_overlap,
    public_suffix_at_or_below,
    public_suffix_reach,
    public_suffix_wildcard,
    validate_exclusion_name,
    wildcard_matches,
)

SETTINGS = settings(max_examples=150, deadline=None)

label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
labels = st.lists(label, min_size=2, max_size=5)
host = labels.map(".".join).filter(lambda h: not h.split(".")[-1].isdigit())

# Raw values as they arrive in SNI/CN fields: mostly host-like, sometimes hostile.
raw_host = st.one_of(
    host,
    host.map(str.upper),
    host.map(lambda h: h + "."),
    st.text(max_size=40),
    st.text(alphabet="aAé.-_*:[]'\" \t\x00\u200b\u0445", max_size=30),
)


@SETTINGS
@given(raw_host)
def test_normalize_host_is_idempotent_and_has_a_tiny_alphabet(raw: str) -> None:
    try:
        once = normalize_host(raw)
    except InvalidHost:
        return
    assert normalize_host(once) == once
    assert re.fullmatch(r"[a-z0-9._-]+", once)
    assert not set(once) & set("'\"[]<>() \t\n*:/\\&;")
    assert len(once) <= 253


@SETTINGS
@given(
    host,
    st.integers(min_value=0, max_value=40),
    st.sampled_from(["\x00", "\x1b", "\n", "\r", "\x7f", "\u200b", " ", "\t"]),
)
def test_normalize_host_rejects_control_and_space_characters(
    name: str, position: int, bad: str
) -> None:
    position = min(position, len(name))
    with pytest.raises(InvalidHost):
        normalize_host(name[:position] + bad + name[position:])


@SETTINGS
@given(host)
def test_normalize_host_folds_case_and_one_trailing_dot(name: str) -> None:
    assert normalize_host(name.upper() + ".") == name


@pytest.mark.parametrize(
    "bad", ["a'.example", 'a".example', "[::1]", "a b.example", "a.example:443", "*.example.com"]
)
def test_normalize_host_rejects_quotes_brackets_ports_and_wildcards(bad: str) -> None:
    with pytest.raises(InvalidHost):
        normalize_host(bad)


@SETTINGS
@given(labels, label, label)
def test_one_star_is_exactly_one_label(base: list[str], x: str, y: str) -> None:
    domain = ".".join(base)
    pattern = "*." + domain
    assert wildcard_matches(pattern, f"{x}.{domain}")
    assert not wildcard_matches(pattern, domain)
    assert not wildcard_matches(pattern, f"{y}.{x}.{domain}")
    assert wildcard_matches(pattern, f"{x.upper()}.{domain}.")


@SETTINGS
@given(st.lists(st.one_of(label, st.just("*")), min_size=2, max_size=5), st.data())
def test_pattern_covers_pattern_agrees_with_wildcard_matches(
    inner: list[str], data: st.DataObject
) -> None:
    # Widen some concrete labels of `inner` to get an `outer` that must cover it.
    widen = data.draw(st.lists(st.booleans(), min_size=len(inner), max_size=len(inner)))
    outer = [("*" if w else lab) for lab, w in zip(inner, widen, strict=True)]
    assert pattern_covers_pattern(".".join(outer), ".".join(inner))
    fill = data.draw(st.lists(label, min_size=len(inner), max_size=len(inner)))
    sample = ".".join(f if lab == "*" else lab for lab, f in zip(inner, fill, strict=True))
    assert wildcard_matches(".".join(inner), sample)
    assert wildcard_matches(".".join(outer), sample)
    assert patterns_overlap(".".join(inner), ".".join(outer))
    assert patterns_overlap(".".join(outer), ".".join(inner))


@SETTINGS
@given(labels, label)
def test_a_deeper_wildcard_never_covers_a_shallower_one(base: list[str], x: str) -> None:
    domain = ".".join(base)
    assert not pattern_covers_pattern(f"*.{domain}", f"*.*.{domain}")
    assert not pattern_covers_pattern(f"*.*.{domain}", f"*.{domain}")
    assert not patterns_overlap(f"*.{domain}", f"{x}.*.{domain}")


@SETTINGS
@given(labels, label, label)
def test_in_domain_respects_label_boundaries(base: list[str], sub: str, evil: str) -> None:
    domain = ".".join(base)
    assert in_domain(domain, domain)
    assert in_domain(f"{sub}.{domain}", domain)
    assert in_domain(f"{evil}.{sub}.{domain}", domain)
    # Look-alikes: the domain as a prefix, glued to a longer label, or inside another domain.
    assert not in_domain(f"{domain}.{evil}.com", domain)
    assert not in_domain(f"not{domain}", domain)
    assert not in_domain(f"{sub}{domain}", domain)
    assert not in_domain(f"{domain}x", domain)
    assert not in_domain(domain.split(".", 1)[1], domain)


@SETTINGS
@given(labels, label, st.booleans())
def test_covering_entry_prefers_the_exact_entry_in_any_order_and_case(
    base: list[str], x: str, reverse: bool
) -> None:
    domain = ".".join(base)
    exact = f"{x}.{domain}"
    names = [f"*.{domain}", exact.upper()]
    if reverse:
        names.reverse()
    assert covering_entry(exact, names) == exact.upper()
    assert covering_entry(exact.upper(), names) == exact.upper()
    assert covering_entry(f"{x}.{x}.{domain}", names) is None


@SETTINGS
@given(labels)
def test_validate_exclusion_name_needs_two_concrete_labels(base: list[str]) -> None:
    assume(not base[-1].isdigit())
    assert validate_exclusion_name("*." + ".".join(base)) == "*." + ".".join(base)
    with pytest.raises(InvalidHost):
        validate_exclusion_name("*." + base[-1])
    with pytest.raises(InvalidHost):
        validate_exclusion_name(".".join(base) + ".*")


@pytest.mark.parametrize(
    ("name", "suffix"),
    [
        ("*.co.uk", "co.uk"),
        ("www.*.co.uk", "co.uk"),
        ("*.com.au", "com.au"),
        ("*.github.io", "github.io"),  # the list's private section: every user's pages
        ("*.s3.amazonaws.com", "s3.amazonaws.com"),
        ("*.vendor.co.uk", None),
        ("*.example.com", None),
        ("api.*.example.com", None),
        ("co.uk", None),  # not a wildcard: it names one host, which PAN-OS matches exactly
        ("app.vendor.example", None),
    ],
)
def test_wildcards_over_a_public_suffix_are_found(name: str, suffix: str | None) -> None:
    assert public_suffix_wildcard(name) == suffix


# --- wildcards that cannot swallow the Internet ---------------------------------------------------

# (name, refused) for names panpin itself might add: a wildcard is refused when any rule of the
# Public Suffix List (both sections, wildcard and exception rules) can meet one of its expansions
# at, right of, or across a '*'; a plain name when it is or holds a public suffix.
WILDCARD_TABLE: list[tuple[str, bool]] = [
    # issue 15, measured on the simulator
    ("*.*.amazonaws.com", True),  # s3.amazonaws.com is a suffix
    ("*.s3.*.amazonaws.com", True),
    ("*.*.core.windows.net", True),  # blob.core.windows.net
    ("*.*.fastly.net", True),  # freetls.fastly.net
    ("*.github.io", True),
    ("*.cloudfront.net", True),
    # a concrete suffix under a run of stars
    ("*.*.*.amazonaws.com", True),
    ("*.*.*.example.com", False),  # no rule lives under example.com
    ("*.*.vendor.example", False),
    ("*.vendor.example", False),
    ("api.*.vendor.example", False),
    # ICANN section
    ("*.co.uk", True),
    ("www.*.co.uk", True),  # the '*' is the registrant's label
    ("*.com.au", True),
    ("x.*.com", True),  # every second-level name under com
    ("x.*.example", True),  # an unlisted TLD is a suffix by the implied default rule
    ("*.vendor.co.uk", False),
    ("*.bank.com.au", False),
    # wildcard and exception rules
    ("*.x.ck", True),  # *.ck makes x.ck a suffix
    ("*.www.ck", True),  # !www.ck: conservatively, its parent is the suffix
    ("*.city.kawasaki.jp", True),
    ("*.a.compute.amazonaws.com", True),  # *.compute.amazonaws.com
    ("*.b.x.ck", False),
    # private section
    ("*.blogspot.com", True),
    ("*.herokuapp.com", True),
    ("*.amazonaws.com", True),  # its expansion s3.amazonaws.com is itself a suffix
    ("*.web.app", True),
    ("*.shop.vendor.com", False),
    # IDN suffixes, as punycode (names are compared in their normalised form)
    ("*.xn--55qx5d.cn", True),  # 公司.cn
    ("*.xn--io0a7i.cn", True),  # 网络.cn
    ("*.xn--bcher-kva.example", False),
    # plain names
    ("github.io", True),
    ("amazonaws.com", True),  # s3.amazonaws.com lies beneath it
    ("co.uk", True),
    ("api.vendor.example", False),
    ("attacker.github.io", False),  # one registrant's host: judged by the evidence, not here
]


def test_the_wildcard_table_is_large_enough() -> None:
    assert sum(1 for name, _ in WILDCARD_TABLE if "*" in name) >= 20


@pytest.mark.parametrize(("name", "refused"), WILDCARD_TABLE, ids=[n for n, _ in WILDCARD_TABLE])
def test_wildcard_table(name: str, refused: bool) -> None:
    assert validate_exclusion_name(name) == name  # all valid for PAN-OS: the PSL decides
    assert (public_suffix_reach(name) is not None) == refused


@pytest.mark.parametrize(
    ("domain", "held"),
    [
        ("com", True),
        ("cloudfront.net", True),
        ("amazonaws.com", True),  # s3.amazonaws.com and others beneath
        ("windows.net", True),  # blob.core.windows.net beneath
        ("github.io", True),
        ("x.ck", True),  # by the wildcard rule *.ck
        ("vendor.example", False),
        ("bank.co.uk", False),
    ],
)
def test_domains_that_are_or_hold_a_public_suffix(domain: str, held: bool) -> None:
    suffix = public_suffix_at_or_below(domain)
    assert (suffix is not None) == held
    if suffix is not None:
        # The rule named is the domain's own, one above it, or one beneath it.
        assert suffix.endswith(domain) or domain.endswith(suffix.removeprefix("*."))


def _rule_texts() -> list[str]:
    rules = sorted({".".join(r) for rs in _suffix_rules().by_tld.values() for r in rs})
    return [r for r in rules if len(r) < 60]


RULES = _rule_texts()


def _psl() -> Any:
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


ORACLE = _psl()


@st.composite
def near_suffix_wildcards(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A wildcard built around a real public-suffix rule, and labels to expand its stars with.

    Stars are put in the rule's labels and before it, so the search lands where a suffix is;
    expansion labels include the rule's own labels (``s3``, ``blob``) and random ones.
    """
    rule = draw(st.sampled_from(RULES)).split(".")
    concrete = [draw(label) if part == "*" else part for part in rule]
    starred = [
        "*" if i < len(concrete) - 1 and draw(st.booleans()) and draw(st.booleans()) else part
        for i, part in enumerate(concrete)
    ]
    prefix = draw(st.lists(st.one_of(st.just("*"), label), min_size=0, max_size=3))
    if "*" not in prefix + starred:
        prefix = ["*", *prefix]
    pool = [*concrete, *[p for p in rule if p != "*"]]
    fillers = draw(st.lists(st.one_of(st.sampled_from(pool), label), min_size=6, max_size=6))
    return ".".join(prefix + starred), fillers


@settings(max_examples=400, deadline=None)
@given(near_suffix_wildcards())
def test_no_accepted_wildcard_covers_a_public_suffix(case: tuple[str, list[str]]) -> None:
    name, fillers = case
    try:
        validate_exclusion_name(name)
    except InvalidHost:
        assume(False)
    if public_suffix_reach(name) is not None:
        return
    labels = name.split(".")
    stars = [i for i, part in enumerate(labels) if part == "*"]
    # Expand every star with the drawn labels; ask the list itself (publicsuffixlist, an
    # independent implementation) about every suffix at, right of, or across a star.
    expansion = [
        fillers[k % len(fillers)] if part == "*" else part for k, part in enumerate(labels)
    ]
    for start in range(min(max(stars) + 2, len(labels))):
        suffix = ".".join(expansion[start:])
        assert not ORACLE.is_public(suffix), (name, suffix)


@SETTINGS
@given(st.sampled_from(RULES), st.lists(st.one_of(st.just("*"), label), min_size=0, max_size=2))
def test_a_star_next_to_any_rule_is_refused(rule: str, prefix: list[str]) -> None:
    # *.<suffix> and deeper: the star is a registrant's label.
    name = ".".join([*prefix, "*", rule.replace("*", "x")])
    try:
        validate_exclusion_name(name)
    except InvalidHost:
        assume(False)
    assert public_suffix_reach(name) is not None
