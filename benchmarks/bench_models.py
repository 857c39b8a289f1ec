"""Learned models: parameter counts, CPU inference time at 256x256, and quality of trained checkpoints.

    .venv/bin/python benchmarks/bench_models.py                       # counts + ms/image of every preset
    .venv/bin/python benchmarks/bench_models.py --weights ck/ --data data/   # + fMSE/MSE/PSNR on the test split

Timing: median of ``--repeats`` calls of the numpy Harmonizer (TorchHarmonizer: resize to the network's
side, forward, residual upsampling, paste) on a 256x256 composite, 1 torch thread, randomly initialised
weights (speed does not depend on the values). The floor is the same adapter around an identity network
(resizing and pasting only), measured in the same run: ratio = preset / floor.

Quality: each checkpoint found under ``--weights`` is scored on the test split at 256x256 (images
resized bilinearly, mask linearly and kept soft; MSE, fMSE and PSNR on the 0-255 scale as in the iharm
protocol, SamsungLabs iSSAM scripts/evaluate_model.py), next to cut-and-paste and every classical baseline computed the same way.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

PAPER_PARAMS = {"dih_paper": None, "bargainnet_paper": 58.74e6, "rcl_paper": 28.37e6}
MODELS = ("dih", "bargainnet", "rcl")


def _pair(size=256, seed=0):
    rng = np.random.default_rng(seed)
    comp = rng.random((size, size, 3)).astype(np.float32)
    mask = np.zeros((size, size), np.float32)
    mask[size // 4: 3 * size // 4, size // 3: 2 * size // 3] = 1
    return comp, mask


def _median_ms(fn, repeats):
    fn()  # warm-up (oneDNN primitive creation)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def timing(repeats: int) -> list[dict]:
    import torch

    from harmony.models.adapter import TorchHarmonizer
    from harmony.models.base import HarmonyNet
    from harmony.models.blocks import count_parameters
    from harmony.models.presets import PRESETS, create_model

    torch.set_num_threads(1)

    class Identity(HarmonyNet):
        model_name = "identity"

        def forward(self, composite, mask):
            return composite

    comp, mask = _pair()
    rows = []
    for name in sorted(n for n, p in PRESETS.items() if p.model in MODELS):
        torch.manual_seed(0)
        net = create_model(name)
        h = TorchHarmonizer(net, size=net.size)
        floor = TorchHarmonizer(Identity(size=net.size), size=net.size)
        reps = repeats if name.endswith("_tiny") else max(3, repeats // 4)
        ms = _median_ms(lambda: h(comp, mask), reps)
        floor_ms = _median_ms(lambda: floor(comp, mask), reps)
        n = count_parameters(net)
        rows.append({"preset": name, "params": n, "paper_params": PAPER_PARAMS.get(name), "side": net.size,
                     "ms": ms, "floor_ms": floor_ms, "ratio": ms / floor_ms})
        print(f"{name:18s} {n / 1e6:8.3f}M  side {net.size:4d}  {ms:9.1f} ms/image  floor {floor_ms:6.2f} ms  "
              f"ratio {ms / floor_ms:8.1f}", flush=True)
        net = h = None  # free the memory (the timed closures have run)
    return rows


def quality(weights: Path, data: Path, split: str = "test") -> list[dict]:
    from harmony import imageops
    from harmony.dataset import DatasetReader
    from harmony.errors import InputError
    from harmony.models.train import foreground_metrics
    from harmony.registry import METHODS

    reader = DatasetReader(data)
    samples = [s for s in reader.samples(split=split) if s.real is not None]
    comps, masks, reals = [], [], []
    for s in samples:
        c, m, r = reader.load(s)
        comps.append(np.clip(imageops.resize(c, (256, 256), "bilinear"), 0, 1))
        masks.append(np.clip(imageops.resize(m, (256, 256), "bilinear"), 0, 1))
        reals.append(np.clip(imageops.resize(r, (256, 256), "bilinear"), 0, 1))
    real, mask = np.stack(reals), np.stack(masks)
    rows = []
    names = [n for n in METHODS.names() if not METHODS.card(n).learned] + list(MODELS)
    for name in names:
        try:
            h = METHODS.create(name, weights=str(weights)) if METHODS.card(name).learned else METHODS.create(name)
        except InputError as exc:
            print(f"{name:14s} skipped: {str(exc)[:100]}")
            continue
        try:
            t = time.perf_counter()
            pred = np.stack([h(c, m) for c, m in zip(comps, masks)])
            ms = (time.perf_counter() - t) * 1000 / len(comps)
        except Exception as exc:  # a baseline that cannot run here is listed, not fatal
            print(f"{name:14s} failed: {exc.__class__.__name__}: {str(exc)[:100]}")
            continue
        m = foreground_metrics(pred, real, mask)
        step = getattr(h, "config", {}).get("step") if METHODS.card(name).learned else None
        preset = getattr(h, "config", {}).get("preset") if METHODS.card(name).learned else None
        rows.append({"method": name, **m, "ms": ms, "preset": preset, "step": step})
        print(f"{name:14s} fMSE {m['fmse']:9.2f}  MSE {m['mse']:8.2f}  PSNR {m['psnr']:6.2f}  {ms:8.1f} ms/image"
              + (f"  ({preset}, {step} steps)" if preset else ""), flush=True)
    print(f"({len(comps)} {split} images of {data}, 256x256)")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--split", default="test", help="split scored for quality (test | train)")
    ap.add_argument("--no-timing", action="store_true")
    args = ap.parse_args()
    if not args.no_timing:
        print("== parameters and CPU inference (1 thread, 256x256 input; shared machine: medians)")
        for r in timing(args.repeats):
            if r["paper_params"]:
                print(f"   {r['preset']}: {r['params'] / 1e6:.2f}M vs paper {r['paper_params'] / 1e6:.2f}M "
                      f"({100 * (r['params'] / r['paper_params'] - 1):+.1f} %)")
    if args.weights and args.data:
        print(f"== quality on the {args.split} split")
        quality(args.weights, args.data, args.split)


if __name__ == "__main__":
    main()
