"""Docstrings of the core modules cannot regress.

- Every public function, class and public method of every module of ``harmony`` has a docstring.
- Every public function or method that takes arguments has a numpydoc
  ``Parameters`` section, and every one that returns a value a ``Returns`` section.
- No module of :data:`DOCUMENTED` points users at files they do not have (internal notes, the papers'
  local copies): citations name the paper, the public script or the format.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import harmony

ALL_MODULES = sorted(
    m.name for m in pkgutil.walk_packages(harmony.__path__, "harmony.") if not m.name.endswith("__main__")
)
# Modules whose docstrings are still being completed (issue #16). Remove a module from this set once
# it passes; the set must end empty. One module per line.
PENDING = {
}
DOCUMENTED = [m for m in ALL_MODULES if m not in PENDING]
NUMPYDOC = DOCUMENTED
NOT_FOR_USERS = re.compile(r"REFERENCE(\.md)?\b|\bseeds?/0\d\d|\bseed 00\d|\.\./shared")


def _public(module_name):
    """(qualified name, object) of the public functions, classes and methods defined in the module."""
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    for name in names:
        obj = getattr(module, name)
        if not (inspect.isfunction(obj) or inspect.isclass(obj)) or obj.__module__ != module_name:
            continue
        yield name, obj
        if inspect.isclass(obj):
            for attr, value in vars(obj).items():
                func = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
                if not attr.startswith("_") and inspect.isfunction(func):
                    yield f"{name}.{attr}", func


@pytest.mark.parametrize("module_name", DOCUMENTED)
def test_every_public_name_has_a_docstring(module_name):
    missing = [q for q, obj in _public(module_name) if not (obj.__doc__ or "").strip()]
    assert missing == [], f"{module_name}: public names without a docstring: {missing}"


def _takes_arguments(func):
    params = [p for p in inspect.signature(func).parameters.values() if p.name not in ("self", "cls")]
    return bool(params)


def _returns_value(func):
    ann = inspect.signature(func).return_annotation
    return ann not in (None, "None", inspect.Signature.empty)


@pytest.mark.parametrize("module_name", NUMPYDOC)
def test_numpydoc_sections(module_name):
    problems = []
    for qual, obj in _public(module_name):
        if inspect.isclass(obj):
            continue
        doc = inspect.getdoc(obj) or ""
        if _takes_arguments(obj) and not re.search(r"^Parameters\n-{10}", doc, re.M):
            problems.append(f"{qual}: no Parameters section")
        if _returns_value(obj) and not re.search(r"^Returns\n-{7}", doc, re.M):
            problems.append(f"{qual}: no Returns section")
    assert problems == [], f"{module_name}: " + "; ".join(problems)


@pytest.mark.parametrize("module_name", DOCUMENTED)
def test_citations_point_at_public_sources(module_name):
    source = inspect.getsource(importlib.import_module(module_name))
    hits = [line.strip() for line in source.splitlines() if NOT_FOR_USERS.search(line)]
    assert hits == [], f"{module_name} cites files users do not have: {hits}"


def test_the_checks_can_fail():
    # The patterns and the section check recognise what they must reject.
    assert NOT_FOR_USERS.search("see REFERENCE.md section 3") and NOT_FOR_USERS.search("DIH seed 000 s3.1")
    assert NOT_FOR_USERS.search("../shared/data") and not NOT_FOR_USERS.search("seed 0, smoothness 1")

    def undocumented(x):
        return x

    assert not re.search(r"^Parameters\n-{10}", inspect.getdoc(undocumented) or "", re.M)
