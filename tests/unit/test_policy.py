"""Policy loading and validation: defaults, matchers, first match, and every broken file we keep."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import RunCli

from panpin.cli.policy import policy as policy_group
from panpin.decide.policy import (
    MAX_REGEX_LENGTH,
    Match,
    Policy,
    PolicyValidationError,
    compile_regex,
    load_policy,
    parse_policy,
)
from panpin.errors import EXIT_USAGE, PolicyError
from panpin.scan.clients import ClientCounting

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "policies"
BAD = sorted((DATA / "bad").glob("*.yaml"))
GOOD = [*sorted((DATA / "good").glob("*.yaml")), ROOT / "configs" / "policy.example.yaml"]
EXPECT_RE = re.compile(r"^# expect: (\d+) (\S+)$")


def expectation(path: Path) -> tuple[int, str]:
    found = EXPECT_RE.match(path.read_text(encoding="utf-8").splitlines()[0])
    assert found, f"{path.name}: first line must be '# expect: LINE KEYPATH'"
    return int(found.group(1)), found.group(2)


def parse(text: str) -> Policy:
    return parse_policy(text, "policy.yaml")


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyValidationError) as info:
        parse(text)
    return [str(p) for p in info.value.problems]


MINIMAL = """\
version: 1
rules:
  - name: r
    match: {host: a.example}
    action: review
"""


# --- the table of broken files ---------------------------------------------------------------------


def test_there_are_at_least_fifteen_broken_policies() -> None:
    assert len(BAD) >= 15


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_broken_policy_names_file_line_and_key(path: Path) -> None:
    line, key = expectation(path)
    result = CliRunner().invoke(policy_group, ["check", str(path)])
    assert result.exit_code == EXIT_USAGE, result.output
    assert result.stdout == ""
    assert f"panpin: error: {path}:{line}: {key}: " in result.stderr, result.stderr


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_broken_policy_raises_policy_error_with_that_location(path: Path) -> None:
    line, key = expectation(path)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert isinstance(info.value, PolicyValidationError)
    assert (line, key) in {(p.line, p.path) for p in info.value.problems}
    assert info.value.exit_code == EXIT_USAGE


@pytest.mark.parametrize("path", GOOD, ids=[p.stem for p in GOOD])
def test_good_policy_passes_and_is_summarised(path: Path) -> None:
    loaded = load_policy(path)
    result = CliRunner().invoke(policy_group, ["check", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert f"{path}: valid (version 1, {len(loaded.rules)} rules)" in result.stdout
    for rule in loaded.rules:
        assert rule.name in result.stdout
        assert rule.match.describe() in result.stdout


def test_check_summary_lists_rule_fields() -> None:
    result = CliRunner().invoke(policy_group, ["check", str(DATA / "good" / "design.yaml")])
    rows = [line.split() for line in result.stdout.splitlines()]
    assert [
        "1",
        "vendor-apps",
        "allow",
        "host=*.vendor.example",
        "*.vendor.example",
        "180d",
        "-",
    ] in rows
    assert ["0", "never-bypass-banking", "block", "domain=bank.example", "-", "-", "-"] in rows
    # An allow rule without its own expiry shows the default it inherits.
    partner = next(row for row in rows if row[:2] == ["2", "partner-api"])
    assert partner[-3:] == ["90d", "(default)", "-"]


def test_check_missing_file_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "missing" / "policy.yaml"
    result = CliRunner().invoke(policy_group, ["check", str(missing)])
    assert result.exit_code == EXIT_USAGE
    assert f"panpin: error: {missing}: cannot read policy" in result.stderr


def test_all_problems_are_reported_at_once() -> None:
    found = problems(
        """\
version: 1
thresholds: {min_hits: 0, min_clients: 0}
rules:
  - name: r
    match: {host: a.example}
    action: maybe
