"""Cost of a full iHarmony4-size bench run against the floor of decoding and resizing its images.

Issue 3 target: a run of ``cut-and-paste`` under ``iharm`` (256) over 7,404 test images (640x480
typical) costs at most 1.5x the floor, the floor being: read the composite, the mask and the real image
with harmony.io and resize the three to 256x256 (cv2 INTER_LINEAR), measured in the same run on the same
files. Both sides run in one process (``--workers 0``) so the ratio compares work, not scheduling; the
full run includes everything ``harmony bench`` does (cache file, per_image.csv, tables, plots, gallery).

The dataset is generated once (photos shipped with scikit-image / matplotlib, randomly cropped, scaled
and recoloured to 640x480, 480x640 or 640x427, JPEG q95 + binary PNG masks) under --root.

    .venv/bin/python benchmarks/bench_harness.py [--images 7404] [--root /tmp/harmony_bench_data]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

cv2.setNumThreads(1)

SHAPES = ((480, 640), (480, 640), (480, 640), (640, 480), (427, 640))


def make_dataset(root: Path, n: int, seed: int = 0) -> Path:
    from harmony import io as hio
    from harmony.datagen.samples import available_photos, load_photo

    done = root / f"done_{n}_v2"   # v2: split files inside the subset folder
    if done.is_file():
        return root
    if root.exists():
        shutil.rmtree(root)
    rng = np.random.default_rng(seed)
    photos = [load_photo(p) for p in available_photos()]
    sub = root / "HCOCO"
    names = []
    t0 = time.perf_counter()
    for i in range(n):
        h, w = SHAPES[i % len(SHAPES)]
        photo = photos[i % len(photos)]
        scale = max(h / photo.shape[0], w / photo.shape[1]) * rng.uniform(1.0, 1.4)
        big = cv2.resize(photo, (int(photo.shape[1] * scale) + 1, int(photo.shape[0] * scale) + 1),
                         interpolation=cv2.INTER_AREA)
        y0 = rng.integers(0, big.shape[0] - h + 1)
        x0 = rng.integers(0, big.shape[1] - w + 1)
        real = np.ascontiguousarray(big[y0:y0 + h, x0:x0 + w])
        mask = np.zeros((h, w), np.float32)
        cy, cx = rng.integers(h // 4, 3 * h // 4), rng.integers(w // 4, 3 * w // 4)
        ry, rx = rng.integers(10, h // 3), rng.integers(10, w // 3)
        cv2.ellipse(mask, (int(cx), int(cy)), (int(rx), int(ry)), 0, 0, 360, 1.0, -1)
        gain = rng.uniform(0.7, 1.3, 3).astype(np.float32)
        comp = real.copy()
        comp[mask > 0] = np.clip(comp[mask > 0] * gain, 0, 1)
        name = f"c{i}_{i}_1.jpg"
        hio.write_image(sub / "composite_images" / name, comp)
        hio.write_mask(sub / "masks" / f"c{i}_{i}.png", mask)
        hio.write_image(sub / "real_images" / f"c{i}.jpg", real)
        names.append(name)
        if (i + 1) % 500 == 0:
            print(f"  generated {i + 1}/{n} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    (root / "HCOCO" / "HCOCO_test.txt").write_text("".join(f"{x}\n" for x in names))
    (root / "IHD_test.txt").write_text("".join(f"HCOCO/composite_images/{x}\n" for x in names))
    done.write_text("ok\n")
    return root


def floor(root: Path, size: int = 256) -> None:
    """Decode the three files of every image with harmony.io and resize them: nothing else."""
    from harmony import io as hio
    from harmony.dataset import DatasetReader

    for s in DatasetReader(root).samples(split="test"):
        comp = hio.read_image_uint8(s.composite)
        mask = hio.read_mask(s.mask)
        real = hio.read_image_uint8(s.real)
        cv2.resize(comp, (size, size), interpolation=cv2.INTER_LINEAR)
        cv2.resize(mask, (size, size), interpolation=cv2.INTER_LINEAR)
        cv2.resize(real, (size, size), interpolation=cv2.INTER_LINEAR)


def full_run(root: Path, workers: int) -> dict:
    from harmony.benchmark.runner import BenchConfig, run_bench

    out = Path(tempfile.mkdtemp(prefix="bench_run_"))
    try:
        res = run_bench(BenchConfig(out=out, data=root, models=["cut-and-paste"], protocol="iharm", sizes=[256],
                                    workers=workers, progress=False))
        return {"rows": len(res.rows), "computed": res.computed}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def timed(fn, *a):
    w0, c0 = time.perf_counter(), time.process_time()
    fn(*a)
    return time.perf_counter() - w0, time.process_time() - c0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=7404)
    ap.add_argument("--root", default="/tmp/harmony_bench_data")
    ap.add_argument("--repeats", type=int, default=1, help="alternating floor / run pairs (medians)")
    ap.add_argument("--parallel", type=int, default=0, help="also time a run with this many workers")
    args = ap.parse_args()
    root = Path(args.root) / f"n{args.images}"
    t0 = time.perf_counter()
    make_dataset(root, args.images)
    print(f"dataset: {args.images} images in {root} (ready in {time.perf_counter() - t0:.0f} s); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    floors, runs = [], []
    for _ in range(args.repeats):
        floors.append(timed(floor, root))
        runs.append(timed(full_run, root, 0))
    fw, fc = statistics.median(f[0] for f in floors), statistics.median(f[1] for f in floors)
    rw, rc = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
    n = args.images
    print(f"floor (decode 3 files + resize to 256): wall {fw:.1f} s, CPU {fc:.1f} s ({1000 * fc / n:.2f} ms/image)")
    print(f"harmony bench cut-and-paste iharm 256, --workers 0: wall {rw:.1f} s, CPU {rc:.1f} s "
          f"({1000 * rc / n:.2f} ms/image)")
    ratio_c, ratio_w = rc / fc, rw / fw
    print(f"ratio run/floor: CPU {ratio_c:.2f}, wall {ratio_w:.2f} (target <= 1.5) "
          f"{'PASS' if ratio_c <= 1.5 else 'FAIL'}")
    if args.parallel:
        w, _ = timed(full_run, root, args.parallel)
        print(f"same run with --workers {args.parallel}: wall {w:.1f} s")


if __name__ == "__main__":
    main()
