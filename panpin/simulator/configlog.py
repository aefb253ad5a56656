"""The Config log (``type=log&log-type=config``): one entry per configuration change or commit.

Entry shape and field order follow the finished config log job in the reference samples
(log-job-finished-config-logs.xml, from pan-os-python's tests). ``cmd`` is one of the commands the
Config log field list names (set, edit, delete, rename, clone, move, commit). A fresh device is
not empty: like a real one it carries the changes that set it up, so a client asking for the
newest config log on a new simulator gets one (pan-python's live log test asks for exactly one).

Reference unsure: ``client`` for changes made over the XML API (the docs name only Web and CLI;
the simulator says Web), ``result`` of a commit entry (Submitted when enqueued), and whether
candidate changes are logged when made or when committed (the simulator logs them when made).
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from panpin.simulator import filter as flt
from panpin.simulator.xmlutil import esc

_ORDER = (
    "domain",
    "receive_time",
    "serial",
    "seqno",
    "actionflags",
    "is-logging-service",
    "type",
    "subtype",
    "config_ver",
    "time_generated",
    "dg_hier_level_1",
    "dg_hier_level_2",
    "dg_hier_level_3",
    "dg_hier_level_4",
    "device_name",
    "vsys_id",
    "host",
    "cmd",
    "admin",
    "client",
    "result",
    "path",
    "dg_id",
    "comment",
    "before-change-preview",
    "after-change-preview",
    "full-path",
)
_STEP = re.compile(r"""([^/\[]+)(?:\[@name=(?:'([^']*)'|"([^"]*)")\])?""")
_LOCAL_DEVICE = "/config/devices/entry[@name='localhost.localdomain']"
# What a device logs while it is set up, before the simulator's clock starts (seconds before).
_HISTORY = (
    (3 * 86400, "set", "/config/devices/entry[@name='localhost.localdomain']/deviceconfig/system"),
    (
        3 * 86400 - 60,
        "set",
        "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']"
        "/address/entry[@name='legacy-proxy']",
    ),
    (3 * 86400 - 120, "commit", ""),
    (
        86400,
        "delete",
        "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']"
        "/address/entry[@name='legacy-proxy']",
    ),
    (86400 - 60, "commit", ""),
)


def display_path(xpath: str) -> str:
    """The ``path`` field: xpath steps as words, an entry's name after two spaces.

    ``.../vsys/entry[@name='vsys1']/rulebase`` becomes `` vsys  vsys1 rulebase`` (sample).
    """
    if xpath.startswith(_LOCAL_DEVICE):
        xpath = xpath[len(_LOCAL_DEVICE) :]
    elif xpath.startswith("/config"):
        xpath = xpath[len("/config") :]
    out = []
    for m in _STEP.finditer(xpath):
        tag, name = m.group(1), m.group(2) if m.group(2) is not None else m.group(3)
        out.append(" " + ("" if tag == "entry" else tag) + (f" {name}" if name is not None else ""))
    return "".join(out)


@dataclass
class ConfigLog:
    """Entries oldest first. Callers hold the device lock; appends take this store's lock too."""

    serial: str
    device_name: str
    clock_start: int
    _entries: list[dict[str, str]] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _seq: int = 2300
    _config_ver: int = 10

    def __post_init__(self) -> None:
        for ago, cmd, xpath in _HISTORY:
            self.add(cmd, "admin", xpath, at=self.clock_start - ago)

    def add(
        self,
        cmd: str,
        admin: str,
        xpath: str,
        *,
        at: int,
        result: str = "Succeeded",
        comment: str | None = None,
    ) -> None:
        with self._lock:
            self._seq += 1
            if cmd == "commit":
                self._config_ver += 1
            when = flt.format_time(at)
            preview = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.serial}/{self._seq}"))
            entry = {
                "logid": str(6947456634637510000 + self._seq),
                "domain": "1",
                "receive_time": when,
                "serial": self.serial,
                "seqno": str(self._seq),
                "actionflags": "0x0",
                "is-logging-service": "no",
                "type": "CONFIG",
                # Syslog examples of config logs carry subtype 0; the sample's audit-commit has 1.
                "subtype": "1" if cmd == "audit-commit" else "0",
                "config_ver": str(self._config_ver),
                "time_generated": when,
                "dg_hier_level_1": "0",
                "dg_hier_level_2": "0",
                "dg_hier_level_3": "0",
                "dg_hier_level_4": "0",
                "device_name": self.device_name,
                "vsys_id": "0",
                "host": "127.0.0.1",
                "cmd": cmd,
                "admin": admin,
                "client": "Web",
                "result": result,
                "path": display_path(xpath),
                "dg_id": "0",
                "before-change-preview": preview,
                "after-change-preview": preview,
                "full-path": xpath,
            }
            if comment is not None:
                entry["comment"] = comment
            self._entries.append(entry)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def entries(self) -> list[dict[str, str]]:
        with self._lock:
            return [dict(e) for e in self._entries]

    def query(self, query: str) -> list[int]:
        """Indexes (oldest first) of the entries matching ``query``; FilterError if malformed."""
        match: Callable[[Mapping[str, str]], bool] = flt.compile_for_mapping(flt.parse(query))
        with self._lock:
            return [i for i, e in enumerate(self._entries) if match(e)]

    def render(self, indexes: Sequence[int]) -> str:
        with self._lock:
            parts = []
            for i in indexes:
                e = self._entries[i]
                fields = "".join(f"<{k}>{esc(e[k])}</{k}>" for k in _ORDER if k in e)
                parts.append(f'<entry logid="{e["logid"]}">{fields}</entry>')
            return "".join(parts)