"""
    )
    assert found == [
        "policy.yaml:2: thresholds.min_hits: must be at least 1, got 0",
        "policy.yaml:2: thresholds.min_clients: must be at least 1, got 0",
        "policy.yaml:6: rules[0].action: 'maybe' is not an action; use one of: allow, block, review",
    ]


def test_empty_file_is_an_error() -> None:
    assert problems("") == ["policy.yaml:1: policy: the file is empty"]
    assert problems("# only a comment\n") == ["policy.yaml:1: policy: the file is empty"]


def test_yaml_syntax_error_has_a_line() -> None:
    [message] = problems("version: 1\nrules: [\n")
    assert message.startswith("policy.yaml:3: yaml: ")


def test_unknown_key_suggests_the_close_one() -> None:
    [message] = problems(MINIMAL.replace("action: review", "action: review\n    expire: 30d"))
    assert "did you mean 'expires'?" in message


def test_merge_keys_are_refused() -> None:
    text = MINIMAL + "defaults:\n  <<: {action: allow}\n"
    assert problems(text) == ["policy.yaml:7: defaults: YAML merge keys (<<) are not supported"]


# --- the model --------------------------------------------------------------------------------


def test_defaults_apply_when_sections_are_missing() -> None:
    loaded = parse(MINIMAL)
    assert loaded.signals.strong == ("UnknownCA", "BadCertificate")
    assert loaded.signals.weak == ()
    assert (loaded.thresholds.min_hits, loaded.thresholds.min_clients) == (3, 2)
    assert loaded.thresholds.window.delta == timedelta(days=7)
    assert loaded.defaults.action == "review"
    assert loaded.defaults.expires.date_from(date(2026, 1, 1)) == date(2026, 4, 1)
    assert loaded.limits.max_changes_per_run == 25
    assert loaded.source == "policy.yaml"


def test_design_example_model() -> None:
    loaded = load_policy(DATA / "good" / "design.yaml")
    banking, vendor, partner = loaded.rules
    assert banking.match == Match(domain="bank.example")
    assert banking.action == "block" and banking.line == 10 and banking.index == 0
    assert vendor.exclude_as == "*.vendor.example" and vendor.ticket == "CHG-1042"
    assert vendor.expires is not None
    assert vendor.expires.date_from(date(2026, 11, 26)) == date(2027, 5, 25)
    assert partner.match.regex is not None and partner.match.apps == ("incomplete",)
    assert loaded.thresholds.window.text == "7d"


@pytest.mark.parametrize(
    ("text", "after", "on"),
    [
        ("90d", timedelta(days=90), None),
        ("12w", timedelta(weeks=12), None),
        ("2027-05-25", timedelta(0), date(2027, 5, 25)),
        ("'2027-05-25'", timedelta(0), date(2027, 5, 25)),
    ],
)
def test_expiry_forms(text: str, after: timedelta, on: date | None) -> None:
    loaded = parse(MINIMAL.replace("action: review", f"action: allow\n    expires: {text}"))
    expiry = loaded.rules[0].expires
    assert expiry is not None
    assert (expiry.after, expiry.on) == (after, on)


@pytest.mark.parametrize("window", ["24h", "7d", "2w"])
def test_window_forms(window: str) -> None:
    loaded = parse(f"thresholds: {{window: {window}}}\n" + MINIMAL)
    assert loaded.thresholds.window.text == window


@pytest.mark.parametrize("bad", ["0d", "7", "7D", "1.5d", "-3d", "6m", "7 d", "d"])
def test_bad_durations(bad: str) -> None:
    [message] = problems(f"thresholds: {{window: '{bad}'}}\n" + MINIMAL)
    assert message.startswith("policy.yaml:1: thresholds.window: ")


def test_host_and_domain_are_normalised() -> None:
    loaded = parse(
        MINIMAL.replace("{host: a.example}", "{host: API.Vendor.Example., domain: Bücher.Example}")
    )
    assert loaded.rules[0].match.host == "api.vendor.example"
    assert loaded.rules[0].match.domain == "xn--bcher-kva.example"


def test_single_label_domain_is_a_valid_matcher() -> None:
    loaded = parse(MINIMAL.replace("{host: a.example}", "{domain: gov}"))
    assert loaded.rules[0].match.matches("irs.gov", (), {})
    assert not loaded.rules[0].match.matches("gov.example", (), {})


def test_regex_is_compiled_once_and_full_match() -> None:
    loaded = parse(MINIMAL.replace("{host: a.example}", "{regex: 'api[0-9]*\\.partner\\.example'}"))
    match = loaded.rules[0].match
    # RE2, not Python's backtracking engine: log data an attacker writes is matched against it.
    assert type(match.regex).__module__ == "re2"
    assert not isinstance(match.regex, re.Pattern)
    assert match.matches("api12.partner.example", (), {})
    assert not match.matches("api12.partner.example.evil.com", (), {})
    assert not match.matches("xapi.partner.example", (), {})


def test_regex_exclude_as_is_accepted_and_left_to_decide() -> None:
    text = MINIMAL.replace(
        "{host: a.example}\n    action: review",
        "{regex: '.*\\.cdn\\.example'}\n    action: allow\n    exclude_as: '*.cdn.example'",
    )
    assert parse(text).rules[0].exclude_as == "*.cdn.example"


def test_exclude_as_with_host_and_domain_is_proven_by_the_host() -> None:
    text = MINIMAL.replace(
        "{host: a.example}\n    action: review",
        "{host: '*.v.example', domain: v.example}\n    action: allow\n    exclude_as: '*.v.example'",
    )
    assert parse(text).rules[0].exclude_as == "*.v.example"


def test_domain_block_with_apps_still_forbids_an_overlapping_exclude_as() -> None:
    # apps only narrow when the block applies; the wildcard entry exempts the hosts for every
    # app, so a block always wins only if the policy refuses the entry.
    text = """\
