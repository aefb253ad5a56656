"""How long panpin waits and how often it tries: the one retry policy and the one poll backoff.

Plain dataclasses with no imports of their own, so that settings can build them at start-up
without pulling in the transport (``requests``) or lxml.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Transient faults of one request: exponential backoff with jitter under an overall deadline.

    The transport is the only place that retries; it applies this policy per request (and never
    re-sends a request that may have changed the device, such as a commit that reached it).
    """

    attempts: int = 6
    initial: float = 0.5
    maximum: float = 8.0
    jitter: float = 0.5
    deadline: float = 60.0


@dataclass(frozen=True)
class Backoff:
    """Polling of a device job: starts at ``initial``, grows by ``factor`` up to ``maximum``.

    pango warns that polling faster than every 2 s slows PAN-OS down, hence the 2 s ceiling.
    ``deadline`` bounds the whole wait for one job.
    """

    initial: float = 0.5
    factor: float = 1.5
    maximum: float = 2.0
    deadline: float = 600.0
