"""The repository stands on its own: nothing it ships or tests reads a file from outside it.

A user clones the repository and has nothing else, so a path to a neighbouring folder (the steering
notes a developer may have beside the checkout) or into one machine's work tree or home folder works
for its author and fails for everyone else. `.ci/run` proves the same from a clone in an empty
temporary folder; this test names the offending line.
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("panpin", "tests", "benchmarks", "docs", "configs", ".ci", "README.md", "Makefile")
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".txt", ".cfg", ".ini", ".sh", ""}

# Built from pieces so that this file does not match itself.
SHARED = "sha" + "red"
FORBIDDEN = [
    (re.compile(r"\.\./+" + SHARED + r"\b"), "a folder beside the repository"),
    (
        re.compile(SHARED + r"/(?:reference|DESIGN|STYLE)"),
        "the steering notes outside the repository",
    ),
    (
        re.compile(r"(?<![\w.])/(?:work|home|root|Users)/"),
        "an absolute path into a work tree or home",
    ),
    (re.compile(r"(?<![\w.])/tmp/\w"), "a fixed temporary path (use tmp_path)"),
]
PARENTS = re.compile(r"Path\(__file__\)(?:\.resolve\(\))?\.parents\[(\d+)\]")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def tracked_files() -> list[Path]:
    """The files git tracks (and untracked ones it does not ignore) under the checked folders."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *CHECKED],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    files = [ROOT / line for line in out.splitlines() if line]
    return [f for f in files if f.is_file() and f.suffix in TEXT_SUFFIXES]


def test_the_checked_folders_are_found() -> None:
    # Guards the test itself: an empty list would make every check below pass vacuously.
    names = {p.relative_to(ROOT).as_posix() for p in tracked_files()}
    assert {"README.md", "Makefile", "panpin/cli/__init__.py", ".ci/run"} <= names
    assert len(names) > 100


def test_no_path_outside_the_repository() -> None:
    problems: list[str] = []
    for path in tracked_files():
        rel = path.relative_to(ROOT).as_posix()
        if rel == "tests/unit/test_self_contained.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for pattern, what in FORBIDDEN:
                if pattern.search(line):
                    problems.append(f"{rel}:{number}: {what}: {line.strip()}")
            for match in PARENTS.finditer(line):
                # parents[k] of a file d folders below the root is inside the repository for k <= d.
                depth = len(path.relative_to(ROOT).parts) - 1
                if int(match.group(1)) > depth:
                    problems.append(f"{rel}:{number}: climbs out of the repository: {line.strip()}")
    assert problems == []


@pytest.mark.parametrize(
    "line",
    [
        "SAMPLES = Path(__file__).resolve().parents[3] / 'x' / 'reference'",
        "see ../" + "shared/DESIGN.md",
        'Path("/work/' + 'x/reference/panos-samples")',
        "open('/home/" + "someone/key')",
        "ca = '/tmp/" + "ca.pem'",
    ],
)
def test_the_patterns_catch_what_they_are_for(line: str) -> None:
    # Each kind of dependency the issue names is caught (a test that cannot fail proves nothing).
    hit = any(p.search(line) for p, _ in FORBIDDEN) or any(
        int(m.group(1)) >= 2 for m in PARENTS.finditer(line)
    )
    assert hit, line


@pytest.mark.parametrize(
    "line",
    [
        'xpath = "/config/' + SHARED + '/ssl-decrypt"',
        "Path('/proc/cpuinfo').read_text()",
        "ca_file: /etc/panpin/mgmt-ca.pem",
        "~/.config/panpin/panpin.yaml",
    ],
)
def test_what_is_not_a_dependency_passes(line: str) -> None:
    assert not any(p.search(line) for p, _ in FORBIDDEN), line


def test_markdown_links_resolve_inside_the_repository() -> None:
    problems: list[str] = []
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for doc in docs:
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            for target in LINK.findall(line):
                if re.match(r"[a-z]+:", target) or target.startswith("#"):
                    continue  # a web address or an anchor in the same page
                resolved = (doc.parent / target.split("#", 1)[0]).resolve()
                inside = resolved == ROOT or ROOT in resolved.parents
                if not inside or not resolved.exists():
                    problems.append(f"{doc.relative_to(ROOT)}:{number}: {target}")
    assert problems == []


def test_license_matches_pyproject() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'license = "Apache-2.0"' in pyproject
    assert 'license-files = ["LICENSE"]' in pyproject


def test_the_wheel_ships_the_license(tmp_path: Path) -> None:
    # Built as a user's `pip wheel .` builds it (isolated build, the pinned build backend).
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("panpin-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        licenses = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        assert licenses, names
        assert archive.read(licenses[0]) == (ROOT / "LICENSE").read_bytes()
