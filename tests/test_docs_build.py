"""The API reference (docs/api: Sphinx + numpydoc, ``make docs``) builds, so it cannot rot.

The build runs on a copy of docs/api (autosummary writes its stub pages next to the sources) with the
same options as ``make docs``: warnings are allowed, a failed build is not. Then a page generated from a
numpydoc docstring is checked for its rendered sections.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx", reason="the docs extra (sphinx, numpydoc) is not installed")
pytest.importorskip("numpydoc", reason="the docs extra (sphinx, numpydoc) is not installed")

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_api_reference_builds(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(REPO / "docs" / "api", src, ignore=shutil.ignore_patterns("generated"))
    out = tmp_path / "html"
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-q", "-n", "-b", "html", str(src), str(out)],
                          capture_output=True, text=True, timeout=280, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "index.html").is_file()
    page = (out / "generated" / "harmony.imageops.html").read_text(encoding="utf-8")
    assert "rgb_to_ycbcr" in page
    # numpydoc turned the Parameters / Returns / References sections into field lists and citations
    assert "Parameters" in page and "Returns" in page and "BT.601" in page
    for module in ("harmony.io", "harmony.registry", "harmony.serialize", "harmony.benchmark.metrics",
                   "harmony.datagen.transfer", "harmony.baselines"):
        assert (out / "generated" / f"{module}.html").is_file(), module
