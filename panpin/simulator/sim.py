"""The :class:`Simulator`: one simulated device served over HTTPS on loopback."""

from __future__ import annotations

import copy
import dataclasses
import logging
import secrets
import shutil
import ssl
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from lxml import etree

from panpin.simulator.api import Api
from panpin.simulator.device import Device, SimOptions
from panpin.simulator.faults import FaultSet, RecordedRequest, RequestLog
from panpin.simulator.logs import LogStore
from panpin.simulator.scenario import HaSpec, RunningSync, Scenario, load_scenario
from panpin.simulator.server import Backend, SimServer
from panpin.simulator.tls import TlsMaterial, generate

log = logging.getLogger("panpin.simulator")


class Simulator:
    """A PAN-OS XML API simulator (firewall or Panorama).

    ``scenario`` is a :class:`Scenario`, a bundled scenario name or a YAML path (default
    ``demo``). ``panorama`` overrides the scenario's mode. Timing switches are the fields of
    :class:`SimOptions`, passed as ``options=`` or as keyword overrides
    (``Simulator(commit_seconds=0)``).

    ``version`` overrides the scenario's ``device.sw_version``.

    Use as a context manager, or call :meth:`start` / :meth:`stop`.
    """

    def __init__(
        self,
        scenario: Scenario | str | Path | None = None,
        *,
        panorama: bool | None = None,
        port: int = 0,
        bind: str = "127.0.0.1",
        workdir: str | Path | None = None,
        options: SimOptions | None = None,
        version: str | None = None,
        **option_overrides: object,
    ) -> None:
        if scenario is None:
            scenario = load_scenario("demo")
        elif not isinstance(scenario, Scenario):
            scenario = load_scenario(scenario)
        if version is not None:
            # Answers as that release would where the simulator knows a difference (9.x has no
            # Decryption log); everything else stays as the scenario says.
            scenario = dataclasses.replace(
                scenario, device=dataclasses.replace(scenario.device, sw_version=version)
            )
        self.scenario: Scenario = scenario
        self.options = _with_overrides(options or SimOptions(), option_overrides)
        self.panorama = panorama if panorama is not None else scenario.mode == "panorama"
        self.device = Device(scenario, panorama=self.panorama, options=self.options)
        self.api = Api(self.device)
        self.faults = FaultSet()
        for spec in scenario.faults:
            self.faults.add_spec(spec)
        self.control_token = secrets.token_urlsafe(24)
        self._requests = RequestLog()
        self._bind = bind
        self._port = port
        self._workdir_arg = Path(workdir) if workdir is not None else None
        self._workdir: Path | None = None
        self._own_workdir = False
        self._tls: TlsMaterial | None = None
        self._server: SimServer | None = None
        self._thread: threading.Thread | None = None
        self._ticker: threading.Thread | None = None
        self._stopping = threading.Event()

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Simulator:
        if self._server is not None:
            return self
        if self._workdir_arg is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="panpin-sim-"))
            self._own_workdir = True
        else:
            self._workdir = self._workdir_arg
            self._workdir.mkdir(parents=True, exist_ok=True)
        self._tls = generate(self._workdir, valid_days=self.options.cert_valid_days)
        backend = Backend(self.api, self.device, self.faults, self._requests, self.control_token)
        self._server = SimServer((self._bind, self._port), backend, self._tls.server_context())
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"panpin-simulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        # Jobs finish in the background like on a device, so the running config changes at the
        # end of a commit even when nobody polls the job.
        self._stopping.clear()
        self._ticker = threading.Thread(
            target=self._tick, name="panpin-simulator-jobs", daemon=True
        )
        self._ticker.start()
        log.info(
            "simulator listening on %s (%s)", self.url, "Panorama" if self.panorama else "firewall"
        )
        return self

    def _tick(self) -> None:
        while not self._stopping.wait(0.05):
            with self.device.lock:
                self.device.advance()

    def stop(self) -> None:
        self._stopping.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
            self._ticker = None
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._own_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- connection details ------------------------------------------------------------------

    def _need_server(self) -> SimServer:
        if self._server is None:
            raise RuntimeError(
                "simulator is not running; call start() or use it as a context manager"
            )
        return self._server

    @property
    def port(self) -> int:
        return int(self._need_server().server_address[1])

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT`` (what ``--host`` takes)."""
        return f"{self._bind}:{self.port}"

    @property
    def url(self) -> str:
        return f"https://{self.host}"

    @property
    def tls(self) -> TlsMaterial:
        if self._tls is None:
            raise RuntimeError("simulator is not running")
        return self._tls

    @property
    def ca_file(self) -> Path:
        return self.tls.ca_file

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the server certificate, lowercase hex without separators."""
        return self.tls.fingerprint

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that verifies the simulator with its CA."""
        return self.tls.client_context()

    @property
    def admin(self) -> str:
        """The default admin: the scenario's first."""
        return self.scenario.admins[0].name

    @property
    def api_key(self) -> str:
        """The default admin's current key (keygen replaces it)."""
        return self.key_for(self.admin)

    def key_for(self, admin: str) -> str:
        with self.device.lock:
            return self.device.key_of[admin]

    # ---- state -------------------------------------------------------------------------------

    @property
    def logs(self) -> LogStore:
        return self.device.logs

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every ``/api/`` request received so far (a copy; secrets redacted)."""
        return self._requests.all()

    def clear_requests(self) -> None:
        self._requests.clear()


class SimulatorPair:
    """Two simulated firewalls that are an HA pair (active/passive), each its own server.

    Each answers ``show high-availability state`` for itself, naming the other's management
    address (``peer_mgmt_ip``; the peer's real address is :meth:`peer_of`'s ``host``). A commit
    that finishes on the active member, with running-sync enabled and the peer up, copies the
    running config to the peer: both say ``synchronization in progress`` for ``sync_seconds``,
    then ``synchronized``. :meth:`failover` swaps active and passive. Each member keeps its own
    Decryption log (the passive one's from the same scenario with its own serial and seed)::

        with SimulatorPair(load_scenario("demo"), workdir=tmp_path) as pair:
            pair.active.url, pair.passive.url
            pair.failover()

    ``passive_scenario`` gives the second member a scenario of its own.
    """

    def __init__(
        self,
        scenario: Scenario | str | Path | None = None,
        *,
        passive_scenario: Scenario | str | Path | None = None,
        workdir: str | Path | None = None,
        sync_seconds: float = 0.3,
        running_sync_enabled: bool = True,
        peer_connected: bool = True,
        mode: Literal["Active-Passive", "Active-Active"] = "Active-Passive",
        **option_overrides: object,
    ) -> None:
        first = _scenario_of(scenario)
        if passive_scenario is None:
            second = dataclasses.replace(
                first,
                device=dataclasses.replace(
                    first.device,
                    hostname=f"{first.device.hostname}-b",
                    serial=_peer_serial(first.device.serial),
                    ip_address=_next_ip(first.device.ip_address),
                ),
                logs=dataclasses.replace(first.logs, seed=first.logs.seed + 1),
            )
        else:
            second = _scenario_of(passive_scenario)
        base = Path(workdir) if workdir is not None else None
        self.sync_seconds = sync_seconds
        # Both members answer with the same options (SimOptions fields, e.g. commit_seconds).
        options = _with_overrides(SimOptions(), option_overrides)
        self.members: tuple[Simulator, Simulator] = (
            Simulator(first, workdir=base / "a" if base else None, options=options),
            Simulator(second, workdir=base / "b" if base else None, options=options),
        )
        a, b = (m.device for m in self.members)
        for dev, peer, state, peer_state in (
            (a, b, "active", "passive"),
            (b, a, "passive", "active"),
        ):
            dev.ha = HaSpec(
                mode=mode,
                local_state=state,
                peer_state=peer_state,
                peer_connected=peer_connected,
                peer_mgmt_ip=f"{peer.info.ip_address}/24",
                running_sync_enabled=running_sync_enabled,
            )
        for dev, peer in ((a, b), (b, a)):
            dev.after_commit = self._syncer(dev, peer)
        self._timers: list[threading.Timer] = []

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> SimulatorPair:
        for member in self.members:
            member.start()
        return self

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        for member in self.members:
            member.stop()

    def __enter__(self) -> SimulatorPair:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- members -----------------------------------------------------------------------------

    def _state(self, sim: Simulator) -> str:
        with sim.device.lock:
            ha = sim.device.ha
            return ha.local_state if ha is not None else ""

    @property
    def active(self) -> Simulator:
        """The member whose state is active now."""
        return next((m for m in self.members if self._state(m) == "active"), self.members[0])

    @property
    def passive(self) -> Simulator:
        """The member that is not :attr:`active`."""
        active = self.active
        return next(m for m in self.members if m is not active)

    def peer_of(self, sim: Simulator) -> Simulator:
        return self.members[1] if sim is self.members[0] else self.members[0]

    def running_sync(self) -> str:
        """The active member's ``running-sync`` word now."""
        with self.active.device.lock:
            ha = self.active.device.ha
            return ha.running_sync if ha is not None else ""

    def failover(self) -> None:
        """Swap active and passive (as a manual failover or a failed active would)."""
        for member in self.members:
            dev = member.device
            with dev.lock:
                ha = dev.ha
                assert ha is not None
                dev.ha = dataclasses.replace(
                    ha, local_state=ha.peer_state, peer_state=ha.local_state
                )

    # ---- config sync -------------------------------------------------------------------------

    def _syncer(self, dev: Device, peer: Device) -> Callable[[], None]:
        def after_commit() -> None:
            # Called with dev.lock held (a commit job just finished): never take peer.lock here.
            ha = dev.ha
            if ha is None or ha.local_state != "active":
                return
            if not ha.running_sync_enabled or not ha.peer_connected:
                dev.ha = dataclasses.replace(ha, running_sync="not synchronized")
                return
            dev.ha = dataclasses.replace(ha, running_sync="synchronization in progress")
            snapshot = copy.deepcopy(dev.running)
            self._set_sync(peer, "synchronization in progress", later=True)
            timer = threading.Timer(self.sync_seconds, self._finish_sync, (dev, peer, snapshot))
            timer.daemon = True
            self._timers.append(timer)
            timer.start()

        return after_commit

    def _set_sync(self, dev: Device, word: RunningSync, *, later: bool = False) -> None:
        def run() -> None:
            with dev.lock:
                if dev.ha is not None:
                    dev.ha = dataclasses.replace(dev.ha, running_sync=word)

        if later:
            # The peer's lock may be held by a request in flight: set it from another thread.
            threading.Thread(target=run, daemon=True).start()
        else:
            run()

    def _finish_sync(self, dev: Device, peer: Device, running: etree._Element) -> None:
        with peer.lock:
            peer.running = running
            peer.rebuild_candidate()
        self._set_sync(peer, "synchronized")
        self._set_sync(dev, "synchronized")


def _scenario_of(scenario: Scenario | str | Path | None) -> Scenario:
    if scenario is None:
        return load_scenario("demo")
    return scenario if isinstance(scenario, Scenario) else load_scenario(scenario)


def _peer_serial(serial: str) -> str:
    last = serial[-1:]
    return serial[:-1] + (str((int(last) + 1) % 10) if last.isdigit() else "2")


def _next_ip(ip: str) -> str:
    head, _, last = ip.rpartition(".")
    return f"{head}.{(int(last) % 254) + 1}" if last.isdigit() else ip


def _with_overrides(options: SimOptions, overrides: dict[str, object]) -> SimOptions:
    """``options`` with some fields replaced; an unknown field name is a TypeError.

    Keyword overrides (``Simulator(..., commit_seconds=0)``) are typed ``object`` where they
    enter; dataclasses.replace checks the names, and the values are the test's to get right.
    """
    changes: dict[str, Any] = dict(overrides)
    return dataclasses.replace(options, **changes)
