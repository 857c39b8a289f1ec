"""Shape rules of the package that a reviewer would otherwise check by hand.

- No function in ``harmony/`` is longer than :data:`MAX_LINES` lines of code (its docstring not
  counted), unless its docstring says why in a line starting ``Length:``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "harmony"
MAX_LINES = 80


def _long_functions():
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            doc = ast.get_docstring(node) or ""
            length = node.end_lineno - node.lineno + 1
            if doc and isinstance(node.body[0], ast.Expr):
                length -= node.body[0].end_lineno - node.body[0].lineno + 1
            if length > MAX_LINES and not any(line.startswith("Length:") for line in doc.splitlines()):
                yield f"{path.relative_to(PACKAGE.parent).as_posix()}:{node.name}", length


def test_no_function_is_too_long():
    long = dict(_long_functions())
    assert long == {}, f"functions over {MAX_LINES} lines (split them into named steps): {long}"


def test_the_check_can_fail(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES + 1))
    (tmp_path / "m.py").write_text(f"def f():\n{body}\n")
    globals()["PACKAGE"], old = tmp_path, PACKAGE
    try:
        assert [n for n, _ in _long_functions()] == [f"{tmp_path.name}/m.py:f"]
    finally:
        globals()["PACKAGE"] = old
