#!/usr/bin/env python
"""Regenerate (``--write``) or verify (``--check``) the tables in docs/ that come from a command.

A generated block in a Markdown file under docs/ is delimited by two HTML comments::

    <!-- docs-numbers: harmony study fg-ratio --scale tiny -->
    ...tables written by this script...
    <!-- /docs-numbers -->

For each block the script runs the command (``harmony ...`` with ``--out <runs>/<slug>`` appended; the
study commands reuse ``<runs>/<slug>/work`` when run again, so a second pass is quick), then renders the
block from what the command wrote: ``table.md`` and the conclusions table of its ``README.md``. Nothing is
typed by hand. ``--check`` exits 1 and prints a diff when a block differs from the command's output;
``--write`` rewrites the blocks in place. ``--no-run`` uses the outputs already under ``--runs``.

Usage::

    python scripts/docs_numbers.py --write [--runs build/docs_runs] [--only fg-ratio] [--files docs/studies.md]
    python scripts/docs_numbers.py --check --no-run
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- docs-numbers: (?P<cmd>[^>]*?) -->\n)(?P<body>.*?)(<!-- /docs-numbers -->)", re.S)


def slug(command: str) -> str:
    """``harmony study fg-ratio --scale tiny`` -> ``study_fg-ratio_scale-tiny``."""
    words = shlex.split(command)[1:]
    return re.sub(r"[^A-Za-z0-9.-]+", "_", "_".join(w.lstrip("-") for w in words)).strip("_")


def harmony_exe() -> list[str]:
    local = REPO / ".venv" / "bin" / "harmony"
    return [str(local)] if local.is_file() else [sys.executable, "-m", "harmony"]


def run(command: str, out: Path) -> None:
    words = shlex.split(command)
    if not words or words[0] != "harmony":
        raise SystemExit(f"docs-numbers: only harmony commands are run, got {command!r}")
    argv = harmony_exe() + words[1:] + ["--out", str(out)]
    print(f"docs-numbers: running {' '.join(words)} --out {out}", flush=True)
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout[-3000:])
        raise SystemExit(f"docs-numbers: {command} failed (exit {proc.returncode})")


def _tables(markdown: str) -> list[list[str]]:
    """Every Markdown table in ``markdown`` as its list of lines."""
    tables, current = [], []
    for line in markdown.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def render(out: Path) -> str:
    """The block's text from a study's outputs: ``table.md``, then the conclusions table of README.md."""
    table = (out / "table.md").read_text(encoding="utf-8").strip()
    parts = [table]
    readme = (out / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The paper's conclusions", 1)
    if len(section) == 2:
        body = section[1].split("\n## ", 1)[0]
        found = _tables(body)
        if found:
            lines = found[0]
            lines[0] = re.sub(r"^\| claim \|", "| paper's conclusion |", lines[0])
            parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def _show(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def process(path: Path, runs: Path, *, write: bool, do_run: bool, only: str | None) -> bool:
    """Returns True when every block of ``path`` equals the command's output."""
    text = path.read_text(encoding="utf-8")
    ok = True
    pieces, last = [], 0
    for m in BLOCK.finditer(text):
        command = m["cmd"].strip()
        pieces.append(text[last:m.start()])
        body = m["body"]
        if only is None or only in command:
            out = runs / slug(command)
            if do_run:
                run(command, out)
            if not (out / "table.md").is_file():
                raise SystemExit(f"docs-numbers: {out}/table.md missing (run without --no-run)")
            new = render(out)
            if new != body:
                ok = False
                print(f"docs-numbers: {_show(path)}: block `{command}` differs from the command's output:")
                sys.stdout.writelines(difflib.unified_diff(body.splitlines(True), new.splitlines(True),
                                                           "docs", "command", n=0))
                body = new
        pieces.append(m.group(1) + body + m.group(4))
        last = m.end()
    pieces.append(text[last:])
    if write and not ok:
        path.write_text("".join(pieces), encoding="utf-8")
        print(f"docs-numbers: rewrote {_show(path)}")
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 when a block differs from its command's output")
    mode.add_argument("--write", action="store_true", help="rewrite the blocks from the commands' outputs")
    ap.add_argument("--runs", default=str(REPO / "build" / "docs_runs"), help="where the commands write")
    ap.add_argument("--files", nargs="*", default=None, help="Markdown files (default: every docs/*.md with a block)")
    ap.add_argument("--only", default=None, help="only blocks whose command contains this text")
    ap.add_argument("--no-run", action="store_true", help="use the outputs already under --runs")
    args = ap.parse_args(argv)
    files = [Path(f).resolve() for f in args.files] if args.files else sorted((REPO / "docs").glob("*.md"))
    runs = Path(args.runs).resolve()
    ok = True
    for f in files:
        if "<!-- docs-numbers:" in f.read_text(encoding="utf-8"):
            ok = process(f, runs, write=args.write, do_run=not args.no_run, only=args.only) and ok
    if args.check and not ok:
        print("docs-numbers: drift found; run `make docs-numbers` to regenerate", file=sys.stderr)
        return 1
    print("docs-numbers: " + ("up to date" if ok else "regenerated"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
