"""Property tests for host normalisation and PAN-OS wildcard semantics (one ``*`` = one label)."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from panpin.errors import InvalidHost
from panpin.hosts import (
    covering_entry,
    in_domain,
    normalize_host,
    pattern_covers_pattern,
    patterns_overlap,
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
