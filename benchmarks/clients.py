"""The measured clients, each run as ``python -m benchmarks.clients KIND 'JSON-ARGS'``.

Every kind imports its libraries first, then measures only its work with
``resource.getrusage`` CPU deltas and wall time, and prints one JSON line
``{"wall", "cpu", "rss_mb", ...}``. Peak RSS is the whole process's (imports included): that is
what a management plane or cron host actually pays.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import ssl
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from urllib.request import Request, urlopen

from benchmarks.measure import peak_rss_mb, self_cpu
from panpin.scan.logs import LOG_FIELDS

# The fields panpin reads from an entry; the other clients extract the same ones so every
# client does the same per-entry work before its own processing.
FIELDS = LOG_FIELDS
NLOGS = 5000


def _measure(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    cpu0, wall0 = self_cpu(), time.perf_counter()
    extra = work()
    cpu, wall = self_cpu() - cpu0, time.perf_counter() - wall0
    # A client may report the CPU of only part of its work (the lxml floor times the parse alone).
    return {"wall": wall, "cpu": extra.pop("cpu", cpu), "rss_mb": peak_rss_mb(), **extra}


# --- 1. log scan ---------------------------------------------------------------------------------


def scan_panpin(args: dict[str, Any]) -> dict[str, Any]:
    """``panpin scan --format json`` in this process, the way cron would run it."""
    # Import everything the command needs before the clock starts, as the other clients do.
    from panpin.cli import main

    argv = [
        "-q",
        "--host",
        args["host"],
        "--ca-file",
        args["ca_file"],
        "scan",
        "--since",
        args["since"],
        "--format",
        "json",
    ]

    def work() -> dict[str, Any]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                main(argv)
            except SystemExit as exc:
                if exc.code not in (0, None):
                    raise RuntimeError(f"panpin scan exited {exc.code}") from None
        doc = json.loads(out.getvalue())
        return {"entries": doc["logs_read"], "hosts": len(doc["candidates"])}

    return _measure(work)


def profile_scan_panpin(args: dict[str, Any]) -> dict[str, Any]:
    """:func:`scan_panpin` under pyinstrument; the call tree goes to ``args["profile"]``."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    profiler.start()
    try:
        result = scan_panpin(args)
    finally:
        profiler.stop()
    Path(args["profile"]).write_text(profiler.output_text(unicode=True), encoding="utf-8")
    return result


def scan_pan_python(args: dict[str, Any]) -> dict[str, Any]:
    """pan-python ``PanXapi.log()`` page by page, then ElementTree over each page's entries."""
    import pan.xapi

    xapi = pan.xapi.PanXapi(
        hostname="127.0.0.1",
        port=args["port"],
        api_key=args["api_key"],
        ssl_context=ssl.create_default_context(cafile=args["ca_file"]),
    )

    def work() -> dict[str, Any]:
        skip = 0
        total = 0
        while True:
            xapi.log(
                log_type="decryption",
                nlogs=NLOGS,
                skip=skip,
                filter=args["query"],
                interval=0.5,
                extra_qs={"dir": "forward"},
            )
            count = 0
            for entry in xapi.element_root.iterfind("./result/log/logs/entry"):
                fields = {"logid": entry.get("logid", "")}
                for child in entry:
                    if child.tag in FIELDS:
                        fields[child.tag] = child.text or ""
                count += 1
            total += count
            if count < NLOGS:
                return {"entries": total}
            skip += count

    return _measure(work)


_JOB_RE = re.compile(rb"<job>(\d+)</job>")


def _post(args: dict[str, Any], context: ssl.SSLContext, params: dict[str, str]) -> bytes:
    request = Request(
        f"https://{args['host']}/api/",
        data=urlencode(params).encode(),
        headers={"X-PAN-KEY": args["api_key"]},
        method="POST",
    )
    # The URL is always https:// to the simulator this benchmark started.
    with urlopen(request, context=context, timeout=300) as answer:  # noqa: S310
        body: bytes = answer.read()
        return body


def fetch_page(args: dict[str, Any], context: ssl.SSLContext, skip: int) -> bytes:
    """One finished log-job page (``NLOGS`` entries from ``skip``), as the device sends it."""
    start = _post(
        args,
        context,
        {
            "type": "log",
            "log-type": "decryption",
            "nlogs": str(NLOGS),
            "skip": str(skip),
            "dir": "forward",
            "query": args["query"],
        },
    )
    match = _JOB_RE.search(start)
    assert match, start[:500]
    while True:
        body = _post(args, context, {"type": "log", "action": "get", "job-id": match[1].decode()})
        if b"<status>FIN</status>" in body:
            return body
        time.sleep(0.5)


def scan_lxml_floor(args: dict[str, Any]) -> dict[str, Any]:
    """The floor: ``lxml.etree.fromstring`` of the same page bytes, fetched outside the clock."""
    from lxml import etree

    context = ssl.create_default_context(cafile=args["ca_file"])

    def fetch(skip: int) -> bytes:
        return fetch_page(args, context, skip)

    def work() -> dict[str, Any]:
        skip = 0
        total = 0
        parse_cpu = 0.0
        while True:
            page = fetch(skip)
            cpu0 = self_cpu()
            root = etree.fromstring(page)
            count = len(root.findall("result/log/logs/entry"))
            del root
            parse_cpu += self_cpu() - cpu0
            total += count
            if count < NLOGS:
                return {"entries": total, "cpu": parse_cpu}
            skip += count

    return _measure(work)


# --- 2. requests per change ----------------------------------------------------------------------


def change_pan_os_python(args: dict[str, Any]) -> dict[str, Any]:
    """pan-os-python: K ``SslDecryptExcludeCert(...).create()``, then an admin-scoped commit."""
    from panos.device import SslDecrypt, SslDecryptExcludeCert
    from panos.firewall import Firewall

    fw = Firewall(hostname="127.0.0.1", port=args["port"], api_key=args["api_key"], vsys="shared")
    fw.xapi.ssl_context = ssl.create_default_context(cafile=args["ca_file"])

    def work() -> dict[str, Any]:
        decrypt = SslDecrypt()
        fw.add(decrypt)
        for i in range(args["k"]):
            entry = SslDecryptExcludeCert(
                name=f"h{i}.bench.example", description=f"bench {i}", exclude=True
            )
            decrypt.add(entry)
            entry.create()
        job = fw.commit(sync=True, admins=[args["admin"]])
        return {"result": str(job.get("result") if isinstance(job, dict) else job)}

    return _measure(work)


KINDS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "scan-panpin": scan_panpin,
    "profile-scan-panpin": profile_scan_panpin,
    "scan-pan-python": scan_pan_python,
    "scan-lxml-floor": scan_lxml_floor,
    "change-pan-os-python": change_pan_os_python,
}


def main() -> None:
    kind, raw = sys.argv[1], sys.argv[2]
    result = KINDS[kind](json.loads(raw))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
