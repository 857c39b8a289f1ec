"""Speed of `harmony datagen rendered` (vs the JPEG decode+encode floor) and `harmony render`.

    .venv/bin/python benchmarks/bench_rendered.py [--views 6] [--size 256] [--repeats 3]
                                                  [--render-views 2] [--render-size 256] [--spp 64]

1. datagen rendered: scenes of ``--views`` views x 10 styles (JPEG q95 renders of ``--size`` pixels, made
   from the built-in sample views, resized), all 90 ordered pairs per view, inline (workers=0). The
   floor is, per composite, one JPEG decode (cv2.imdecode of a render's bytes) plus one JPEG encode
   (cv2.imencode q95) of an image of the same size, measured in the same run. Median of repeats.
2. harmony render: ``--render-views`` views, 10 styles + mask, ``--render-size`` pixels, ``--spp``
   samples per pixel, one render process using every core (scalar_rgb); seconds per view (median) and
   images per second of the whole run (10 renders + 1 mask per view).
The machine is shared with other jobs: quote medians and ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from harmony import io as hio  # noqa: E402
from harmony.datagen.rendered import build_sample_scenes, generate_rendered  # noqa: E402
from harmony.imageops import resize  # noqa: E402
from harmony.styles import STYLES  # noqa: E402


def make_scenes(root: Path, views: int, size: int) -> list[Path]:
    src, _synthetic = build_sample_scenes("auto")
    src_views = sorted(p for p in src.iterdir() if p.is_dir())
    jpgs = []
    for v in range(views):
        s = src_views[v % len(src_views)]
        d = root / f"v{v}"
        d.mkdir(parents=True)
        for st in STYLES:
            img = hio.read_image(s / f"{st.name}.png")
            img = np.clip(resize(img, (size, size), "bilinear"), 0, 1).astype(np.float32)
            img = np.roll(img, v, axis=1)  # views differ
            hio.write_image(d / f"{st.name}.jpg", img, quality=95)
            jpgs.append(d / f"{st.name}.jpg")
        m = hio.read_mask(s / "mask.png")
        hio.write_mask(d / "mask.png", np.roll(resize(m, (size, size), "nearest"), v, axis=1) > 0.5)
    return jpgs


def floor_per_composite(jpgs: list[Path], n: int, write_to: Path | None = None) -> float:
    """Per composite: decode one JPEG render + encode one JPEG (q95); with ``write_to``, also write the
    encoded bytes to a file there the way the generator does (io.atomic_write_bytes)."""
    datas = [p.read_bytes() for p in jpgs]
    if write_to is not None:
        write_to.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for k in range(n):
        bgr = cv2.imdecode(np.frombuffer(datas[k % len(datas)], np.uint8), cv2.IMREAD_COLOR)
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
        if write_to is not None:
            hio.atomic_write_bytes(write_to / f"{k}.jpg", buf.tobytes())
    dt = (time.perf_counter() - t0) / n
    if write_to is not None:
        shutil.rmtree(write_to)
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--views", type=int, default=6)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--render-views", type=int, default=2)
    ap.add_argument("--render-size", type=int, default=256)
    ap.add_argument("--spp", type=int, default=64)
    ap.add_argument("--skip-render", action="store_true")
    ap.add_argument("--skip-datagen", action="store_true")
    ap.add_argument("--tmp", default=None, help="Work folder (default: the system temp dir; /dev/shm = tmpfs)")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    tmp = Path(tempfile.mkdtemp(prefix="bench_rendered_", dir=args.tmp))
    try:
        if not args.skip_datagen:
            bench_datagen(tmp, args)
        if not args.skip_render:
            bench_render(tmp, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_datagen(tmp: Path, args) -> None:
    jpgs = make_scenes(tmp / "scenes", args.views, args.size)
    ours, floors, floors_w, ratios = [], [], [], []
    for r in range(args.repeats):  # interleaved, so load bursts hit both sides alike
        out = tmp / f"out{r}"
        t0 = time.perf_counter()
        s = generate_rendered(out, tmp / "scenes", workers=0, progress=False)
        dt = time.perf_counter() - t0
        n = s.run.final.composites
        ours.append(dt / n)
        floors.append(floor_per_composite(jpgs, n))
        floors_w.append(floor_per_composite(jpgs, n, tmp / "floor_files"))
        ratios.append(ours[-1] / floors[-1])
        shutil.rmtree(out)
    # The same command with 2 worker processes (wall time per composite; the floor stays one core).
    par = []
    for r in range(max(1, args.repeats // 2)):
        out = tmp / f"par{r}"
        t0 = time.perf_counter()
        s2 = generate_rendered(out, tmp / "scenes", workers=2, progress=False)
        par.append((time.perf_counter() - t0) / s2.run.final.composites)
        shutil.rmtree(out)
    o, f, fw = statistics.median(ours), statistics.median(floors), statistics.median(floors_w)
    ratio = statistics.median(ratios)
    print(f"datagen rendered: {n} composites of {args.size}x{args.size} per run (whole command: composites, "
          f"reals, masks, manifest, labels.txt), inline, {args.repeats} interleaved repeats, work dir {tmp.parent}")
    print(f"  per composite: {o * 1e3:.2f} ms (median) | floor JPEG decode+encode {f * 1e3:.2f} ms | "
          f"median ratio {ratio:.2f} (target <= 1.5) -> {'PASS' if ratio <= 1.5 else 'FAIL'}")
    print(f"  floor decode+encode+atomic file write {fw * 1e3:.2f} ms | ratio {o / fw:.2f}")
    print(f"  throughput {1 / o:.0f} composites/s on one core")
    p2 = statistics.median(par)
    print(f"  with --workers 2: {p2 * 1e3:.2f} ms per composite (wall) | ratio to the one-core floor {p2 / f:.2f}")


def bench_render(tmp: Path, args) -> None:
    import resource

    from harmony.datagen.render import render_dataset

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    s = render_dataset(tmp / "renders", views=args.render_views, size=args.render_size, spp=args.spp,
                       seed=0, workers=1, progress=False, sheet=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    per_view = statistics.median(s.per_view)
    print(f"harmony render: {args.render_views} views x (10 styles + mask), {args.render_size}x"
          f"{args.render_size}, {args.spp} spp, scalar_rgb, one process x {os.cpu_count()} threads")
    print(f"  {per_view:.1f} s per view (median) | {s.images / s.seconds:.2f} images/s over the whole run "
          f"({s.images} images in {s.seconds:.1f} s)")
    print(f"  CPU time of the render process: {cpu / args.render_views:.1f} CPU-s per view "
          f"({cpu / s.images:.2f} CPU-s per image; load-independent: on idle cores, wall ~ CPU / cores)")


if __name__ == "__main__":
    main()
