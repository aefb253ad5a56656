"""The knobs the suite tunes the client with (``retry:``, ``jobs:``, ``timeouts:``) are ordinary
config-file keys: they reach the transport and the job pollers, and bad values are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from panpin.errors import SettingsError
from panpin.settings import DeviceSettings, Overrides, load_settings, resolve_device

CONFIG = """
version: 1
defaults:
  admin: panpin
  retry: {attempts: 3, initial: 0.05, maximum: 0.2, jitter: 0}
  jobs: {poll_initial: 0.1, poll_maximum: 0.3, commit_timeout: 30, log_timeout: 20}
devices:
  fw1: {host: fw1.example.net, timeouts: {connect: 2, read: 5}, retry_deadline: 9}
"""


def _load(tmp_path: Path, text: str) -> DeviceSettings:
    path = tmp_path / "panpin.yaml"
    path.write_text(text)
    return resolve_device(load_settings(str(path)), "fw1", Overrides(), env={})


def test_knobs_reach_the_transport_and_the_pollers(tmp_path: Path) -> None:
    device = _load(tmp_path, CONFIG)
    conn = device.connection()
    assert (conn.connect_timeout, conn.read_timeout) == (2.0, 5.0)
    assert (conn.retry.attempts, conn.retry.initial, conn.retry.maximum) == (3, 0.05, 0.2)
    assert (conn.retry.jitter, conn.retry.deadline) == (0.0, 9.0)
    commit = device.commit_poll
    logs = device.log_poll
    assert (commit.initial, commit.maximum, commit.deadline) == (0.1, 0.3, 30.0)
    assert (logs.initial, logs.maximum, logs.deadline) == (0.1, 0.3, 20.0)


def test_defaults_are_the_documented_ones(tmp_path: Path) -> None:
    device = _load(tmp_path, "version: 1\ndevices:\n  fw1: {host: fw1.example.net}\n")
    conn = device.connection()
    assert (conn.retry.attempts, conn.retry.initial, conn.retry.maximum) == (6, 0.5, 8.0)
    commit = device.commit_poll
    assert (commit.initial, commit.maximum, commit.deadline) == (0.5, 2.0, 600.0)
    assert device.log_poll.deadline == 300.0


@pytest.mark.parametrize(
    "bad",
    [
        "retry: {attemps: 3}",
        "retry: {attempts: 0}",
        "retry: {initial: -1}",
        "retry: {initial: yes}",
        "retry: [1, 2]",
        "jobs: {commit_timeout: '600'}",
        "jobs: {poll: 1}",
    ],
)
def test_bad_values_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(SettingsError):
        _load(tmp_path, f"version: 1\ndevices:\n  fw1:\n    host: fw1.example.net\n    {bad}\n")
