"""Operational-state answers peers read for facts and health checks: ``show interface``,
``show session info|meter``, ``show high-availability state|all``, ``show routing route``.

Shapes and element names come from the reference (ha-and-roles for HA) and from the parsers of
pan-python's live tests (``result/info/name``, ``result/counters/tx-packets`` for the management
interface), pan-os-upgrade-assurance (its samples of ``show session info``, ``show routing
route`` and ``show interface <name>``), napalm-panos (``result/entry`` of routes, ``result/hw``
of interfaces) and the vendor's Ansible collection (``show session meter`` per vsys, HA
``group/local-info/state``). The values describe a small, quiet, healthy firewall.

Reference unsure, so kept to what those parsers read: the children of ``show session meter``
entries besides ``vsys`` and ``current``, the ``info`` block of the management interface beyond
``name``, and the extra sections of ``show high-availability all`` over ``state`` (the simulator
answers both with the state shape).
"""

from __future__ import annotations

from dataclasses import dataclass

from panpin.simulator.device import Device
from panpin.simulator.scenario import HaSpec
from panpin.simulator.xmlutil import esc, response

# The simulated firewall's data plane: an untrusted uplink and a trusted LAN (documentation
# prefixes; the management address is the scenario's).
_UPLINK = ("ethernet1/1", "203.0.113.2/24", "untrust", 16)
_LAN = ("ethernet1/2", "10.20.0.1/16", "trust", 17)
_GATEWAY = "203.0.113.1"
ROUTE_FLAGS = (
    "flags: A:active, ?:loose, C:connect, H:host, S:static, ~:internal, R:rip, O:ospf, "
    "B:bgp, Oi:ospf intra-area, Oo:ospf inter-area, O1:ospf ext-type-1, O2:ospf ext-type-2, "
    "E:ecmp, M:multicast"
)
SESSIONS_PER_VSYS = 37


@dataclass(frozen=True)
class _Route:
    destination: str
    nexthop: str
    metric: str
    flags: str
    interface: str


def _fields(pairs: list[tuple[str, str]]) -> str:
    return "".join(f"<{k}>{esc(v)}</{k}>" if v else f"<{k}/>" for k, v in pairs)


def _uptime(dev: Device) -> int:
    return dev.seconds_running()


# ---- show interface -------------------------------------------------------------------------


def show_interface(dev: Device, name: str) -> bytes:
    if name == "management":
        return _management(dev)
    if name == "all":
        return _interface_all(dev)
    for ifname, addr, zone, ifid in (_UPLINK, _LAN):
        if name == ifname and not dev.is_panorama:
            ifnet = _fields(
                [
                    ("name", ifname),
                    ("zone", zone),
                    ("vsys", dev.info.vsys[0]),
                    ("mode", "layer3"),
                    ("vr", "default"),
                    ("fwd_type", "vr"),
                    ("mtu", "1500"),
                    ("id", str(ifid)),
                    ("tag", "0"),
                    ("ip", addr),
                    ("addr", ""),
                ]
            )
            hw = _hw_entry(ifname, ifid)
            return response(
                "success", None, f"<result><dp>dp0</dp><ifnet>{ifnet}</ifnet><hw>{hw}</hw></result>"
            )
    # The answer pan-os-upgrade-assurance documents for an unknown interface: success, with
    # the data plane and an error text in the result.
    return response(
        "success",
        None,
        f"<result><dp>dp0</dp><error>Interface '{esc(name)}' not found</error></result>",
    )


def _management(dev: Device) -> bytes:
    up = _uptime(dev)
    info = _fields(
        [
            ("name", "management"),
            ("state", "up"),
            ("speed", "1000Mb/s"),
            ("duplex", "full"),
            ("mac", "00:50:56:8f:1a:2b"),
            ("ip", f"{dev.info.ip_address}/24"),
            ("ipv6", "unknown"),
            ("ipv6-link-local", "fe80::250:56ff:fe8f:1a2b/64"),
        ]
    )
    # Counters grow while the simulator runs, as on a device that answers requests.
    counters = _fields(
        [
            ("rx-bytes", str(48_213_902 + 900 * up)),
            ("rx-packets", str(412_877 + 7 * up)),
            ("rx-errors", "0"),
            ("rx-dropped", "0"),
            ("tx-bytes", str(61_540_117 + 1400 * up)),
            ("tx-packets", str(398_104 + 6 * up)),
            ("tx-errors", "0"),
            ("tx-dropped", "0"),
        ]
    )
    return response(
        "success", None, f"<result><info>{info}</info><counters>{counters}</counters></result>"
    )


