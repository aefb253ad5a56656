"""Helpers for the simulator tests: fixtures, a tiny independent HTTP client, sample shapes.

The client is deliberately minimal (``requests`` + lxml) and independent of panpin's transport:
these tests pin the simulator's wire behaviour, not a client's.

Fixtures live here rather than in a ``conftest.py``: a second ``conftest`` module beside
``tests/conftest.py`` breaks ``mypy`` ("Duplicate module named 'conftest'"). Test modules bind
them with ``sim, pano, client, alice, pclient = support.FIXTURES``-style assignments; a module's
own fixtures also take precedence over any same-named fixture in ``tests/conftest.py``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from lxml import etree

from panpin.simulator import SimOptions, Simulator

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "panos-samples"


@dataclass
class Reply:
    http_status: int
    text: str
    root: etree._Element | None

    @property
    def status(self) -> str | None:
        return None if self.root is None else self.root.get("status")

    @property
    def code(self) -> str | None:
        return None if self.root is None else self.root.get("code")

    @property
    def lines(self) -> list[str]:
        """All message text, in the orders pan-python looks for it (docs/panos-api.md: errors)."""
        if self.root is None:
            return []
        for path in ("./msg/line", "./result/msg/line", "./result/msg", "./msg"):
            found = self.root.findall(path)
            if found:
                return [" ".join(str(t) for t in x.itertext()) for x in found]
        return []

    @property
    def xml(self) -> etree._Element:
        """The parsed response (the test fails if the answer was not XML)."""
        assert self.root is not None, self.text[:500]
        return self.root

    def findall(self, path: str) -> list[etree._Element]:
        return self.xml.findall(path)

    def find(self, path: str) -> etree._Element:
        assert self.root is not None, self.text
        node = self.root.find(path)
        assert node is not None, f"{path} not in {self.text[:500]}"
        return node

    def findtext(self, path: str) -> str:
        return self.find(path).text or ""


class Client:
    """Sends ``/api/`` requests to a simulator as one admin."""

    def __init__(self, sim: Simulator, admin: str | None = None) -> None:
        self.sim = sim
        self.admin = admin or sim.admin
        self.session = requests.Session()
        # Per request: a REQUESTS_CA_BUNDLE in the environment overrides Session.verify.
        self.verify = str(sim.ca_file)

    def key(self) -> str:
        return self.sim.key_for(self.admin)

    def call(
        self,
        params: dict[str, str],
        *,
        method: str = "POST",
        auth: str = "header",
        headers: dict[str, str] | None = None,
    ) -> Reply:
        params = dict(params)
        hdrs = dict(headers or {})
        if auth == "header":
            hdrs["X-PAN-KEY"] = self.key()
        elif auth == "param":
            params["key"] = self.key()
        url = self.sim.url + "/api/"
        if method == "GET":
            r = self.session.get(url, params=params, headers=hdrs, timeout=30, verify=self.verify)
        else:
            r = self.session.post(url, data=params, headers=hdrs, timeout=30, verify=self.verify)
        root = None
        if r.headers.get("Content-Type", "").startswith("application/xml"):
            root = etree.fromstring(r.content)
        return Reply(r.status_code, r.text, root)

    def op(self, cmd: str, **extra: str) -> Reply:
        return self.call({"type": "op", "cmd": cmd, **extra})

    def get(self, xpath: str) -> Reply:
        return self.call({"type": "config", "action": "get", "xpath": xpath})

    def show(self, xpath: str) -> Reply:
        return self.call({"type": "config", "action": "show", "xpath": xpath})

    def set(self, xpath: str, element: str) -> Reply:
        return self.call({"type": "config", "action": "set", "xpath": xpath, "element": element})

    def edit(self, xpath: str, element: str) -> Reply:
        return self.call({"type": "config", "action": "edit", "xpath": xpath, "element": element})

    def delete(self, xpath: str) -> Reply:
        return self.call({"type": "config", "action": "delete", "xpath": xpath})

    def commit(self, cmd: str = "<commit></commit>", **extra: str) -> Reply:
        return self.call({"type": "commit", "cmd": cmd, **extra})

    def commit_partial(self, *admins: str, description: str = "") -> Reply:
        members = "".join(f"<member>{a}</member>" for a in (admins or (self.admin,)))
        desc = f"<description>{description}</description>" if description else ""
        return self.commit(f"<commit>{desc}<partial><admin>{members}</admin></partial></commit>")

    def job(self, jid: str | int) -> Reply:
        return self.op(f"<show><jobs><id>{jid}</id></jobs></show>")

    def wait_job(self, jid: str | int, timeout: float = 10.0) -> Reply:
        deadline = time.monotonic() + timeout
        while True:
            reply = self.job(jid)
            if reply.findtext("./result/job/status") == "FIN":
                return reply
            assert time.monotonic() < deadline, f"job {jid} did not finish"
            time.sleep(0.02)

    def log_start(self, query: str = "", **extra: str) -> str:
        reply = self.call({"type": "log", "log-type": "decryption", "query": query, **extra})
        assert reply.code == "19", reply.text
        return reply.findtext("./result/job")

    def log_get(self, jid: str) -> Reply:
        return self.call({"type": "log", "action": "get", "job-id": jid})

    def log_wait(self, jid: str, timeout: float = 10.0, want_progress_100: bool = True) -> Reply:
        deadline = time.monotonic() + timeout
        while True:
            reply = self.log_get(jid)
            status = reply.findtext("./result/job/status")
            logs = reply.root.find("./result/log/logs") if reply.root is not None else None
            progress = logs.get("progress") if logs is not None else None
            if status == "FIN" and (progress == "100" or not want_progress_100):
                return reply
            assert time.monotonic() < deadline, f"log job {jid} did not finish"
            time.sleep(0.01)

    def logs(self, query: str = "", **extra: str) -> list[dict[str, str]]:
        """Run a log job to completion; the entries as dicts (plus ``logid``)."""
        reply = self.log_wait(self.log_start(query, **extra))
        out = []
        for entry in reply.findall("./result/log/logs/entry"):
            d = {child.tag: child.text or "" for child in entry if isinstance(child.tag, str)}
            d["logid"] = entry.get("logid", "")
            out.append(d)
        return out


# --- sample comparison ------------------------------------------------------------------------


def load_sample(name: str) -> etree._Element:
    parser = etree.XMLParser(remove_comments=True, remove_blank_text=True)
    return etree.parse(str(SAMPLES / name), parser).getroot()


def _strip(el: etree._Element) -> etree._Element:
    for node in el.iter():
        if node.text is not None and not node.text.strip() and len(node):
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None
    return el


def canon(el: etree._Element) -> str:
    """Canonical XML without insignificant whitespace (attribute quotes/spacing normalised)."""
    copy = etree.fromstring(etree.tostring(el))
    return etree.tostring(_strip(copy), method="c14n").decode()


def skeleton(el: etree._Element, *, attrs: bool = True) -> set[str]:
    """Element paths with their attribute names, e.g. ``response[code,status]/result/job/id``.

    Repeated siblings collapse into one path, so two answers with the same structure but a
    different number of entries or lines have the same skeleton.
    """
    out: set[str] = set()

    def walk(node: etree._Element, prefix: str) -> None:
        names = ",".join(sorted(str(k) for k in node.attrib)) if attrs else ""
        here = f"{prefix}/{node.tag}" + (f"[{names}]" if names else "")
        out.add(here)
        for child in node:
            if isinstance(child.tag, str):
                walk(child, here)

    walk(el, "")
    return out


# --- fixtures -----------------------------------------------------------------------------------

FAST = SimOptions(commit_seconds=0.05, push_seconds=0.05)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    """The demo firewall, with short commit/push jobs."""
    with Simulator("demo", workdir=tmp_path, options=FAST) as s:
        yield s


@pytest.fixture
def pano(tmp_path: Path) -> Iterator[Simulator]:
    """The bundled Panorama scenario, with short commit/push jobs."""
    with Simulator("panorama", workdir=tmp_path, options=FAST) as s:
        yield s


@pytest.fixture
def client(sim: Simulator) -> Client:
    return Client(sim)


@pytest.fixture
def alice(sim: Simulator) -> Client:
    return Client(sim, "alice")


@pytest.fixture
def pclient(pano: Simulator) -> Client:
    return Client(pano)
