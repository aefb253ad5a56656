"""Connecting third-party clients to the simulator with TLS verification on.

pan-python takes ``ssl_context=``; pan-os-python builds its pan-python object itself without one,
so the context is set on ``device.xapi`` after construction (pan-python reads
``self.ssl_context`` on every request).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pan.xapi
from panos.firewall import Firewall
from panos.panorama import Panorama

from panpin.simulator import Simulator

FAST: dict[str, Any] = {"commit_seconds": 0.05, "push_seconds": 0.05, "log_act_polls": 1}
LIST = "/config/shared/ssl-decrypt/ssl-exclude-cert"


@contextmanager
def running(scenario: str, workdir: Path, **options: Any) -> Iterator[Simulator]:
    with Simulator(scenario, workdir=workdir, **{**FAST, **options}) as sim:
        yield sim


def xapi(sim: Simulator, *, admin: str | None = None, use_get: bool = False) -> Any:
    """A pan-python client authenticated with the admin's current key."""
    return pan.xapi.PanXapi(
        hostname="127.0.0.1",
        port=sim.port,
        api_key=sim.key_for(admin or sim.admin),
        ssl_context=sim.ssl_context(),
        use_get=use_get,
    )


def firewall(sim: Simulator, *, admin: str | None = None, vsys: str = "shared") -> Any:
    fw = Firewall(
        hostname="127.0.0.1", port=sim.port, api_key=sim.key_for(admin or sim.admin), vsys=vsys
    )
    fw.xapi.ssl_context = sim.ssl_context()
    return fw


def panorama(sim: Simulator, *, admin: str | None = None) -> Any:
    pano = Panorama(hostname="127.0.0.1", port=sim.port, api_key=sim.key_for(admin or sim.admin))
    pano.xapi.ssl_context = sim.ssl_context()
    return pano
