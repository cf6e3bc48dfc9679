#!/usr/bin/env bash
# Real GPU step times of the bench_launches.py cases (one by one vs stacked, fp32 vs bf16) and
# the CUDA paths (device selection, autocast, DDP with NCCL on every GPU here), within 8 minutes.
# Without a GPU it says so and exits 0.  Usage: bash benchmarks/gpu_check.sh
set -u
cd "$(dirname "$0")/.."
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
gpus=$("$PY" -c "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)")
if [ "$gpus" = "0" ]; then
  echo "gpu_check: no CUDA device here (torch.cuda.is_available() is False); skipped"
  exit 0
fi
echo "gpu_check: $gpus GPU(s)"
status=0
timeout 360 "$PY" benchmarks/gpu_check.py || { echo "gpu_check: step timings FAILED"; status=1; }
out=$(mktemp -d)
timeout 100 "$PY" -m torch.distributed.run --standalone --nproc_per_node="$gpus" \
  scripts/train_ddp.py --out "$out/ddp" logger.wandb.mode=disabled logger.progress=off \
  task.epochs=1 task.batch_size=$((64 * gpus)) \
  && grep -q '"status": "completed"' "$out/ddp/summary.json" \
  && echo "gpu_check: DDP (NCCL, $gpus GPU(s)) completed" \
  || { echo "gpu_check: DDP FAILED"; status=1; }
rm -rf "$out"
exit $status
