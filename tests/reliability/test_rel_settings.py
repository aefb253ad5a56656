"""The knobs the suite tunes the client with (``retry:``, ``jobs:``, ``timeouts:``) are ordinary
config-file keys: they reach the transport and the job pollers, and bad values are refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import RunCli

from panpin.errors import SettingsError
from panpin.settings import (
    MAX_KEY_FILE_BYTES,
    DeviceSettings,
    Overrides,
    load_settings,
    read_key_file,
    resolve_device,
)

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


# --- strict types: a value of the wrong type is an error, never coerced --------------------------

DEVICE = "version: 1\ndevices:\n  fw1:\n    host: fw1.example.net\n    {bad}\n"


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        # bool("false") is True: a quoted string here used to turn TLS verification off.
        (
            'insecure: "false"',
            "insecure: expected true or false (unquoted), got a string ('false')",
        ),
        ('insecure: "no"', "insecure: expected true or false"),
        ("insecure: 0", "insecure: expected true or false (unquoted), got a number (0)"),
        ("insecure: null", "insecure: expected true or false"),
        ("timeouts: {connect: '10'}", "timeouts.connect: expected a number of seconds"),
        ("timeouts: {read: true}", "timeouts.read: expected a number of seconds"),
        ("timeouts: {read: 0}", "timeouts.read: expected a number of seconds above 0"),
        ("retry_deadline: '60'", "retry_deadline: expected a number of seconds"),
        ("location: 7", "location: expected a string, got a number (7)"),
        ("admin: 1234", "admin: expected a string, got a number (1234) (quote it)"),
        ("api_key_file: [a, b]", "api_key_file: expected a string, got a list"),
        ("fingerprint: 12", "fingerprint: expected a string"),
    ],
)
def test_wrongly_typed_values_are_refused_by_name(tmp_path: Path, bad: str, fragment: str) -> None:
    with pytest.raises(SettingsError) as info:
        _load(tmp_path, DEVICE.format(bad=bad))
    assert fragment in str(info.value)
    assert info.value.exit_code == 2
    assert "\n" not in str(info.value)


def test_real_booleans_are_read_as_written(tmp_path: Path) -> None:
    assert _load(tmp_path, DEVICE.format(bad="insecure: false")).insecure is False
    assert _load(tmp_path, DEVICE.format(bad="insecure: true")).insecure is True


@pytest.mark.parametrize(
    ("top", "fragment"),
    [
        ("version: '1'", "version: expected 1"),
        ("version: 2", "version: expected 1"),
        ("default_device: 3", "default_device: expected a device name"),
        ("state: [a]", "state: expected a path"),
    ],
)
def test_wrongly_typed_top_level_values_are_refused(
    tmp_path: Path, top: str, fragment: str
) -> None:
    path = tmp_path / "panpin.yaml"
    path.write_text(
        f"{top}\ndevices:\n  fw1: {{host: fw1.example.net}}\n".replace("version: 1\n", "")
    )
    with pytest.raises(SettingsError, match=fragment):
        load_settings(str(path))


def test_insecure_string_is_exit_2_through_the_cli(tmp_path: Path, run_cli: RunCli) -> None:
    path = tmp_path / "panpin.yaml"
    path.write_text(DEVICE.format(bad='insecure: "false"'))
    result = run_cli("--config", str(path), "exclusions", "list")
    assert result.code == 2, result.err
    assert "insecure: expected true or false" in result.err
    assert "Traceback" not in result.err


# --- key files: the resolved target is checked, read without blocking -----------------------------


def _key(path: Path, text: str = "KEY-123", mode: int = 0o600) -> Path:
    path.write_text(text + "\n")
    path.chmod(mode)
    return path


def test_a_private_key_file_is_read(tmp_path: Path) -> None:
    assert read_key_file(str(_key(tmp_path / "k"))) == "KEY-123"


def test_a_symlink_is_followed_to_a_private_target(tmp_path: Path) -> None:
    # Mounted secrets (Kubernetes, systemd credentials) are symlinks to the real file.
    target = _key(tmp_path / "..data-k")
    link = tmp_path / "k"
    link.symlink_to(target)
    assert read_key_file(str(link)) == "KEY-123"


def test_a_symlink_to_a_readable_target_is_refused(tmp_path: Path) -> None:
    # The link itself is always mode 0777; what matters is the file it leads to.
    target = _key(tmp_path / "shared-k", mode=0o644)
    link = tmp_path / "k"
    link.symlink_to(target)
    with pytest.raises(SettingsError, match=r"-> .*shared-k\) is accessible by group or others"):
        read_key_file(str(link))


def test_a_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "k"
    os.mkfifo(fifo, 0o600)
    # Nobody writes to it: a blocking open would never return. O_NONBLOCK and the type check
    # make this an error instead.
    with pytest.raises(SettingsError, match="is a FIFO; refusing to read it"):
        read_key_file(str(fifo))


def test_a_symlink_to_a_fifo_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo, 0o600)
    link = tmp_path / "k"
    link.symlink_to(fifo)
    with pytest.raises(SettingsError, match="is a FIFO"):
        read_key_file(str(link))


def test_a_directory_is_one_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o700)
    with pytest.raises(SettingsError, match="is a directory, not a file") as info:
        read_key_file(str(folder))
    assert "\n" not in str(info.value)


def test_a_missing_file_and_a_dangling_link_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="No such file or directory"):
        read_key_file(str(tmp_path / "absent"))
    link = tmp_path / "k"
    link.symlink_to(tmp_path / "gone")
    with pytest.raises(SettingsError, match="No such file or directory"):
        read_key_file(str(link))


def test_a_file_of_another_owner_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = _key(tmp_path / "k")
    # Pretend panpin runs as another user: the file's owner is then not us.
    monkeypatch.setattr(os, "geteuid", lambda: key.stat().st_uid + 1)
    with pytest.raises(SettingsError, match=r"is owned by uid \d+, not by this user"):
        read_key_file(str(key))


def test_an_oversized_or_binary_key_file_is_refused(tmp_path: Path) -> None:
    big = _key(tmp_path / "big", "x" * (MAX_KEY_FILE_BYTES + 10))
    with pytest.raises(SettingsError, match="larger than"):
        read_key_file(str(big))
    binary = tmp_path / "bin"
    binary.write_bytes(b"\xff\xfe\x00")
    binary.chmod(0o600)
    with pytest.raises(SettingsError, match="not UTF-8"):
        read_key_file(str(binary))


def test_a_directory_as_key_file_is_exit_2_through_the_cli(tmp_path: Path, run_cli: RunCli) -> None:
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o700)
    path = tmp_path / "panpin.yaml"
    path.write_text(DEVICE.format(bad=f"api_key_file: {folder}"))
    result = run_cli("--config", str(path), "exclusions", "list")
    assert result.code == 2, result.err
    assert "is a directory, not a file" in result.err
    assert "Traceback" not in result.err
