"""Turn a recording (``panpin --record DIR``) into a regression test.

``replay_regression(recording, command, expected_code, run_cli=..., tmp_path=...)`` serves the
recording with :class:`panpin.simulator.replay.Replay`, runs the same panpin command against it
and checks the exit code and that every recorded request was asked, each as recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from panpin.simulator.replay import Replay

# (host, ca_file) -> the command's arguments, so the one command runs against any server.
Command = Callable[[str, str], Sequence[str]]


def replay_regression(
    recording: Path,
    command: Command,
    expected_code: int,
    *,
    run_cli: Callable[..., Any],
    tmp_path: Path,
    env: dict[str, str] | None = None,
) -> Replay:
    # Any key will do: the replay ignores it, and a real one must never be in a test.
    environ = {"PANPIN_API_KEY": "replay-key-unused", **(env or {})}
    with Replay(recording, workdir=tmp_path / "replay-tls") as replay:
        result = run_cli(*command(replay.host, str(replay.ca_file)), env=environ)
        summary = replay.summary()
    assert replay.mismatch is None, f"{summary}\n{replay.mismatch}\n{result.err}"
    assert replay.served == len(replay.pairs), f"{summary}\n{result.err}"
    assert result.code == expected_code, (
        f"exit {result.code}, recorded {expected_code}: {result.err}"
    )
    return replay
