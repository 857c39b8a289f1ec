"""Sphinx configuration of harmony's API reference (``make docs`` builds it into build/docs).

The pages are generated from the docstrings (numpydoc style) by autosummary, recursively over the
``harmony`` package, so a new module appears without editing this folder.
"""

from __future__ import annotations

import os
import sys

_REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if os.path.isfile(os.path.join(_REPO, "harmony", "__init__.py")):
    sys.path.insert(0, _REPO)  # the checkout's package, also when it is not installed

import harmony  # noqa: E402

project = "harmony"
author = "harmony contributors"
copyright = "harmony contributors, BSD-3-Clause"  # noqa: A001
release = harmony.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
]

autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
# Optional extras: the pages build without them (their members are then documented from stubs).
autodoc_mock_imports = [m for m in ("mitsuba", "drjit", "simple_lama_inpainting")
                        if __import__("importlib.util").util.find_spec(m) is None]

numpydoc_show_class_members = False
numpydoc_validation_checks: set[str] = set()
numpydoc_xref_param_type = False

templates_path: list[str] = []
exclude_patterns = ["_build", "generated/*.rst.bak"]
html_theme = "alabaster"
html_theme_options = {"description": "image-harmonization research toolkit", "fixed_sidebar": True}
html_static_path: list[str] = []
suppress_warnings = ["autosummary.import_cycle"]
