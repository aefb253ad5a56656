"""Scenario files the benchmarks serve, written to a temporary directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# One fixed key for the benchmark admin, so 50 simulators can share PANPIN_API_KEY.
API_KEY = "LUFRPT1wYW5waW4tYmVuY2gta2V5LW5vdC1hLXNlY3JldA=="
ADMIN = "panpin"
CLOCK = "2026/11/26 09:30:00"
# Every benchmark scan reads from here on: an absolute time, so all clients send the same query.
SINCE = "2026/11/10 00:00:00"

_BASE: dict[str, Any] = {
    "mode": "firewall",
    "device": {"hostname": "pa-bench", "serial": "007951000999999", "clock": CLOCK},
    "admins": [
        {"name": ADMIN, "password": "panpin-bench", "api_key": API_KEY},
        {"name": "alice", "password": "alice-bench"},
    ],
}


def scan_scenario(folder: Path, entries: int, *, hosts: int = 200) -> Path:
    """``entries`` pinning hits over ``hosts`` sites (2% noise on top that the query drops).

    The hits are spread over 40 clients per site and a 16-day window that contains ``SINCE``,
    so the query (signals and window) matches nearly all of them, as on a firewall whose
    Decryption log is mostly the pinning failures panpin looks for.
    """
    per_host, extra = divmod(entries, hosts)
    pinned = []
    for i in range(hosts):
        hits = per_host + (1 if i < extra else 0)
        unknown = hits * 4 // 5
        pinned.append(
            {
                "host": f"app{i}.vendor{i % 17}.example",
                "alerts": {"UnknownCA": unknown, "BadCertificate": hits - unknown},
                "clients": 40,
            }
        )
    data = {
        **_BASE,
        "name": f"bench-scan-{entries}",
        "logs": {
            "seed": 7,
            "start": SINCE,
            "end": "2026/11/26 09:25:00",
            "pinned": pinned,
            "noise": entries // 50,
        },
    }
    return _write(folder / f"scan-{entries}.yaml", data)


def small_scenario(folder: Path, name: str = "bench-small") -> Path:
    """A branch firewall with a few pinned apps: what one device of a fleet looks like."""
    data = {
        **_BASE,
        "name": name,
        "exclusions": {
            "shared": [
                {
                    "name": "login.partner.example",
                    "description": "Pinned client cert - excluded by jdoe, INC-4711",
                }
            ]
        },
        "logs": {
            "seed": 11,
            "start": "2026/11/19 09:00:00",
            "end": "2026/11/26 09:25:00",
            "pinned": [
                {
                    "host": "app.vendor.example",
                    "alerts": {"UnknownCA": 40, "BadCertificate": 6},
                    "clients": 12,
                },
                {"host": "sync.vendor.example", "alerts": {"UnknownCA": 22}, "clients": 7},
                {"host": "api1.partner.example", "alerts": {"UnknownCA": 8}, "clients": 2},
                {"host": "online.bank.example", "alerts": {"UnknownCA": 15}, "clients": 5},
            ],
            "noise": 300,
        },
    }
    return _write(folder / f"{name}.yaml", data)


def _write(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path
