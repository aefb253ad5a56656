"""The run lock: two panpin runs on one state database never overlap (exit 5).

``filelock`` takes an ``flock`` on ``<state>.lock``; the kernel drops it when the holding process
dies, so a run killed with SIGKILL leaves no stale lock behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from panpin.errors import RunLocked


@contextmanager
def run_lock(state: Path) -> Iterator[None]:
    path = Path(str(state) + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RunLocked(
            f"another panpin run holds {path}; try again when it has finished"
        ) from None
    try:
        yield
    finally:
        lock.release()