def _hw_entry(ifname: str, ifid: int) -> str:
    return _fields(
        [
            ("name", ifname),
            ("duplex", "full"),
            ("type", "0"),
            ("state", "up"),
            ("state_c", "auto"),
            ("st", "1000/full/up"),
            ("mac", f"00:50:56:8f:2c:{ifid:02x}"),
            ("mode", "(autoneg)"),
            ("speed", "1000"),
            ("id", str(ifid)),
        ]
    )


def _interface_all(dev: Device) -> bytes:
    if dev.is_panorama:
        return response("success", None, "<result><ifnet/><hw/></result>")
    ifnet = hw = ""
    for ifname, addr, zone, ifid in (_UPLINK, _LAN):
        ifnet += (
            "<entry>"
            + _fields(
                [
                    ("name", ifname),
                    ("zone", zone),
                    ("fwd", "vr:default"),
                    ("vsys", "1"),
                    ("dyn-addr", ""),
                    ("addr6", ""),
                    ("tag", "0"),
                    ("ip", addr),
                    ("id", str(ifid)),
                    ("addr", ""),
                ]
            )
            + "</entry>"
        )
        hw += f"<entry>{_hw_entry(ifname, ifid)}</entry>"
    return response("success", None, f"<result><ifnet>{ifnet}</ifnet><hw>{hw}</hw></result>")


# ---- show session ---------------------------------------------------------------------------


