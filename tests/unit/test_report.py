"""panpin.report and ``panpin report``: content, escaping, self-containment, robustness."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from captures import capture_of, pinned_alert, sample_plan, tls13_abort

from panpin.change.plan import Plan, build_plan, decision_from_dict
from panpin.errors import PlanError
from panpin.panos.exclusions import ExclusionEntry
from panpin.report import CSP, MAX_CHART_HOSTS, render_report

RunCli = Callable[..., Any]
CHANGE = "c-20261126-0932-a1b2"
EVIL = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
VOID = {"meta", "br", "img", "input", "link", "hr", "col", "area", "base", "wbr", "source"}
SVG_EMPTY = {"rect", "path", "line", "circle"}


@cache
def _sample(tmp: str, timeline: bool = True) -> Plan:
    plan = sample_plan(Path(tmp), timeline=timeline)
    assert isinstance(plan, Plan)
    return plan


@pytest.fixture
def plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return _sample(str(tmp_path_factory.getbasetemp()))


def make(**kw: Any) -> Plan:
    args: dict[str, Any] = {
        "change_id": CHANGE,
        "created": "2026-11-26T09:32:00",
        "device": {"name": "fw1", "host": "fw1", "serial": "0070", "kind": "firewall"},
        "location": "shared",
        "xpath": "/config/shared/ssl-decrypt/ssl-exclude-cert",
        "admin": "panpin",
        "base": [],
        "adds": [],
        "removes": [],
    }
    args.update(kw)
    # Decisions given as JSON objects, as a plan file holds them.
    args["decisions"] = [
        decision_from_dict(d, f"decisions[{i}]") for i, d in enumerate(args.get("decisions", []))
    ]
    return build_plan(**args)


class Structure(HTMLParser):
    """Collects tags and checks that every opened element is closed, in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.errors: list[str] = []
        self.text: list[str] = []
        self.style = ""
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style += data
        else:
            self.text.append(data)


def parse(page: str) -> Structure:
    s = Structure()
    s.feed(page)
    s.close()
    assert s.errors == [] and s.stack == [], (s.errors, s.stack)
    return s


def test_page_shows_changes_decisions_evidence_and_chart(plan: Plan) -> None:
    page = render_report(plan)
    s = parse(page)
    text = " ".join(s.text)
    for entry in (*plan.adds, *plan.removes):
        assert entry.name in text
    for decision in plan.decisions:
        assert decision.host in text
    assert "rule 'vendor-apps' allows" in text
    assert "needs confirmation by capture" in text
    assert "panpin entry expired on 2026-11-16" in text
    assert "UnknownCA 38, BadCertificate 3" in text  # per-host alert counts
    assert "capture: confirmed" in text
    assert "tcp.port==" in text  # Wireshark filter for the evidence
    tables = {attrs.get("id") for tag, attrs in s.tags if tag == "table"}
    assert {"adds", "removes", "decisions"} <= tables
    bars = [attrs for tag, attrs in s.tags if tag == "rect" and attrs.get("class") == "bar"]
    timeline: Any = plan.scan["timeline"]
    assert len(bars) == sum(len(points) for points in timeline.values())
    days = sorted(day for points in timeline.values() for day, _ in points)
    assert f"Client certificate errors per day from {days[0]} to {days[-1]}" in text


def test_frames_are_listed_in_capture_order(plan: Plan) -> None:
    # The plan file sorts JSON keys; the page must still list frames by number.
    data = json.loads(plan.dumps())
    evidence = data["scan"]["confirmations"]["api.partner.example"]["evidence"][0]
    ordered = sorted(evidence["packets"].items(), key=lambda kv: kv[1])
    page = render_report(plan)
    shown = ", ".join(f"{k} {v}" for k, v in ordered)
    assert shown in page


