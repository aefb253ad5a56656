"""pan-python 0.26's own live tests pass against ``panpin simulator serve`` (issue 17).

Each module's tests are counted: every one must pass, and a module that ran none fails (a
harness that silently runs nothing proves nothing).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import audit
from pan_python_live import release_tree, run_live, simulator_serve

# Module -> how many tests it holds in pan-python 0.26.0.
MODULES = {
    "test_xapi_fw_pano_log": 2,
    "test_xapi_fw_tgt_config": 1,
    "test_xapi_fw_tgt_multi_config": 2,
    "test_xapi_fw_tgt_pano_op": 2,
}


@pytest.fixture(scope="module")
def tree() -> Path:
    return release_tree()


def test_the_release_is_unpacked_with_our_mixin(tree: Path) -> None:
    assert (tree / "lib" / "pan" / "xapi.py").is_file()
    assert (tree / "tests" / "__init__.py").is_file()
    assert "PANPIN_LIVE_API_KEY" in (tree / "tests" / "xapi_mixin.py").read_text()
    for module in MODULES:
        assert (tree / "tests" / f"{module}.py").is_file(), module


@pytest.mark.slow
def test_pan_python_live_tests_pass_against_simulator_serve(tree: Path, tmp_path: Path) -> None:
    with simulator_serve(tmp_path) as served:
        run = run_live(tree, served, list(MODULES))
    audit(run.output, "pan-python's live test output")
    counts = run.per_module()
    assert counts == {m: (n, n) for m, n in MODULES.items()}, run.output[-6000:]
