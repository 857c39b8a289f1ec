"""Speed of the colour-transfer kernels of harmony.color (and the MKL baseline) against public implementations.

    .venv/bin/python benchmarks/bench_transfer.py [--repeats 7] [--markdown]

Setup: a 640x480 target with an elliptical foreground of ~25 % and a 640x480 reference with its own
~25 % region (bundled sample photos). Each row times our kernel through its public API (input checks,
gather, transform, scatter) and the fastest installed peer implementation of the same method, as the
median of ``--repeats`` runs in the same process (the machine is shared: read ratios, not absolutes).

Peers are benchmark-only (pip install --no-deps color-matcher python-color-transfer; color-matcher is
GPL and is never imported by the package). They have no mask argument, so each is timed three ways:

- ``masked``: the peer doing our task: gather the target foreground and the reference region (flat
  boolean masks over 12-byte pixel items, the idiom our kernels use: faster than index lists), transfer,
  scatter into a copy of the target; no input checks. The ratio uses this mode (or the full-image mode
  when that is faster).
- ``full``: the whole 640x480 images, the way the peer's API is used (statistics then include the
  background, so it is not the same result).
- ``core``: the peer on pre-gathered (N, 1, 3) pixels only: no input checks, no mask handling, no
  output image. A lower bound shown for honesty (``core r`` column).

The output-difference column compares our foreground with the peer's core output (mean absolute
difference on the 0-255 scale); the notes say why they differ.
"""

from __future__ import annotations

import os

# One thread, as in a generator worker (harmony.parallel sets cv2.setNumThreads(1) per process); it is
# also the fair setting for peers that are plain numpy, and much less noisy on a shared machine.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from harmony import color  # noqa: E402
from harmony.datagen.samples import load_photo  # noqa: E402
from harmony.registry import METHODS  # noqa: E402


def _interleaved_medians_ms(fns: dict, repeats: int) -> dict:
    """Median wall time of each callable, calling them in turn in every round (ours, peer, peer ...)
    so that load changes on the shared machine hit all of them alike."""
    for fn in fns.values():
        fn()  # warm-up (imports, caches)
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) * 1000.0 for name, ts in times.items()}


