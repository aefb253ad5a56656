"""Log jobs (docs/panos-api.md: log jobs): enqueue/poll/finish, paging, filters, Panorama, generator, speed."""

from __future__ import annotations

import dataclasses
from array import array
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import sim_support as support
from lxml import etree
from sim_support import Client, canon, load_sample, skeleton

from panpin.simulator import Simulator, expected_counts, load_scenario
from panpin.simulator.logs import DeviceIdentity, LogStore
from panpin.simulator.scenario import HostileSpec, PinnedHostSpec

# Fixtures (see sim_support: no conftest.py, to keep module names unique for mypy).
sim, pano, client, alice, pclient = (
    support.sim,
    support.pano,
    support.client,
    support.alice,
    support.pclient,
)

PINNING = "(error contains 'UnknownCA') or (error contains 'BadCertificate')"


def _non_entry_skeleton(root: etree._Element) -> set[str]:
    return {p for p in skeleton(root, attrs=False) if "/entry/" not in p}


def test_enqueue_and_poll_shapes_like_samples(client: Client) -> None:
    reply = client.call({"type": "log", "log-type": "decryption", "query": PINNING})
    jid = reply.findtext("./result/job")
    sample = canon(load_sample("log-query-enqueued.xml")).replace("jobid 1<", f"jobid {jid}<")
    assert canon(reply.xml) == sample.replace("<job>1</job>", f"<job>{jid}</job>")
    active = client.log_get(jid)
    assert skeleton(active.xml) == skeleton(load_sample("log-job-active.xml"))
    assert active.findtext("./result/job/status") == "ACT"
    done = client.log_get(jid)
    assert done.findtext("./result/job/status") == "FIN"
    logs = done.find("./result/log/logs")
    assert logs.get("progress") == "100" and logs.get("count") == "20"  # nlogs default 20
    sample_fin = load_sample("log-job-finished-config-logs.xml")
    assert _non_entry_skeleton(done.xml) == _non_entry_skeleton(sample_fin)
    entry = logs.find("entry")
    assert entry is not None and entry.get("logid", "").isdigit()
    assert entry.findtext("type") == "DECRYPTION"


def test_finished_without_matches_like_sample(client: Client) -> None:
    jid = client.log_start("(sni eq 'nothing.example')")
    reply = client.log_wait(jid)
    expected = canon(load_sample("log-job-finished-no-logs.xml"))
    got = canon(reply.xml)
    # Times and ids differ; everything else is the sample.
    for tag in ("tenq", "tdeq", "tlast", "id"):
        got = _blank(got, tag)
        expected = _blank(expected, tag)
    assert got == expected


def _blank(xml: str, tag: str) -> str:
    start = xml.index(f"<{tag}>") + len(tag) + 2
    end = xml.index(f"</{tag}>")
    return xml[:start] + xml[end:]


def test_decryption_entry_fields(client: Client) -> None:
    [entry] = client.logs("(sni eq 'online.bank.example')", nlogs="1")
    for name in (
        "receive_time",
        "time_generated",
        "serial",
        "seqno",
        "type",
        "src",
        "dst",
        "sport",
        "dport",
        "app",
        "rule",
        "from",
        "to",
        "policy_name",
        "tls_version",
        "tls_keyxchg",
        "tls_enc",
        "tls_auth",
        "proxy_type",
        "err_index",
        "sni",
        "cn",
        "issuer_cn",
        "root_cn",
        "root_status",
        "chain_status",
        "error",
        "device_name",
        "vsys",
        "srcuser",
        "sessionid",
    ):
        assert name in entry, name
    assert entry["error"] == "Received fatal alert UnknownCA from client"
    assert entry["issuer_cn"] == "Example Bank Issuing CA"
    assert entry["proxy_type"] == "Forward"
    assert entry["device_name"] == "pa-branch-01"


def test_paging_backward_forward_skip(sim: Simulator, client: Client) -> None:
    query = "(error contains 'UnknownCA')"
    total = len(sim.logs.query(query))
    backward = client.logs(query, nlogs="5000")
    assert len(backward) == total
    times = [e["receive_time"] for e in backward]
    assert times == sorted(times, reverse=True)  # newest first by default
    forward = client.logs(query, nlogs="5000", dir="forward")
    assert [e["logid"] for e in forward] == [e["logid"] for e in reversed(backward)]
    pages = [
        client.logs(query, nlogs="25", skip=str(s), dir="forward") for s in range(0, total, 25)
    ]
    assert [e["logid"] for p in pages for e in p] == [e["logid"] for e in forward]
    assert client.logs(query, skip=str(total)) == []
    page = client.logs(query, nlogs="10", skip="3")
    assert [e["logid"] for e in page] == [e["logid"] for e in backward[3:13]]