version: 1
rules:
  - name: block-banking-app
    match: {domain: v.example, apps: [banking]}
    action: block
  - name: vendor
    match: {host: "*.v.example"}
    action: allow
    exclude_as: "*.v.example"
"""
    [message] = problems(text)
    assert message.startswith("policy.yaml:9: rules[1].exclude_as: '*.v.example' would also")
    assert "block rule 'block-banking-app' (rules[0])" in message


def test_regex_block_beside_an_exclude_as_is_left_to_decide() -> None:
    # A regex cannot be intersected with a wildcard here; decide() checks the observed hosts.
    text = """\
version: 1
rules:
  - name: block-banking-app
    match: {regex: 'pay[0-9]*\\.v\\.example', apps: [banking]}
    action: block
  - name: vendor
    match: {host: "*.v.example"}
    action: allow
    exclude_as: "*.v.example"
"""
    assert len(parse(text).rules) == 2


def test_expires_on_a_review_rule_is_an_error() -> None:
    [message] = problems(MINIMAL.replace("action: review", "action: review\n    expires: 30d"))
    assert message.startswith("policy.yaml:6: rules[0].expires: only an allow rule")


def test_signal_and_app_names_are_checked() -> None:
    found = problems(
        MINIMAL.replace("{host: a.example}", "{signals: ['Unknown CA'], apps: [ssl, ssl]}")
    )
    assert "policy.yaml:4: rules[0].match.apps[1]: 'ssl' is listed twice" in found
    assert (
        "policy.yaml:4: rules[0].match.signals[0]: 'Unknown CA' is not a valid alert name" in found
    )


# --- matching ------------------------------------------------------------------------------------


def test_match_keys_are_anded() -> None:
    match = Match(host="*.v.example", apps=("ssl",), signals=("UnknownCA",))
    assert match.matches("a.v.example", ("SSL",), {"UnknownCA": 1})
    assert not match.matches("a.v.example", ("web-browsing",), {"UnknownCA": 1})
    assert not match.matches("a.v.example", ("ssl",), {"UnknownCA": 0, "BadCertificate": 3})
    assert not match.matches("a.b.v.example", ("ssl",), {"UnknownCA": 1})


def test_first_match_wins_in_file_order() -> None:
    loaded = parse(
        """\
version: 1
rules:
  - name: specific
    match: {host: api.v.example}
    action: block
  - name: wildcard
    match: {host: "*.v.example"}
    action: allow
  - name: domain
    match: {domain: v.example}
    action: review
