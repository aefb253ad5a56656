"""The state path is resolved before the run lock is derived from it: two names for one state
database (a symlink) share one lock, and an unusable state path is one clear error (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from panpin import errors
from panpin.state import StateDB, lock_path, run_lock


def test_a_symlinked_state_shares_the_run_lock(tmp_path: Path) -> None:
    real = tmp_path / "real" / "state.db"
    real.parent.mkdir()
    StateDB(real).check_writable()
    alias = tmp_path / "alias.db"
    alias.symlink_to(real)
    assert lock_path(alias) == lock_path(real)
    with run_lock(real), pytest.raises(errors.RunLocked), run_lock(alias):
        pass  # pragma: no cover - never reached: the second run must not start


def test_an_unusable_state_path_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(errors.SettingsError, match="cannot create"):
        StateDB(blocker / "state.db").check_writable()
    with pytest.raises(errors.SettingsError, match="cannot create"), run_lock(blocker / "state.db"):
        pass  # pragma: no cover
