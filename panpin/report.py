"""A plan as one self-contained HTML page for the change ticket. Pure: a plan in, a string out.

A reviewer would rather read one page than JSON: the page shows the adds and removes with their
rule and reason, every decision, the evidence per host (from the scan and, when given, from a
packet capture) and a chart of errors per host over time.

The page is safe to open from a ticket attachment: every value from the plan is escaped with
:func:`html.escape` (host names come from the network), there is no script, and a Content
Security Policy allows nothing but the page's own stylesheet, pinned by its hash, so the page
cannot fetch or run anything even if a value slipped through. The chart is inline SVG.

The plan's ``scan`` section is optional input: ``scan.candidates`` (``host, hits, clients,
errors, apps, first_seen, last_seen, devices``) gives the evidence, ``scan.timeline``
(``{host: [["YYYY/MM/DD", count], ...]}``) the errors per day, and ``scan.confirmations``
(``{host: HostConfirmation.to_dict()}``) capture results. Without a timeline the chart draws
each host's first-to-last-seen span; without candidates it shows what the decisions say.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Final

from panpin import __version__
from panpin.change.plan import Plan
from panpin.decide.engine import REACH_NOTE, Decision, entry_reach

if TYPE_CHECKING:
    from panpin.capture import HostConfirmation

MAX_CHART_HOSTS: Final = 40
MAX_CHART_DAYS: Final = 92

# Colours per decision, readable on white and in grey print.
ACTION_COLORS: Final[dict[str, str]] = {
    "allow": "#1f6fb2",
    "remove": "#6a3d9a",
    "block": "#b2182b",
    "review": "#d46a00",
    "cut": "#8c6d1f",
    "covered": "#4d9221",
    "held": "#762a83",
    "insufficient-evidence": "#8a8a8a",
    "not-pinning": "#8a8a8a",
    "rejected": "#8a8a8a",
}
_OTHER_COLOR: Final = "#8a8a8a"
STATUS_CLASSES: Final = ("confirmed", "likely", "not-pinning", "not-seen")

_STYLE: Final = """
:root { color-scheme: light; --ink: #1d232b; --muted: #5b6470; --line: #d9dee5; --soft: #f4f6f9; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: #fff; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
header { border-bottom: 3px solid var(--ink); padding-bottom: 12px; margin-bottom: 20px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 8px; }
.meta { color: var(--muted); margin: 0; }
.meta b { color: var(--ink); font-weight: 600; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 0; padding: 0; list-style: none; }
.cards li { background: var(--soft); border: 1px solid var(--line); border-radius: 6px;
  padding: 8px 14px; min-width: 110px; }
.cards .n { display: block; font-size: 22px; font-weight: 700; }
.cards .k { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 14px; }
th, td { text-align: left; vertical-align: top; padding: 6px 8px; border-bottom: 1px solid var(--line); }
th { background: var(--soft); font-size: 12px; text-transform: uppercase; letter-spacing: .03em;
  color: var(--muted); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.empty { color: var(--muted); font-style: italic; }
.reach { color: var(--muted); font-size: 12px; max-width: 26em; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 10px; font-size: 12px;
  font-weight: 600; border: 1px solid transparent; white-space: nowrap; }
.a-allow { background: #e3eef8; color: #1f6fb2; }
.a-remove { background: #eee6f5; color: #6a3d9a; }
.a-block { background: #f8e1e3; color: #b2182b; }
.a-review, .a-cut { background: #fbeedd; color: #9a4d00; }
.a-covered { background: #e6f2dc; color: #3b7219; }
.a-other { background: #eceef1; color: #5b6470; }
.s-confirmed { background: #b2182b; color: #fff; }
.s-likely { background: #fbeedd; color: #9a4d00; border-color: #e7b27a; }
.s-not-pinning { background: #e6f2dc; color: #3b7219; }
.s-not-seen { background: #eceef1; color: #5b6470; }
.host { border: 1px solid var(--line); border-radius: 6px; padding: 4px 14px 10px; margin: 10px 0; }
.host h3 { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 4px 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
figure { margin: 8px 0 0; overflow-x: auto; }
figcaption { color: var(--muted); font-size: 12.5px; margin-top: 4px; }
.legend { display: flex; flex-wrap: wrap; gap: 14px; margin: 6px 0 0; padding: 0; list-style: none;
  font-size: 12.5px; color: var(--muted); }
.legend svg { vertical-align: -2px; margin-right: 4px; }
table.signoff th { text-align: left; width: 9em; }
.blank { display: inline-block; min-width: 18em; border-bottom: 1px solid var(--line); }
footer { margin-top: 36px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line);
  padding-top: 8px; }
@media print { main { max-width: none; padding: 0; } .host { break-inside: avoid; } }
"""
_STYLE_HASH: Final = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
# Nothing but the stylesheet above, by hash: no scripts, no fetches, no forms, no base URL.
CSP: Final = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; img-src 'none'; "
    "base-uri 'none'; form-action 'none'"
)


def render_report(
    plan: Plan,
    *,
    confirmations: Mapping[str, HostConfirmation] | None = None,
    source: str | None = None,
    ticket: str | None = None,
    approver: str | None = None,
) -> str:
    """The page for ``plan`` as an HTML string; ``confirmations`` adds capture results per host
    (they take precedence over ``scan.confirmations`` in the plan). ``source`` is the plan's
    file name; ``ticket`` and ``approver`` fill the sign-off (left blank to fill in by hand
    otherwise). Deterministic and pure."""
    captures = _capture_results(plan.scan.get("confirmations"))
    for host, result in (confirmations or {}).items():
        captures[host.lower()] = result.to_dict()
    decisions = list(plan.decisions)
    candidates = _candidates(plan.scan.get("candidates"))
    hosts = _Hosts(decisions, candidates, captures)
    title = f"panpin change {plan.change_id}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_e(CSP)}">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        "<main>",
        _header(plan),
        _summary(plan, decisions),
        _changes(plan, decisions),
        _chart_section(plan.scan.get("timeline"), hosts),
        _decisions(decisions),
        _evidence(hosts),
        _signoff(plan, source, ticket, approver),
        f"<footer>Made by panpin {_e(__version__)} from the plan file; its digest (above) makes "
        "any later edit of the plan visible at apply time. Plan kind: "
        f"{_e(plan.kind)}.</footer>",
        "</main>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


# --- helpers -------------------------------------------------------------------------------------


def _e(value: object) -> str:
    """Text for HTML: everything from the plan passes through here."""
    if value is None:
        return ""
    return html.escape(str(value), quote=True)


def _int(value: object) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return 0


def _count_of(value: object) -> int:
    """A count given as a number or as the list of things counted (clients, devices)."""
    if isinstance(value, list | tuple | set | frozenset):
        return len(value)
    return _int(value)


def _action_class(action: str) -> str:
    return (
        f"a-{action}"
        if action in ACTION_COLORS and action not in ("insufficient-evidence", "not-pinning")
        else "a-other"
    )


def _badge(action: object) -> str:
    text = str(action or "-")
    return f'<span class="badge {_action_class(text)}">{_e(text)}</span>'


def _status_badge(status: object) -> str:
    text = str(status or "")
    css = f"s-{text}" if text in STATUS_CLASSES else "s-not-seen"
    return f'<span class="badge {css}" data-status="{_e(text)}">capture: {_e(text)}</span>'


def _capture_results(raw: object) -> dict[str, dict[str, object]]:
    if not isinstance(raw, Mapping):
        return {}
    return {str(h).lower(): dict(v) for h, v in raw.items() if isinstance(v, Mapping)}


def _candidates(raw: object) -> list[dict[str, object]]:
    if not isinstance(raw, list):
        return []
    return [dict(c) for c in raw if isinstance(c, Mapping) and isinstance(c.get("host"), str)]


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    for fmt in ("%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d"):
        try:
            return datetime.strptime(value.strip()[:19], fmt)
        except ValueError:
            continue
    return None


def _parse_day(value: object) -> date | None:
    if not isinstance(value, str):
        return None
    for fmt in ("%Y/%m/%d", "%Y-%m-%d"):
        try:
            return datetime.strptime(value.strip()[:10], fmt).date()
        except ValueError:
            continue
    return None


def _table(
    columns: Sequence[tuple[str, str]],
    rows: Iterable[Sequence[str]],
    table_id: str = "",
    css: str = "",
) -> str:
    """Rows hold HTML already escaped by the caller; ``columns`` are (title, cell css class)."""
    head = "".join(f"<th>{_e(title)}</th>" for title, _ in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{css}">{cell}</td>' if css else f"<td>{cell}</td>"
            for (_, css), cell in zip(columns, row, strict=True)
        )
        + "</tr>"
        for row in rows
    )
    attrs = (f' id="{table_id}"' if table_id else "") + (f' class="{css}"' if css else "")
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# --- sections ------------------------------------------------------------------------------------


def _header(plan: Plan) -> str:
    device = plan.device
    name = device.get("hostname") or device.get("host") or device.get("name") or "device"
    serial = device.get("serial")
    what = f"{name} ({serial})" if serial else name
    policy = plan.policy.get("path")
    sha = plan.policy.get("sha256", "")
    rows = [
        f"<b>Device</b> {_e(what)} · <b>location</b> {_e(plan.location)} · "
        f"<b>admin</b> {_e(plan.admin)}",
        f"<b>Created</b> {_e(plan.created)}"
        + (
            f" · <b>policy</b> <code>{_e(policy)}</code>"
            + (f" <span class='mono'>sha256:{_e(sha[:12])}</span>" if sha else "")
            if policy
            else ""
        ),
    ]
    if plan.rollback_of:
        rows.append(f"<b>Rollback of</b> {_e(plan.rollback_of)}")
    meta = "".join(f'<p class="meta">{row}</p>' for row in rows)
    return (
        f'<header><h1 id="title">SSL Decryption Exclusion change '
        f'<span class="mono">{_e(plan.change_id)}</span></h1>{meta}</header>'
    )


def _signoff(plan: Plan, source: str | None, ticket: str | None, approver: str | None) -> str:
    """What a reviewer signs: the exact plan (file name and digest, which `apply` checks), the
    ticket and the approver. Empty fields are lines to fill in on a printout."""
    digest = str(plan.to_dict()["digest"])

    def field(value: str | None) -> str:
        return f"<span>{_e(value)}</span>" if value else '<span class="blank"></span>'

    rows = [
        ("Plan file", f"<code>{_e(source)}</code>" if source else field(None)),
        ("Digest", f'<span class="mono" id="digest">{_e(digest)}</span>'),
        ("Change window", _e(f"until {plan.not_after}") if plan.not_after else "none"),
        ("Ticket", field(ticket)),
        ("Approved by", field(approver)),
        ("Date", field(None)),
    ]
    body = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return (
        '<section id="signoff"><h2>Sign-off</h2><p class="meta">Approve this digest: `panpin '
        "apply` refuses any other plan.</p>"
        f'<table class="signoff">{body}</table></section>'
    )


def _summary(plan: Plan, decisions: Sequence[Decision]) -> str:
    counts: dict[str, int] = {}
    for d in decisions:
        action = d.action
        counts[action] = counts.get(action, 0) + 1
    cards = [("adds", len(plan.adds)), ("removes", len(plan.removes)), ("hosts", len(decisions))]
    cards += sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    items = "".join(
        f'<li data-key="{_e(k)}"><span class="n">{n}</span><span class="k">{_e(k)}</span></li>'
        for k, n in cards
    )
    return f'<section id="summary"><ul class="cards">{items}</ul></section>'


def _changes(plan: Plan, decisions: Sequence[Decision]) -> str:
    by_entry: dict[str, list[Decision]] = {}
    removals: dict[str, Decision] = {}
    for d in decisions:
        if d.action == "allow" and d.entry is not None:
            by_entry.setdefault(d.entry.name, []).append(d)
        elif d.action == "remove":
            removals[d.host] = d
    parts = ['<section id="changes"><h2>Changes to the exclusion list</h2>']
    if not plan.has_changes:
        parts.append('<p class="empty">No changes: applying this plan changes nothing.</p>')
    parts.append(f"<h3>Add ({len(plan.adds)})</h3>")
    if plan.adds:
        rows = []
        for entry in plan.adds:
            members = by_entry.get(entry.name, [])
            hosts = ", ".join(_e(m.host) for m in members) or "-"
            rules = sorted({m.rule for m in members if m.rule})
            rule = entry.marker.rule if entry.marker and entry.marker.rule else ", ".join(rules)
            expires = entry.expires.isoformat() if entry.expires else "never"
            # The reach has a column of its own: not repeated in every member's reason.
            reasons = "<br>".join(_e(m.reason.split(REACH_NOTE)[0]) for m in members[:3]) or "-"
            rows.append(
                [
                    f'<span class="mono">{_e(entry.name)}</span>',
                    hosts,
                    _e(rule or "-"),
                    _e(expires),
                    reasons,
                    f'<span class="mono">{_e(entry.description)}</span>',
                    f'<span class="reach">{_e(entry_reach(entry.name))}</span>',
                ]
            )
        parts.append(
            _table(
                [
                    ("entry", ""),
                    ("hosts", ""),
                    ("rule", ""),
                    ("expires", ""),
                    ("reason", ""),
                    ("description", ""),
                    ("reach on the device", ""),
                ],
                rows,
                "adds",
            )
        )
    else:
        parts.append('<p class="empty" id="adds-empty">Nothing to add.</p>')
    parts.append(f"<h3>Remove ({len(plan.removes)})</h3>")
    if plan.removes:
        rows = []
        for entry in plan.removes:
            removal = removals.get(entry.name)
            removal_rule = (removal.rule if removal else None) or (
                entry.marker.rule if entry.marker else None
            )
            rows.append(
                [
                    f'<span class="mono">{_e(entry.name)}</span>',
                    _e(removal_rule or "-"),
                    _e(removal.reason if removal else "-"),
                    f'<span class="mono">{_e(entry.description)}</span>',
                ]
            )
        parts.append(
            _table(
                [("entry", ""), ("rule", ""), ("reason", ""), ("description", "")],
                rows,
                "removes",
            )
        )
    else:
        parts.append('<p class="empty" id="removes-empty">Nothing to remove.</p>')
    parts.append("</section>")
    return "".join(parts)


def _decisions(decisions: Sequence[Decision]) -> str:
    rows = [
        [
            f'<span class="mono">{_e(d.host)}</span>',
            _badge(d.action),
            _e(d.rule or "-"),
            _e(d.confirmation or "-"),
            str(d.counted_hits),
            str(d.clients),
            _e(d.reason),
        ]
        for d in decisions
    ]
    body = (
        _table(
            [
                ("host", ""),
                ("decision", ""),
                ("rule", ""),
                ("capture", ""),
                ("hits", "num"),
                ("clients", "num"),
                ("reason", ""),
            ],
            rows,
            "decisions",
        )
        if rows
        else '<p class="empty">The plan holds no decisions.</p>'
    )
    return f'<section id="all-decisions"><h2>Every decision ({len(rows)})</h2>{body}</section>'


@dataclass
class _Host:
    host: str
    action: str = ""
    rule: str = ""
    reason: str = ""
    candidate: dict[str, object] | None = None
    capture: dict[str, object] | None = None

    @property
    def hits(self) -> int:
        return _int(self.candidate.get("hits")) if self.candidate else 0


class _Hosts:
    """Every host the page talks about, with its decision, scan evidence and capture result."""

    def __init__(
        self,
        decisions: Sequence[Decision],
        candidates: list[dict[str, object]],
        captures: dict[str, dict[str, object]],
    ) -> None:
        self.by_host: dict[str, _Host] = {}
        for d in decisions:
            if d.action == "remove":
                continue  # an entry name, not a host with evidence
            h = self.get(d.host)
            h.action, h.rule, h.reason = d.action, d.rule or "", d.reason
        for c in candidates:
            self.get(str(c["host"])).candidate = c
        for host, result in captures.items():
            if host in self.by_host:
                self.by_host[host].capture = result

    def get(self, host: str) -> _Host:
        key = host.lower()
        if key not in self.by_host:
            self.by_host[key] = _Host(host)
        return self.by_host[key]

    def ordered(self) -> list[_Host]:
        return sorted(self.by_host.values(), key=lambda h: (-h.hits, h.host))


def _evidence(hosts: _Hosts) -> str:
    items = [_host_card(i, h) for i, h in enumerate(hosts.ordered())]
    body = "".join(items) or '<p class="empty">No host evidence in the plan.</p>'
    return f'<section id="evidence"><h2>Evidence per host</h2>{body}</section>'


def _host_card(index: int, h: _Host) -> str:
    facts: list[tuple[str, str]] = []
    if h.rule:
        facts.append(("rule", _e(h.rule)))
    if h.reason:
        facts.append(("reason", _e(h.reason)))
    c = h.candidate
    if c is not None:
        clients = c.get("clients")
        client_text = str(_count_of(clients))
        if isinstance(clients, list) and clients:
            shown = ", ".join(_e(x) for x in clients[:5])
            more = f" and {len(clients) - 5} more" if len(clients) > 5 else ""
            client_text += f' <span class="mono">({shown}{more})</span>'
        errors = c.get("errors")
        error_text = (
            ", ".join(
                f"{_e(k)} {_int(v)}"
                for k, v in sorted(errors.items(), key=lambda kv: (-_int(kv[1]), str(kv[0])))
            )
            if isinstance(errors, Mapping)
            else ""
        )
        apps = c.get("apps")
        devices = c.get("devices")
        facts += [
            ("log hits", str(_int(c.get("hits")))),
            ("clients", client_text),
            ("client alerts", error_text or "-"),
            ("apps", ", ".join(_e(a) for a in apps) if isinstance(apps, list) and apps else "-"),
            ("first seen", _e(c.get("first_seen") or "-")),
            ("last seen", _e(c.get("last_seen") or "-")),
        ]
        if isinstance(devices, list) and devices:
            facts.append(("devices", ", ".join(_e(x) for x in devices)))
        if c.get("covered_by"):
            facts.append(("covered by", f'<span class="mono">{_e(c.get("covered_by"))}</span>'))
    badges = _badge(h.action) if h.action else ""
    capture_html = ""
    if h.capture is not None:
        badges += " " + _status_badge(h.capture.get("status"))
        facts.append(("capture", _e(h.capture.get("reason"))))
        capture_html = _handshakes(h.capture.get("evidence"))
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in facts)
    return (
        f'<article class="host" id="host-{index}" data-host="{_e(h.host)}">'
        f'<h3><span class="mono">{_e(h.host)}</span> {badges}</h3>'
        f'<dl class="facts">{dl}</dl>{capture_html}</article>'
    )


def _handshakes(evidence: object) -> str:
    if not isinstance(evidence, list) or not evidence:
        return ""
    rows = []
    for hs in evidence:
        if not isinstance(hs, Mapping):
            continue
        packets = hs.get("packets")
        packet_text = (
            # By frame number: plan files sort keys, which would put them out of order.
            ", ".join(
                f"{_e(k)} {_int(v)}"
                for k, v in sorted(packets.items(), key=lambda kv: (_int(kv[1]), str(kv[0])))
            )
            if isinstance(packets, Mapping)
            else ""
        )
        alert = hs.get("alert")
        delay = hs.get("delay_ms")
        rows.append(
            [
                str(_int(hs.get("stream"))),
                f'<span class="mono">{_e(hs.get("client"))} → {_e(hs.get("server"))}</span>',
                _e(hs.get("version") or "-"),
                _e(hs.get("verdict")) + (f" ({_e(alert)})" if alert else ""),
                packet_text,
                _e(f"{delay} ms" if isinstance(delay, int | float) else "-"),
                f"<code>{_e(hs.get('wireshark_filter'))}</code>",
            ]
        )
    return _table(
        [
            ("stream", "num"),
            ("connection", ""),
            ("TLS", ""),
            ("verdict", ""),
            ("frames", ""),
            ("delay", "num"),
            ("Wireshark filter", ""),
        ],
        rows,
        css="handshakes",
    )


# --- chart ---------------------------------------------------------------------------------------

_LABEL_W: Final = 250
_PLOT_W: Final = 660
_ROW_H: Final = 24
_TOP: Final = 30
_BOTTOM: Final = 26


def _chart_section(timeline: object, hosts: _Hosts) -> str:
    charted = [h for h in hosts.ordered() if h.candidate is not None or _series(timeline, h.host)]
    if not charted:
        return (
            '<section id="chart"><h2>Errors per host over time</h2>'
            '<p class="empty">The plan holds no per-host evidence to chart.</p></section>'
        )
    more = len(charted) - MAX_CHART_HOSTS
    charted = charted[:MAX_CHART_HOSTS]
    has_timeline = isinstance(timeline, Mapping) and any(_series(timeline, h.host) for h in charted)
    if has_timeline:
        svg, caption = _daily_chart(timeline, charted)
    else:
        svg, caption = _span_chart(charted)
    if more > 0:
        caption += f" {more} more hosts with fewer hits are not charted."
    actions = sorted({h.action or "other" for h in charted})
    legend = "".join(
        f'<li><svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" '
        f'fill="{ACTION_COLORS.get(a, _OTHER_COLOR)}"/></svg>{_e(a)}</li>'
        for a in actions
    )
    return (
        '<section id="chart"><h2>Errors per host over time</h2>'
        f"<figure>{svg}<figcaption>{_e(caption)}</figcaption></figure>"
        f'<ul class="legend">{legend}</ul></section>'
    )


def _series(timeline: object, host: str) -> list[tuple[date, int]]:
    if not isinstance(timeline, Mapping):
        return []
    raw = timeline.get(host)
    if raw is None:
        raw = next((v for k, v in timeline.items() if str(k).lower() == host.lower()), None)
    if not isinstance(raw, list):
        return []
    points: dict[date, int] = {}
    for item in raw:
        if isinstance(item, list | tuple) and len(item) == 2:
            day = _parse_day(item[0])
            if day is not None:
                points[day] = points.get(day, 0) + max(_int(item[1]), 0)
    return sorted(points.items())


def _svg_open(rows: int, label: str) -> tuple[str, int, int]:
    width = _LABEL_W + _PLOT_W + 20
    height = _TOP + rows * _ROW_H + _BOTTOM
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" id="errors-chart" role="img" '
        f'aria-label="{_e(label)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="system-ui, sans-serif" font-size="12">'
    )
    return head, width, height


def _row_label(i: int, h: _Host) -> str:
    y = _TOP + i * _ROW_H
    fill = "#f4f6f9" if i % 2 == 0 else "#ffffff"
    short = h.host if len(h.host) <= 34 else h.host[:16] + "…" + h.host[-16:]
    return (
        f'<rect x="0" y="{y}" width="{_LABEL_W + _PLOT_W + 20}" height="{_ROW_H}" fill="{fill}"/>'
        f'<text x="{_LABEL_W - 8}" y="{y + _ROW_H - 8}" text-anchor="end" fill="#1d232b" '
        f'class="host-label">{_e(short)}<title>{_e(h.host)}</title></text>'
    )


def _daily_chart(timeline: object, hosts: list[_Host]) -> tuple[str, str]:
    series = {h.host: _series(timeline, h.host) for h in hosts}
    days = [d for points in series.values() for d, _ in points]
    first, last = min(days), max(days)
    if (last - first).days >= MAX_CHART_DAYS:
        first = last - timedelta(days=MAX_CHART_DAYS - 1)
    span = (last - first).days + 1
    cell = _PLOT_W / span
    peak = max((n for points in series.values() for d, n in points if d >= first), default=1) or 1
    head, _, height = _svg_open(len(hosts), "Client certificate errors per host and day")
    parts = [head]
    for i, h in enumerate(hosts):
        parts.append(_row_label(i, h))
        color = ACTION_COLORS.get(h.action, _OTHER_COLOR)
        base = _TOP + (i + 1) * _ROW_H - 3
        for day, n in series[h.host]:
            if day < first or n <= 0:
                continue
            # Linear, so bars compare; at least 3 px so a single error is still visible.
            bar = max((_ROW_H - 6) * n / peak, 3.0)
            x = _LABEL_W + (day - first).days * cell
            parts.append(
                f'<rect class="bar" x="{x + 0.5:.1f}" y="{base - bar:.1f}" '
                f'width="{max(cell - 1, 1):.1f}" height="{bar:.1f}" fill="{color}">'
                f"<title>{_e(h.host)} {day:%Y/%m/%d}: {n} errors</title></rect>"
            )
    ticks = sorted({0, span // 2, span - 1})
    for t in ticks:
        day = first + timedelta(days=t)
        x = _LABEL_W + (t + 0.5) * cell
        parts.append(
            f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle" fill="#5b6470">'
            f"{day:%Y/%m/%d}</text>"
        )
    parts.append(
        f'<text x="{_LABEL_W}" y="18" fill="#5b6470">errors per day (bar height; tallest = '
        f"{peak})</text></svg>"
    )
    caption = (
        f"Client certificate errors per day from {first:%Y/%m/%d} to {last:%Y/%m/%d}; "
        "colour = decision."
    )
    return "".join(parts), caption


def _span_chart(hosts: list[_Host]) -> tuple[str, str]:
    spans: dict[str, tuple[datetime, datetime]] = {}
    for h in hosts:
        c = h.candidate or {}
        start, end = _parse_time(c.get("first_seen")), _parse_time(c.get("last_seen"))
        if start is None and end is None:
            continue
        start = start or end
        end = end or start
        assert start is not None and end is not None
        spans[h.host] = (min(start, end), max(start, end))
    head, _, height = _svg_open(len(hosts), "First and last client certificate error per host")
    parts = [head]
    lo = min((s for s, _ in spans.values()), default=datetime(2000, 1, 1))
    hi = max((e for _, e in spans.values()), default=lo)
    if hi - lo < timedelta(hours=1):
        # A single moment still gets a visible bar in the middle of the axis.
        lo, hi = lo - timedelta(minutes=30), hi + timedelta(minutes=30)
    total = (hi - lo).total_seconds()
    for i, h in enumerate(hosts):
        parts.append(_row_label(i, h))
        if h.host not in spans:
            continue
        start, end = spans[h.host]
        x0 = _LABEL_W + _PLOT_W * (start - lo).total_seconds() / total
        x1 = _LABEL_W + _PLOT_W * (end - lo).total_seconds() / total
        width = max(x1 - x0, 4.0)
        y = _TOP + i * _ROW_H + 5
        color = ACTION_COLORS.get(h.action, _OTHER_COLOR)
        label_x = min(x0 + width + 4, _LABEL_W + _PLOT_W - 4)
        parts.append(
            f'<rect class="bar" x="{x0:.1f}" y="{y}" width="{width:.1f}" height="{_ROW_H - 10}" '
            f'rx="3" fill="{color}"><title>{_e(h.host)}: {h.hits} errors from '
            f"{start:%Y/%m/%d %H:%M:%S} to {end:%Y/%m/%d %H:%M:%S}</title></rect>"
            f'<text x="{label_x:.1f}" y="{y + _ROW_H - 13}" fill="#1d232b" font-size="11">'
            f"{h.hits}</text>"
        )
    if spans:
        for frac in (0.0, 0.5, 1.0):
            when = lo + timedelta(seconds=total * frac)
            x = _LABEL_W + _PLOT_W * frac
            anchor = "start" if frac == 0 else "end" if frac == 1 else "middle"
            parts.append(
                f'<text x="{x:.1f}" y="{height - 8}" text-anchor="{anchor}" fill="#5b6470">'
                f"{when:%Y/%m/%d %H:%M}</text>"
            )
    parts.append(
        f'<text x="{_LABEL_W}" y="18" fill="#5b6470">first to last error (number = log hits)'
        "</text></svg>"
    )
    caption = (
        "From each host's first to its last client certificate error in the scan window "
        "(the plan has no per-day timeline); colour = decision."
    )
    return "".join(parts), caption
