"""Cost of the ``_paper`` presets, measured on the CPU (no GPU was available when this was written).

For each ``_paper`` preset, in a fresh process per (preset, batch):

- parameters;
- FLOPs of one training step per image (forward + backward of every phase, counted by
  ``torch.utils.flop_counter.FlopCounterMode`` on a batch of 1);
- peak resident memory of one training step (all phases + Adam) at batch 1 and 2, above the memory of
  the built model; the per-image slope extrapolates linearly to the paper's batch.

It then prints, for the paper's schedule where the paper states it (and 100k steps otherwise), the total
training FLOPs and a GPU-hours figure on one H100 **derived** (not measured) from an assumed sustained
throughput of 300 TFLOP/s (about 30 % of the H100 SXM's 989 TFLOP/s dense bf16 peak; convolutional
networks at these sizes usually sustain 20-40 %). ``benchmarks/gpu_check.sh`` measures images/s on a
real GPU; its figure replaces this estimate whenever it is run.

    python benchmarks/bench_paper_presets.py
"""

from __future__ import annotations

import json
import subprocess
import sys

ASSUMED_TFLOPS = 300.0
PRESETS = ["dih_paper", "bargainnet_paper", "rcl_paper", "sprih_paper", "charmnet_paper"]

CHILD = r'''
import json, resource, sys
import torch
from harmony.models.presets import create_model, get_preset
from harmony.models.trainer import StepContext
torch.set_num_threads(2)
name, b, count = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
p = get_preset(name)
torch.manual_seed(0)
net = create_model(name).train()
s = p.size
def batch():
    m = torch.zeros(b, 1, s, s); m[..., s // 4: 3 * s // 4, s // 4: 3 * s // 4] = 1
    out = {"composite": torch.rand(b, 3, s, s), "mask": m, "real": torch.rand(b, 3, s, s)}
    if p.model == "charmnet":
        out["streams"] = {"rendered": {"composite": torch.rand(b, 3, s, s), "mask": m, "real": torch.rand(b, 3, s, s),
                                       "soft": torch.full((b, 10), 0.1), "style": torch.zeros(b, dtype=torch.long)}}
    else:
        out["streams"] = {}
    return out
opts = {k: torch.optim.Adam(v, lr=1e-4) for k, v in net.optimizer_groups().items()}
x = batch()
def step():
    ctx = StepContext(0, 0, 0)
    for phase in net.train_phases():
        opts[phase].zero_grad(set_to_none=True)
        net.phase_losses(phase, x, ctx)["total"].backward()
        opts[phase].step()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if count:
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as fc:
        step()
    flops = fc.get_total_flops()
else:
    flops = None
    step()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"params": sum(q.numel() for q in net.parameters()), "flops": flops,
                  "base_mb": base / 1024, "peak_mb": peak / 1024}))
'''


def run(name: str, b: int, count: bool) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, name, str(b), "1" if count else "0"], capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise SystemExit(f"{name} batch {b}: {out.stderr[-1500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    from harmony.models.presets import get_preset

    print(f"{'preset':18s} {'params':>8s} {'GFLOP/img/step':>14s} {'MB b=1':>8s} {'MB b=2':>8s} {'batch':>5s} "
          f"{'est. MB at batch':>16s} {'steps':>9s} {'est. H100 h':>11s}  schedule")
    for name in PRESETS:
        p = get_preset(name)
        one = run(name, 1, True)
        two = run(name, 2, False)
        act1 = one["peak_mb"] - one["base_mb"]
        act2 = two["peak_mb"] - two["base_mb"]
        slope = max(act2 - act1, 0.0)
        est = one["base_mb"] + act1 + slope * (p.batch_size - 1)
        sched = dict(p.paper or {})
        steps = int(sched.get("steps") or p.steps)
        total_flops = one["flops"] * p.batch_size * steps
        hours = total_flops / (ASSUMED_TFLOPS * 1e12) / 3600.0
        print(f"{name:18s} {one['params'] / 1e6:7.2f}M {one['flops'] / 1e9:14.1f} {one['peak_mb']:8.0f} "
              f"{two['peak_mb']:8.0f} {p.batch_size:5d} {est:16.0f} {steps:9d} {hours:11.1f}  "
              f"{sched.get('schedule', 'not stated')}", flush=True)


if __name__ == "__main__":
    main()