"""
    )
    first = loaded.first_match
    assert (r := first("api.v.example")) is not None and r.name == "specific"
    assert (r := first("www.v.example")) is not None and r.name == "wildcard"
    assert (r := first("a.b.v.example")) is not None and r.name == "domain"
    assert first("v.example.com") is None


def test_registered_as_panpin_policy_check() -> None:
    cli = pytest.importorskip("panpin.cli")
    bad = DATA / "bad" / "bad_action.yaml"
    line, key = expectation(bad)
    result = CliRunner().invoke(cli.cli, ["policy", "check", str(bad)])
    assert result.exit_code == EXIT_USAGE
    assert f"{bad}:{line}: {key}: " in result.stderr
    good = CliRunner().invoke(cli.cli, ["policy", "check", str(GOOD[0])])
    assert good.exit_code == 0, good.output


# --- issue 15: a log written by an adversary ------------------------------------------------------

ATTACK_POLICY = """\
version: 1
rules:
  - name: aws
    match: {host: "*.*.amazonaws.com"}
    action: allow
  - name: pages
    match: {host: "*.github.io"}
    action: allow
  - name: cdn
    match: {domain: cloudfront.net}
    action: allow
  - name: everything
    match: {domain: com}
    action: allow
"""


def test_the_attack_policy_of_issue_15_is_refused_line_by_line(
    run_cli: RunCli, tmp_path: Path
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(ATTACK_POLICY)
    result = run_cli("policy", "check", str(path))
    assert result.code == EXIT_USAGE, result.err
    assert result.out == ""
    lines = result.err.strip().splitlines()
    assert [line.split(": ", 3)[2] for line in lines] == [
        f"{path}:4",
        f"{path}:7",
        f"{path}:10",
        f"{path}:13",
    ]
    assert lines[0].endswith(
        "rules[0].match.host: '*.*.amazonaws.com' would exclude sites registered under the public "
        "suffix 's3.amazonaws.com' (Public Suffix List): one '*' stands for anyone's name there; "
        "name the site's own domain, e.g. *.vendor.example"
    )
    assert "rules[1].match.host: '*.github.io'" in lines[1]
    assert "rules[2].match.domain: 'cloudfront.net' is a public suffix" in lines[2]
    assert "rules[3].match.domain: 'com' is a public suffix" in lines[3]
    assert "Traceback" not in result.err


def test_narrow_rules_for_the_same_sites_pass(run_cli: RunCli, tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        """\
version: 1
never_allow: [wordpress.com]
thresholds: {min_clients: 3, clients_by: user-or-address, ipv6_prefix: 64}
rules:
  - name: vendor-cdn
    match: {host: "*.cdn.vendor.example"}
    action: allow
    exclude_as: "*.cdn.vendor.example"
  - name: vendor-bucket
    match: {host: vendor-assets.s3.amazonaws.com}
    action: allow
  - name: vendor-pages
    match: {host: vendor.github.io}
    action: allow
  - name: vendor
    match: {domain: vendor.example}
    action: allow
  - name: anything-else
    match: {regex: '.*'}
    action: review
