"""``panpin report`` in a real browser: headless Chromium loads the page, and the test asserts what
it shows and that the console stayed clean, over the DevTools protocol.

Chromium comes from the distribution (Debian: ``apt-get install -y chromium``). The test fails,
not skips, when it is missing: a report nobody checked in a browser is not checked.
Set ``PANPIN_SCREENSHOT=FILE`` to save what the test saw (the README's screenshot is of the demo's real plan).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import websocket
from captures import sample_plan

from panpin.change.plan import Plan

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = "install it with: apt-get update && apt-get install -y chromium"


def chromium_binary() -> str:
    configured = os.environ.get("PANPIN_CHROMIUM")
    if configured:
        if shutil.which(configured) is None:
            pytest.fail(f"PANPIN_CHROMIUM={configured} is not an executable; {INSTALL_HINT}")
        return configured
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        f"headless Chromium is needed for the report test and was not found; {INSTALL_HINT}"
    )


class Browser:
    """One headless Chromium with one page, driven over the DevTools protocol (CDP)."""

    def __init__(self, profile: Path) -> None:
        self.proc = subprocess.Popen(
            [
                chromium_binary(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                pytest.fail(f"Chromium did not start (exit {self.proc.returncode}); {INSTALL_HINT}")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            targets = json.load(answer)
        page = next(t for t in targets if t.get("type") == "page")
        # No Origin header: Chromium refuses DevTools websockets from unlisted origins.
        self.ws = websocket.create_connection(
            page["webSocketDebuggerUrl"], timeout=20, suppress_origin=True
        )
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        ident = self.next_id
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 20) -> dict[str, Any]:
        seen = next((e for e in self.events if e.get("method") == method), None)
        deadline = time.monotonic() + timeout
        while seen is None:
            self.ws.settimeout(max(deadline - time.monotonic(), 0.1))
            message = json.loads(self.ws.recv())
            self.events.append(message)
            if message.get("method") == method:
                seen = message
        return seen

    def open(self, url: str) -> None:
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")
        # Let late console messages (CSP reports are queued) arrive before they are judged.
        self.evaluate("new Promise(r => setTimeout(r, 150))", wait=True)

    def evaluate(self, expression: str, *, wait: bool = False) -> Any:
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=wait
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions, and log entries at error level (CSP, loads)."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(str(params.get("exceptionDetails", {}).get("text")))
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(json.dumps(params.get("args")))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                found.append(str(params["entry"].get("text")))
        return found

    def requests(self) -> list[str]:
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
        ]

    def screenshot(self, path: Path) -> None:
        height = self.evaluate("document.documentElement.scrollHeight")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=1280,
            height=min(int(height), 1700),
            deviceScaleFactor=1,
            mobile=False,
        )
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=False)
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        ws = getattr(self, "ws", None)
        if ws is not None:
            ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    b = Browser(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield b
    finally:
        b.close()


def _plan_file(tmp_path: Path, *, timeline: bool = True) -> tuple[Plan, Path]:
    plan = sample_plan(tmp_path, timeline=timeline)
    assert isinstance(plan, Plan)
    path = tmp_path / "plan.json"
    path.write_text(plan.dumps())
    return plan, path


def test_report_renders_in_chromium(
    browser: Browser, tmp_path: Path, run_cli: Callable[..., Any]
) -> None:
    plan, plan_path = _plan_file(tmp_path)
    page = tmp_path / "report.html"
    result = run_cli("report", str(plan_path), "--html", str(page))
    assert result.code == 0, result.err
    browser.open(page.as_uri())

    assert browser.problems() == []
    assert browser.requests() == [page.as_uri()], "the page must fetch nothing"
    shown = browser.evaluate(
        """(() => {
        const rows = sel => [...document.querySelectorAll(sel)].map(
            tr => [...tr.cells].map(td => td.innerText.trim()));
        const box = document.querySelector('#errors-chart').getBoundingClientRect();
        return {
          title: document.querySelector('#title').innerText,
          adds: rows('#adds tbody tr'),
          removes: rows('#removes tbody tr'),
          decisions: rows('#decisions tbody tr'),
          hosts: [...document.querySelectorAll('[data-host]')].map(e => e.dataset.host),
          statuses: Object.fromEntries([...document.querySelectorAll('[data-host]')].map(
            e => [e.dataset.host, (e.querySelector('[data-status]') || {dataset: {}}).dataset.status || null])),
          bars: document.querySelectorAll('#errors-chart rect.bar').length,
          labels: [...document.querySelectorAll('#errors-chart .host-label')].map(t => t.textContent),
          chart: [box.width, box.height],
          bold: document.querySelectorAll('section b, section strong, section script').length,
          scripts: document.scripts.length,
          styled: getComputedStyle(document.querySelector('th')).textTransform,
        };
        })()"""
    )
    assert plan.change_id in shown["title"]
    assert [row[0] for row in shown["adds"]] == sorted(e.name for e in plan.adds)
    vendor = next(row for row in shown["adds"] if row[0] == "*.vendor.example")
    assert vendor[1] == "api.vendor.example, cdn.vendor.example"
    assert vendor[2] == "vendor-apps"
    assert "rule 'vendor-apps' allows" in vendor[4]
    # The device also exempts certificates whose CN contains the name: the reviewer sees it.
    assert "CN matches or contains it" in vendor[6]
    assert [row[0] for row in shown["removes"]] == ["old.vendor.example"]
    assert "expired on 2026-11-16" in shown["removes"][0][2]
    assert len(shown["decisions"]) == len(plan.decisions)
    decided = {row[0]: (row[1], row[3]) for row in shown["decisions"]}
    assert decided["feeds.partner.example"] == ("review", "likely")
    assert decided["api.partner.example"] == ("allow", "confirmed")
    # The hostile candidate is shown as text, not markup.
    assert "<b>odd</b>.app.example" in shown["hosts"]
    assert shown["statuses"]["api.partner.example"] == "confirmed"
    assert shown["statuses"]["login.bank.example"] == "not-seen"
    assert shown["bars"] > 20 and len(shown["labels"]) == 7
    assert shown["chart"][0] > 800 and shown["chart"][1] > 150
    # Nothing from the plan became markup.
    assert shown["bold"] == 0
    assert shown["scripts"] == 0
    assert shown["styled"] == "uppercase", "the stylesheet was blocked (CSP hash mismatch?)"

    shot = tmp_path / "report.png"
    browser.screenshot(shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    target = os.environ.get("PANPIN_SCREENSHOT")
    if target:
        shutil.copyfile(shot, target)


def test_report_without_timeline_draws_spans(browser: Browser, tmp_path: Path) -> None:
    from panpin.report import render_report

    plan, _ = _plan_file(tmp_path, timeline=False)
    page = tmp_path / "spans.html"
    page.write_text(render_report(plan), encoding="utf-8")
    browser.open(page.as_uri())
    assert browser.problems() == []
    bars = browser.evaluate("document.querySelectorAll('#errors-chart rect.bar').length")
    assert bars == 7


def test_harness_sees_console_errors(browser: Browser, tmp_path: Path) -> None:
    """Control: the same CSP in a page that breaks it must be reported, or the checks above
    prove nothing."""
    from panpin.report import CSP

    page = tmp_path / "bad.html"
    page.write_text(
        f'<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="{CSP}">'
        "<style>body{color:red}</style></head><body><script>console.error('boom')</script>"
        "</body></html>",
        encoding="utf-8",
    )
    browser.open(page.as_uri())
    problems = browser.problems()
    assert problems, "a blocked style and script must show up as console errors"
