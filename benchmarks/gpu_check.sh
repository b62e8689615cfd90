#!/usr/bin/env bash
# The GPU check of topoae, one command, about 5-8 minutes on one GPU; everything lands in one
# folder (default gpu-check/): the CUDA tests, the step benchmark (AE / TopoAE /
# torch-topological, Spheres MLP at m = 28, 128, 512, 1024 and the DeepAE at m = 126), device
# pairing times for m = 128 ... 8192, host syncs per step, the quality measures' torch pass
# (its CUDA tests; evaluate at 10^4 and 5*10^4 x 784 exact and 10^6 x 50 estimated, beside the
# CPU passes at 10^4), and a 2-process DDP run when the machine has 2 GPUs.  Usage: bash benchmarks/gpu_check.sh [OUT_DIR]
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu-check}
mkdir -p "$out"
py=${PYTHON:-.venv/bin/python}
[ -x "$py" ] || py=python3
log() { echo "== $*" | tee -a "$out/log.txt"; }

log "machine"
{ nvidia-smi || true; "$py" -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name())"; } \
  >"$out/machine.txt" 2>&1
cat "$out/machine.txt" | tee -a "$out/log.txt"

log "CUDA tests (the device kernel on the GPU, the CUDA paths of training)"
TRITON_INTERPRET=0 timeout 240 "$py" -m pytest -q -p no:cacheprovider tests/core/test_device_prim.py \
  tests/core -k "cuda or device" >"$out/tests.txt" 2>&1
echo "tests exit $?" | tee -a "$out/log.txt"; tail -3 "$out/tests.txt" | tee -a "$out/log.txt"

log "device pairing and host syncs per step"
timeout 120 "$py" benchmarks/bench_device.py --out "$out/device.json" | tee "$out/device.md"

log "step benchmark, Spheres MLP"
timeout 180 "$py" -m topoae bench --which step --device cuda --sizes 28,128,512,1024 \
  --peers ae,topoae,torch_topological --repeats 11 --out "$out/step-spheres.json" \
  | tee "$out/step-spheres.md"

log "step benchmark, DeepAE on 784 features"
timeout 90 "$py" -m topoae bench --which mnist --device cuda \
  --peers ae,topoae,torch_topological --repeats 11 --out "$out/step-deepae.json" \
  | tee "$out/step-deepae.md"

log "quality measures: the torch pass on the GPU (tests, then time against the CPU passes)"
timeout 120 "$py" -m pytest -q -p no:cacheprovider tests/metrics/test_torch_pass.py \
  >"$out/metrics-tests.txt" 2>&1
echo "metrics tests exit $?" | tee -a "$out/log.txt"; tail -3 "$out/metrics-tests.txt" | tee -a "$out/log.txt"
timeout 150 "$py" benchmarks/bench_metrics.py --sizes 10000 50000 --estimated 1000000 \
  --device cuda --max-load 100 | tee "$out/metrics-gpu.md"
timeout 60 "$py" benchmarks/bench_metrics.py --sizes 10000 --max-load 100 | tee "$out/metrics-cpu.md"

gpus=$("$py" -c "import torch; print(torch.cuda.device_count())")
if [ "$gpus" -ge 2 ]; then
  log "2-process DDP training on 2 GPUs"
  timeout 120 "$py" -m torch.distributed.run --nproc-per-node 2 -m topoae train --dataset spheres \
    --epochs 2 --device cuda --out "$out/ddp-run" >"$out/ddp.txt" 2>&1
  echo "ddp exit $?" | tee -a "$out/log.txt"
else
  log "one GPU: DDP run skipped"
fi
log "done: $out"