def test_logids_are_unique(client: Client) -> None:
    entries = client.logs("", nlogs="5000")
    ids = [e["logid"] for e in entries]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"nlogs": "5001"}, 'parameter "nlogs" [5001]'),
        ({"nlogs": "0"}, '"nlogs"'),
        ({"nlogs": "ten"}, '"nlogs"'),
        ({"skip": "-1"}, '"skip"'),
        ({"dir": "sideways"}, '"dir"'),
        ({"log-type": "bogus"}, '"log-type" [bogus]'),
    ],
)
def test_illegal_parameters_are_http_400(
    client: Client, params: dict[str, str], fragment: str
) -> None:

    reply = client.call({"type": "log", "log-type": "decryption", **params})
    assert (reply.http_status, reply.status, reply.code) == (400, "error", "400")
    assert fragment in reply.lines[0]
    assert skeleton(reply.xml) == skeleton(load_sample("error-400-illegal-parameter.xml"))


def test_malformed_query_is_code17(client: Client) -> None:
    reply = client.call({"type": "log", "log-type": "decryption", "query": "(error contains 'x"})
    assert (reply.http_status, reply.status, reply.code) == (200, "error", "17")
    assert reply.lines[0].startswith("Invalid query")


def test_finish_deletes_the_job(client: Client) -> None:
    jid = client.log_start(PINNING)
    reply = client.call({"type": "log", "action": "finish", "job-id": jid})
    assert reply.status == "success"
    gone = client.log_get(jid)
    assert (gone.status, gone.code, gone.lines) == ("error", "7", [f"job {jid} not found"])


def test_a_retrieved_result_deletes_the_job(client: Client) -> None:
    # docs/panos-api.md (log jobs): the job is deleted automatically after a successful retrieval.
    jid = client.log_start(PINNING)
    assert client.log_wait(jid).findtext("./result/job/status") == "FIN"
    gone = client.log_get(jid)
    assert (gone.status, gone.code) == ("error", "7")


def test_on_panorama_only_the_final_answer_deletes_the_job(
    pclient: Client, pano: Simulator
) -> None:
    # A partial FIN (progress below 100) keeps the job for the next poll.
    jid = pclient.log_start(PINNING, nlogs="100")
    partial = pclient.log_wait(jid, want_progress_100=False)
    assert partial.find("./result/log/logs").get("progress") != "100"
    final = pclient.log_get(jid)
    assert final.find("./result/log/logs").get("progress") == "100"
    assert pclient.log_get(jid).code == "7"


def test_other_log_types_answer_empty(client: Client) -> None:
    assert client.logs("", **{"log-type": "traffic"}) == []


def test_query_results_match_expected_counts(sim: Simulator, client: Client) -> None:
    entries = client.logs(PINNING, nlogs="5000")
    expected = sim.logs.expected(pinning_only=False)
    assert len(entries) == sum(h.hits for h in expected.values()) + 3  # + the hostile entries
    by_sni = Counter(e["sni"] for e in entries)
    assert by_sni["sync.vendor.example"] == expected["sync.vendor.example"].hits == 22
    assert by_sni["APP.VENDOR.EXAMPLE"] == 2 and by_sni["app.vendor.example."] == 1
    # push.vendor.example (3) and the wildcard certificate of *.badssl.example (5): CN only.
    assert by_sni[""] == 8
    push_cn = [e for e in entries if e["sni"] == "" and e["cn"] != "*.badssl.example"]
    assert len(push_cn) == 3
    assert {e["cn"] for e in push_cn} == {"push.vendor.example"}
    assert all(e["error"].endswith("CA Issuer URL: http://r3.i.lencr.org/") for e in push_cn)
    # weak-only host does not reach the pinning query except its single UnknownCA hit
    assert expected["telemetry.gadget.example"].hits == 1


def test_spec_counts_agree_with_generated_store(sim: Simulator) -> None:
    spec = expected_counts(sim.scenario.logs)
    store = sim.logs.expected()
    assert {h: sum(v.values()) for h, v in spec.items()} == {h: e.hits for h, e in store.items()}
    assert {h: v for h, v in spec.items()} == {h: e.errors for h, e in store.items()}
    weak = sim.logs.expected(signals=("CertificateUnknown",))
    assert weak["api1.partner.example"].hits == 3
    app = store["app.vendor.example"]
    assert len(app.clients) == 12 and app.apps == ("incomplete",)
    assert app.first_seen >= "2026/11/19 09:00:00" and app.last_seen <= "2026/11/26 09:25:00"


