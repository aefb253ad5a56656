"""Settings: precedence, key files, locations, masking."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from panpin.errors import SettingsError
from panpin.settings import (
    Location,
    Overrides,
    load_settings,
    read_key_file,
    resolve_device,
    write_key_file,
)

CONFIG = """
version: 1
default_device: fw1
defaults: {admin: panpin, location: shared}
devices:
  fw1: {host: fw1.example.net, api_key_file: KEYFILE, ca_file: CAFILE}
  fw2: {host: fw2.example.net, location: "vsys:vsys2", admin: ops}
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    key = write_key_file(str(tmp_path / "fw1.key"), "SECRET-KEY-FROM-FILE")
    path = tmp_path / "panpin.yaml"
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    path.write_text(CONFIG.replace("KEYFILE", str(key)).replace("CAFILE", str(ca)))
    return path


def test_file_values_and_defaults(config: Path) -> None:
    s = load_settings(str(config))
    dev = resolve_device(s, None, Overrides(), env={})
    assert dev.host == "fw1.example.net"
    assert dev.api_key == "SECRET-KEY-FROM-FILE"
    assert dev.admin == "panpin"
    fw2 = resolve_device(s, "fw2", Overrides(), env={})
    assert fw2.location == Location("vsys", "vsys2")
    assert fw2.admin == "ops"


def test_flags_override_file_and_env_key_wins(config: Path) -> None:
    s = load_settings(str(config))
    dev = resolve_device(
        s, "fw1", Overrides(location="template:T", admin="bob"), env={"PANPIN_API_KEY": "ENVKEY"}
    )
    assert dev.location == Location("template", "T")
    assert dev.admin == "bob"
    assert dev.api_key == "ENVKEY"


def test_repr_masks_key(config: Path) -> None:
    dev = resolve_device(load_settings(str(config)), None, Overrides(), env={})
    assert "SECRET-KEY-FROM-FILE" not in repr(dev)
    assert "SECRET-KEY-FROM-FILE" not in repr(dev.connection())
    assert "***" in repr(dev)


def test_key_file_readable_by_others_refused(tmp_path: Path) -> None:
    path = tmp_path / "loose.key"
    path.write_text("k")
    os.chmod(path, 0o644)
    with pytest.raises(SettingsError) as info:
        read_key_file(str(path))
    assert "chmod 600" in str(info.value)
    assert info.value.exit_code == 2


def test_written_key_file_is_0600(tmp_path: Path) -> None:
    path = write_key_file(str(tmp_path / "sub" / "k.key"), "abc")
    assert (path.stat().st_mode & 0o777) == 0o600
    assert read_key_file(str(path)) == "abc"


@pytest.mark.parametrize(
    "value", ["vsys", "template:", "bogus:x", "shared:x", "template:a'b", "vsys:a/b"]
)
def test_bad_locations(value: str) -> None:
    with pytest.raises(SettingsError):
        Location.parse(value)


def test_unknown_keys_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("devices:\n  fw: {host: h, api_key: 'NOPE'}\n")
    with pytest.raises(SettingsError) as info:
        load_settings(str(path))
    assert "api_key" in str(info.value)


def test_insecure_and_fingerprint_contradict() -> None:
    s = load_settings(None)
    with pytest.raises(SettingsError):
        resolve_device(s, None, Overrides(host="h", insecure=True, fingerprint="ab" * 32), env={})


def test_a_ca_file_that_is_not_there_is_a_settings_error_naming_it(
    config: Path, tmp_path: Path
) -> None:
    (tmp_path / "ca.pem").unlink()
    s = load_settings(str(config))
    with pytest.raises(SettingsError, match=r"^ca_file .*ca\.pem: no such file$"):
        resolve_device(s, None, Overrides(), env={})
    with pytest.raises(SettingsError, match=r"^--ca-file /nope\.pem: no such file$"):
        resolve_device(s, None, Overrides(ca_file="/nope.pem"), env={})
