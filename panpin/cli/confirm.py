"""``panpin confirm``: check pinning in a packet capture, as the manual procedure does in Wireshark.

Reads only the capture file; touches no device and no state.
"""

from __future__ import annotations

from collections import Counter

import click

from panpin.capture import STATUSES, CaptureReport, analyze_capture
from panpin.cli.common import global_options
from panpin.cli.output import emit, format_option, json_doc, message, render_rows, resolve_format

COLUMNS = ("host", "status", "handshakes", "verdicts", "reason")


@click.command()
@click.argument("capture", metavar="CAPTURE", type=click.Path(dir_okay=False, path_type=str))
@click.option(
    "--host",
    "hosts",
    multiple=True,
    metavar="HOST",
    help="Report this host (repeatable); a PAN-OS wildcard such as '*.vendor.example' gathers "
    "every SNI it matches. Default: every SNI in the capture.",
)
@format_option
@click.pass_context
def confirm(ctx: click.Context, capture: str, hosts: tuple[str, ...], fmt: str | None) -> None:
    """Classify the TLS handshakes in CAPTURE (pcap or pcapng) per host, by SNI.

    \b
    confirmed    the client sent a certificate alert (UnknownCA, BadCertificate,
                 CertificateUnknown...) right after the server's Certificate
    likely       the client broke off right after the server's certificate without a
                 readable reason: another alert, a FIN/RST, one encrypted alert record
                 (TLS 1.3), or it closed at once after completing the handshake
    not-pinning  handshakes completed and carried data
    not-seen     no handshake for the host reached the client's answer

    Capture on the client side of the firewall, while the app fails with decryption on.
    Each host's evidence names the connection, the frame numbers (as Wireshark counts them)
    and the timing. Exit 2 when CAPTURE is not a readable pcap/pcapng file.
    """
    report = analyze_capture(capture, hosts or None)
    fmt = resolve_format(fmt)
    if fmt == "json":
        emit(json_doc(report.to_dict()))
    else:
        emit(render_rows(rows(report), COLUMNS, fmt))
    message(summary(report), quiet=global_options(ctx).quiet)


def rows(report: CaptureReport) -> list[dict[str, object]]:
    """One row per host: most telling status first, then host name."""
    rank = {status: i for i, status in enumerate(STATUSES)}
    ordered = sorted(report.hosts.values(), key=lambda h: (rank[h.status], h.host))
    return [
        {
            "host": h.host,
            "status": h.status,
            "handshakes": h.handshakes,
            "verdicts": dict(h.verdicts),
            "reason": h.reason,
        }
        for h in ordered
    ]


def summary(report: CaptureReport) -> str:
    stats = report.stats
    counts = Counter(h.status for h in report.hosts.values())
    by_status = ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES)
    text = (
        f"{report.capture}: {stats.format}, {stats.packets} packets, "
        f"{stats.tls_connections} TLS handshakes; hosts: {by_status}"
    )
    notes = []
    if stats.handshakes_without_sni:
        notes.append(f"{stats.handshakes_without_sni} handshakes without SNI")
    if stats.gaps:
        notes.append(f"{stats.gaps} streams with missing segments")
    if stats.unsupported_link:
        notes.append(f"{stats.unsupported_link} packets of an unsupported link type")
    if stats.evicted:
        notes.append(f"{stats.evicted} connections dropped past the tracking limit")
    if notes:
        text += " (" + "; ".join(notes) + ")"
    if stats.tls_connections == 0:
        text += (
            "\nno TLS handshake found: capture on the client side, with a snapshot length that "
            "keeps whole packets (tcpdump -s 0)"
        )
    return text
