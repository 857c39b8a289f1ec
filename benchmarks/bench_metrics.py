"""Speed of the metric functions at 256x256 on one core.

- MSE/fMSE/PSNR/fPSNR (``Protocol.score_basic`` = the float64 metric core's statistics step + compute):
  target >= 2000 images/s; the printed ratio is images/s over 2000.
- SSIM+fSSIM (CDTNet definition, both from one SSIM map) against scikit-image's
  ``structural_similarity`` (SSIM only, its default 7x7 uniform window) on the same images: target
  ratio (skimage time / harmony time) >= 1.

Medians of repeats; the machine is shared, so the ratio measured in the same run is the figure to quote.

    .venv/bin/python benchmarks/bench_metrics.py [--images 200] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")   # one core: no BLAS thread pool

import cv2  # noqa: E402
import numpy as np  # noqa: E402

cv2.setNumThreads(1)


def _images(n, rng):
    gts = rng.integers(0, 256, (n, 256, 256, 3)).astype(np.float32)
    preds = np.clip(gts + rng.normal(0, 12, gts.shape), 0, 255).astype(np.float32)
    masks = np.zeros((n, 256, 256), np.float32)
    for i in range(n):
        y, x = rng.integers(0, 128, 2)
        masks[i, y:y + 96, x:x + 96] = 1.0
        masks[i] = cv2.GaussianBlur(masks[i], (5, 5), 1.0)   # soft edges as after iharm's linear resize
    return preds, gts, masks


CLOCK = time.perf_counter


def _median_time(fn, repeats):
    """Median over repeats of the CLOCK time of fn() (process CPU time with --cpu-time)."""
    times = []
    for _ in range(repeats):
        t0 = CLOCK()
        fn()
        times.append(CLOCK() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=400)
    ap.add_argument("--ssim-images", type=int, default=40)
    ap.add_argument("--pool", type=int, default=8, help="distinct images cycled by the fast-metric loop")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cpu-time", action="store_true",
                    help="time with process CPU time (single-threaded here), which a shared machine does "
                         "not inflate; default: wall clock")
    args = ap.parse_args()
    global CLOCK
    if args.cpu_time:
        CLOCK = time.process_time
    print(f"clock: {'process CPU time' if args.cpu_time else 'wall'}; {os.cpu_count()} cores; load average "
          f"{os.getloadavg()[0]:.1f}")

    from skimage.metrics import structural_similarity

    from harmony.benchmark import metrics as M

    rng = np.random.default_rng(0)
    preds, gts, masks = _images(max(args.pool, args.ssim_images), rng)
    proto = M.get_protocol("iharm")
    pool = args.pool

    def basic():
        # a small pool cycled: in the harness an image's arrays were just produced (resize, method) and
        # are warm in cache; 200 distinct images would measure RAM bandwidth instead
        for i in range(args.images):
            j = i % pool
            proto.score_basic(preds[j], gts[j], masks[j])

    t = _median_time(basic, args.repeats)
    rate = args.images / t
    print(f"MSE+PSNR+fMSE+fPSNR 256x256 (float64 core): {rate:.0f} images/s (median of {args.repeats}); "
          f"ratio to the 2000 images/s target {rate / 2000:.2f} {'PASS' if rate >= 2000 else 'FAIL'}")

    k = args.ssim_images

    def ours():
        for p, g, m in zip(preds[:k], gts[:k], masks[:k]):
            M.structural_similarity_cdtnet(p, g, m)

    def peer():
        for p, g in zip(preds[:k], gts[:k]):
            structural_similarity(p, g, channel_axis=2, data_range=255.0)

    t_ours = _median_time(ours, args.repeats)
    t_peer = _median_time(peer, args.repeats)
    ratio = t_peer / t_ours
    print(f"SSIM+fSSIM (harmony, Gaussian 7): {k / t_ours:.1f} images/s; skimage structural_similarity "
          f"(SSIM only): {k / t_peer:.1f} images/s; ratio {ratio:.2f} (target >= 1) {'PASS' if ratio >= 1 else 'FAIL'}")


if __name__ == "__main__":
    main()
