"""GPU check of ``harmony train`` (run by benchmarks/gpu_check.sh on a machine with CUDA).

For each model's tiny and paper preset and each precision (32, bf16, 16-mixed) it trains a few steps on
``cuda`` and prints images/s (steps 2..N from the training log), peak GPU memory
(``torch.cuda.max_memory_allocated``) and the loss after the steps; then it checks that CPU and GPU
agree on the first step's loss (32-bit, same seed, same batch) within 1e-3 relative. Data: small
synthetic iHarmony4-layout sets made in a temporary folder with the test suite's builders (sides 640x480
are not needed: the presets resize).

    python benchmarks/gpu_check.py [--steps 6] [--models dih,bargainnet,rcl,sprih,charmnet]
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))          # the test suite's dataset builders (tests/ is not installed)


def first_and_rate(log: Path, batch: int) -> tuple[float, float]:
    rows = list(csv.DictReader(open(log)))
    first = float(rows[0]["total"])
    t = {int(r["step"]): float(r["seconds"]) for r in rows}
    last = max(t)
    rate = batch * (last - 1) / (t[last] - t[1]) if last > 1 and t[last] > t[1] else float("nan")
    return first, rate


def main() -> int:
    import torch

    from harmony.models.presets import get_preset
    from harmony.models.train import train
    from tests.test_models_charmnet import make_rendered
    from tests.test_models_data import make_dataset

    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--models", default="dih,bargainnet,rcl,sprih,charmnet")
    ap.add_argument("--precisions", default="32,bf16,16-mixed")
    ap.add_argument("--variants", default="tiny,paper")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("gpu_check: torch sees no CUDA device; nothing run")
        return 2
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    tmp = Path(tempfile.mkdtemp(prefix="harmony_gpu_check_"))
    paired = make_dataset(tmp / "paired", n_train=24, n_test=4, size=160, seed=1)
    rendered = make_rendered(tmp / "rendered", views=2, styles=(1, 2, 3), size=160)
    extra = {"charmnet": {"rendered": str(rendered)}}
    failures = 0
    print("model,preset,precision,batch,steps,images_per_s,peak_gpu_mib,last_loss,first_loss_gpu,first_loss_cpu,rel_diff,ok")
    for model in args.models.split(","):
        for variant in args.variants.split(","):
            preset = f"{model}_{variant}"
            p = get_preset(preset)
            cpu_first = None
            for precision in args.precisions.split(","):
                out = tmp / f"{preset}_{precision}"
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
                t0 = time.perf_counter()
                try:
                    r = train(model, paired, out, preset=preset, steps=args.steps, val_every=args.steps, val_limit=4,
                              device="cuda", precision=precision, progress=False, loader_workers=4,
                              extra_data=extra.get(model), overwrite=True)
                except Exception as exc:  # noqa: BLE001 - report every combination
                    failures += 1
                    print(f"{model},{preset},{precision},{p.batch_size},{args.steps},FAILED {exc.__class__.__name__}: "
                          f"{str(exc).splitlines()[0][:200]}")
                    continue
                peak = torch.cuda.max_memory_allocated() / 2 ** 20
                first, rate = first_and_rate(out / "train_log.csv", p.batch_size)
                row = [model, preset, precision, p.batch_size, args.steps, f"{rate:.2f}", f"{peak:.0f}",
                       f"{r.last_losses['total']:.6g}", f"{first:.6g}"]
                if precision == "32":
                    c = train(model, paired, tmp / f"{preset}_cpu", preset=preset, steps=1, val_every=1, val_limit=1,
                              device="cpu", progress=False, loader_workers=4, extra_data=extra.get(model),
                              overwrite=True, threads=8)
                    cpu_first = c.last_losses["total"]
                    rel = abs(first - cpu_first) / max(abs(cpu_first), 1e-12)
                    ok = rel <= 1e-3
                    failures += 0 if ok else 1
                    row += [f"{cpu_first:.6g}", f"{rel:.2e}", "ok" if ok else "MISMATCH"]
                else:
                    row += ["", "", ""]
                print(",".join(map(str, row)), f"# {time.perf_counter() - t0:.0f} s", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
