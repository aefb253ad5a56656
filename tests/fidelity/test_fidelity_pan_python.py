"""pan-python (``pan.xapi.PanXapi``, written by someone else) against the simulator, TLS verified."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pan.xapi
import pytest
from fidelity_support import LIST, running, xapi

from panpin.simulator import Simulator

PINNING = "(error contains 'UnknownCA') or (error contains 'BadCertificate')"
ENTRY = '<entry name="{n}"><description>panpin:c-20261126-0932-a1b2 rule=vendor-apps</description><exclude>yes</exclude></entry>'


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    with running("demo", tmp_path) as s:
        yield s


def test_keygen_and_key_rotation(sim: Simulator) -> None:
    old = pan.xapi.PanXapi(
        hostname="127.0.0.1", port=sim.port, api_key=sim.api_key, ssl_context=sim.ssl_context()
    )
    old.op(cmd="show system info", cmd_xml=True)
    fresh = pan.xapi.PanXapi(
        hostname="127.0.0.1",
        port=sim.port,
        api_username="panpin",
        api_password="panpin-demo",
        ssl_context=sim.ssl_context(),
    )
    key = fresh.keygen()
    assert key == sim.api_key and key.startswith("LUFRPT")
    fresh.op(cmd="show system info", cmd_xml=True)
    assert fresh.element_root.find("./result/system/hostname").text == "pa-branch-01"
    with pytest.raises(pan.xapi.PanXapiError, match="403"):
        old.op(cmd="show system info", cmd_xml=True)
    bad = pan.xapi.PanXapi(
        hostname="127.0.0.1",
        port=sim.port,
        api_username="panpin",
        api_password="x",
        ssl_context=sim.ssl_context(),
    )
    with pytest.raises(pan.xapi.PanXapiError, match="403"):
        bad.keygen()


def test_log_query_with_filter(sim: Simulator) -> None:
    x = xapi(sim)
    x.log(log_type="decryption", nlogs=5000, filter=PINNING, interval=0.05, timeout=20)
    assert x.status == "success"
    entries = x.element_root.findall("./result/log/logs/entry")
    expected = sim.logs.expected(pinning_only=False)
    assert (
        len(entries)
        == sum(h.hits for h in expected.values()) + len(sim.logs.expected_hostile()) * 3
    )
    by_host = Counter(
        (e.findtext("sni") or e.findtext("cn") or "").lower().rstrip(".") for e in entries
    )
    for host, truth in expected.items():
        assert by_host[host] == truth.hits, host
    assert all(e.get("logid") for e in entries)


def test_log_paging_with_skip_and_forward(sim: Simulator) -> None:
    x = xapi(sim)
    query = "(error contains 'UnknownCA')"
    seen: list[str] = []
    skip = 0
    while True:
        x.log(
            log_type="decryption",
            nlogs=20,
            skip=skip,
            filter=query,
            interval=0.02,
            extra_qs={"dir": "forward"},
        )
        page = x.element_root.findall("./result/log/logs/entry")
        seen += [e.get("logid") or "" for e in page]
        if len(page) < 20:
            break
        skip += 20
    assert len(seen) == len(set(seen)) == len(sim.logs.query(query))
    times = [sim.logs.entry(i)["receive_time"] for i in sim.logs.query(query)]
    assert times == sorted(times)


def test_log_nlogs_above_5000_is_rejected(sim: Simulator) -> None:
    with pytest.raises(pan.xapi.PanXapiError, match="400"):
        xapi(sim).log(log_type="decryption", nlogs=5001, interval=0.02)


def test_malformed_filter_raises_with_message(sim: Simulator) -> None:
    with pytest.raises(pan.xapi.PanXapiError, match="Invalid query"):
        xapi(sim).log(log_type="decryption", filter="(error contains 'x", interval=0.02)


def test_config_get_set_show_delete(sim: Simulator) -> None:
    x = xapi(sim)
    x.get(LIST + "/entry[@name='app.vendor.example']")
    assert (x.status, x.status_code) == ("success", "7")
    x.set(LIST, ENTRY.format(n="app.vendor.example"))
    assert (x.status, x.status_code, x.status_detail) == ("success", "20", "command succeeded")
    x.get(LIST + "/entry[@name='app.vendor.example']")
    assert x.status_code == "19"
    assert x.element_result.find("entry").get("name") == "app.vendor.example"
    assert x.element_result.get("total-count") == "1"
    with pytest.raises(pan.xapi.PanXapiError, match="No such node"):
        x.show(LIST + "/entry[@name='app.vendor.example']")
    x.edit(LIST + "/entry[@name='app.vendor.example']", ENTRY.format(n="app.vendor.example"))
    assert x.status_code == "20"
    x.delete(LIST + "/entry[@name='app.vendor.example']")
    assert x.status_code == "20"
    with pytest.raises(pan.xapi.PanXapiError):
        x.delete(LIST + "/entry[@name='app.vendor.example']")
    assert x.status_code == "7"
    with pytest.raises(pan.xapi.PanXapiError, match="512"):
        x.set(LIST, ENTRY.replace("panpin:", "p" * 600).format(n="long.example"))


def test_use_get_transport(sim: Simulator) -> None:
    x = xapi(sim, use_get=True)
    x.show(LIST)
    assert x.element_result.find("ssl-exclude-cert") is not None
    assert sim.requests[-1].method == "GET"


def test_partial_commit_sync(sim: Simulator) -> None:
    x = xapi(sim)
    x.set(LIST, ENTRY.format(n="sync.vendor.example"))
    x.commit(
        cmd="<commit><description>panpin:c-1</description><partial><admin><member>panpin</member>"
        "</admin></partial></commit>",
        action="partial",
        sync=True,
        interval=0.05,
        timeout=20,
    )
    job = x.element_root.find("./result/job")
    assert job.findtext("status") == "FIN" and job.findtext("result") == "OK"
    assert job.findtext("description") == "panpin:c-1"
    assert "Configuration committed successfully" in x.status_detail
    x.show(LIST + "/entry[@name='sync.vendor.example']")
    assert x.status == "success"
    x.op(cmd="<check><pending-changes></pending-changes></check>")
    assert x.xml_result() == "yes"  # alice's change


def test_commit_with_nothing_to_commit(sim: Simulator) -> None:
    x = xapi(sim)
    x.commit(
        cmd="<commit><partial><admin><member>panpin</member></admin></partial></commit>", sync=True
    )
    assert x.status_detail == "There are no changes to commit."
    assert x.element_root.find("./result/job") is None


def test_op_commands(sim: Simulator) -> None:
    x = xapi(sim)
    x.op(cmd="show system info", cmd_xml=True)
    assert x.element_result.find("system/serial").text == "007951000345678"
    x.op(cmd="show clock", cmd_xml=True)
    assert x.xml_result() == "Thu Nov 26 09:30:00 UTC 2026\n"
    x.op(
        cmd="<request><config-lock><add><comment>panpin</comment></add></config-lock></request>",
        vsys="shared",
    )
    assert "Successfully acquired lock" in x.xml_result()
    x.op(cmd="show config-locks", cmd_xml=True)
    assert x.element_result.find("config-locks/entry").get("name") == "panpin"
    with pytest.raises(pan.xapi.PanXapiError, match="You already own a config lock"):
        x.op(cmd="<request><config-lock><add></add></config-lock></request>")
    with pytest.raises(pan.xapi.PanXapiError, match="job 999 not found"):
        x.op(cmd='show jobs id "999"', cmd_xml=True)


def test_commit_in_progress_and_job_polling(tmp_path: Path) -> None:
    with running("demo", tmp_path, commit_seconds=0.4) as sim:
        x = xapi(sim)
        x.set(LIST, ENTRY.format(n="a.example"))
        x.commit(cmd="<commit><partial><admin><member>panpin</member></admin></partial></commit>")
        jid = x.element_root.find("./result/job").text
        other = xapi(sim, admin="alice")
        with pytest.raises(pan.xapi.PanXapiError, match="Another commit/validate is in progress"):
            other.commit(cmd="<commit></commit>")
        assert other.status_code == "13"
        deadline = time.monotonic() + 10
        while True:
            x.op(cmd=f'show jobs id "{jid}"', cmd_xml=True)
            if x.element_root.find("./result/job/status").text == "FIN":
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert x.element_root.find("./result/job/result").text == "OK"
