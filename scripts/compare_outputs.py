"""Compare two output folders file by file (a behaviour check: same inputs, code before and after).

    python scripts/compare_outputs.py BEFORE/ AFTER/ [--ignore GLOB ...] [--drop-column NAME ...]

Every file present in either folder is compared byte for byte, except files matching an ``--ignore``
glob (provenance that legitimately differs: ``run.json``, logs, caches). CSV files are compared after
removing the ``--drop-column`` columns (wall-clock timings); ``--replace OLD=NEW`` rewrites text in the
BEFORE files first (the output folder's own path, which runs in two folders write into manifests). Prints one line per difference and a
summary; exit status 0 when the trees are identical under these rules, 1 otherwise.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import io
import sys
from pathlib import Path


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _csv_without(data: bytes, drop: set[str]) -> bytes:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    if not rows:
        return data
    keep = [i for i, name in enumerate(rows[0]) if name not in drop]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([[r[i] for i in keep if i < len(r)] for r in rows])
    return out.getvalue().encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--ignore", action="append", default=[], metavar="GLOB",
                    help="relative paths to skip (fnmatch glob; repeatable)")
    ap.add_argument("--drop-column", action="append", default=[], metavar="NAME",
                    help="CSV column to leave out of the comparison (repeatable)")
    ap.add_argument("--replace", action="append", default=[], metavar="OLD=NEW",
                    help="text to replace in the BEFORE files before comparing, e.g. the output folder's own path "
                         "(repeatable; applied in order)")
    args = ap.parse_args(argv)
    for root in (args.before, args.after):
        if not root.is_dir():
            print(f"{root}: folder not found", file=sys.stderr)
            return 2
    drop = set(args.drop_column)
    names = sorted(_files(args.before) | _files(args.after))
    names = [n for n in names if not any(fnmatch.fnmatch(n, g) for g in args.ignore)]
    differ = 0
    for name in names:
        a, b = args.before / name, args.after / name
        if not a.is_file() or not b.is_file():
            print(f"only in {'after' if not a.is_file() else 'before'}: {name}")
            differ += 1
            continue
        da, db = a.read_bytes(), b.read_bytes()
        for pair in args.replace:
            old, _, new = pair.partition("=")
            da = da.replace(old.encode("utf-8"), new.encode("utf-8"))
        if name.endswith(".csv") and drop:
            da, db = _csv_without(da, drop), _csv_without(db, drop)
        if da != db:
            print(f"differs: {name}")
            differ += 1
    print(f"{len(names)} files compared, {differ} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
