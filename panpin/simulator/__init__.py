"""A PAN-OS XML API simulator (firewall and Panorama) for tests, the demo and users' pipelines.

::

    from panpin.simulator import Simulator, load_scenario

    with Simulator(scenario=load_scenario("demo"), workdir=tmp_path) as sim:
        sim.url, sim.ca_file, sim.api_key          # connect a client
        sim.faults.add("http_status", status=503, match={"type": "op"}, times=2)
        sim.requests                               # what the client sent
        sim.device.running, sim.device.candidate   # lxml trees
        sim.logs.expected()                        # per-host truth for scans

    with SimulatorPair(load_scenario("demo"), workdir=tmp_path) as pair:   # an HA pair
        pair.active.url, pair.passive.url; pair.failover()

The simulator is independent of panpin's own client (it never imports ``panpin.panos.xmlapi``).
"""

from __future__ import annotations

from panpin.simulator.device import Device, SimOptions
from panpin.simulator.faults import Fault, FaultSet, RecordedRequest
from panpin.simulator.filter import FilterError
from panpin.simulator.logs import ExpectedHost, LogStore, expected_counts, pinning_error
from panpin.simulator.scenario import (
    FAULT_KINDS,
    HaSpec,
    Scenario,
    ScenarioError,
    bundled_scenarios,
    load_scenario,
    scenario_from_dict,
)
from panpin.simulator.sim import Simulator, SimulatorPair

__all__ = [
    "FAULT_KINDS",
    "Device",
    "ExpectedHost",
    "Fault",
    "FaultSet",
    "FilterError",
    "HaSpec",
    "LogStore",
    "RecordedRequest",
    "Scenario",
    "ScenarioError",
    "SimOptions",
    "Simulator",
    "SimulatorPair",
    "bundled_scenarios",
    "expected_counts",
    "load_scenario",
    "pinning_error",
    "scenario_from_dict",
]