"""
    )
    result = run_cli("policy", "check", str(path))
    assert result.code == 0, result.err


def test_client_counting_is_read_and_defaults_to_user_or_address() -> None:
    loaded = parse(MINIMAL)
    assert loaded.thresholds.clients == ClientCounting("user-or-address", 64, 32)
    text = MINIMAL.replace(
        "rules:", "thresholds: {clients_by: address, ipv6_prefix: 56, ipv4_prefix: 24}\nrules:"
    )
    assert parse(text).thresholds.clients == ClientCounting("address", 56, 24)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("{ipv6_prefix: 129}", "thresholds.ipv6_prefix: must be at most 128"),
        ("{ipv4_prefix: 8}", "thresholds.ipv4_prefix: must be at least 16"),
        ("{ipv6_prefix: '64'}", "thresholds.ipv6_prefix: expected an integer"),
        (
            "{clients_by: user}",
            "thresholds.clients_by: 'user' is not one of: user-or-address, address",
        ),
    ],
)
def test_bad_client_counting(value: str, fragment: str) -> None:
    [message] = problems(MINIMAL.replace("rules:", f"thresholds: {value}\nrules:"))
    assert fragment in message and message.startswith("policy.yaml:2: ")


def test_never_allow_is_read_and_matches_on_label_boundaries() -> None:
    loaded = parse(MINIMAL.replace("rules:", "never_allow: [wordpress.com, Blogger.COM.]\nrules:"))
    assert loaded.never_allow == ("wordpress.com", "blogger.com")
    assert loaded.never_allowed("attacker.wordpress.com") == "wordpress.com"
    assert loaded.never_allowed("wordpress.com") == "wordpress.com"
    assert loaded.never_allowed("notwordpress.com") is None


@pytest.mark.parametrize(
    "match",
    [
        '{host: "*.wordpress.com"}',
        "{host: a.wordpress.com}",
        "{domain: wordpress.com}",
        "{domain: blog.wordpress.com}",
    ],
)
def test_allow_matchers_reaching_never_allow_are_refused(match: str) -> None:
    text = MINIMAL.replace("rules:", "never_allow: [wordpress.com]\nrules:").replace(
        "{host: a.example}\n    action: review", f"{match}\n    action: allow"
    )
    [message] = problems(text)
    assert "reaches never_allow domain 'wordpress.com'" in message


def test_block_and_review_rules_may_name_public_suffixes() -> None:
    # Only an allow exempts anything; blocking or reviewing all of com is merely strict.
    text = MINIMAL.replace(
        "{host: a.example}\n    action: review", "{domain: com}\n    action: block"
    )
    assert parse(text).rules[0].action == "block"
    text = MINIMAL.replace("{host: a.example}", '{host: "*.github.io"}')
    assert parse(text).rules[0].action == "review"


def test_an_exact_public_suffix_host_is_refused_in_an_allow() -> None:
    [message] = problems(
        MINIMAL.replace(
            "{host: a.example}\n    action: review", "{host: github.io}\n    action: allow"
        )
    )
    assert "'github.io' is or holds the public suffix 'github.io'" in message
    assert "every certificate whose name contains it" in message


# --- bounded regexes ----------------------------------------------------------------------------


def test_a_catastrophic_pattern_compiles_with_re2_and_matches_in_linear_time() -> None:
    # Under Python's re, (a+)+ against a long run of a's that then fails backtracks 2^n ways.
    # RE2 has no backtracking: the assertion is on the engine, not on a clock.
    text = MINIMAL.replace("{host: a.example}", "{regex: '^(a+)+\\.example$'}")
    match = parse(text).rules[0].match
    assert match.regex is not None and type(match.regex).__module__ == "re2"
    sni = "a" * 250 + "!"
    assert not match.matches(sni, (), {})
    assert match.matches("aaaa.example", (), {})


def test_compile_regex_refuses_what_re2_cannot_express() -> None:
    for pattern in ("(a)\\1", "(?=a)a", "(?<=a)b", "a++", "x" * (MAX_REGEX_LENGTH + 1)):
        with pytest.raises(ValueError):
            compile_regex(pattern)
    assert type(compile_regex("[a-z]+\\.example")).__module__ == "re2"


def test_an_re2_error_is_one_line_with_file_and_line(run_cli: RunCli, tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(MINIMAL.replace("{host: a.example}", "{regex: '(a)\\1'}"))
    result = run_cli("policy", "check", str(path))
    assert result.code == EXIT_USAGE
    assert result.err == (
        f"panpin: error: {path}:4: rules[0].match.regex: invalid regular expression (RE2 syntax, "
        "no backtracking): invalid escape sequence: \\1\n"
    )


def test_re2_prints_nothing_of_its_own(capfd: pytest.CaptureFixture[str]) -> None:
    # RE2 logs its errors to the process's stderr (file descriptor 2) unless told not to.
    with pytest.raises(ValueError):
        compile_regex("(a)\\1")
    assert capfd.readouterr().err == ""


def test_a_block_below_an_allow_still_wins() -> None:
    text = """\
version: 1
rules:
  - name: vendor
    match: {host: "*.v.example"}
    action: allow
  - name: pay
    match: {regex: 'pay\\.v\\.example'}
    action: block
"""
    loaded = parse(text)
    assert loaded.first_match("pay.v.example").name == "vendor"  # type: ignore[union-attr]
    assert loaded.deciding_rule("pay.v.example").name == "pay"  # type: ignore[union-attr]
    assert loaded.deciding_rule("api.v.example").name == "vendor"  # type: ignore[union-attr]
