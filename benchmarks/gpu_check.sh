#!/usr/bin/env bash
# GPU check of `harmony train` (issue 15): every model's tiny and paper preset for a few steps on CUDA in
# 32-bit, bf16 and float16-mixed precision; images/s, peak GPU memory, loss after the steps, and the
# CPU-vs-GPU first-step loss agreement (1e-3). Run it on a machine with a GPU, from the repository root:
#
#   bash benchmarks/gpu_check.sh [--steps 6] [--models dih,rcl] | tee gpu_check.csv
#
# Then a DDP smoke test on every visible GPU (nccl) if there are two or more.
set -euo pipefail
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
"$PY" benchmarks/gpu_check.py "$@"
NGPU=$("$PY" -c "import torch; print(torch.cuda.device_count())")
if [ "$NGPU" -ge 2 ]; then
  TMP=$(mktemp -d)
  "$PY" -c "from tests.test_models_data import make_dataset; make_dataset(__import__('pathlib').Path('$TMP/d'), n_train=16, n_test=2, size=96)"
  "$PY" -m harmony train dih --data "$TMP/d" --preset dih_tiny --steps 20 --device cuda --nproc "$NGPU" \
     --out "$TMP/ddp" --quiet
  rm -rf "$TMP"
fi
