"""The PAN-OS version table: parsing ``sw-version`` and answering per behaviour."""

from __future__ import annotations

import pytest

from panpin import errors
from panpin.panos import versions
from panpin.panos.versions import Version, check_version, parse_version, supports


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("11.1.4-h7", Version(11, 1, 4, 7)),
        ("10.2.0", Version(10, 2, 0, 0)),
        ("12.1", Version(12, 1)),
        ("9.1.0-b4", Version(9, 1, 0, 0)),
        (" 10.1.14-h2 ", Version(10, 1, 14, 2)),
    ],
)
def test_parse(text: str, version: Version) -> None:
    assert parse_version(text) == version


def test_order_and_text() -> None:
    assert parse_version("11.1.4-h7") > parse_version("11.1.4") > parse_version("11.1.3-h9")
    assert str(parse_version("11.1.4-h7")) == "11.1.4-h7"


@pytest.mark.parametrize("text", ["", "eleven", "11", "v11.1"])
def test_not_a_version(text: str) -> None:
    with pytest.raises(errors.ResponseError):
        parse_version(text)


def test_lookups() -> None:
    assert not supports("9.1.0", versions.DECRYPTION_LOG)
    assert supports("10.0.0", versions.DECRYPTION_LOG)
    assert not supports("11.1.4-h7", versions.EXCLUDE_CACHE_XML)
    assert supports("11.2.0", versions.EXCLUDE_CACHE_XML)
    assert supports("7.1.0", versions.HA_SYNC_QUEUED_ON_PEER)
    in_test_data = versions.tested
    assert not in_test_data("10.0.3") and in_test_data("10.1.0") and in_test_data("12.1.2")
    assert not in_test_data("12.2.0")


def test_every_row_names_its_source() -> None:
    assert len({b.name for b in versions.BEHAVIOURS}) == len(versions.BEHAVIOURS)
    assert all(b.source and b.summary for b in versions.BEHAVIOURS)


def test_check_version_refuses_below_10() -> None:
    with pytest.raises(errors.DeviceError, match=r"PAN-OS 9\.1\.0, which has no Decryption log"):
        check_version("9.1.0", "fw1")
    assert check_version("10.1.3") == Version(10, 1, 3)
    # An unreadable version never blocks a run: the log query still tells.
    assert check_version("weird") == Version(10, 0)
