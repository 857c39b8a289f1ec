"""Speed of style swaps (`datagen fivek`) against the JPEG decode+encode floor, measured in one run.

The issue's target: per-composite time <= 1.5x the floor, where the floor is what any swap must pay per
composite at minimum: read + decode one JPEG version and encode + write one JPEG composite of the same
size and quality. Both are measured here, single process (``workers=0``), medians of repeats.

    .venv/bin/python benchmarks/bench_swaps.py [--size 1024x1536] [--photos 3] [--repeats 3]

Prints the per-composite medians and the ratio for the default (every ordered pair) and for
``--per-mask 1`` (no amortisation: each composite pays two decodes, plus its real and mask).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def build_tree(root: Path, photos: int, h: int, w: int) -> tuple[Path, Path]:
    from harmony import io as hio
    from harmony.datagen.samples import load_photo
    from harmony.datagen.samples_extra import EXPERT_EDITS, expert_edit, region_mask
    from harmony.imageops import resize

    names = ["astronaut", "coffee", "chelsea", "rocket", "motorcycle_left"][:photos]
    for i, name in enumerate(names, start=1):
        img = np.clip(resize(load_photo(name), (h, w), "bilinear"), 0, 1).astype(np.float32)
        stem = f"a{i:04d}-bench_{name}"
        hio.write_image(root / "original" / f"{stem}.jpg", img)
        for v, e in EXPERT_EDITS.items():
            hio.write_image(root / v / f"{stem}.jpg", expert_edit(img, **e))
        small = resize(img, (h // 4, w // 4), "area")
        m = region_mask(np.clip(small, 0, 1), (0.5, 0.5), (0.3, 0.25))
        hio.write_mask(root / "masks" / f"{stem}_1.png", resize(m.astype(np.float32), (h, w), "nearest") > 0.5)
    return root, root / "masks"


def floor_per_composite(files: list[Path], out: Path, repeats: int) -> tuple[float, float]:
    from harmony import io as hio

    times, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for i, f in enumerate(files):
            img = hio.read_image_uint8(f)
            hio.write_image(out / f"floor{i}.jpg", img, quality=95)
        times.append((time.perf_counter() - t0) / len(files))
        cpu.append((time.process_time() - c0) / len(files))
    return statistics.median(times), statistics.median(cpu)


def swap_per_composite(root: Path, masks: Path, out: Path, repeats: int, per_mask: int | None
                       ) -> tuple[float, float, int]:
    from harmony.datagen.swaps import SwapOptions, generate_fivek

    times, cpu, n = [], [], 0
    for _ in range(repeats):
        shutil.rmtree(out, ignore_errors=True)
        c0 = time.process_time()
        s = generate_fivek(out, root, masks, options=SwapOptions(per_mask=per_mask), workers=0, progress=False)
        n = s.made_this_run
        times.append(s.seconds / n)
        cpu.append((time.process_time() - c0) / n)
    return statistics.median(times), statistics.median(cpu), n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1024x1536", help="HxW of the versions")
    ap.add_argument("--photos", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    h, w = map(int, args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root, masks = build_tree(tmp / "fivek", args.photos, h, w)
        (tmp / "floor").mkdir()
        files = sorted((root / "expertA").glob("*.jpg")) + sorted((root / "expertB").glob("*.jpg"))
        floor, floor_cpu = floor_per_composite(files, tmp / "floor", args.repeats)
        print(f"versions {w}x{h}, {args.photos} photos x 6 versions x 1 mask, JPEG q95, workers=0, "
              f"median of {args.repeats}; load average {os.getloadavg()[0]:.1f}")
        print(f"floor (read+decode one JPEG, encode+write one JPEG): {floor * 1000:.1f} ms wall, "
              f"{floor_cpu * 1000:.1f} ms CPU per composite")
        for label, per_mask in (("all ordered pairs (default)", None), ("--per-mask 1", 1)):
            t, c, n = swap_per_composite(root, masks, tmp / "out", args.repeats, per_mask)
            print(f"fivek {label}: {n} composites, {t * 1000:.1f} ms wall per composite, ratio {t / floor:.2f}x; "
                  f"{c * 1000:.1f} ms CPU, ratio {c / floor_cpu:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
