"""pan-os-python (``panos``, written by someone else) against the simulator, TLS verified."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import pytest
from fidelity_support import LIST, firewall, panorama, running
from panos import errors as perr
from panos.device import SslDecrypt, SslDecryptExcludeCert, Vsys
from panos.firewall import FirewallCommit
from panos.panorama import PanoramaCommit, PanoramaCommitAll, Template, TemplateStack

from panpin.simulator import Simulator

MARK = "panpin:c-20261126-0932-a1b2 rule=vendor-apps ticket=CHG-1042 expires=2027-05-25"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    with running("demo", tmp_path) as s:
        yield s


@pytest.fixture
def pano(tmp_path: Path) -> Iterator[Simulator]:
    with running("panorama", tmp_path) as s:
        yield s


def test_system_info_and_clock(sim: Simulator) -> None:
    fw = firewall(sim)
    info = fw.refresh_system_info()
    assert (info.version, info.platform, info.serial) == ("11.1.4-h7", "PA-440", "007951000345678")
    assert fw.multi_vsys is False and fw.content_version
    assert fw.clock() == datetime.datetime(2026, 11, 26, 9, 30)
    assert fw.whoami() == "panpin"


def test_exclusion_objects_create_refresh_delete(sim: Simulator) -> None:
    fw = firewall(sim)
    decrypt = fw.add(SslDecrypt())
    entry = decrypt.add(SslDecryptExcludeCert("app.vendor.example", description=MARK, exclude=True))
    entry.create()
    assert sim.requests[-1].action == "set"
    assert sim.requests[-1].params["xpath"] == LIST
    candidate = SslDecryptExcludeCert.refreshall(fw.add(SslDecrypt()), add=False)
    by_name = {c.name: c for c in candidate}
    assert by_name["app.vendor.example"].description == MARK
    assert by_name["app.vendor.example"].exclude is True
    assert by_name["login.partner.example"].description.startswith("Pinned client cert")
    running_list = SslDecryptExcludeCert.refreshall(
        fw.add(SslDecrypt()), add=False, running_config=True
    )
    assert "app.vendor.example" not in {c.name for c in running_list}
    entry.delete()
    assert sim.requests[-1].action == "delete"
    again = SslDecryptExcludeCert.refreshall(fw.add(SslDecrypt()), add=False)
    assert "app.vendor.example" not in {c.name for c in again}


def test_partial_commit_by_admin(sim: Simulator) -> None:
    fw = firewall(sim)
    fw.add(SslDecrypt()).add(
        SslDecryptExcludeCert("sync.vendor.example", description=MARK)
    ).create()
    assert fw.pending_changes() is True
    result = fw.commit(sync=True, admins=[sim.admin])
    assert result["success"] is True and result["result"] == "OK"
    assert result["user"] == "panpin"
    assert "Configuration committed successfully" in result["messages"]
    assert sim.device.running.xpath(f"{LIST}/entry[@name='sync.vendor.example']")
    assert fw.pending_changes() is True  # alice's change is still pending
    assert fw.commit(sync=True, admins=[sim.admin]) is None  # nothing left of ours


def test_commit_with_description_object(sim: Simulator) -> None:
    fw = firewall(sim)
    fw.add(SslDecrypt()).add(SslDecryptExcludeCert("push.vendor.example")).create()
    result = fw.commit(sync=True, cmd=FirewallCommit(description="panpin: c-1", admins=["panpin"]))
    assert result["success"] is True
    job = result["xml"].find("./result/job")
    assert job.findtext("description") == "panpin: c-1"


def test_full_commit_clears_pending(sim: Simulator) -> None:
    fw = firewall(sim)
    assert fw.commit(sync=True)["success"] is True
    assert fw.pending_changes() is False


def test_commit_failure_is_reported(sim: Simulator) -> None:
    sim.faults.add("commit_fail", lines=["Validation Error:", " ssl-exclude-cert -> x is invalid"])
    fw = firewall(sim)
    fw.add(SslDecrypt()).add(SslDecryptExcludeCert("x.example")).create()
    result = fw.commit(sync=True, admins=["panpin"])
    assert result["success"] is False and result["result"] == "FAIL"
    assert result["messages"] == ["Validation Error:", " ssl-exclude-cert -> x is invalid"]
    sim.faults.add("commit_fail")
    with pytest.raises(perr.PanCommitFailed):
        fw.commit(sync=True, admins=["panpin"], exception=True)


def test_config_and_commit_locks(sim: Simulator) -> None:
    fw = firewall(sim)
    alice = firewall(sim, admin="alice")
    assert fw.check_config_locks() is False
    assert fw.add_config_lock(comment="panpin") is True
    assert fw.check_config_locks() is True
    with pytest.raises(perr.PanLockError):
        alice.add_config_lock()
    with pytest.raises(perr.PanLockError):
        fw.add_config_lock()  # "You already own a config lock"
    assert fw.remove_config_lock() is True
    with pytest.raises(perr.PanLockError):
        fw.remove_config_lock()  # not locked any more
    assert fw.add_commit_lock(comment="panpin") is True
    assert fw.check_commit_locks() is True
    with pytest.raises(perr.PanLockError):
        fw.add_commit_lock()
    assert fw.remove_commit_lock() is True
    assert fw.remove_commit_lock(exceptions=False) is False


def test_lock_held_by_other_admin_blocks_changes(sim: Simulator) -> None:
    firewall(sim, admin="alice").add_config_lock(comment="maintenance")
    fw = firewall(sim)
    with pytest.raises(perr.PanLockError):
        fw.add(SslDecrypt()).add(SslDecryptExcludeCert("blocked.example")).create()


def test_error_classification(sim: Simulator) -> None:
    fw = firewall(sim)
    with pytest.raises(perr.PanNoSuchNode):
        fw.xapi.show(f"{LIST}/entry[@name='missing.example']")
    sim.faults.add("session_timeout", match={"type": "op"})
    with pytest.raises(perr.PanSessionTimedOut):
        fw.op("show system info")
    sim.faults.add("http_status", status=503, match={"type": "op"})
    with pytest.raises(perr.PanURLError, match="503"):
        fw.op("show system info")


def test_commit_in_progress_classified(tmp_path: Path) -> None:
    with running("demo", tmp_path, commit_seconds=5) as sim:
        fw = firewall(sim)
        fw.add(SslDecrypt()).add(SslDecryptExcludeCert("a.example")).create()
        assert fw.commit(sync=False, admins=["panpin"]) is not None
        with pytest.raises(perr.PanCommitInProgress):
            firewall(sim, admin="alice").commit(sync=False)


def test_revert_to_running_configuration_drops_everyone(sim: Simulator) -> None:
    fw = firewall(sim)
    fw.add(SslDecrypt()).add(SslDecryptExcludeCert("r.example")).create()
    fw.revert_to_running_configuration()
    assert fw.pending_changes() is False
    assert sim.device.pending_admins() == []


def test_log_query_through_xapi_wrapper(sim: Simulator) -> None:
    fw = firewall(sim)
    fw.xapi.log(
        log_type="decryption",
        nlogs=100,
        filter="(sni eq 'sync.vendor.example')",
        interval=0.02,
        extra_qs={"dir": "forward"},
    )
    entries = fw.xapi.element_root.findall("./result/log/logs/entry")
    assert len(entries) == sim.logs.expected()["sync.vendor.example"].hits
    times = [e.findtext("receive_time") for e in entries]
    assert times == sorted(times)


def test_panorama_template_change_commit_and_push(pano: Simulator) -> None:
    p = panorama(pano)
    info = p.refresh_system_info()
    assert info.platform == "Panorama"
    template = p.add(Template("branch"))
    decrypt = template.add(Vsys("shared")).add(SslDecrypt())
    decrypt.add(
        SslDecryptExcludeCert("app.vendor.example", description=MARK, exclude=True)
    ).create()
    assert (
        "/template/entry[@name='branch']/config/shared/ssl-decrypt"
        in pano.requests[-1].params["xpath"]
    )
    result = p.commit(sync=True, cmd=PanoramaCommit(description="panpin c-1", admins=["panpin"]))
    assert result["success"] is True
    push = p.commit(
        cmd=PanoramaCommitAll("template", "branch", description="panpin push"),
        sync=True,
        sync_all=True,
    )
    assert push["success"] is True and push["result"] == "OK"
    assert set(push["devices"]) == {"007951000111111", "007951000222222"}
    for serial, dev in push["devices"].items():
        assert dev["success"] is True and dev["serial"] == serial
        assert dev["messages"] == "Configuration committed successfully"
    assert push["devices"]["007951000111111"]["name"] == "branch-fw-01"


def test_panorama_push_with_failing_device(pano: Simulator) -> None:
    pano.faults.add("push_device_fail", serial="007951000222222", lines=["Commit failed: no space"])
    p = panorama(pano)
    stack = p.add(TemplateStack("branch-stack"))
    stack.add(Vsys("shared")).add(SslDecrypt()).add(SslDecryptExcludeCert("s.example")).create()
    p.commit(sync=True, admins=["panpin"])
    push = p.commit(
        cmd=PanoramaCommitAll("template stack", "branch-stack"), sync=True, sync_all=True
    )
    assert push["success"] is False
    assert push["devices"]["007951000111111"]["success"] is True
    failed = push["devices"]["007951000222222"]
    assert failed["success"] is False and failed["result"] == "FAIL"
    assert failed["messages"] == "Commit failed: no space"


def test_panorama_connected_devices(pano: Simulator) -> None:
    p = panorama(pano)
    root = p.op("show devices connected")
    serials = [e.findtext("serial") for e in root.findall("./result/devices/entry")]
    assert serials == ["007951000111111", "007951000222222", "007951000333333"]
