"""The README demo paragraph and the docs tables cannot drift silently (issue 19, defect 10).

``scripts/readme_numbers.py --check`` must fail on a README whose demo paragraph differs from the demo's
``demo_numbers.json`` and pass once ``--write`` has rewritten it; ``scripts/docs_numbers.py --check`` the
same for a docs block and a command's outputs. Both run on temporary copies (never the real files).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

NUMBERS = {
    "protocol": "iharm", "size": 256, "N": 37, "steps": {"dih": 300, "sprih": 100},
    "methods": {
        "cut-and-paste": {"fmse": 1840.6, "mse": 421.75, "psnr": 25.94, "N": 37, "learned": False},
        "poisson": {"fmse": 1233.25, "mse": 300.0, "psnr": 26.0, "N": 37, "learned": False},
        "reinhard": {"fmse": 1693.04, "mse": 350.0, "psnr": 25.5, "N": 37, "learned": False},
        "dih": {"fmse": 1849.61, "mse": 411.74, "psnr": 25.25, "N": 37, "learned": True},
        "sprih": {"fmse": 3671.0, "mse": 800.0, "psnr": 22.0, "N": 37, "learned": True},
    },
}


def _script(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts" / name), *args], capture_output=True, text=True,
                          cwd=REPO)


def test_readme_check_detects_drift_and_write_fixes_it(tmp_path):
    numbers = tmp_path / "demo_numbers.json"
    numbers.write_text(json.dumps(NUMBERS))
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\nintro\n\n<!-- demo-numbers:start -->\nold text: poisson 1233\n"
                      "<!-- demo-numbers:end -->\n\nrest\n")
    args = ("--numbers", str(numbers), "--readme", str(readme))
    r = _script("readme_numbers.py", "--check", *args)
    assert r.returncode == 1 and "DRIFT" in r.stderr, r.stdout + r.stderr
    assert _script("readme_numbers.py", "--write", *args).returncode == 0
    text = readme.read_text()
    assert text.startswith("# x\n\nintro\n\n<!-- demo-numbers:start -->\n") and text.endswith(
        "<!-- demo-numbers:end -->\n\nrest\n")
    # values from the file, sorted by fMSE, learned models apart, with their steps
    assert "poisson 1233.25, reinhard 1693.04; the tiny learned models" in " ".join(text.split())
    assert "dih 1849.61 (300 steps), sprih 3671.00 (100 steps)" in " ".join(text.split())
    assert _script("readme_numbers.py", "--check", *args).returncode == 0
    # one digit changed in the README: caught
    readme.write_text(text.replace("1693.04", "1693.05"))
    r = _script("readme_numbers.py", "--check", *args)
    assert r.returncode == 1 and "1693.05" in r.stdout
    # the demo printed other numbers: caught
    readme.write_text(text)
    changed = json.loads(json.dumps(NUMBERS))
    changed["methods"]["dih"]["fmse"] = 1365.0
    numbers.write_text(json.dumps(changed))
    assert _script("readme_numbers.py", "--check", *args).returncode == 1


def test_the_real_readme_has_one_demo_block():
    text = (REPO / "README.md").read_text()
    assert text.count("<!-- demo-numbers:start -->") == 1 and text.count("<!-- demo-numbers:end -->") == 1


def test_docs_check_detects_drift_and_write_fixes_it(tmp_path):
    runs = tmp_path / "runs"
    out = runs / "study_fg-ratio_scale_tiny"
    out.mkdir(parents=True)
    (out / "table.md").write_text("| method | fMSE |\n|---|---|\n| bargainnet | 695.43 |\n")
    (out / "README.md").write_text("# Study\n\n## The paper's conclusions at this scale\n\n"
                                   "| claim | paper | this run | verdict |\n|---|---|---|---|\n| c | p | 695.43 | **holds** |\n"
                                   "\nSummary: ...\n\n## Notes\n\n| not | this |\n")
    doc = tmp_path / "studies.md"
    doc.write_text("# Studies\n\n### fg-ratio\n\n<!-- docs-numbers: harmony study fg-ratio --scale tiny -->\n"
                   "| method | fMSE |\n|---|---|\n| bargainnet | 698.66 |\n<!-- /docs-numbers -->\n\nprose\n")
    args = ("--files", str(doc), "--runs", str(runs), "--no-run")
    r = _script("docs_numbers.py", "--check", *args)
    assert r.returncode == 1 and "698.66" in r.stdout and "695.43" in r.stdout, r.stdout + r.stderr
    assert _script("docs_numbers.py", "--write", *args).returncode == 0
    assert doc.read_text() == (
        "# Studies\n\n### fg-ratio\n\n<!-- docs-numbers: harmony study fg-ratio --scale tiny -->\n"
        "| method | fMSE |\n|---|---|\n| bargainnet | 695.43 |\n\n"
        "| paper's conclusion | paper | this run | verdict |\n|---|---|---|---|\n| c | p | 695.43 | **holds** |\n"
        "<!-- /docs-numbers -->\n\nprose\n")
    assert _script("docs_numbers.py", "--check", *args).returncode == 0
