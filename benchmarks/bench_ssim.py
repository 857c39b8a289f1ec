"""Speed of harmony's hand-written SSIM core against scikit-image's ``structural_similarity``.

    nice .venv/bin/python benchmarks/bench_ssim.py [--images 40] [--repeats 7] [--size 256]

``harmony.benchmark.metrics.structural_similarity_cdtnet`` (CDTNet's SSIM *and* fSSIM from one map:
7x7 Gaussian window, sigma 1.5, zero padding) is kept instead of scikit-image because it is faster.
This script prints the figure its docstring quotes: the ratio of scikit-image's time to ours for the
same images, measured in the same run, in three peer settings:

- ``skimage default, SSIM only``: ``structural_similarity(p, g, channel_axis=2, data_range=255)`` (7x7
  uniform window, sample covariance): less work than ours (no fSSIM).
- ``skimage default + fSSIM``: the same with ``full=True`` and fSSIM taken from its map (our task).
- ``skimage Gaussian + fSSIM``: ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
  full=True`` (Wang et al. 2004's setting; scikit-image truncates the Gaussian at 3.5 sigma, an 11x11
  window) plus fSSIM: the closest to our definition.

Timing: interleaved rounds (ours, then each peer, in turn) so that load swings on the shared machine
hit all alike; medians of process CPU time (one thread: OpenCV and BLAS pools set to 1) and of wall
time. Quote the ratios, not the absolute times.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")   # one core, as a bench worker

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from skimage.metrics import structural_similarity  # noqa: E402

from harmony.benchmark import metrics  # noqa: E402


def _images(count: int, size: int, rng: np.random.Generator):
    """Noisy prediction / ground-truth pairs on the 0-255 scale with a soft-edged square foreground."""
    truths = rng.integers(0, 256, (count, size, size, 3)).astype(np.float32)
    truths = np.stack([cv2.GaussianBlur(t, (0, 0), 2.0) for t in truths])   # some structure
    preds = np.clip(truths + rng.normal(0, 12, truths.shape), 0, 255).astype(np.float32)
    masks = np.zeros((count, size, size), np.float32)
    for index in range(count):
        y, x = rng.integers(0, size // 2, 2)
        masks[index, y:y + 3 * size // 8, x:x + 3 * size // 8] = 1.0
        masks[index] = cv2.GaussianBlur(masks[index], (5, 5), 1.0)
    return preds, truths, masks


def _fssim(ssim_map: np.ndarray, mask: np.ndarray) -> float:
    """Per-channel mask-weighted mean of an (H, W, 3) SSIM map, then the mean over channels."""
    weights = mask.reshape(-1).astype(np.float64)
    return float((ssim_map.reshape(-1, 3).T @ weights / weights.sum()).mean())


def _peers():
    def default_only(pred, truth, mask):
        return structural_similarity(pred, truth, channel_axis=2, data_range=255.0)

    def default_with_fssim(pred, truth, mask):
        ssim, ssim_map = structural_similarity(pred, truth, channel_axis=2, data_range=255.0, full=True)
        return ssim, _fssim(ssim_map, mask)

    def gaussian_with_fssim(pred, truth, mask):
        ssim, ssim_map = structural_similarity(pred, truth, channel_axis=2, data_range=255.0, full=True,
                                               gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
        return ssim, _fssim(ssim_map, mask)

    return {"skimage default, SSIM only": default_only, "skimage default + fSSIM": default_with_fssim,
            "skimage Gaussian + fSSIM": gaussian_with_fssim}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    preds, truths, masks = _images(args.images, args.size, np.random.default_rng(0))
    runs = {"harmony SSIM + fSSIM": metrics.structural_similarity_cdtnet, **_peers()}
    cpu = {name: [] for name in runs}
    wall = {name: [] for name in runs}
    for fn in runs.values():   # warm-up
        fn(preds[0], truths[0], masks[0])
    for _ in range(args.repeats):
        for name, fn in runs.items():
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            for pred, truth, mask in zip(preds, truths, masks):
                fn(pred, truth, mask)
            cpu[name].append(time.process_time() - cpu_start)
            wall[name].append(time.perf_counter() - wall_start)
    ours_cpu = statistics.median(cpu["harmony SSIM + fSSIM"])
    ours_wall = statistics.median(wall["harmony SSIM + fSSIM"])
    print(f"{args.images} images {args.size}x{args.size}, {args.repeats} interleaved rounds, one thread; "
          f"load average {os.getloadavg()[0]:.1f} (shared machine: read the ratios)")
    print(f"{'what':30s} {'CPU ms/image':>12s} {'wall ms/image':>13s} {'ratio CPU':>9s} {'ratio wall':>10s}")
    for name in runs:
        cpu_ms = statistics.median(cpu[name]) / args.images * 1000
        wall_ms = statistics.median(wall[name]) / args.images * 1000
        print(f"{name:30s} {cpu_ms:12.2f} {wall_ms:13.2f} {statistics.median(cpu[name]) / ours_cpu:8.2f}x "
              f"{statistics.median(wall[name]) / ours_wall:9.2f}x")
    print("ratio = peer time / harmony time for the same images (> 1: harmony is faster)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
