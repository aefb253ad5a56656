"""``run --metrics FILE``: the run's outcome as a Prometheus textfile-collector file.

node_exporter's textfile collector reads ``*.prom`` files from a folder; a cron job writes one per
run and an alert rule watches it (docs/operations.md). The file is written with
``prometheus_client`` (its text format, written to a temporary file and renamed, so the collector
never reads half a file).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from panpin.change.session import RunResult


def write_textfile(
    path: str | Path,
    results: Sequence[RunResult],
    *,
    started: float,
    finished: float,
    exit_code: int,
) -> None:
    """Write the metrics of one ``run`` (all its devices) to ``path``."""
    from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

    registry = CollectorRegistry()
    Gauge(
        "panpin_run_last_timestamp_seconds",
        "When the last panpin run finished (Unix time).",
        registry=registry,
    ).set(finished)
    Gauge(
        "panpin_run_duration_seconds", "How long the last panpin run took.", registry=registry
    ).set(max(0.0, finished - started))
    Gauge(
        "panpin_run_exit_code",
        "The last run's exit code (0 ok, 3 pending, 4 reverted, 5 busy, 6 manual; docs/design.md).",
        registry=registry,
    ).set(exit_code)
    device_exit = Gauge(
        "panpin_device_exit_code",
        "Each device's exit code in the last run.",
        ["device"],
        registry=registry,
    )
    adds = Gauge(
        "panpin_device_adds",
        "Exclusions the last run added (or would add).",
        ["device"],
        registry=registry,
    )
    removes = Gauge(
        "panpin_device_removes",
        "Exclusions the last run removed (or would remove).",
        ["device"],
        registry=registry,
    )
    hosts = Gauge(
        "panpin_device_hosts",
        "Hosts in the last run's plan, by decision (allow, block, review, covered, ...).",
        ["device", "decision"],
        registry=registry,
    )
    for result in results:
        device_exit.labels(result.device).set(result.exit_code)
        adds.labels(result.device).set(len(result.adds))
        removes.labels(result.device).set(len(result.removes))
        if result.plan is not None:
            for decision, count in Counter(d.action for d in result.plan.decisions).items():
                hosts.labels(result.device, decision).set(count)
    write_to_textfile(str(path), registry)
