#!/usr/bin/env python
"""Keep README's demo-results paragraph equal to what `make demo` printed.

Three steps, one file format (``demo_numbers.json``)::

    python scripts/readme_numbers.py --collect demo_out --steps dih=300,rcl=300   # the demo's last step
    python scripts/readme_numbers.py --check  [--numbers demo_out/demo_numbers.json] [--readme README.md]
    python scripts/readme_numbers.py --write  [--numbers ...] [--readme ...]

``--collect OUT`` reads the demo's benchmark (``OUT/bench/summary.json``, the per-method ``All`` means
that ``OUT/bench/table.md`` prints) and writes ``OUT/demo_numbers.json``. ``--check`` renders the
paragraph from that file and compares it with the text between ``<!-- demo-numbers:start -->`` and
``<!-- demo-numbers:end -->`` in the README: on any difference it prints a diff and exits 1 (`make demo`
runs it last, so a drift fails loudly). ``--write`` rewrites that block (`make docs-numbers`).
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- demo-numbers:start -->", "<!-- demo-numbers:end -->"


def collect(out: Path, steps: dict[str, int]) -> dict:
    """``demo_numbers.json`` from the demo's benchmark summary."""
    summary_path = out / "bench" / "summary.json"
    if not summary_path.is_file():
        raise SystemExit(f"readme-numbers: {summary_path} not found (run the demo first: make demo)")
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    import harmony.baselines  # noqa: F401 - registers the methods
    import harmony.models  # noqa: F401
    from harmony.registry import METHODS

    methods = {}
    for name, entry in sorted(summary.get("methods", {}).items()):
        all_ = entry.get("All") if isinstance(entry, dict) else None
        if not all_ or all_.get("fmse") is None:
            continue   # not run (no checkpoint, unavailable)
        try:
            learned = bool(METHODS.card(name).learned)
        except Exception:  # noqa: BLE001 - a plugin no longer installed: list it with the baselines
            learned = False
        methods[name] = {"fmse": round(float(all_["fmse"]), 2), "mse": round(float(all_["mse"]), 2),
                         "psnr": round(float(all_["psnr"]), 2), "N": int(all_["N"]), "learned": learned}
    if not methods:
        raise SystemExit(f"readme-numbers: {summary_path} has no method with an fMSE")
    numbers = {"protocol": summary.get("protocol"), "size": summary.get("size"),
               "N": max(m["N"] for m in methods.values()), "methods": methods, "steps": steps}
    (out / "demo_numbers.json").write_text(json.dumps(numbers, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return numbers


def render(numbers: dict) -> str:
    """The README paragraph (Markdown), from ``demo_numbers.json``."""
    methods = numbers["methods"]

    def fmt(name: str) -> str:
        v = methods[name]["fmse"]
        return f"{name} {v:.2f}" if math.isfinite(v) else f"{name} n/a"

    order = sorted(methods, key=lambda n: (methods[n]["fmse"], n))
    reference = [n for n in order if n == "cut-and-paste"]
    classical = [n for n in order if not methods[n]["learned"] and n != "cut-and-paste"]
    learned = [n for n in order if methods[n]["learned"]]
    steps = numbers.get("steps", {})
    learned_txt = ", ".join(fmt(n) + (f" ({steps[n]} steps)" if n in steps else "") for n in learned)
    text = (f"What the demo's benchmark shows (`{numbers['protocol']}` protocol, {numbers['size']} px, the "
            f"{numbers['N']} test composites of the paired sample subsets; mean fMSE, lower is better): "
            + ", ".join(fmt(n) for n in classical)
            + (f"; the tiny learned models, trained on the CPU for a fixed number of steps: {learned_txt}"
               if learned else "")
            + "".join(f"; {fmt(n)} (the composite itself)" for n in reference)
            + ". These show the pipeline end to end, not the papers' results, which need iHarmony4-scale data "
              "and GPU training of the `_paper` presets. The numbers are the same on every run and machine of "
              "this kind (fixed steps, no time limit); `make demo` fails if they differ from this paragraph "
              "(`scripts/readme_numbers.py --check`), and `make docs-numbers` rewrites it.")
    # Wrap at 110 columns like the rest of the README.
    lines, line = [], ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > 110:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "\n".join(lines) + "\n"


def _split(readme_text: str, readme: Path) -> tuple[str, str, str]:
    if readme_text.count(START) != 1 or readme_text.count(END) != 1:
        raise SystemExit(f"readme-numbers: {readme}: expected one {START} ... {END} block")
    head, rest = readme_text.split(START, 1)
    body, tail = rest.split(END, 1)
    return head + START + "\n", body.lstrip("\n"), END + tail


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--collect", metavar="OUT", help="write OUT/demo_numbers.json from OUT/bench/summary.json")
    mode.add_argument("--check", action="store_true", help="exit 1 when README's paragraph differs")
    mode.add_argument("--write", action="store_true", help="rewrite README's paragraph")
    ap.add_argument("--numbers", default=str(REPO / "demo_out" / "demo_numbers.json"))
    ap.add_argument("--readme", default=str(REPO / "README.md"))
    ap.add_argument("--steps", default="", help="NAME=STEPS,... training steps of the learned models (--collect)")
    args = ap.parse_args(argv)
    if args.collect:
        steps = {}
        for part in filter(None, (p.strip() for p in args.steps.split(","))):
            name, _, value = part.partition("=")
            steps[name.strip()] = int(value)
        numbers = collect(Path(args.collect), steps)
        print(f"readme-numbers: wrote {Path(args.collect) / 'demo_numbers.json'} ({len(numbers['methods'])} methods)")
        return 0
    numbers_path, readme = Path(args.numbers), Path(args.readme)
    if not numbers_path.is_file():
        print(f"readme-numbers: {numbers_path} not found (run `make demo` first)", file=sys.stderr)
        return 2
    numbers = json.loads(numbers_path.read_text(encoding="utf-8"))
    head, body, tail = _split(readme.read_text(encoding="utf-8"), readme)
    new = render(numbers)
    if body == new:
        print(f"readme-numbers: {readme.name} matches {numbers_path}")
        return 0
    if args.write:
        readme.write_text(head + new + tail, encoding="utf-8")
        print(f"readme-numbers: rewrote the demo paragraph of {readme}")
        return 0
    sys.stdout.writelines(difflib.unified_diff(body.splitlines(True), new.splitlines(True),
                                               f"{readme.name} (demo paragraph)", str(numbers_path), n=0))
    print(f"readme-numbers: DRIFT: {readme} does not show the demo's numbers ({numbers_path}); "
          "run `make docs-numbers` (or scripts/readme_numbers.py --write) and commit", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
