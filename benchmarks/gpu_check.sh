#!/usr/bin/env bash
# GPU check of `harmony train` (issue 15): every model's tiny and paper preset for a few steps on CUDA in
# 32-bit, bf16 and float16-mixed precision; images/s, peak GPU memory, loss after the steps, and the
# CPU-vs-GPU first-step loss agreement (1e-3). Run it on a machine with a GPU, from the repository root:
#
#   bash benchmarks/gpu_check.sh [--steps 6] [--models dih,rcl] | tee gpu_check.csv
#
# Then `harmony bench --device cuda` (learned methods in batches on the GPU; its rows against the CPU's),
# and a DDP smoke test on every visible GPU (nccl) if there are two or more.
set -euo pipefail
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
"$PY" benchmarks/gpu_check.py "$@"

# bench --device cuda: a tiny dih checkpoint, 32 test images at 256 px, benched on the CPU (image by image)
# and on the GPU in batches of 16; prints both runs' times and the largest MSE difference per image.
BENCH=$(mktemp -d)
"$PY" -c "from pathlib import Path; from tests.test_models_data import make_dataset; make_dataset(Path('$BENCH/d'), n_train=16, n_test=32, size=256)"
"$PY" -m harmony train dih --data "$BENCH/d" --preset dih_tiny --steps 20 --device cuda --out "$BENCH/ck/dih" --quiet
for DEVICE in cpu cuda; do
  BATCH=1; [ "$DEVICE" = cuda ] && BATCH=16
  TIMEFORMAT="bench --device $DEVICE --batch-size $BATCH: %R s"
  time "$PY" -m harmony bench --data "$BENCH/d" --models dih,cut-and-paste \
     --weights "$BENCH/ck" --device "$DEVICE" --batch-size "$BATCH" --workers 0 --no-plots --gallery 0 --quiet \
     --out "$BENCH/bench_$DEVICE" | tail -n 4
done
"$PY" -c "import pandas as pd; a, b = (pd.read_csv('$BENCH/bench_' + d + '/per_image.csv') for d in ('cpu', 'cuda')); print('bench cpu vs cuda: max |MSE difference| per image', float((a['mse'] - b['mse']).abs().max()))"
"$PY" -m pytest -q -p no:cacheprovider tests/test_bench_runner.py -k "cuda"
rm -rf "$BENCH"

NGPU=$("$PY" -c "import torch; print(torch.cuda.device_count())")
if [ "$NGPU" -ge 2 ]; then
  TMP=$(mktemp -d)
  "$PY" -c "from tests.test_models_data import make_dataset; make_dataset(__import__('pathlib').Path('$TMP/d'), n_train=16, n_test=2, size=96)"
  "$PY" -m harmony train dih --data "$TMP/d" --preset dih_tiny --steps 20 --device cuda --nproc "$NGPU" \
     --out "$TMP/ddp" --quiet
  rm -rf "$TMP"
fi