def test_self_contained_and_locked_down(plan: Plan) -> None:
    page = render_report(plan)
    s = parse(page)
    metas = [attrs for tag, attrs in s.tags if tag == "meta"]
    assert metas[0] == {"charset": "utf-8"}
    csp = next(m["content"] for m in metas if m.get("http-equiv") == "Content-Security-Policy")
    assert csp == CSP
    digest = base64.b64encode(hashlib.sha256(s.style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in csp, "the CSP hash must match the stylesheet"
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert not any(tag == "script" for tag, _ in s.tags)
    assert not any("style" in attrs for _, attrs in s.tags), "style attributes would be blocked"
    urls = re.findall(r"""(?:src|href|action)\s*=|url\(|@import|https?://""", page)
    assert urls == ["http://"], urls  # only the SVG namespace name, which is never fetched
    assert 'xmlns="http://www.w3.org/2000/svg"' in page


def test_everything_from_the_plan_is_escaped() -> None:
    hostile = make(
        device={"name": EVIL, "serial": EVIL},
        location="shared",
        policy={"path": EVIL, "sha256": EVIL},
        scan={
            "candidates": [
                {
                    "host": EVIL,
                    "hits": 3,
                    "clients": [EVIL],
                    "errors": {EVIL: 3},
                    "apps": [EVIL],
                    "first_seen": EVIL,
                    "last_seen": "2026/11/26 10:00:00",
                    "devices": [EVIL],
                    "covered_by": EVIL,
                }
            ],
            "timeline": {EVIL: [["2026/11/25", 2], [EVIL, 1]]},
            "confirmations": {
                EVIL: {
                    "status": EVIL,
                    "reason": EVIL,
                    "evidence": [{"client": EVIL, "verdict": EVIL, "packets": {EVIL: 1}}],
                }
            },
        },
        decisions=[
            # (The action is one of panpin's decisions: a plan with any other is refused.)
            {"host": EVIL, "action": "review", "rule": EVIL, "reason": EVIL, "confirmation": EVIL}
        ],
    )
    page = render_report(hostile)
    s = parse(page)
    assert not any(tag in ("script", "img") for tag, _ in s.tags)
    assert "<script>" not in page and "onerror=alert" not in page.replace(
        "onerror=alert(2)&gt;", ""
    )
    assert EVIL in " ".join(s.text)  # shown as text, exactly


def test_empty_and_malformed_plans_still_render() -> None:
    empty = parse(render_report(make()))
    text = " ".join(empty.text)
    assert "No changes: applying this plan changes nothing." in text
    assert "The plan holds no per-host evidence to chart." in text
    junk = make(
        scan={
            "candidates": "not a list",
            "timeline": {"a.example": [["yesterday", "many"], "x", None]},
            "confirmations": ["nope"],
        },
        decisions=[{"host": "42.example", "action": "review", "rule": None, "reason": "r"}],
    )
    s = parse(render_report(junk))
    assert "42.example" in " ".join(s.text)
    # Malformed decisions never reach the page: a plan's decisions are typed, and a plan file
    # holding such values is refused when read, naming the decision.
    for bad in ("not a dict", {"action": None}, {"host": 42, "counted_hits": "lots"}):
        with pytest.raises(PlanError, match=r"decisions\[0\]"):
            make(decisions=[bad])


def test_span_chart_without_timeline(tmp_path_factory: pytest.TempPathFactory) -> None:
    plan = _sample(str(tmp_path_factory.getbasetemp()), timeline=False)
    s = parse(render_report(plan))
    bars = [attrs for tag, attrs in s.tags if tag == "rect" and attrs.get("class") == "bar"]
    candidates: Any = plan.scan["candidates"]
    assert len(bars) == len(candidates)
    assert "first to last error" in " ".join(s.text)


def test_chart_caps_hosts() -> None:
    candidates = [
        {"host": f"h{i:03}.example", "hits": 1000 - i, "last_seen": "2026/11/26 10:00:00"}
        for i in range(MAX_CHART_HOSTS + 5)
    ]
    s = parse(render_report(make(scan={"candidates": candidates})))
    labels = [attrs for tag, attrs in s.tags if attrs.get("class") == "host-label"]
    assert len(labels) == MAX_CHART_HOSTS
    assert "5 more hosts with fewer hits are not charted." in " ".join(s.text)


def test_deterministic(plan: Plan) -> None:
    assert render_report(plan) == render_report(plan)


def test_report_command(tmp_path: Path, plan: Plan, run_cli: RunCli) -> None:
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(plan.dumps())
    out = tmp_path / "ticket.html"
    result = run_cli("report", str(plan_path), "--html", str(out))
    assert result.code == 0, result.err
    assert out.read_text(encoding="utf-8") == render_report(plan, source="plan.json")
    assert f"change {plan.change_id}, 2 adds, 1 removes" in result.err
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    stdout = run_cli("report", str(plan_path), "--html", "-")
    assert stdout.code == 0 and stdout.out == render_report(plan, source="plan.json")

    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    failed = run_cli("report", str(bad), "--html", str(tmp_path / "x.html"))
    assert failed.code == 2 and "missing keys" in failed.err
    assert not (tmp_path / "x.html").exists()

    nowhere = run_cli("report", str(plan_path), "--html", str(tmp_path / "no" / "dir.html"))
    # Checked before the plan is even read: one line, exit 2 (issue 18).
    assert nowhere.code == 2 and "does not exist" in nowhere.err

    missing = run_cli("report", str(plan_path))
    assert missing.code == 2 and "--html" in missing.err


def test_the_sign_off_names_the_exact_plan(tmp_path: Path, plan: Plan, run_cli: RunCli) -> None:
    plan_path = tmp_path / "change-42.json"
    plan_path.write_text(plan.dumps())
    digest = json.loads(plan_path.read_text())["digest"]
    out = tmp_path / "ticket.html"
    result = run_cli("report", str(plan_path), "--html", str(out), "--ticket", "CHG-42",
                     "--approver", "R. Reviewer")  # fmt: skip
    assert result.code == 0, result.err
    page = out.read_text(encoding="utf-8")
    shown = parse(page)
    text = " ".join(shown.text)
    # The digest apply checks, the file it came from, the ticket and the approver.
    assert re.search(r'id="digest">' + re.escape(digest) + "<", page)
    assert "change-42.json" in text and "CHG-42" in text and "R. Reviewer" in text
    # Without them the fields are blank lines to fill in, never made-up values.
    blank = parse(render_report(plan))
    assert sum(1 for tag, attrs in blank.tags if attrs.get("class") == "blank") == 4
    assert digest in " ".join(blank.text)
    hostile = render_report(plan, ticket="<script>x</script>", approver="a&b")
    assert "<script>x" not in hostile and "&lt;script&gt;x&lt;/script&gt;" in hostile


def test_report_confirm_adds_capture_results(tmp_path: Path, run_cli: RunCli) -> None:
    decisions = [
        {"host": "p.app.example", "action": "review", "rule": "r", "reason": "why"},
        {"host": "e.app.example", "action": "review", "rule": "r", "reason": "why"},
        {"host": "gone.app.example", "action": "review", "rule": "r", "reason": "why"},
    ]
    add = ExclusionEntry("p.app.example", f"panpin:{CHANGE} rule=r", True)
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(make(decisions=decisions, adds=[add]).dumps())
    capture = capture_of(
        tmp_path / "c.pcap", [pinned_alert("p.app.example"), tls13_abort("e.app.example")]
    )
    result = run_cli(
        "report", str(plan_path), "--html", str(tmp_path / "r.html"), "--confirm", str(capture)
    )
    assert result.code == 0, result.err
    s = parse((tmp_path / "r.html").read_text(encoding="utf-8"))
    statuses = {
        attrs.get("data-status") for tag, attrs in s.tags if attrs.get("data-status") is not None
    }
    assert statuses == {"confirmed", "likely", "not-seen"}

    garbage = tmp_path / "g.pcap"
    garbage.write_bytes(b"nope")
    failed = run_cli(
        "report", str(plan_path), "--html", str(tmp_path / "r2.html"), "--confirm", str(garbage)
    )
    assert failed.code == 2 and "not a pcap or pcapng capture" in failed.err
