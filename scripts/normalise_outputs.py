"""Copy a `make demo` output folder with its run-specific text masked, for a before/after comparison.

    python scripts/normalise_outputs.py /tmp/demo_before /tmp/norm_before
    python scripts/normalise_outputs.py /tmp/demo_after /tmp/norm_after
    python scripts/compare_outputs.py /tmp/norm_before /tmp/norm_after --ignore '*/cache/*' \
        --ignore 'cache/*' --ignore '*.pdf' --ignore '*training_state.pt'

Two runs of the same code in two folders differ in text that is not behaviour: the output folder's own
path (and the sample cache under it, which manifests record), wall-clock times, the git commit, and the
methods' card fingerprints in the bench cache key. In the JSON, CSV, Markdown, LaTeX and text files of
the copy these become ``OUT``, ``PWDOUT`` and ``X``; CSV timing columns and the tables' last column
(``AvgTime, ms``) are dropped. Images, weights and every other file are copied unchanged, so they are
compared byte for byte. PDFs carry a creation date and ``training_state.pt`` the unseeded global RNG
states, hence the ``--ignore`` globs above.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import shutil
from pathlib import Path

TIME_COLUMNS = {"seconds", "time_ms", "AvgTime, ms", "wall_s"}
MASKED_KEYS = r"time_ms|seconds|wall_s|elapsed_s|git|fingerprint|created|started|finished|timestamp|time"
TEXT_SUFFIXES = {".json", ".csv", ".md", ".tex", ".txt"}


def normalise_text(text: str, out_dir: str, suffix: str) -> str:
    """The text of one file with the run-specific parts masked (see the module docstring)."""
    text = text.replace(out_dir, "OUT")
    text = re.sub(r"/[^\s,\"']*OUT/cache", "PWDOUT/cache", text)  # demo.sh's cache: $PWD/$OUT/cache
    text = re.sub(rf'"({MASKED_KEYS})": ("[^"]*"|[-0-9.eE+]+|null)', r'"\1": X', text)
    text = re.sub(r"time: [0-9.]+ s", "time: X s", text)
    if suffix == ".csv":
        rows = list(csv.reader(io.StringIO(text)))
        if rows:
            keep = [i for i, name in enumerate(rows[0]) if name not in TIME_COLUMNS]
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerows([[r[i] for i in keep if i < len(r)] for r in rows])
            text = buffer.getvalue()
    if suffix in {".md", ".tex"} and "AvgTime" in text:
        text = "\n".join(re.sub(r"[|&][^|&]*(\\\\)?\s*[|]?\s*$", "", line) if ("|" in line or "&" in line) else line
                         for line in text.splitlines())
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a `scripts/demo.sh OUT` folder")
    parser.add_argument("copy", type=Path, help="where the masked copy goes (replaced)")
    args = parser.parse_args(argv)
    if args.copy.exists():
        shutil.rmtree(args.copy)
    shutil.copytree(args.source, args.copy, symlinks=True)
    out_dir = str(args.source.resolve())
    for path in args.copy.rglob("*"):
        if path.is_file() and "cache" not in path.parts and path.suffix in TEXT_SUFFIXES:
            text = path.read_text(encoding="utf-8", errors="replace")
            path.write_text(normalise_text(text, out_dir, path.suffix), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
