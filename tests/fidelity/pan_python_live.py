"""pan-python's own live tests, run against ``panpin simulator serve``.

pan-python's release tarball ships tests that talk to a real firewall through a
``tests/xapi_mixin.py`` it does not ship (nor ``tests/__init__.py``, which the tests' relative
imports need). This harness fetches the pinned release from PyPI, checks its sha256, unpacks it
under the repository's ``build/`` (so later runs do not fetch again), writes those two files, and
runs chosen test modules with that release's own ``lib/`` first on ``sys.path``, in a subprocess,
against a simulator started through the real CLI. The mixin is ours: it builds the
``pan.xapi.PanXapi`` object the tests use as ``self.api`` from environment variables the harness
sets, with TLS verified against the simulator's CA.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "build" / "pan-python-live"

VERSION = "0.26.0"
SDIST = f"pan_python-{VERSION}.tar.gz"
# From PyPI's simple index for pan-python (the sdist of 0.26.0).
SHA256 = "0a0ea34279b745e8e3d55df015e18ab299051ffdd519128d9340ff7aae4e2392"
URL = (
    "https://files.pythonhosted.org/packages/5b/c1/"
    f"656b5c68d639ee27e755d9d80ea39ae5b12a05b50ce6b30c3008d06e7d15/{SDIST}"
)

# Environment the mixin reads (set by run_live for its subprocess only).
ENV_HOST, ENV_PORT, ENV_KEY, ENV_CA = (
    "PANPIN_LIVE_HOST",
    "PANPIN_LIVE_PORT",
    "PANPIN_LIVE_API_KEY",
    "PANPIN_LIVE_CA_FILE",
)

MIXIN = f'''"""Written by panpin's harness (tests/fidelity/pan_python_live.py); pan-python does not ship
its own. Points the live tests at the simulator the harness started."""

import os
import secrets
import ssl
import sys

sys.path[:0] = [os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib")]
import pan.xapi  # noqa: E402

assert pan.xapi.__version__ == "{VERSION}", pan.xapi.__file__


class Mixin:
    def setUp(self):
        context = ssl.create_default_context(cafile=os.environ["{ENV_CA}"])
        self.api = pan.xapi.PanXapi(
            hostname=os.environ["{ENV_HOST}"],
            port=os.environ["{ENV_PORT}"],
            api_key=os.environ["{ENV_KEY}"],
            ssl_context=context,
        )

    def name(self, prefix, length):
        # A fresh object name of 2 * length characters: the multi-config test makes a
        # 64-character name with name("address3", 32) to hit PAN-OS's 63-character limit.
        total = 2 * length
        return (prefix + "-" + secrets.token_hex(total))[:total]
'''

# Runs the named modules with unittest and prints one JSON object: test id -> outcome.
RUNNER = """import json
import sys
import unittest


class Result(unittest.TextTestResult):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.outcomes = {}

    def addSuccess(self, test):
        super().addSuccess(test)
        self.outcomes[test.id()] = "passed"

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.outcomes[test.id()] = "failed"

    def addError(self, test, err):
        super().addError(test, err)
        self.outcomes[test.id()] = "error"

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.outcomes[test.id()] = "skipped"


suite = unittest.defaultTestLoader.loadTestsFromNames(sys.argv[1:])
runner = unittest.TextTestRunner(stream=sys.stderr, verbosity=2, resultclass=Result)
result = runner.run(suite)
print(json.dumps(result.outcomes))
"""


class FetchError(RuntimeError):
    pass


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _download(dest: Path) -> None:
    """The pinned sdist into ``dest``: straight from PyPI's file host, else through pip (which
    follows the machine's index and proxy settings); either way its hash must match."""
    partial = dest.with_suffix(".part")
    try:
        with urllib.request.urlopen(URL, timeout=120) as answer:  # noqa: S310 (fixed https URL)
            partial.write_bytes(answer.read())
        if _sha256(partial) == SHA256:
            partial.replace(dest)
            return
    except OSError:
        pass
    partial.unlink(missing_ok=True)
    spool = dest.parent / "pip-download"
    shutil.rmtree(spool, ignore_errors=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"pan-python=={VERSION}",
            "-d",
            str(spool),
        ],
        check=True,
        capture_output=True,
    )
    (spool / SDIST).replace(dest)
    shutil.rmtree(spool, ignore_errors=True)


def release_tree() -> Path:
    """The unpacked, hash-checked release with our ``tests/__init__.py`` and mixin."""
    CACHE.mkdir(parents=True, exist_ok=True)
    # pytest-xdist workers may get here at once; one fetches, the others wait.
    with FileLock(str(CACHE / ".lock")):
        sdist = CACHE / SDIST
        if not sdist.is_file() or _sha256(sdist) != SHA256:
            sdist.unlink(missing_ok=True)
            _download(sdist)
        digest = _sha256(sdist)
        if digest != SHA256:
            sdist.unlink(missing_ok=True)
            raise FetchError(f"{SDIST}: sha256 {digest}, expected {SHA256}")
        tree = CACHE / f"pan_python-{VERSION}"
        if not (tree / "lib" / "pan" / "xapi.py").is_file():
            shutil.rmtree(tree, ignore_errors=True)
            with tarfile.open(sdist) as archive:
                archive.extractall(CACHE, filter="data")
        tests = tree / "tests"
        (tests / "__init__.py").write_text("")
        (tests / "xapi_mixin.py").write_text(MIXIN)
        (tree / "run_live.py").write_text(RUNNER)
        return tree


@dataclass(frozen=True)
class Served:
    host: str
    port: int
    api_key: str
    ca_file: str
    log: Path


@contextmanager
def simulator_serve(workdir: Path, *args: str) -> Iterator[Served]:
    """``panpin simulator serve`` (through the real CLI entry point) until the block ends."""
    log = workdir / "serve.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from panpin.cli import main; main()",
                "simulator",
                "serve",
                "--workdir",
                str(workdir / "sim"),
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"simulator serve exited: {log.read_text()[-2000:]}")
            info = json.loads(line)
            host, _, port = info["host"].rpartition(":")
            yield Served(host, int(port), info["api_key"], info["ca_file"], log)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:  # pragma: no cover
                proc.kill()
                proc.wait()


@dataclass(frozen=True)
class LiveRun:
    outcomes: dict[str, str]  # "tests.test_x.PanXapiTest.test_01" -> passed/failed/error/skipped
    output: str

    def per_module(self) -> dict[str, tuple[int, int]]:
        """``module -> (passed, total)``."""
        counts: dict[str, tuple[int, int]] = {}
        for test_id, outcome in self.outcomes.items():
            module = test_id.split(".")[1]
            passed, total = counts.get(module, (0, 0))
            counts[module] = (passed + (outcome == "passed"), total + 1)
        return counts


def run_live(tree: Path, served: Served, modules: list[str], timeout: float = 300) -> LiveRun:
    env = {
        k: v
        for k, v in os.environ.items()
        # The release's lib/ must win over any installed pan-python (and no .panrc is read).
        if k not in ("PYTHONPATH", "PYTHONHOME")
    }
    env.update(
        {
            ENV_HOST: served.host,
            ENV_PORT: str(served.port),
            ENV_KEY: served.api_key,
            ENV_CA: served.ca_file,
            "PYTHONPATH": str(tree / "lib"),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    done = subprocess.run(
        [sys.executable, "run_live.py", *(f"tests.{m}" for m in modules)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "{}"
    try:
        outcomes = json.loads(last)
    except json.JSONDecodeError:
        outcomes = {}
    return LiveRun(outcomes, done.stdout + done.stderr)