def _ellipse(h, w, cy, cx, ry, rx):
    yy, xx = np.mgrid[0:h, 0:w]
    return ((((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2) < 1).astype(np.float32)


def _peers():
    peers = {}
    try:
        from color_matcher import ColorMatcher

        def cm(method):
            def run(src, ref):
                out = ColorMatcher().transfer(src=src.astype(np.float64), ref=ref.astype(np.float64),
                                              method=method)
                return np.clip(out, 0, 1)
            return run

        for m in ("reinhard", "mvgd", "mkl", "hm"):
            peers[f"color-matcher {m}"] = cm(m)
    except ImportError:
        print("color-matcher not installed: pip install --no-deps color-matcher", file=sys.stderr)
    try:
        from python_color_transfer.color_transfer import ColorTransfer

        ct = ColorTransfer()

        def u8_bgr(img):
            return cv2.cvtColor(np.clip(np.rint(img * 255), 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)

        def back(img):
            return cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0

        peers["python-color-transfer lab_transfer"] = lambda s, r: back(ct.lab_transfer(u8_bgr(s), u8_bgr(r)))
        peers["python-color-transfer pdf_transfer"] = lambda s, r: back(
            ct.pdf_transfer(u8_bgr(s), u8_bgr(r), regrain=False))
        peers["python-color-transfer pdf_transfer+regrain"] = lambda s, r: back(
            ct.pdf_transfer(u8_bgr(s), u8_bgr(r), regrain=True))
    except ImportError:
        print("python-color-transfer not installed: pip install --no-deps python-color-transfer",
              file=sys.stderr)
    from skimage.exposure import match_histograms

    peers["skimage match_histograms"] = lambda s, r: match_histograms(s, r, channel_axis=-1)
    return peers


# (our name, our callable(target, mask, ref, ref_mask), candidate peers, note on output differences)
ROWS = [
    ("reinhard (gct)", lambda t, m, r, rm: color.reinhard(t, m, r, rm),
     ["color-matcher reinhard", "python-color-transfer lab_transfer"],
     "peers: population std and OpenCV's CIELAB (python-color-transfer, uint8) or per-channel RGB "
     "(color-matcher) instead of Reinhard's l-alpha-beta of log10 LMS"),
    ("xiao (gctrgb)", lambda t, m, r, rm: color.xiao(t, m, r, rm),
     ["color-matcher mvgd"],
     "same target mean/covariance; the 3x3 map differs (Xiao's eigen-frame rotation vs MVGD's)"),
    ("fecker (hgm)", lambda t, m, r, rm: color.fecker(t, m, r, rm),
     ["color-matcher hm", "skimage match_histograms"],
     "peers match RGB histograms (exact quantiles); Fecker maps YCbCr unit bins with end-bin means"),
    ("idt, no regrain (10x6 projections)",
     lambda t, m, r, rm: color.idt(t, m, r, rm, regrain=False, rng=0),
     ["python-color-transfer pdf_transfer"],
     "peer: 6 fixed 3x3 rotations (18 1-D maps) on uint8, ours 10 6x3 rotations (60 1-D maps), "
     "least squares; same 300 bins"),
    ("idt + regrain", lambda t, m, r, rm: color.idt(t, m, r, rm, regrain=True, rng=0),
     ["python-color-transfer pdf_transfer+regrain"],
     "peer regrains the whole image (no mask: compared in full mode only); ours the foreground's box"),
    ("dih (L* + b* matching)", lambda t, m, r, rm: color.dih(t, m, r, rm),
     ["skimage match_histograms", "color-matcher hm"],
     "peers match all three RGB channels; DIH matches L* and b* only (a* kept)"),
    ("mkl baseline (fg -> bg)", None, ["color-matcher mkl"],
     "same Monge-Kantorovich map; the peer uses population covariance and no mask"),
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--threads", type=int, default=1, help="OpenCV threads (default 1, as in a worker)")
    args = ap.parse_args(argv)
    cv2.setNumThreads(args.threads)

    h, w = 480, 640
    target = np.ascontiguousarray(cv2.resize(load_photo("astronaut"), (w, h), interpolation=cv2.INTER_AREA))
    reference = np.ascontiguousarray(cv2.resize(load_photo("coffee"), (w, h), interpolation=cv2.INTER_AREA))
    target = np.clip(target, 0, 1).astype(np.float32)
    reference = np.clip(reference, 0, 1).astype(np.float32)
    mask = _ellipse(h, w, 250, 320, 135, 180)
    ref_mask = _ellipse(h, w, 220, 300, 135, 180)
    fg = mask > 0.5
    print(f"target {w}x{h}, foreground {mask.mean() * 100:.1f} %, reference region "
          f"{ref_mask.mean() * 100:.1f} %, repeats {args.repeats} (interleaved medians; shared machine), "
          f"OpenCV threads {args.threads}, BLAS threads {os.environ.get('OPENBLAS_NUM_THREADS')}")
    # MKL baseline: composite = target with the reference's pixels pasted into the mask
    composite = target.copy()
    composite[fg] = reference[fg]
    mkl = METHODS.create("mkl")

    row = np.dtype((np.void, 12))   # one float32 RGB pixel as one item (the trick our kernels use)

    def masked(fn, src_img, src_mask, ref_img, ref_mask_):
        """The peer doing our task: gather both regions, transfer, scatter into a copy, with the same
        fast idioms as our kernels (flat boolean masks over 12-byte pixel items; no input checks)."""
        def run():
            ts = (src_mask > 0.5).reshape(-1)
            rs = (ref_mask_ > 0.5).reshape(-1)
            src = src_img.reshape(-1).view(row)[ts].view(np.float32).reshape(-1, 1, 3)
            ref = ref_img.reshape(-1).view(row)[rs].view(np.float32).reshape(-1, 1, 3)
            out = src_img.copy()
            new = np.ascontiguousarray(np.clip(fn(src, ref), 0, 1), dtype=np.float32)
            out.reshape(-1).view(row)[ts] = new.reshape(-1).view(row)
            return out
        return run

    peers = _peers()
    rows = []
    for name, ours, candidates, note in ROWS:
        repeats = max(3, args.repeats // 2) if name.startswith("idt") else args.repeats
        if ours is None:  # the MKL baseline: foreground recoloured from the composite's background
            run_ours = lambda: mkl(composite, mask)  # noqa: E731
            src_img, src_mask, ref_img, ref_msk = composite, mask, composite, 1.0 - mask
        else:
            run_ours = lambda ours=ours: ours(target, mask, reference, ref_mask)  # noqa: E731
            src_img, src_mask, ref_img, ref_msk = target, mask, reference, ref_mask
        src_r = np.ascontiguousarray(src_img[src_mask > 0.5][:, None, :])
        ref_r = np.ascontiguousarray(ref_img[ref_msk > 0.5][:, None, :])
        ours_out = run_ours()[fg]
        fns = {"ours": run_ours}
        present = [p for p in candidates if p in peers]
        for peer in present:
            fn = peers[peer]
            fns[peer + "|full"] = lambda fn=fn: fn(src_img, ref_img)
            if "regrain" not in peer:   # spatial: only meaningful on the whole image
                fns[peer + "|core"] = lambda fn=fn: fn(src_r, ref_r)
                fns[peer + "|masked"] = masked(fn, src_img, src_mask, ref_img, ref_msk)
        ms = _interleaved_medians_ms(fns, repeats)
        for peer in present:
            full_ms = ms[peer + "|full"]
            core_ms = ms.get(peer + "|core", float("nan"))
            masked_ms = ms.get(peer + "|masked", float("nan"))
            if peer + "|core" in ms:
                diff = float(np.abs(peers[peer](src_r, ref_r)[:, 0, :] - ours_out).mean() * 255)
                same_task = min(masked_ms, full_ms)
            else:
                diff, same_task = float("nan"), full_ms
            rows.append(dict(name=name, ours=ms["ours"], peer=peer, core=core_ms, masked=masked_ms,
                             full=full_ms, ratio=same_task / ms["ours"], core_ratio=core_ms / ms["ours"],
                             diff=diff, note=note))
        if not present:
            rows.append(dict(name=name, ours=ms["ours"], peer="(no peer installed)", core=float("nan"),
                             masked=float("nan"), full=float("nan"), ratio=float("nan"),
                             core_ratio=float("nan"), diff=float("nan"), note=note))

    if args.markdown:
        print("| kernel | ours, ms | peer | peer masked, ms | peer full image, ms | peer core only, ms | "
              "ratio (same task) | target | pass | ratio vs core only | mean abs diff (0-255) | "
              "why outputs differ |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            ok = "n/a" if np.isnan(r["ratio"]) else ("pass" if r["ratio"] >= 2 else "FAIL")
            print(f"| {r['name']} | {r['ours']:.1f} | {r['peer']} | {r['masked']:.1f} | {r['full']:.1f} | "
                  f"{r['core']:.1f} | {r['ratio']:.2f}x | >= 2x | {ok} | {r['core_ratio']:.2f}x | "
                  f"{r['diff']:.1f} | {r['note']} |")
    else:
        print(f"{'kernel':36s} {'ours':>7s}  {'peer':42s} {'masked':>7s} {'full':>7s} {'core':>7s} "
              f"{'ratio':>6s} {'core r':>6s} {'diff':>5s}")
        for r in rows:
            print(f"{r['name']:36s} {r['ours']:7.1f}  {r['peer']:42s} {r['masked']:7.1f} {r['full']:7.1f} "
                  f"{r['core']:7.1f} {r['ratio']:5.2f}x {r['core_ratio']:5.2f}x {r['diff']:5.1f}")
        print("times in ms (medians). ratio = peer doing the same task (masked: gather + transfer + "
              "scatter, or full image if faster) / ours, target >= 2x; core r = peer on pre-gathered "
              "pixels only / ours (a lower bound: no mask handling, no output image); diff = mean "
              "|ours - peer| on the foreground, 0-255 scale")
    return 0


if __name__ == "__main__":
    sys.exit(main())