def show_session_info(dev: Device) -> bytes:
    active = SESSIONS_PER_VSYS * len(dev.info.vsys)
    # Names and the timeouts' defaults as in pan-os-upgrade-assurance's sample; counts are ours.
    pairs = [
        ("tmo-5gcdelete", "15"),
        ("tmo-sctpshutdown", "60"),
        ("tcp-nonsyn-rej", "True"),
        ("tmo-tcpinit", "5"),
        ("tmo-tcp", "3600"),
        ("pps", "118"),
        ("tmo-tcp-delayed-ack", "25"),
        ("num-max", "819200"),
        ("age-scan-thresh", "80"),
        ("tmo-tcphalfclosed", "120"),
        ("num-active", str(active)),
        ("tmo-sctp", "3600"),
        ("dis-def", "60"),
        ("num-mcast", "0"),
        ("icmp-unreachable-rate", "200"),
        ("tmo-tcptimewait", "15"),
        ("age-scan-ssf", "8"),
        ("tmo-udp", "30"),
        ("vardata-rate", "10485760"),
        ("age-scan-tmo", "10"),
        ("dis-sctp", "30"),
        ("dp", "*.dp0"),
        ("dis-tcp", "90"),
        ("tcp-reject-siw-thresh", "4"),
        ("num-udp", str(active // 4)),
        ("tmo-sctpcookie", "60"),
        ("tmo-icmp", "6"),
        ("max-pending-mcast", "0"),
        ("age-accel-thresh", "80"),
        ("tcp-diff-syn-rej", "True"),
        ("num-gtpc", "0"),
        ("oor-action", "drop"),
        ("tmo-def", "30"),
        ("num-predict", "0"),
        ("age-accel-en", "True"),
        ("age-accel-tsf", "2"),
        ("hw-offload", "True"),
        ("num-icmp", "0"),
        ("num-gtpu-active", "0"),
        ("tmo-cp", "30"),
        ("tcp-strict-rst", "True"),
        ("tmo-sctpinit", "5"),
        ("strict-checksum", "True"),
        ("tmo-tcp-unverif-rst", "30"),
        ("num-bcast", "0"),
        ("ipv6-fw", "True"),
        ("cps", "9"),
        ("num-installed", str(1193 + active)),
        ("num-tcp", str(active - active // 4)),
        ("dis-udp", "60"),
        ("num-sctp-assoc", "0"),
        ("num-sctp-sess", "0"),
        ("tcp-reject-siw-enable", "False"),
        ("tmo-tcphandshake", "10"),
        ("hw-udp-offload", "True"),
        ("kbps", "1184"),
        ("num-gtpu-pending", "0"),
        ("tcp-cong-ctrl", "3"),
    ]
    return response("success", None, f"<result>{_fields(pairs)}</result>")


def show_session_meter(dev: Device) -> bytes:
    """One entry per vsys, ``vsys`` as its number (the Ansible collection looks the entry up by
    ``vsys='1'`` and reads ``current``)."""
    entries = "".join(
        "<entry>"
        + _fields(
            [
                ("vsys", name.removeprefix("vsys") or "1"),
                ("maximum", "0"),
                ("current", str(SESSIONS_PER_VSYS)),
                ("throttled", "0"),
            ]
        )
        + "</entry>"
        for name in dev.info.vsys
    )
    return response("success", None, f"<result>{entries}</result>")


# ---- show high-availability ----------------------------------------------------------------


def show_high_availability(dev: Device) -> bytes:
    ha = dev.ha
    if ha is None:
        # Standalone shapes (reference: a firewall keeps a <group>, Panorama has none).
        if dev.is_panorama:
            body = "<enabled>no</enabled><local-info><encrypt-imported>no</encrypt-imported></local-info>"
        else:
            body = (
                "<enabled>no</enabled><group><local-info>"
                "<ha1-encrypt-imported>no</ha1-encrypt-imported></local-info></group>"
            )
        return response("success", None, f"<result>{body}</result>")
    local = _local_info(dev, ha)
    peer = _peer_info(dev, ha)
    sync = _fields(
        [
            ("running-sync", ha.running_sync),
            ("running-sync-enabled", "yes" if ha.running_sync_enabled else "no"),
        ]
    )
    if dev.is_panorama:
        path_mon = (
            "<path-monitoring><failure-condition>any</failure-condition>"
            "<enabled>yes</enabled><groups/></path-monitoring>"
        )
        body = f"<enabled>yes</enabled><local-info>{local}</local-info><peer-info>{peer}</peer-info>{path_mon}{sync}"
    else:
        monitoring = (
            "<link-monitoring><enabled>yes</enabled><failure-condition>any</failure-condition>"
            "<groups/></link-monitoring><path-monitoring><enabled>yes</enabled>"
            "<failure-condition>any</failure-condition><virtual-wire/><vlan/><virtual-router/>"
            "</path-monitoring>"
        )
        body = (
            f"<enabled>yes</enabled><group><mode>{ha.mode}</mode>"
            f"<local-info>{local}</local-info><peer-info>{peer}</peer-info>{monitoring}{sync}</group>"
        )
    return response("success", None, f"<result>{body}</result>")


def _priority(dev: Device, state: str) -> str:
    if dev.is_panorama:
        return "secondary" if state.startswith("secondary") else "primary"
    return "100"


def _local_info(dev: Device, ha: HaSpec) -> str:
    info = dev.info
    pairs = [
        ("version", "1"),
        ("state", ha.local_state),
        ("state-duration", str(_uptime(dev) + 3675)),
        ("mgmt-ip", f"{info.ip_address}/24"),
        ("mgmt-ipv6", ""),
        ("preemptive", "no"),
        ("priority", _priority(dev, ha.local_state)),
        ("build-rel", info.sw_version),
        ("app-version", info.app_version),
        ("build-compat", "Match"),
        ("app-compat", "Match"),
    ]
    if not dev.is_panorama:
        pairs[1:1] = [("mode", ha.mode)]
        pairs += [
            ("platform-model", info.model),
            ("state-sync", "Complete"),
            ("state-sync-type", "ip"),
            ("ha1-encrypt-imported", "no"),
        ]
    else:
        pairs.append(("encrypt-imported", "no"))
    return _fields(pairs)


def _peer_info(dev: Device, ha: HaSpec) -> str:
    reached = ha.peer_connected
    status = "up" if reached else "down"
    conn = (
        f"<conn-ha1><conn-status>{status}</conn-status><conn-primary>yes</conn-primary>"
        "<conn-desc>heartbeat status</conn-desc></conn-ha1>"
    )
    pairs = [
        ("conn-status", status),
        ("version", "1"),
        ("state", ha.peer_state if reached else "unknown"),
        ("mgmt-ip", ha.peer_mgmt_ip if reached else ""),
        ("mgmt-ipv6", ""),
        ("preemptive", "no"),
        ("priority", _priority(dev, ha.peer_state)),
        ("build-rel", dev.info.sw_version if reached else ""),
    ]
    if not dev.is_panorama:
        pairs += [("mode", ha.mode), ("platform-model", dev.info.model if reached else "")]
    return conn + _fields(pairs)


# ---- show routing route ---------------------------------------------------------------------


def show_routing_route(dev: Device) -> bytes:
    routes = [
        _Route("0.0.0.0/0", _GATEWAY, "10", "A S", _UPLINK[0]),
        _Route("10.20.0.0/16", "10.20.0.1", "0", "A C", _LAN[0]),
        _Route("10.20.0.1/32", "0.0.0.0", "0", "A H", ""),
        _Route("203.0.113.0/24", "203.0.113.2", "0", "A C", _UPLINK[0]),
        _Route("203.0.113.2/32", "0.0.0.0", "0", "A H", ""),
    ]
    entries = "".join(
        "<entry>"
        + _fields(
            [
                ("virtual-router", "default"),
                ("destination", r.destination),
                ("nexthop", r.nexthop),
                ("metric", r.metric),
                ("flags", r.flags),
                ("age", ""),
                ("interface", r.interface),
                ("route-table", "unicast"),
            ]
        )
        + "</entry>"
        for r in routes
    )
    return response("success", None, f"<result><flags>{ROUTE_FLAGS}</flags>{entries}</result>")
