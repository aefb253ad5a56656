"""Forwarded DECRYPTION syslog lines (panpin.scan.syslog): headers, quoting, skipping, refusing."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import pytest

from panpin.errors import InputError
from panpin.scan.syslog import COLUMNS, SyslogStats, read_syslog, strip_header


def line(**fields: str) -> str:
    row = [""] * 70
    row[0], row[3] = "1", "DECRYPTION"
    values = {"receive_time": "2026/11/20 10:00:00", "serial": "0079", **fields}
    for name, value in values.items():
        row[COLUMNS[name]] = value
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(row)
    return buf.getvalue()


def read(path: Path, serial: str | None = None) -> tuple[list[dict[str, str]], SyslogStats]:
    got: list[dict[str, str]] = []
    stats = read_syslog([path], sink=lambda e: got.append(dict(e)), serial=serial)
    return got, stats


@pytest.mark.parametrize(
    "header",
    [
        "",
        "<14>Nov 30 16:09:33 PA-220 ",
        "<14>Nov  3 06:09:33 fw.example.com ",
        "<14>1 2023-07-06T19:20:22+00:00 fw1 - - - - ",
        '<14>1 2023-07-06T19:20:22+00:00 fw1 pan 42 DEC [origin ip="10.0.0.1"][x a="\\]"] ',
    ],
)
def test_headers_are_stripped(header: str) -> None:
    assert strip_header(header + "1,2026/11/20") == "1,2026/11/20"


def test_quoted_fields_other_types_and_short_lines(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_text(
        "\n".join(
            [
                line(sni="a.example", error="Received fatal alert UnknownCA from client, again"),
                "<14>Nov 30 16:09:33 fw 1,2026/11/20 10:00:00,0079,TRAFFIC,end,1",
                "1,2026/11/20 10:00:00,0079,DECRYPTION,0,2561",  # cut by a size limit
                "",
            ]
        )
    )
    got, stats = read(path)
    (entry,) = got
    assert entry["error"] == "Received fatal alert UnknownCA from client, again"
    assert stats.other_types == {"TRAFFIC": 1} and stats.short == 1


def test_another_firewalls_lines_are_left_out_when_a_serial_is_given(tmp_path: Path) -> None:
    path = tmp_path / "log.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(line(sni="mine.example") + "\n" + line(sni="theirs.example", serial="0080") + "\n")
    got, stats = read(path, serial="0079")
    assert [e["sni"] for e in got] == ["mine.example"]
    assert stats.other_serials == 1


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("hello world\n", "not a PAN-OS syslog line"),
        (line(receive_time="yesterday") + "\n", "receive time 'yesterday' is not a time"),
        ("1,2026-10-13T01:11:23Z,0070,,DECRYPTION,10.0\n", "layout panpin does not know"),
    ],
)
def test_unreadable_lines_name_file_and_line(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "bad.log"
    path.write_text(line(sni="ok.example") + "\n" + text)
    with pytest.raises(InputError) as info:
        read(path)
    assert f"{path}:2:" in str(info.value) and says in str(info.value)


def test_missing_and_cut_gzip_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read(tmp_path / "nope.log")
    cut = tmp_path / "cut.gz"
    cut.write_bytes(gzip.compress((line(sni="a.example") + "\n").encode() * 50)[:40])
    with pytest.raises(InputError, match="cut short"):
        read(cut)


def test_the_elastic_lines_fields_as_an_xml_entry_read_alike(tmp_path: Path) -> None:
    # The real PA-220 line's fields, written as the XML API writes an entry (element names are
    # the variable names), through the page reader and the aggregator: not forward proxy.
    from lxml import etree

    from panpin.scan.evidence import Aggregator
    from panpin.scan.logs import read_page

    sample = Path(__file__).resolve().parents[1] / "data" / "decryption-log"
    text = (sample / "elastic-integrations__panw-panos-decryption-sample.log").read_text()
    log = tmp_path / "pa-220.log"
    log.write_text("\n".join(ln for ln in text.splitlines() if not ln.startswith("#")) + "\n")
    (fields,), _ = read(log)
    entry = etree.Element("entry", logid="7028724914890736000")
    for name, value in fields.items():
        if name != "logid":
            etree.SubElement(entry, name).text = value
    page = (
        b'<response status="success"><result><job><status>FIN</status></job><log>'
        b'<logs count="1" progress="100">' + etree.tostring(entry) + b"</logs></log></result>"
        b"</response>"
    )
    agg = Aggregator(signals=("CertificateUnknown",))
    answer = read_page([page], agg.add)
    assert answer.final and answer.entries == 1
    assert agg.candidates() == ()
    (host,) = agg.not_pinning()
    assert (host.host, host.causes) == ("com.example.com", {"not-forward-proxy": 1})
