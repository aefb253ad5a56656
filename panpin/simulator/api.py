"""``/api/`` request dispatch: one function per request type, answers shaped like the samples.

HTTP status is 200 for every PAN-OS answer except the 400/403 families, which PAN-OS sends with
the matching HTTP status and its ``status = 'error' code = '...'`` body (samples
error-400-illegal-parameter.xml, keygen-error-403-invalid-credentials.xml).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lxml import etree

from panpin.simulator import config as cfg
from panpin.simulator import filter as flt
from panpin.simulator import opstate
from panpin.simulator.device import (
    DEFAULT_COMMIT_FAIL_LINES,
    MSG_COMMIT_IN_PROGRESS,
    MSG_NO_CHANGES,
    ConfigChange,
    Device,
    DeviceError,
    Job,
    Lock,
    LogJob,
    MultiConfigError,
    PushResult,
)
from panpin.simulator.faults import Fault
from panpin.simulator.logs import MAX_NLOGS
from panpin.simulator.xmlutil import (
    XmlInputError,
    cdata,
    error,
    esc,
    esc_attr,
    http_error,
    msg_lines,
    parse_document,
    response,
    tostring,
)

XML = "application/xml; charset=UTF-8"
LOG_TYPES = frozenset(
    {
        "traffic",
        "threat",
        "url",
        "wildfire",
        "data",
        "config",
        "system",
        "hipmatch",
        "globalprotect",
        "iptag",
        "userid",
        "auth",
        "tunnel",
        "gtp",
        "sctp",
        "decryption",
    }
)
CONFIG_ACTIONS = frozenset(
    {"get", "show", "set", "edit", "delete", "rename", "clone", "move", "multi-config"}
)
INVALID_CREDENTIAL = "Invalid Credential"  # newer keygen/key wording (docs/panos-api.md: transport)

_STATUS_RE = re.compile(
    rb"""<response\s+status\s*=\s*['"](\w+)['"](?:\s+code\s*=\s*['"](\d+)['"])?"""
)


@dataclass(frozen=True)
class ApiRequest:
    params: dict[str, str]
    key: str | None
    basic: tuple[str, str] | None
    faults: tuple[Fault, ...] = ()


@dataclass(frozen=True)
class ApiResponse:
    http_status: int
    body: bytes
    content_type: str = XML
    admin: str | None = None

    @property
    def pan_status(self) -> tuple[str | None, str | None]:
        m = _STATUS_RE.search(self.body[:200])
        if m is None:
            return None, None
        return m.group(1).decode(), m.group(2).decode() if m.group(2) else None


def ok(body: bytes, admin: str | None = None) -> ApiResponse:
    return ApiResponse(200, body, admin=admin)


def bad_request(message: str) -> ApiResponse:
    return ApiResponse(400, http_error(400, message))


def forbidden() -> ApiResponse:
    return ApiResponse(403, http_error(403, INVALID_CREDENTIAL))


def not_authorized(flag: str) -> ApiResponse:
    """A request type the admin's role lacks: HTTP 403 and the body of the reference's sample
    (hashicorp-consul-terraform-sync__handler_panos_test.go.403-commit-not-authorized.txt:
    spaced, single-quoted attributes; its test author cut the text after "role")."""
    return ApiResponse(403, http_error(403, f"Type [{flag}] not authorized for user role"))


# Request type -> the role's XML API flag (reference ha-and-roles: role/device/xmlapi/...).
# ``version`` needs none (every key may ask what it talks to); keygen needs no key at all.
ROLE_FLAGS = {
    "config": "config",
    "op": "op",
    "commit": "commit",
    "log": "log",
    "report": "report",
    "user-id": "user-id",
    "import": "import",
    "export": "export",
}

# A custom role's empty commit (same sample as above). The sample's text stops at "previous"
# (" etc" is the test author's), so the simulator's does too.
MSG_SAME_AS_PREVIOUS = "The result of this commit would be the same as the previous"

# The first release with a Decryption log (docs/panos-api.md: log jobs; panpin.panos.versions).
DECRYPTION_LOG_SINCE = (10, 0)


