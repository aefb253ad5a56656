"""Reading log-job answers and paging, against recorded samples and an in-memory log job fake.

The fake stands in for a device's log-job API at the level of panpin's transport (``log_start``,
``stream``, ``log_finish``), so paging, dedupe, deadlines and cancellation are tested here without a
network; the same behaviour over real HTTPS is in tests/integration/test_scan.py.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from panpin import errors
from panpin.panos.timing import Backoff
from panpin.scan.evidence import Aggregator
from panpin.scan.logs import (
    LogEntry,
    PollAnswer,
    ReadStats,
    entry_id,
    read_logs,
    read_page,
)

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "panos-samples"
FAST = Backoff(initial=0.01, factor=1.5, maximum=0.02, deadline=5.0)


def _chunks(body: bytes, size: int = 4096) -> Iterator[bytes]:
    return iter([body[i : i + size] for i in range(0, len(body), size)])


def _answer(body: bytes) -> tuple[PollAnswer, list[dict[str, str]]]:
    got: list[dict[str, str]] = []
    answer = read_page(_chunks(body), got.append)
    return answer, got


def _sample(name: str) -> bytes:
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"reference sample {name} not available")
    return path.read_bytes()


def test_active_job_sample_is_not_final() -> None:
    answer, got = _answer(_sample("log-job-active.xml"))
    assert answer.status == "ACT" and not answer.final and got == []


def test_finished_without_logs_sample_is_final_and_empty() -> None:
    answer, got = _answer(_sample("log-job-finished-no-logs.xml"))
    assert answer.final and got == []


@pytest.mark.parametrize(
    "name", ["log-job-finished-config-logs.xml", "log-job-finished-traffic-log.xml"]
)
def test_finished_samples_yield_exactly_their_entries(name: str) -> None:
    body = _sample(name)
    answer, got = _answer(body)
    root = etree.fromstring(body)
    expected = root.findall("result/log/logs/entry")
    assert answer.final
    assert [e["logid"] for e in got] == [e.get("logid") for e in expected]
    # The trailing <meta><devices><entry> block is not a log entry.
    assert root.findall("result/meta//entry") or name.endswith("traffic-log.xml")
    assert all("receive_time" in e for e in got)


def entry_xml(i: int, *, serial: str = "007951000345678", when: str | None = None) -> str:
    when = when or f"2026/11/26 09:{i // 60 % 60:02d}:{i % 60:02d}"
    return (
        f'<entry logid="{7000 + i}"><domain>1</domain><receive_time>{when}</receive_time>'
        f"<serial>{serial}</serial><seqno>{i}</seqno><type>DECRYPTION</type>"
        f"<src>10.0.0.{i % 7}</src><srcuser/><app>incomplete</app><rule>LAN</rule>"
        f"<policy_name>decrypt</policy_name><err_index>Certificate</err_index>"
        "<root_status>trusted</root_status><chain_status>Trusted</chain_status>"
        "<proxy_type>Forward</proxy_type>"
        f"<cn>h{i % 3}.example.com</cn><sni>h{i % 3}.example.com</sni>"
        "<error>Received fatal alert UnknownCA from client</error>"
        "<device_name>fw1</device_name></entry>"
    )


def page_xml(entries: list[str], *, status: str = "FIN", progress: int | None = 100) -> bytes:
    attr = "" if progress is None else f' progress="{progress}"'
    meta = (
        '<meta><devices><entry name="localhost.localdomain"><hostname>fw1</hostname>'
        '<vsys><entry name="vsys1"><display-name>vsys1</display-name></entry></vsys>'
        "</entry></devices></meta>"
    )
    return (
        '<response status="success"><result><job><tenq>09:00:00</tenq><status>'
        f'{status}</status><id>1</id></job><log><logs count="{len(entries)}"{attr}>'
        + "".join(entries)
        + f"</logs></log>{meta}</result></response>"
    ).encode()


def test_panorama_fin_before_100_is_not_consumed() -> None:
    answer, got = _answer(page_xml([entry_xml(i) for i in range(10)], progress=60))
    assert not answer.final and got == []
    answer, got = _answer(page_xml([entry_xml(i) for i in range(10)], progress=None))
    assert answer.final and len(got) == 10


def test_entries_of_an_act_answer_are_ignored() -> None:
    answer, got = _answer(page_xml([entry_xml(1)], status="ACT", progress=40))
    assert not answer.final and got == []


def test_meta_entries_are_not_log_entries() -> None:
    _, got = _answer(page_xml([entry_xml(i) for i in range(3)]))
    assert [e["seqno"] for e in got] == ["0", "1", "2"]


# --- the fake log-job API ------------------------------------------------------------------------


class FakeLogApi:
    """Log jobs over an in-memory, time-ordered list of entry XML strings."""

    def __init__(self, entries: list[str], *, act_polls: int = 1, partial_fin: bool = False):
        self.entries = entries
        self.act_polls = act_polls
        self.partial_fin = partial_fin
        self.jobs: dict[str, dict[str, int]] = {}
        self.finished: list[str] = []
        self.started: list[dict[str, object]] = []
        self.stuck = False
        self.before_page: dict[int, list[str]] = {}  # skip -> entries inserted at the front
        self.forget_once: set[int] = set()  # skip values whose first job vanishes

    def log_start(
        self, log_type: str, query: str, *, nlogs: int, skip: int = 0, direction: str = "forward"
    ) -> str:
        assert log_type == "decryption" and direction == "forward"
        inserted = self.before_page.pop(skip, [])
        self.entries[:0] = inserted
        job = str(len(self.jobs) + 1)
        self.jobs[job] = {"nlogs": nlogs, "skip": skip, "polls": 0, "partial": 0}
        self.started.append({"query": query, "nlogs": nlogs, "skip": skip})
        return job

    def read_stream(
        self,
        params: Mapping[str, str],
        consume: Callable[[Iterator[bytes]], PollAnswer],
        *,
        timeout: float | None = None,
    ) -> PollAnswer:
        return consume(iter(self._chunks(params)))

    def _chunks(self, params: Mapping[str, str]) -> list[bytes]:
        job = self.jobs.get(params["job-id"])
        if job is None:
            body = (
                b'<response status="error" code="7">'
                b"<msg><line>job not found</line></msg></response>"
            )
            return [body]
        job["polls"] += 1
        if job["skip"] in self.forget_once:
            self.forget_once.discard(job["skip"])
            del self.jobs[params["job-id"]]
        if self.stuck or job["polls"] <= self.act_polls:
            body = page_xml([], status="ACT", progress=min(20 * job["polls"], 90))
        else:
            page = self.entries[job["skip"] : job["skip"] + job["nlogs"]]
            if self.partial_fin and not job["partial"]:
                job["partial"] = 1
                body = page_xml(page[: len(page) // 2], progress=60)
            else:
                body = page_xml(page)
        return [body[i : i + 8192] for i in range(0, len(body), 8192)]

    def log_finish(self, job_id: str) -> None:
        self.finished.append(job_id)


def _read(api: FakeLogApi, **kw: Any) -> tuple[list[LogEntry], ReadStats]:
    got: list[LogEntry] = []
    stats = read_logs(api, "q", sink=got.append, backoff=FAST, sleep=lambda s: None, **kw)
    return got, stats


def test_pages_until_a_short_page() -> None:
    api = FakeLogApi([entry_xml(i) for i in range(25)])
    got, stats = _read(api, nlogs=10)
    assert [int(e["seqno"]) for e in got] == list(range(25))
    assert [s["skip"] for s in api.started] == [0, 10, 20]
    assert stats.pages == 3 and not stats.truncated
    assert api.finished == []  # finished jobs are not cancelled


def test_exact_multiple_of_nlogs_ends_with_an_empty_page() -> None:
    api = FakeLogApi([entry_xml(i) for i in range(20)])
    got, _ = _read(api, nlogs=10)
    assert len(got) == 20 and [s["skip"] for s in api.started] == [0, 10, 20]


def test_an_insertion_into_the_window_is_not_counted_twice() -> None:
    # Two late entries land before page 2 is taken: page 2 repeats the end of page 1.
    api = FakeLogApi([entry_xml(i) for i in range(25)])
    api.before_page[10] = [entry_xml(100), entry_xml(101)]
    got, stats = _read(api, nlogs=10)
    ids = [entry_id(e) for e in got]
    assert len(ids) == len(set(ids)) == 25
    assert stats.duplicates == 2


def test_panorama_partial_fin_is_waited_out() -> None:
    api = FakeLogApi([entry_xml(i) for i in range(30)], partial_fin=True)
    got, _ = _read(api, nlogs=10)
    assert len(got) == 30
    assert all(job["polls"] == 3 for job in api.jobs.values())


def test_max_logs_caps_and_reports_truncation() -> None:
    api = FakeLogApi([entry_xml(i) for i in range(50)])
    got, stats = _read(api, nlogs=10, max_logs=15)
    assert len(got) == 15 and stats.truncated
    got, stats = _read(FakeLogApi([entry_xml(i) for i in range(15)]), nlogs=10, max_logs=15)
    assert len(got) == 15 and not stats.truncated


def test_known_ids_at_the_watermark_second_are_dropped() -> None:
    entries = [entry_xml(i, when="2026/11/26 09:00:00") for i in range(5)]
    api = FakeLogApi(entries)
    known = {entry_id({"serial": "007951000345678", "seqno": str(i)}) for i in range(3)}
    got, stats = _read(api, known_ids={k for k in known if k})
    assert [e["seqno"] for e in got] == ["3", "4"]
    assert stats.duplicates == 3


def test_a_forgotten_job_restarts_the_page() -> None:
    api = FakeLogApi([entry_xml(i) for i in range(12)], act_polls=1)
    api.forget_once.add(10)
    got, stats = _read(api, nlogs=10)
    assert len(got) == 12 and stats.jobs == 3


def test_deadline_cancels_the_job_with_finish() -> None:
    api = FakeLogApi([entry_xml(1)])
    api.stuck = True
    with pytest.raises(errors.JobTimeout, match="did not finish"):
        read_logs(
            api,
            "q",
            sink=lambda e: None,
            backoff=Backoff(initial=0.01, factor=1.5, maximum=0.02, deadline=0.05),
        )
    assert api.finished == ["1"]


def test_ctrl_c_cancels_the_job_with_finish() -> None:
    api = FakeLogApi([entry_xml(1)], act_polls=5)

    def interrupt(_: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        read_logs(api, "q", sink=lambda e: None, backoff=FAST, sleep=interrupt)
    assert api.finished == ["1"]


def test_an_error_in_the_sink_cancels_the_job() -> None:
    api = FakeLogApi([entry_xml(i) for i in range(3)])

    def boom(_: object) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        read_logs(api, "q", sink=boom, backoff=FAST, sleep=lambda s: None)
    assert api.finished == ["1"]


def test_progress_is_reported_on_both_paths() -> None:
    seen: list[int] = []
    api = FakeLogApi([entry_xml(i) for i in range(2500)])
    got, _ = _read(api, progress=seen.append, nlogs=1000)
    assert len(got) == 2500 and seen[-1] == 2500
    assert sorted(seen) == seen and any(1000 <= n < 2500 for n in seen)


def test_memory_does_not_grow_with_the_number_of_entries() -> None:
    """Python-side peak memory for 20 000 vs 2 000 entries through parse + aggregation."""

    def peak(n: int) -> int:
        api = FakeLogApi([entry_xml(i) for i in range(n)], act_polls=0)
        agg = Aggregator()
        tracemalloc.start()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        read_logs(api, "q", sink=agg.add, backoff=FAST, sleep=lambda s: None, nlogs=1000)
        used = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        assert sum(c.hits for c in agg.candidates()) == n
        return used

    small, large = peak(2000), peak(20000)
    # Ten times the entries; the dedupe window (two pages) and per-host sets stay the same size.
    assert large < small * 2 + 200_000, (small, large)


def test_entries_with_none_of_the_known_fields_are_an_error_naming_what_they_hold() -> None:
    # A renamed field (a new PAN-OS release, a proxy rewriting answers) must not read as "no
    # pinning found": the page held entries, panpin knew none of their fields.
    renamed = [
        entry_xml(i)
        .replace("<sni>", "<server_name>")
        .replace("</sni>", "</server_name>")
        .replace("<cn>", "<subject>")
        .replace("</cn>", "</subject>")
        .replace("<error>", "<error_message>")
        .replace("</error>", "</error_message>")
        for i in range(3)
    ]
    with pytest.raises(errors.UnknownLogFormat) as info:
        _read(FakeLogApi(renamed))
    text = str(info.value)
    assert "none of the fields error, sni, cn" in text
    assert "error_message" in text and "server_name" in text and "subject" in text
    assert errors.UnknownLogFormat.exit_code == errors.EXIT_RUNTIME == 1
