"""``make reliability`` ends by running ``report.py`` as a script; `make test` never does.

A function defined below the ``if __name__ == "__main__":`` block does not exist yet when the
script runs (which broke ``make reliability`` once), so the block must come last.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = [ROOT / "tests" / "reliability" / "report.py", ROOT / "benchmarks" / "__main__.py"]


def _is_main_guard(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
    )


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_main_block_comes_last(script: Path) -> None:
    body = ast.parse(script.read_text(encoding="utf-8")).body
    guards = [i for i, node in enumerate(body) if _is_main_guard(node)]
    assert guards == [len(body) - 1], f"{script.name}: code after the __main__ block"
