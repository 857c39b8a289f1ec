"""Docstrings of every module of ``harmony`` cannot regress.

- Every public function, class and public method of every module of ``harmony`` has a docstring.
- Every public function or method that takes arguments has a numpydoc
  ``Parameters`` section, and every one that returns a value a ``Returns`` section.
- No module of ``harmony`` points users at files they do not have (internal notes, the papers'
  local copies): citations name the paper, the public script or the format.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import harmony

from .conftest import UNAVAILABLE_CITATION

ALL_MODULES = sorted(
    m.name for m in pkgutil.walk_packages(harmony.__path__, "harmony.") if not m.name.endswith("__main__")
)
# One pattern for citations users cannot follow, shared with the tests/docs/README check below.
NOT_FOR_USERS = UNAVAILABLE_CITATION


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


@pytest.mark.parametrize("module_name", ALL_MODULES)
def test_every_public_name_has_a_docstring(module_name):
    missing = [q for q, obj in _public(module_name) if not (obj.__doc__ or "").strip()]
    assert missing == [], f"{module_name}: public names without a docstring: {missing}"


def _takes_arguments(func):
    params = [p for p in inspect.signature(func).parameters.values() if p.name not in ("self", "cls")]
    return bool(params)


def _returns_value(func):
    ann = inspect.signature(func).return_annotation
    return ann not in (None, "None", inspect.Signature.empty)


@pytest.mark.parametrize("module_name", ALL_MODULES)
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


@pytest.mark.parametrize("module_name", ALL_MODULES)
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


# --- tests, docs and README cite only what users have ------------------------------------------------------
# Users have the repository, not the maintainers' workspace: no REFERENCE.md, no local copies of the papers,
# no ../shared. The one exception is the tests' data loader (tests/conftest.py: SHARED), which reads the real
# public data from ../shared by design, can be pointed elsewhere with HARMONY_SHARED and skips where it is
# absent; every other test asks it for the folder (the ``shared_dir`` fixture). This file states the rule and
# tries its patterns on examples, so it is not searched.

def _user_visible_files():
    from pathlib import Path

    root = Path(harmony.__file__).resolve().parents[1]
    docs = [p for p in (root / "docs").rglob("*") if p.is_file() and p.suffix in {".md", ".rst", ".py", ".txt"}
            and not {"generated", "_build"} & set(p.parts)]
    return root, [root / "README.md", *sorted(docs), *sorted((root / "tests").glob("*.py"))]


def test_tests_docs_and_readme_cite_only_what_users_have():
    from tests.conftest import UNAVAILABLE_CITATION

    root, files = _user_visible_files()
    hits = []
    for path in files:
        rel = path.relative_to(root).as_posix()
        if rel == "tests/test_docstrings.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if rel == "tests/conftest.py" and line.startswith("UNAVAILABLE_CITATION = "):
                continue  # the pattern itself
            for found in UNAVAILABLE_CITATION.finditer(line):
                if not (found.group(0) == "../shared" and rel == "tests/conftest.py"):
                    hits.append(f"{rel}:{number}: {found.group(0)}")
    assert hits == [], f"{len(hits)} citations of files users do not have:\n" + "\n".join(hits)


def test_only_the_data_loader_locates_the_shared_data():
    """The exception above stays narrow: no other test builds a path to the shared folder itself."""
    from tests.conftest import UNAVAILABLE_CITATION

    root, files = _user_visible_files()
    builds_path = re.compile(r"""HARMONY_SHARED|/\s*["']shared["']|["']\.\./shared""")
    tests = [p for p in files if p.relative_to(root).parts[0] == "tests"
             and p.name not in ("conftest.py", "test_docstrings.py")]
    others = [p.name for p in tests if builds_path.search(p.read_text(encoding="utf-8"))]
    assert len(tests) > 40 and others == []
    for cited in ("see REFERENCE.md section 3", "REFERENCE section 2 table", "seed 001 sections 3.1-3.2",
                  "seeds/004_c09fbb6e79c54466.txt", "paper=000_aecf47f240f7698f", "read from ../shared/data"):
        assert UNAVAILABLE_CITATION.search(cited), cited
    for fine in ("--seed 0", "seed 1234", "the shared fixture", "References\n----------"):
        assert not UNAVAILABLE_CITATION.search(fine), fine
