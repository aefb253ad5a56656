"""The :class:`Simulator`: one simulated device served over HTTPS on loopback."""

from __future__ import annotations

import dataclasses
import logging
import secrets
import shutil
import ssl
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from panpin.simulator.api import Api
from panpin.simulator.device import Device, SimOptions
from panpin.simulator.faults import FaultSet, RecordedRequest, RequestLog
from panpin.simulator.logs import LogStore
from panpin.simulator.scenario import Scenario, load_scenario
from panpin.simulator.server import Backend, SimServer
from panpin.simulator.tls import TlsMaterial, generate

log = logging.getLogger("panpin.simulator")


class Simulator:
    """A PAN-OS XML API simulator (firewall or Panorama).

    ``scenario`` is a :class:`Scenario`, a bundled scenario name or a YAML path (default
    ``demo``). ``panorama`` overrides the scenario's mode. Timing switches are the fields of
    :class:`SimOptions`, passed as ``options=`` or as keyword overrides
    (``Simulator(commit_seconds=0)``).

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
        **option_overrides: Any,
    ) -> None:
        if scenario is None:
            scenario = load_scenario("demo")
        elif not isinstance(scenario, Scenario):
            scenario = load_scenario(scenario)
        self.scenario: Scenario = scenario
        self.options = dataclasses.replace(options or SimOptions(), **option_overrides)
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
        self._tls = generate(self._workdir)
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