class Api:
    """Answers API requests from the state in :class:`Device`."""

    def __init__(self, device: Device) -> None:
        self.device = device

    # ---- entry point -------------------------------------------------------------------------

    def handle(self, req: ApiRequest) -> ApiResponse:
        dev = self.device
        with dev.lock:
            dev.advance()
            rtype = req.params.get("type")
            if rtype is None:
                return bad_request('Missing value for parameter "type".')
            if rtype == "keygen":
                return self.keygen(req)
            admin = self.authenticate(req)
            if admin is None:
                return forbidden()
            handlers: dict[str, Callable[[ApiRequest, str], ApiResponse]] = {
                "config": self.config,
                "op": self.op,
                "commit": self.commit,
                "log": self.log,
                "version": self.version,
            }
            handler = handlers.get(rtype)
            if handler is None:
                return bad_request(f'Illegal value for parameter "type" [{rtype}].')
            flag = ROLE_FLAGS.get(rtype)
            if flag is not None and not dev.permits(admin, flag):
                return not_authorized(flag)
            resp = handler(req, admin)
            return ApiResponse(resp.http_status, resp.body, resp.content_type, admin)

    def authenticate(self, req: ApiRequest) -> str | None:
        if req.key is not None:
            return self.device.admin_for_key(req.key)
        if req.basic is not None and self.device.check_password(*req.basic):
            return req.basic[0]
        return None

    def keygen(self, req: ApiRequest) -> ApiResponse:
        user, password = req.params.get("user"), req.params.get("password")
        if user is None or password is None:
            if req.basic is not None:
                user, password = req.basic
            else:
                return ApiResponse(403, http_error(403, INVALID_CREDENTIAL))
        key = self.device.keygen(user, password)
        if key is None:
            return ApiResponse(403, http_error(403, INVALID_CREDENTIAL))
        # Spacing/quotes as in sample keygen-success.xml.
        return ok(
            f"<response status='success'><result><key>{key}</key></result></response>".encode(),
            user,
        )

    def version(self, req: ApiRequest, admin: str) -> ApiResponse:
        info = self.device.info
        body = (
            f"<result><sw-version>{esc(info.sw_version)}</sw-version>"
            f"<multi-vsys>{'on' if len(info.vsys) > 1 else 'off'}</multi-vsys>"
            f"<model>{esc(self._model())}</model><serial>{esc(info.serial)}</serial></result>"
        )
        return ok(response("success", None, body))

    def _model(self) -> str:
        model = self.device.info.model
        # A firewall scenario served with panorama=True still has to look like Panorama.
        if self.device.is_panorama and not model.startswith(("Panorama", "M-")):
            return "Panorama"
        return model

    # ---- type=config -------------------------------------------------------------------------

    def config(self, req: ApiRequest, admin: str) -> ApiResponse:
        dev = self.device
        params = req.params
        action = params.get("action")
        xpath = params.get("xpath")
        if action is None:
            return bad_request('Missing value for parameter "action".')
        if action not in CONFIG_ACTIONS:
            return bad_request(f'Illegal value for parameter "action" [{action}].')
        if action == "show" and xpath is None:
            # PAN-OS answers the whole running config (what panos_facts' config subset reads).
            return ok(response("success", None, f"<result>{tostring(dev.running)}</result>"))
        if action == "multi-config":
            return self._multi_config(req, admin)
        if xpath is None:
            return bad_request('Missing value for parameter "xpath".')
        try:
            if action == "get":
                nodes = cfg.select_for_read(dev.candidate, xpath)
                if not nodes:
                    return ok(response("success", 7, "<result/>"))
                inner = "".join(tostring(n) for n in nodes)
                return ok(
                    response(
                        "success",
                        19,
                        f'<result total-count="{len(nodes)}" count="{len(nodes)}">{inner}</result>',
                    )
                )
            if action == "show":
                nodes = cfg.select_for_read(dev.running, xpath)
                if not nodes:
                    return ok(error("No such node"))
                return ok(
                    response(
                        "success",
                        None,
                        "<result>" + "".join(tostring(n) for n in nodes) + "</result>",
                    )
                )
            dev.config_change(
                admin,
                ConfigChange(
                    action,
                    xpath,
                    params.get("element"),
                    newname=params.get("newname"),
                    source=params.get("from"),
                    where=params.get("where"),
                    dst=params.get("dst"),
                ),
            )
        except cfg.ConfigError as exc:
            if exc.code == 400:
                return bad_request(exc.lines[0])
            return ok(error(exc.lines, exc.code, use_cdata=exc.cdata))
        return ok(response("success", 20, "<msg>command succeeded</msg>"))

    def _multi_config(self, req: ApiRequest, admin: str) -> ApiResponse:
        """``action=multi-config``: one nested ``<response id=..>`` per action (pan-python reads
        them as ``status="..." code="..." id="..." <first line>``)."""
        element = req.params.get("element")
        if element is None:
            return bad_request('Missing value for parameter "element".')
        strict_text = req.params.get("strict-transactional", "no")
        if strict_text not in ("yes", "no"):
            return bad_request(
                f'Illegal value for parameter "strict-transactional" [{strict_text}].'
            )
        try:
            root = parse_document(element)
        except XmlInputError:
            return ok(response("error", 18, "<msg>Malformed Request</msg>"))
        if root.tag != "multi-config":
            return ok(error([f" {root.tag}  is unexpected"], 17, use_cdata=True))
        changes = []
        for node in root:
            if not isinstance(node.tag, str):
                continue
            inner = "".join(tostring(c) for c in node) or None
            changes.append(
                ConfigChange(
                    str(node.tag),
                    node.get("xpath"),
                    inner,
                    newname=node.get("newname"),
                    source=node.get("from"),
                    where=node.get("where"),
                    dst=node.get("dst"),
                    id=node.get("id"),
                )
            )
        try:
            self.device.multi_config(admin, changes, strict=strict_text == "yes")
        except DeviceError as exc:
            return ok(error(exc.lines, exc.code))
        except MultiConfigError as exc:
            # Reference unsure whether PAN-OS lists the actions before the failed one (they
            # are rolled back); the simulator answers with the failed action alone.
            code = exc.error.code if exc.error.code != 400 else 17
            id_attr = _id_attr(exc.action_id)
            code_attr = f' code="{code}"' if code is not None else ""
            lines = msg_lines(exc.error.lines, use_cdata=exc.error.cdata)
            nested = f'<response status="error"{code_attr}{id_attr}>{lines}</response>'
            return ok(response("error", code, nested))
        nested = "".join(
            f'<response status="success" code="20"{_id_attr(c.id)}>'
            "<msg>command succeeded</msg></response>"
            for c in changes
        )
        return ok(response("success", 20, nested))

    # ---- type=op -----------------------------------------------------------------------------

    def op(self, req: ApiRequest, admin: str) -> ApiResponse:
        cmd = req.params.get("cmd")
        if cmd is None:
            return bad_request('Missing value for parameter "cmd".')
        try:
            root = parse_document(cmd)
        except XmlInputError:
            return ok(response("error", 18, "<msg>Malformed Request</msg>"))
        scope = req.params.get("vsys") or "shared"
        try:
            body = self._op(root, admin, scope)
        except DeviceError as exc:
            if exc.shape == "result-msg":
                return ok(
                    response("error", exc.code, "<result>" + msg_lines(exc.lines) + "</result>")
                )
            return ok(error(exc.lines, exc.code))
        if body is None:
            return ok(
                error([f" {' -> '.join(_cmd_path(root))}  is unexpected"], 17, use_cdata=True)
            )
        return ok(body)

    def _op(self, root: etree._Element, admin: str, scope: str) -> bytes | None:
        dev = self.device
        if not len(root):
            return None
        first = root[0]
        sub = first.tag
        if root.tag == "show":
            if sub == "system" and first.find("info") is not None:
                return self._system_info()
            if sub == "clock":
                return self._clock()
            if sub == "jobs":
                return self._show_jobs(first)
            if sub == "devices" and dev.is_panorama and len(first):
                return self._show_devices(first[0].tag)
            if sub == "config-locks":
                return self._show_locks("config-locks", list(dev.config_locks.values()))
            if sub == "commit-locks":
                return self._show_locks("commit-locks", dev.commit_locks)
            if sub == "config" and len(first):
                return self._show_config(first)
            if sub == "admins":
                return self._show_admins(admin)
            if sub == "interface" and not len(first) and (first.text or "").strip():
                return opstate.show_interface(dev, (first.text or "").strip())
            if sub == "high-availability" and len(first) and first[0].tag in ("state", "all"):
                return opstate.show_high_availability(dev)
            if sub == "session" and len(first) and not dev.is_panorama:
                if first[0].tag == "info":
                    return opstate.show_session_info(dev)
                if first[0].tag == "meter":
                    return opstate.show_session_meter(dev)
            if sub == "routing" and len(first) and first[0].tag == "route" and not dev.is_panorama:
                return opstate.show_routing_route(dev)
            return None
        if root.tag == "request" and sub in ("config-lock", "commit-lock") and len(first):
            what = first[0]
            comment = what.findtext("comment")
            target = what.findtext("admin")
            if sub == "config-lock":
                if what.tag == "add":
                    text = dev.add_config_lock(admin, scope, comment)
                elif what.tag == "remove":
                    text = dev.remove_config_lock(admin, scope, target)
                else:
                    return None
            elif what.tag == "add":
                text = dev.add_commit_lock(admin, scope, comment)
            elif what.tag == "remove":
                text = dev.remove_commit_lock(admin, scope, target)
            else:
                return None
            return response("success", None, f"<result>{esc(text)}</result>")
        if root.tag == "check" and sub == "pending-changes":
            # The puppet sample has no status attribute, but pan-python refuses a response
            # without one; real devices send status="success".
            return response(
                "success", None, f"<result>{'yes' if dev.has_pending() else 'no'}</result>"
            )
        if root.tag == "check" and sub == "full-commit-required":
            # Same shape as pending-changes; yes after loading a named config (pan-os-upgrade-assurance
            # reads it as yes/no).
            return response(
                "success", None, f"<result>{'yes' if dev.full_commit_required else 'no'}</result>"
            )
        if root.tag == "revert" and sub == "config":
            members = [m.text or "" for m in first.findall("partial/admin/member")]
            dev.revert(members if members else None)
            return response(
                "success",
                None,
                "<result>"
                + msg_lines(["All changes were reverted from configuration"])
                + "</result>",
            )
        if root.tag == "load" and sub == "config":
            name = first.findtext("from")
            if not name:
                return None
            dev.load_config(admin, name)
            # Shape of sample load-partial-config-ok.xml (nested msg/line).
            return response(
                "success",
                None,
                f"<result><msg><line><msg><line>Config loaded from {esc(name)}</line></msg></line></msg></result>",
            )
        if root.tag == "save" and sub == "config":
            name = first.findtext("to")
            if not name:
                return None
            dev.save_config(name)
            return response(
                "success", None, "<result>" + msg_lines([f"Config saved to {name}"]) + "</result>"
            )
        if root.tag == "validate" and sub == "full":
            if dev.commit_running():
                raise DeviceError(MSG_COMMIT_IN_PROGRESS, 13)
            jid = dev.validate(admin)
            return _enqueued(f"Validate job enqueued with jobid {jid}", jid)
        return None

    def _system_info(self) -> bytes:
        dev = self.device
        info = dev.info
        now = dev.now()
        fields: list[tuple[str, str]] = [
            ("hostname", info.hostname),
            ("ip-address", info.ip_address),
            ("public-ip-address", "unknown"),
            ("netmask", "255.255.255.0"),
            ("default-gateway", info.ip_address.rsplit(".", 1)[0] + ".1"),
            ("is-dhcp", "no"),
            ("ipv6-address", "unknown"),
            ("ipv6-link-local-address", "fe80::250:56ff:fe8f:1a2b/64"),
            ("mac-address", "00:50:56:8f:1a:2b"),
            ("time", time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(now))),
            ("uptime", "12 days, 3:04:05"),
            ("devicename", info.hostname),
            ("family", info.family),
            ("model", self._model()),
            ("serial", info.serial),
        ]
        if dev.is_panorama:
            fields.append(("system-mode", "panorama"))
        fields += [
            ("cloud-mode", "non-cloud"),
            ("sw-version", info.sw_version),
            ("global-protect-client-package-version", "0.0.0"),
            ("device-dictionary-version", "146-574"),
            ("app-version", info.app_version),
            ("app-release-date", "2026/11/20 14:05:11 PST"),
            ("av-version", "0"),
            ("threat-version", info.app_version),
            ("wildfire-version", "0"),
            ("url-db", "paloaltonetworks"),
            ("url-filtering-version", "20261126.20015"),
            ("logdb-version", "11.1.2"),
            ("multi-vsys", "on" if len(info.vsys) > 1 else "off"),
            ("operational-mode", "normal"),
            ("device-certificate-status", "Valid"),
        ]
        inner = "".join(f"<{k}>{esc(v)}</{k}>" for k, v in fields)
        return response("success", None, f"<result><system>{inner}</system></result>")

    def _clock(self) -> bytes:
        dev = self.device
        t = time.gmtime(dev.now())
        # `date`-style output: day of month space-padded, a trailing newline (real devices).
        text = time.strftime("%a %b ", t) + f"{t.tm_mday:>2} " + time.strftime("%H:%M:%S ", t)
        text += f"{dev.info.timezone} {t.tm_year}\n"
        return response("success", None, f"<result>{esc(text)}</result>")

    def _show_jobs(self, node: etree._Element) -> bytes:
        dev = self.device
        if node.find("all") is not None:
            jobs = "".join(self._job_xml(j) for j in sorted(dev.jobs.values(), key=lambda j: -j.id))
            return response("success", None, f"<result>{jobs}</result>")
        jid_text = (node.findtext("id") or "").strip()
        job = dev.jobs.get(int(jid_text)) if jid_text.isdigit() else None
        if job is None:
            # Sample show-job-not-found-code7.xml.
            return error(f"job {jid_text} not found", 7)
        return response("success", None, f"<result>{self._job_xml(job)}</result>")

    def _job_xml(self, job: Job) -> str:
        tenq = flt.format_time(job.tenq)
        if job.status == "ACT":
            elapsed = time.monotonic() - job.started
            frac = 0.3 if job.stuck else min(elapsed / job.duration if job.duration else 1.0, 0.99)
            progress = str(int(frac * 100))
            tfin = "Still Active"
        else:
            progress = "100"
            tfin = flt.format_time(job.tfin or job.tenq)
        parts = [
            f"<tenq>{tenq}</tenq><tdeq>{tenq[11:]}</tdeq><id>{job.id}</id>",
            f"<user>{esc(job.user)}</user><type>{job.type}</type><status>{job.status}</status>",
            "<queued>NO</queued>",
            f"<stoppable>{'yes' if job.status == 'ACT' else 'no'}</stoppable>",
            f"<result>{job.result}</result><tfin>{tfin}</tfin>",
            f"<description>{esc(job.description)}</description>",
            f"<positionInQ>0</positionInQ><progress>{progress}</progress>",
        ]
        if job.type == "CommitAll":
            # Reference unsure for template pushes; the sample is a device-group push
            # (push_type shared-policy + dgname).
            parts.append(f"<push_type>{esc(job.push_type)}</push_type>")
            tag = "tplname" if job.push_type in ("template", "template-stack") else "dgname"
            parts.append(f"<{tag}>{esc(job.push_name)}</{tag}>")
        details = "".join(f"<line>{esc(line)}</line>" for line in job.details)
        warnings = "".join(f"<line>{esc(line)}</line>" for line in job.warnings)
        parts.append(f"<details>{details}</details><warnings>{warnings}</warnings>")
        if job.type == "CommitAll":
            parts.append(
                "<devices>" + "".join(self._push_entry(job, d) for d in job.devices) + "</devices>"
            )
        return "<job>" + "".join(parts) + "</job>"

    def _push_entry(self, job: Job, d: PushResult) -> str:
        attr = "tplname" if job.push_type in ("template", "template-stack") else "dgname"
        if d.result == "PEND":
            details = ""
        else:
            result = "failure" if d.fail else "success"
            lines = "".join(f"<line>{esc(x)}</line>" for x in d.lines)
            details = (
                f'<msg cmd="push-data" dname="{esc_attr(d.serial)}" {attr}="{esc_attr(job.push_name)}" '
                f'jobid="{job.id}" result="{result}"><errors>{lines}</errors><warnings></warnings></msg>'
            )
        tfin = f"<tfin>{d.tfin}</tfin>" if d.tfin else ""
        return (
            f"<entry><serial-no>{esc(d.serial)}</serial-no><devicename>{esc(d.name)}</devicename>"
            f"<multi-vsys>no</multi-vsys><vsys></vsys><status>{esc(d.status)}</status>"
            f"<result>{d.result}</result><tstart>{d.tstart}</tstart>{tfin}"
            f"<details>{details}</details></entry>"
        )

    def _show_devices(self, which: str) -> bytes | None:
        if which not in ("connected", "all"):
            return None
        entries = []
        for md in self.device.managed.values():
            if which == "connected" and not md.connected:
                continue
            vsys = "".join(
                f'<entry name="{esc_attr(v)}"><display-name>{esc(v)}</display-name></entry>'
                for v in md.vsys
            )
            entries.append(
                f'<entry name="{esc_attr(md.serial)}"><serial>{esc(md.serial)}</serial>'
                f"<connected>{'yes' if md.connected else 'no'}</connected>"
                f"<unsupported-version>no</unsupported-version><hostname>{esc(md.hostname)}</hostname>"
                f"<ip-address>{esc(md.ip_address)}</ip-address><model>{esc(md.model)}</model>"
                f"<sw-version>{esc(md.sw_version)}</sw-version><multi-vsys>no</multi-vsys>"
                f"<vsys>{vsys}</vsys></entry>"
            )
        return response("success", None, f"<result><devices>{''.join(entries)}</devices></result>")

    def _show_locks(self, tag: str, locks: Sequence[Lock]) -> bytes:
        if not locks:
            # Sample show-config-locks-none.xml.
            return response("success", None, f"<result><{tag} /></result>")
        entries = []
        for lk in locks:
            kind = "shared" if lk.scope == "shared" else "vsys"
            entries.append(
                f'<entry name="{esc_attr(lk.admin)}"><type>{kind}</type><name>{esc(lk.scope)}</name>'
                f"<created>{lk.created}</created><last-activity>{lk.created}</last-activity>"
                f"<loggedin>yes</loggedin><comment>{cdata(lk.comment or '(null)')}</comment></entry>"
            )
        return response("success", None, f"<result><{tag}>{''.join(entries)}</{tag}></result>")

    def _show_config(self, node: etree._Element) -> bytes | None:
        dev = self.device
        what = node[0].tag
        if what == "running":
            return response("success", None, "<result>" + tostring(dev.running) + "</result>")
        if what == "candidate":
            return response("success", None, "<result>" + tostring(dev.candidate) + "</result>")
        if what == "list" and node[0].find("changes") is not None:
            ops = sorted(
                dev.journal + [op for ops in dev.committing.values() for op in ops],
                key=lambda o: o.seq,
            )
            verbs = {
                "set": "CREATE",
                "edit": "EDIT",
                "delete": "DELETE",
                "load": "LOAD",
                "rename": "RENAME",
                "clone": "CLONE",
                "move": "MOVE",
            }
            entries = "".join(
                f"<entry><xpath>{esc(op.xpath)}</xpath><owner>{esc(op.admin)}</owner>"
                f"<action> {verbs[op.action]}</action><opseq>{op.seq}</opseq>"
                f"<time>{op.time}</time></entry>"
                for op in ops
            )
            return response("success", None, f"<result><journal>{entries}</journal></result>")
        return None

    def _show_admins(self, admin: str) -> bytes:
        entry = (
            f"<entry><admin>{esc(admin)}</admin><from>127.0.0.1</from><type>Web</type>"
            f"<start-from>{self.device.now_str()}</start-from><idle-for>00:00:00s</idle-for>"
            "<self/></entry>"
        )
        return response("success", None, f"<result><admins>{entry}</admins></result>")

    # ---- type=commit -------------------------------------------------------------------------

    def commit(self, req: ApiRequest, admin: str) -> ApiResponse:
        dev = self.device
        cmd = req.params.get("cmd")
        if cmd is None:
            return bad_request('Missing value for parameter "cmd".')
        try:
            root = parse_document(cmd)
        except XmlInputError:
            return ok(response("error", 18, "<msg>Malformed Request</msg>"))
        stuck = any(f.kind == "job_stuck" for f in req.faults)
        fail = next((f for f in req.faults if f.kind == "commit_fail"), None)
        fail_lines = (fail.lines or None) if fail is not None else None
        try:
            if root.tag == "commit-all" or req.params.get("action") == "all":
                if not dev.is_panorama or root.tag != "commit-all" or not len(root):
                    return ok(error([f" {root.tag}  is unexpected"], 17, use_cdata=True))
                body = root[0]
                if body.tag not in ("template", "template-stack"):
                    return ok(
                        error(
                            [f" commit-all -> {body.tag}  is not supported by the simulator"],
                            17,
                            use_cdata=True,
                        )
                    )
                name = body.findtext("name") or ""
                only = [m.text or "" for m in body.findall("device/member")]
                fail_serials = [
                    f.serial for f in req.faults if f.kind == "push_device_fail" and f.serial
                ]
                push_lines = next(
                    (f.lines for f in req.faults if f.kind == "push_device_fail" and f.lines), None
                )
                jid = dev.commit_all(
                    admin,
                    body.tag,
                    name,
                    body.findtext("description") or "",
                    only or None,
                    fail_serials=fail_serials,
                    fail_lines=push_lines,
                    stuck=stuck,
                )
                return ok(_enqueued(f"Job enqueued with jobid {jid}", jid))
            if root.tag != "commit":
                return ok(error([f" {root.tag}  is unexpected"], 17, use_cdata=True))
            members = [m.text or "" for m in root.iterfind(".//partial/admin/member")]
            jid_or_none = dev.commit(
                admin,
                members or None,
                root.findtext("description") or "",
                stuck=stuck,
                fail_lines=(fail_lines or DEFAULT_COMMIT_FAIL_LINES) if fail is not None else None,
            )
        except DeviceError as exc:
            return ok(error(exc.lines, exc.code))
        if jid_or_none is None:
            if dev.role_of(admin) is not None:
                return ok(response("success", 13, f"<msg>{MSG_SAME_AS_PREVIOUS}</msg>"))
            # Sample commit-no-changes.xml.
            return ok(response("success", 19, f"<msg>{MSG_NO_CHANGES}</msg>"))
        return ok(_enqueued(f"Commit job enqueued with jobid {jid_or_none}", jid_or_none))

    # ---- type=log ----------------------------------------------------------------------------

    def log(self, req: ApiRequest, admin: str) -> ApiResponse:
        dev = self.device
        params = req.params
        action = params.get("action")
        if action in ("get", "finish"):
            jid_text = params.get("job-id")
            if jid_text is None:
                return bad_request('Missing value for parameter "job-id".')
            job = dev.log_jobs.get(int(jid_text)) if jid_text.isdigit() else None
            if job is None:
                return ok(error(f"job {jid_text} not found", 7))
            if action == "finish":
                del dev.log_jobs[job.id]
                return ok(response("success", None, f"<result><job>{job.id}</job></result>"))
            return ok(self._log_poll(job))
        if action is not None:
            return bad_request(f'Illegal value for parameter "action" [{action}].')
        log_type = params.get("log-type")
        if log_type is None:
            return bad_request('Missing value for parameter "log-type".')
        too_old = log_type == "decryption" and dev.feature_release < DECRYPTION_LOG_SINCE
        if log_type not in LOG_TYPES or too_old:
            # Reference unsure: no real answer to an unknown log type was found; PAN-OS's
            # wording for an illegal parameter value (error-400-illegal-parameter.xml) is the
            # closest. Releases before 10.0 know no Decryption log, so they answer the same.
            return bad_request(f'Illegal value for parameter "log-type" [{log_type}].')
        parsed: dict[str, int] = {}
        for name, default, lo, hi in (("nlogs", 20, 1, MAX_NLOGS), ("skip", 0, 0, 2**31)):
            text = params.get(name)
            value = default
            if text is not None:
                if not text.strip().isdigit() or not lo <= int(text) <= hi:
                    return bad_request(f'Illegal value for parameter "{name}" [{text}].')
                value = int(text)
            parsed[name] = value
        direction = params.get("dir", "backward")
        if direction not in ("backward", "forward"):
            return bad_request(f'Illegal value for parameter "dir" [{direction}].')
        query = params.get("query", "")
        try:
            jid = dev.log_enqueue(
                admin,
                log_type,
                query,
                parsed["nlogs"],
                parsed["skip"],
                direction,
                stuck=any(f.kind == "job_stuck" for f in req.faults),
            )
        except flt.FilterError as exc:
            # Reference unsure: no real answer to a malformed query was found. Code 17
            # ("Invalid command or parameters") is the closest documented code.
            return ok(error(f"Invalid query: {exc}", 17))
        # Sample log-query-enqueued.xml.
        return ok(_enqueued(f"query job enqueued with jobid {jid}", jid))

    def _log_poll(self, job: LogJob) -> bytes:
        dev = self.device
        opts = dev.options
        job.polls += 1
        tenq = flt.format_time(job.tenq)[11:]
        elapsed = time.monotonic() - job.started
        ready = not job.stuck and job.polls > opts.log_act_polls and elapsed >= opts.log_seconds
        job.tlast = dev.now()
        head = f"<job><tenq>{tenq}</tenq><tdeq>{tenq}</tdeq><tlast>{flt.format_time(job.tlast)[11:]}</tlast>"
        if not ready:
            progress = min(20 * job.polls, 90)
            # Sample log-job-active.xml.
            return response(
                "success",
                None,
                f"<result>{head}<status>ACT</status><id>{job.id}</id></job>"
                f'<log><logs count="0" progress="{progress}"/></log></result>',
            )
        indexes = dev.logs.page(
            job.matches, skip=job.skip, nlogs=job.nlogs, direction=job.direction
        )
        progress = 100
        if dev.is_panorama and opts.panorama_partial_fin and not job.partial_served:
            # Panorama may say FIN while its collectors are still answering (docs/panos-api.md: log jobs).
            job.partial_served = True
            indexes = indexes[: len(indexes) // 2]
            progress = 60
        count = len(indexes)
        render = dev.config_log.render if job.log_type == "config" else dev.logs.render
        if progress == 100:
            # PAN-OS deletes a log job once its result was retrieved (docs/panos-api.md: log jobs); a client
            # that asks again gets "job not found", like a client whose answer was cut off.
            del dev.log_jobs[job.id]
        if count == 0:
            logs = f'<logs count="0" progress="{progress}"/>'
            meta = ""
        else:
            logs = f'<logs count="{count}" progress="{progress}">{render(indexes)}</logs>'
            meta = dev.logs.meta_xml()
        return response(
            "success",
            None,
            f"<result>{head}<status>FIN</status><id>{job.id}</id></job><log>{logs}</log>{meta}</result>",
        )


def _id_attr(action_id: str | None) -> str:
    return f' id="{esc_attr(action_id)}"' if action_id is not None else ""


def _enqueued(text: str, jid: int) -> bytes:
    # Samples commit-enqueued.xml / log-query-enqueued.xml.
    return response("success", 19, f"<result>{msg_lines([text])}<job>{jid}</job></result>")


def _cmd_path(root: etree._Element) -> list[str]:
    path = [str(root.tag)]
    node = root
    while len(node) == 1:
        node = node[0]
        path.append(str(node.tag))
    if len(node) > 1:
        path.append(str(node[0].tag))
    return path
