"""The API reference (docs/api: Sphinx + numpydoc, ``make docs``) builds, so it cannot rot.

The build runs on a copy of docs/api (autosummary writes its stub pages next to the sources) with the
same options as ``make docs``: warnings are allowed, a failed build is not. Then every public module must
have its page, and the pages of a few modules are checked against their docstrings (read with numpydoc's
own parser): each parameter, Returns and References section rendered for every function that has one.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx", reason="the docs extra (sphinx, numpydoc) is not installed")
pytest.importorskip("numpydoc", reason="the docs extra (sphinx, numpydoc) is not installed")

REPO = Path(__file__).resolve().parent.parent


# Modules whose rendered pages are checked against their docstrings, function by function.
RENDERED = ("harmony.io", "harmony.registry", "harmony.serialize")


def _public_modules() -> list[str]:
    import harmony

    return sorted(m.name for m in pkgutil.walk_packages(harmony.__path__, "harmony.")
                  if not any(part.startswith("_") for part in m.name.split(".")))


def _object_html(page: str, qualname: str) -> str:
    """The HTML of one documented object: from its anchor to the next documented object."""
    start = page.index(f'id="{qualname}"')
    end = page.find('<dl class="py ', start + 1)
    return page[start:end if end > 0 else len(page)]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_api_reference_builds(tmp_path):
    from numpydoc.docscrape import FunctionDoc

    src = tmp_path / "src"
    shutil.copytree(REPO / "docs" / "api", src, ignore=shutil.ignore_patterns("generated"))
    out = tmp_path / "html"
    # a generous bound: the build takes ~30 s of CPU, several times that on a loaded machine
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-q", "-n", "-b", "html", str(src), str(out)],
                          capture_output=True, text=True, timeout=570, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "index.html").is_file()
    # autosummary is recursive: every public module has its page, without editing docs/api
    missing = [m for m in _public_modules() if not (out / "generated" / f"{m}.html").is_file()]
    assert missing == []
    # numpydoc turned each docstring's sections into field lists: every parameter by name, Returns and
    # References where the docstring has them (parsed here with numpydoc's own docstring reader)
    checked = 0
    for module_name in RENDERED:
        module = importlib.import_module(module_name)
        page = (out / "generated" / f"{module_name}.html").read_text(encoding="utf-8")
        for name, func in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("_") or func.__module__ != module_name:
                continue
            doc = FunctionDoc(func)
            html = _object_html(page, f"{module_name}.{name}")
            if doc["Parameters"]:
                assert 'Parameters<span class="colon">' in html, name
                for param in doc["Parameters"]:
                    for one in param.name.split(", "):
                        assert f"{one.lstrip('*')}</strong>" in html, (name, one)   # *args render as <strong>*args
                checked += 1
            if doc["Returns"]:
                assert 'Returns<span class="colon">' in html, name
            if doc["References"]:
                assert 'class="rubric">References' in html, name
    assert checked >= 10, "the rendered-section check found too few documented functions to mean anything"