def test_expected_with_time_window(sim: Simulator, client: Client) -> None:
    since = "2026/11/23 00:00:00"
    window = sim.logs.expected(since=since)
    entries = client.logs(f"({PINNING}) and (receive_time geq '{since}')", nlogs="5000")
    got = Counter(e["sni"] or e["cn"] for e in entries if e["sni"] != "a'b.example")
    assert got["sync.vendor.example"] == window["sync.vendor.example"].hits


def test_generation_is_deterministic() -> None:
    def build() -> list[dict[str, str]]:
        store = LogStore(
            spec=load_scenario("demo").logs,
            devices=(DeviceIdentity("s1", "fw1"),),
            clock_start=0,
        )
        return store.entries()

    assert build() == build()


def test_append_entries_for_incremental_scans(sim: Simulator, client: Client) -> None:
    before = sim.logs.expected()["sync.vendor.example"].hits
    sim.logs.append(
        "sync.vendor.example",
        count=4,
        time="2026/11/26 09:29:00",
        clients=("10.20.9.9", "10.20.9.8"),
    )
    after = sim.logs.expected()["sync.vendor.example"]
    assert after.hits == before + 4
    assert after.last_seen == "2026/11/26 09:29:00"
    newest = client.logs("(sni eq 'sync.vendor.example')", nlogs="4")
    assert {e["receive_time"] for e in newest} == {"2026/11/26 09:29:00"}
    assert {e["src"] for e in newest} == {"10.20.9.9", "10.20.9.8"}
    # An entry older than everything re-sorts the store.
    sim.logs.append("old.example", time="2026/01/01 00:00:00")
    [oldest] = client.logs("", nlogs="1", dir="forward")
    assert oldest["sni"] == "old.example"
    sim.logs.append_pinned(
        PinnedHostSpec(host="new.example", alerts={"UnknownCA": 5}, clients=2),
        "2026/11/26 09:26:00",
        "2026/11/26 09:28:00",
    )
    assert sim.logs.expected()["new.example"].hits == 5


def test_hostile_values_stay_well_formed(tmp_path: Path) -> None:
    base = load_scenario("demo")
    hostile = (
        HostileSpec(sni="a'b.example"),
        HostileSpec(sni="x]y.example"),
        HostileSpec(sni="<script>.example"),
        HostileSpec(sni="ctl\x01\x1f.example"),
        HostileSpec(sni="tab\there.example"),
        HostileSpec(sni="cr\rlf\n.example"),
        HostileSpec(sni="space here.example"),
        HostileSpec(sni="a.", pad_to=10_000),
        HostileSpec(sni="203.0.113.7"),
        HostileSpec(sni="bücher.example"),
        HostileSpec(sni="100%.example"),
        HostileSpec(sni="&amp;.example"),
        HostileSpec(sni=None, cn="cn-only'.example"),
    )
    logs = dataclasses.replace(base.logs, pinned=(), errors=(), noise=0, hostile=hostile)
    with Simulator(dataclasses.replace(base, logs=logs), workdir=tmp_path) as sim:
        entries = Client(sim).logs("", nlogs="100")
        snis = {e["sni"] for e in entries}
        assert "a'b.example" in snis and "<script>.example" in snis and "x]y.example" in snis
        assert "ctl\ufffd\ufffd.example" in snis  # illegal XML characters replaced
        assert "tab\there.example" in snis and "cr\rlf\n.example" in snis
        assert any(len(s) == 10_000 for s in snis)
        assert "bücher.example" in snis and "100%.example" in snis and "&amp;.example" in snis
        assert {e["cn"] for e in entries if not e["sni"]} == {"cn-only'.example"}
        assert len(sim.logs.expected_hostile()) == len(hostile)
        assert sim.logs.expected() == {}
        # The filter language reaches hostile values with escapes.
        assert len(Client(sim).logs("(sni eq 'a\\'b.example')")) == 1


def test_panorama_reports_fin_before_progress_100(pclient: Client, pano: Simulator) -> None:
    jid = pclient.log_start(PINNING, nlogs="100")
    assert pclient.log_get(jid).findtext("./result/job/status") == "ACT"
    partial = pclient.log_get(jid)
    logs = partial.find("./result/log/logs")
    assert partial.findtext("./result/job/status") == "FIN"
    assert int(logs.get("progress", "0")) < 100
    full = pclient.log_get(jid)
    full_logs = full.find("./result/log/logs")
    assert full_logs.get("progress") == "100"
    assert int(full_logs.get("count", "0")) > int(logs.get("count", "0"))
    serials = {e.findtext("serial") for e in full_logs.iterfind("entry")}
    assert serials <= {"007951000111111", "007951000222222", "007951000333333"}
    assert len(serials) > 1


