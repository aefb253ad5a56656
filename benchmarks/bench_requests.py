"""2. Requests per change: adding K exclusions, counted by the simulator's request log.

For each K a fresh simulator (commit jobs of 0.05 s) receives one change that adds K entries:

* panpin: a plan with K adds (built with ``panpin.change.plan.build_plan`` from the device's own
  list, as ``panpin plan`` would), applied with ``panpin apply PLAN --yes``: pre-checks, config
  lock, one ``action=set``, one admin-scoped commit, its job polls, the verify read, unlock;
* pan-os-python: ``Firewall(vsys="shared")`` + ``SslDecrypt``, K
  ``SslDecryptExcludeCert(...).create()``, then ``fw.commit(sync=True, admins=[ADMIN])``.

Counts are deterministic apart from job polls, which depend on how long the commit job runs.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.measure import median, run_client, run_measured
from benchmarks.report import Section, Verdict
from benchmarks.scenarios import ADMIN, API_KEY, small_scenario
from benchmarks.simproc import SimProcess

KS = (1, 10, 100, 1000)
SIM_OPTIONS: dict[str, Any] = {"commit_seconds": 0.05}


def kind_of(request: dict[str, Any]) -> str:
    """What a request was for, in the words of the change lifecycle."""
    params = request.get("params") or {}
    kind, action, cmd = params.get("type"), params.get("action"), params.get("cmd") or ""
    if kind == "config" and action in ("set", "edit", "delete"):
        return str(action)
    if kind == "commit":
        return "commit"
    if kind == "op" and "<jobs><id>" in cmd.replace(" ", ""):
        return "job poll"
    return "check/read"


def make_plan(sim: dict[str, Any], k: int, folder: Path) -> Path:
    """A plan adding ``k`` entries, each with this change's marker, against the device's list."""
    from datetime import date, datetime, timedelta

    from panpin.change.plan import build_plan
    from panpin.panos import panosxml
    from panpin.panos.device import system_info
    from panpin.panos.exclusions import ExclusionEntry, read_list
    from panpin.panos.marker import Marker, new_change_id
    from panpin.panos.xmlapi import Connection, XmlApi
    from panpin.settings import Location

    location = Location.parse("shared")
    with XmlApi(Connection(host=sim["host"], api_key=API_KEY, ca_file=sim["ca_file"])) as api:
        info = system_info(api)
        base = read_list(api, location)
    change_id = new_change_id()
    marker = Marker(change_id, rule="bench", ticket="CHG-1", expires=date.today() + timedelta(90))
    adds = [
        ExclusionEntry(name=f"h{i}.bench.example", description=marker.render()) for i in range(k)
    ]
    plan = build_plan(
        change_id=change_id,
        created=datetime.now().isoformat(timespec="seconds"),
        device={
            "name": sim["host"],
            "host": sim["host"],
            "serial": info.serial,
            "hostname": info.hostname,
            "kind": info.kind,
            "model": info.model,
            "sw_version": info.sw_version,
        },
        location=str(location),
        xpath=panosxml.list_xpath(location),
        admin=ADMIN,
        base=base,
        adds=adds,
        removes=[],
    )
    path = folder / f"plan-{k}.json"
    path.write_text(plan.dumps(), encoding="utf-8")
    return path


def panpin_change(k: int, scenario: Path, folder: Path) -> tuple[list[dict[str, Any]], float]:
    with SimProcess(scenario, **SIM_OPTIONS) as sp:
        sim = sp.sims[0]
        plan = make_plan(sim, k, folder)
        sp.clear_requests()
        panpin = str(Path(sys.executable).with_name("panpin"))
        cmd = [
            panpin,
            "--host",
            sim["host"],
            "--ca-file",
            sim["ca_file"],
            "--admin",
            ADMIN,
            "--state",
            str(folder / f"state-{k}.db"),
            "apply",
            str(plan),
            "--yes",
        ]
        start = time.perf_counter()
        proc = run_measured(cmd, {"PANPIN_API_KEY": API_KEY})
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"panpin apply failed ({proc.returncode}): {proc.stderr[-2000:]}")
        outcome = json.loads(proc.stdout)
        if outcome["result"] != "committed" or outcome["add_count"] != k:
            raise RuntimeError(f"panpin apply did not commit {k} adds: {outcome}")
        return sp.requests(), wall


def pan_os_python_change(
    k: int, scenario: Path, folder: Path
) -> tuple[list[dict[str, Any]], float]:
    with SimProcess(scenario, **SIM_OPTIONS) as sp:
        sim = sp.sims[0]
        sp.clear_requests()
        timed = run_client(
            "change-pan-os-python",
            {
                "port": sim["port"],
                "ca_file": sim["ca_file"],
                "api_key": API_KEY,
                "admin": ADMIN,
                "k": k,
            },
        )
        requests = sp.requests()
        sets = sum(kind_of(r) == "set" for r in requests)
        if sets != k:
            raise RuntimeError(f"pan-os-python sent {sets} sets for {k} entries")
        return requests, timed.wall


def _breakdown(requests: list[dict[str, Any]]) -> str:
    counts = Counter(kind_of(r) for r in requests)
    order = ("set", "delete", "commit", "job poll", "check/read")
    return ", ".join(f"{counts[k]} {k}" for k in order if counts[k])


def run(ks: tuple[int, ...] = KS, reps: int = 1) -> Section:
    rows: list[list[str]] = []
    counts: dict[tuple[str, int], int] = {}
    with tempfile.TemporaryDirectory(prefix="panpin-bench-req-") as tmp:
        folder = Path(tmp)
        scenario = small_scenario(folder)
        for k in ks:
            for client, change in (
                ("panpin", panpin_change),
                ("pan-os-python", pan_os_python_change),
            ):
                runs = [change(k, scenario, folder) for _ in range(reps)]
                totals = [len(r) for r, _ in runs]
                count = round(median(totals))
                counts[(client, k)] = count
                requests = runs[totals.index(min(totals, key=lambda t: abs(t - count)))][0]
                wall = median([w for _, w in runs])
                print(
                    f"  requests K={k:<5} {client:<14} {count:>5} requests, {wall:.1f}s", flush=True
                )
                rows.append([str(k), client, str(count), _breakdown(requests), f"{wall:.2f}"])
    first, last = min(ks), max(ks)
    p_first, p_last = counts[("panpin", first)], counts[("panpin", last)]
    flat = all(counts[("panpin", k)] <= p_first for k in ks)
    return Section(
        title="2. Requests per change",
        intro=__doc__.split("\n\n", 1)[1] if __doc__ else "",
        headers=["K adds", "client", "requests", "of which", "wall s"],
        rows=rows,
        verdicts=[
            Verdict(
                f"2. panpin requests for K = {first} … {last} adds",
                f"{p_first} … {p_last} (pan-os-python {counts[('pan-os-python', first)]} … "
                f"{counts[('pan-os-python', last)]})",
                "does not grow with K",
                flat,
            )
        ],
        notes=[
            f"Repetitions per K and client: {reps} (the counts do not vary between runs but "
            "for job polls). Wall time includes the client's start-up and the 0.05 s commit."
        ],
    )
