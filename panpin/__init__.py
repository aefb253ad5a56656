"""panpin: pinned-certificate sites from the PAN-OS Decryption log to the SSL Decryption Exclusion list.

The library's entry points (docs/library.md) are importable from here; they are loaded on first
use, so that ``import panpin`` (and ``panpin --help``) stays as cheap as importing click.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from panpin.change.session import RunResult, Session, run_fleet
    from panpin.decide.policy import Policy, load_policy
    from panpin.settings import Overrides, Settings, load_settings

__all__ = [
    "Overrides",
    "Policy",
    "RunResult",
    "Session",
    "Settings",
    "__version__",
    "load_policy",
    "load_settings",
    "run_fleet",
]

_LAZY = {
    "Session": "panpin.change.session",
    "RunResult": "panpin.change.session",
    "run_fleet": "panpin.change.session",
    "Policy": "panpin.decide.policy",
    "load_policy": "panpin.decide.policy",
    "Settings": "panpin.settings",
    "Overrides": "panpin.settings",
    "load_settings": "panpin.settings",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'panpin' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