def test_panorama_partial_fin_can_be_switched_off(tmp_path: Path) -> None:
    with Simulator(
        "panorama", workdir=tmp_path, panorama_partial_fin=False, log_act_polls=0
    ) as sim:
        client = Client(sim)
        reply = client.log_get(client.log_start(PINNING))
        assert reply.find("./result/log/logs").get("progress") == "100"


def test_sixty_thousand_entries_in_twelve_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = load_scenario("demo")
    scenario = dataclasses.replace(
        base, logs=dataclasses.replace(base.logs, noise=60_000 - 1_694 + 1_500)
    )
    # Count the filter passes over the store: one query serves all twelve pages from the cache.
    compiled: list[str] = []
    real_compile = LogStore.compile

    def counting_compile(self: LogStore, query: str) -> Callable[[int], bool]:
        compiled.append(query)
        return real_compile(self, query)

    monkeypatch.setattr(LogStore, "compile", counting_compile)
    with Simulator(scenario, workdir=tmp_path, log_act_polls=0) as sim:
        client = Client(sim)
        total = len(sim.logs)
        counts: list[int] = []
        logids: set[str] = set()
        for skip in range(0, 60_000, 5000):
            reply = client.log_get(
                client.log_start("", nlogs="5000", skip=str(skip), dir="forward")
            )
            assert reply.findtext("./result/job/status") == "FIN"
            logs = reply.find("./result/log/logs")
            counts.append(int(logs.get("count", "0")))
            logids.update(e.get("logid", "") for e in logs.iterfind("entry"))
        log_requests = [r for r in sim.requests if r.type == "log"]
    # Work done, not seconds (speed is a `make bench` row): twelve jobs of 5000, each answered
    # whole on its one poll, read all 60 000 entries once, with one filter pass over the store.
    assert total == 60_000 and sum(counts) == 60_000
    assert counts == [5000] * 12
    assert len(logids) == 60_000
    assert len([r for r in log_requests if "log-type" in r.params]) == 12
    assert len([r for r in log_requests if r.action == "get"]) == 12
    assert len(log_requests) == 24
    assert compiled == [""]


@pytest.mark.slow
def test_half_million_entry_store_is_feasible() -> None:
    base = load_scenario("demo")
    store = LogStore(
        spec=dataclasses.replace(base.logs, noise=500_000),
        devices=(DeviceIdentity("s1", "fw1"),),
        clock_start=1_800_000_000,
    )
    assert len(store) == 500_194
    # Feasible by construction, not by stopwatch (speed is the 500 000-entry `make bench` row):
    # half a million entries share a few hundred profiles and clients (columns of numbers, no
    # object per entry), and a query's matches are a compact array of indexes.
    assert len(store.profiles) < 1_000 and len(store.clients) < 1_000
    matches = store.query(PINNING)
    assert isinstance(matches, array) and matches.typecode == "I"
    page = store.render(store.page(matches, skip=0, nlogs=5000, direction="backward"))
    assert page.count("<entry ") == len(matches)


def test_rendering_variants_keep_the_logical_host(tmp_path: Path) -> None:
    base = load_scenario("demo")
    pinned = (
        PinnedHostSpec(
            host="xn--bcher-kva.example",
            alerts={"UnknownCA": 8},
            clients=2,
            variants={"idn": 2, "upper": 2, "trailing_dot": 1, "no_sni": 1},
        ),
    )
    logs = dataclasses.replace(base.logs, pinned=pinned, errors=(), noise=0, hostile=())
    with Simulator(dataclasses.replace(base, logs=logs), workdir=tmp_path) as sim:
        entries = Client(sim).logs("", nlogs="100")
        assert Counter(e["sni"] for e in entries) == {
            "xn--bcher-kva.example": 2,
            "bücher.example": 2,
            "XN--BCHER-KVA.EXAMPLE": 2,
            "xn--bcher-kva.example.": 1,
            "": 1,
        }
        assert {e["cn"] for e in entries} == {"xn--bcher-kva.example"}
        assert sim.logs.expected()["xn--bcher-kva.example"].hits == 8


def test_log_store_shares_the_device_lock(sim: Simulator) -> None:
    assert sim.logs._lock is sim.device.lock
