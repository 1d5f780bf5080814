#!/usr/bin/env bash
# The GPU check: one script for a machine with a GPU and a GPU build of negclip (docs/devices.md).
# It needs no toolchain and no network, only the binary and this repository's files:
#
#   cargo build --release -p negclip-cli --features vulkan        # where the build is made
#   scripts/gpu-check.sh                                          # on the GPU machine
#   NEGCLIP=path/to/negclip DEVICE=wgpu:1 OUT=gpu-check scripts/gpu-check.sh
#
# It prints, and keeps in $OUT: the devices the build sees; the same checkpoint scored on the
# CPU and on the GPU (the accuracies must be equal); training-step times of the tiny, small and
# ViT-B/32 presets in fp32 and bf16, with the paper's batch for ViT-B/32; PyTorch's times for the
# same ViT-B/32 step and forward on the same GPU, and negclip/PyTorch ratios; and one epoch of
# the default job on the GPU. Every step has a time limit so that a hung driver cannot eat the
# machine's time. From the archive of scripts/gpu-bundle.sh: unpack it, then
# `NEGCLIP=./negclip scripts/gpu-check.sh` inside it.
#
# QUICK=1 shrinks the sizes (tiny preset, batch 8) so that the whole script runs through on a
# software GPU (Mesa's lavapipe) in minutes: a check of the script, not a measurement.
set -euo pipefail
cd "$(dirname "$0")/.."

NEGCLIP=${NEGCLIP:-target/release/negclip}
DEVICE=${DEVICE:-vulkan}
OUT=${OUT:-gpu-check}
PYTHON=${PYTHON:-python3}
# Software GPUs (lavapipe) have no bf16: QUICK=1 times fp32 only.
if [ "${QUICK:-0}" = 1 ]; then
    PRESETS="tiny" BIG=tiny BIG_BATCH=8 ITERS=2 EPOCH_SAMPLES=256 PRECISIONS="fp32" MIXED=fp32
else
    PRESETS="tiny small vit-b-32" BIG=vit-b-32 BIG_BATCH=256 ITERS=10 EPOCH_SAMPLES=
    PRECISIONS="fp32 bf16" MIXED=bf16
fi
mkdir -p "$OUT"
export CUBECL_AUTOTUNE_LEVEL=${CUBECL_AUTOTUNE_LEVEL:-balanced}

step() { echo; echo "== $* ($(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg))"; }

step "devices"
timeout 120 "$NEGCLIP" devices | tee "$OUT/devices.txt"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee -a "$OUT/devices.txt"

step "the same checkpoint on the CPU and on $DEVICE"
for device in cpu "$DEVICE"; do
    timeout 600 "$NEGCLIP" eval --device "$device" \
        --checkpoint models/synthetic-tiny-clip.safetensors \
        --suite vg-relation,vg-attribution,sugarcrepe --data-root tests/fixtures/aro \
        --output "$OUT/eval-${device//:/-}.json" | tail -n 8
done
if diff "$OUT/eval-cpu.md" "$OUT/eval-${DEVICE//:/-}.md"; then
    echo "eval: the GPU's accuracies equal the CPU's"
else
    echo "eval: THE GPU'S ACCURACIES DIFFER FROM THE CPU'S (above)"
fi

step "training steps on $DEVICE"
bench() {
    echo "-- $*"
    timeout 300 "$NEGCLIP" bench train-step --device "$DEVICE" --warmup 3 --iters "$ITERS" "$@" \
        | grep -E "train step|loss|preset" || echo "(failed or timed out)"
}
{
    for precision in $PRECISIONS; do
        for preset in $PRESETS; do
            batch=32
            [ "$preset" = "$BIG" ] && batch=$BIG_BATCH
            bench --preset "$preset" --batch "$batch" --precision "$precision"
        done
    done
    bench --preset "$BIG" --batch "$BIG_BATCH" --precision "$MIXED" --accum-steps 4
} | tee "$OUT/train-step.txt"

step "negclip against PyTorch on the same device: $BIG, batch $BIG_BATCH"
# PyTorch's side is scripts/bench_reference.py: open_clip's model where open_clip is installed,
# else scripts/plain_clip.py (the same modules in plain PyTorch). Ratios are negclip's time over
# PyTorch's: below 1 negclip is faster.
if "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    TORCH_DEVICE=cuda
else
    TORCH_DEVICE=cpu
    echo "(PyTorch sees no CUDA GPU: its side runs on the CPU, so the ratios compare devices)"
fi
ms() { grep -oE "$1: [0-9.]+ ms" | grep -oE "[0-9.]+ ms" | cut -d' ' -f1; }
ratio() { awk -v a="$2" -v b="$3" -v what="$1" \
    'BEGIN { if (a > 0 && b > 0) printf "%s: negclip %.1f ms, PyTorch %.1f ms, ratio %.2f\n", what, a, b, a / b; else printf "%s: no figure (a run failed)\n", what }'; }
{
    common=(--preset "$BIG" --batch "$BIG_BATCH" --warmup 3 --iters "$ITERS")
    ours_step=$(timeout 300 "$NEGCLIP" bench train-step --device "$DEVICE" "${common[@]}" --precision "$MIXED" | tee /dev/stderr | ms "train step" || true)
    torch_step=$(timeout 300 "$PYTHON" scripts/bench_reference.py train-step "${common[@]}" --device "$TORCH_DEVICE" --precision "$MIXED" --threads "$(nproc)" | tee /dev/stderr | ms "train step" || true)
    ours_fwd=$(timeout 300 "$NEGCLIP" bench forward --device "$DEVICE" "${common[@]}" | tee /dev/stderr || true)
    torch_fwd=$(timeout 300 "$PYTHON" scripts/bench_reference.py forward "${common[@]}" --device "$TORCH_DEVICE" --threads "$(nproc)" | tee /dev/stderr || true)
    ratio "train step, $MIXED" "$ours_step" "$torch_step"
    ratio "image tower forward, fp32" "$(ms "image tower" <<< "$ours_fwd")" "$(ms "image tower" <<< "$torch_fwd")"
    ratio "text tower forward, fp32" "$(ms "text tower" <<< "$ours_fwd")" "$(ms "text tower" <<< "$torch_fwd")"
} 2>&1 | tee "$OUT/against-pytorch.txt"

step "MPI overhead: one rank under mpirun against the plain run (builds with --features mpi)"
if command -v mpirun > /dev/null && ldd "$NEGCLIP" | grep -q libmpi; then
    for launcher in "" "mpirun --allow-run-as-root -np 1"; do
        echo "-- ${launcher:-plain}"
        timeout 300 $launcher "$NEGCLIP" bench train-step --device "$DEVICE" --warmup 3 \
            --iters "$ITERS" --preset "$BIG" --batch "$BIG_BATCH" --precision "$MIXED" \
            | grep -E "train step|communication" || echo "(failed or timed out)"
    done | tee "$OUT/mpi-overhead.txt"
else
    echo "(no mpirun, or a build without --features mpi: skipped)"
fi

step "one epoch of the default job on $DEVICE"
rm -rf "$OUT/default-job"
timeout 600 "$NEGCLIP" train --quiet --device "$DEVICE" --config configs/synthetic.toml \
    --set optim.epochs=1 ${EPOCH_SAMPLES:+--set data.samples_per_epoch=$EPOCH_SAMPLES} \
    --output "$OUT/default-job" \
    | tee "$OUT/default-job.txt" | tail -n 25
grep '"kind":"train"' "$OUT/default-job/metrics.jsonl" | tail -n 1 \
    || echo "(no training record: the epoch was shorter than the logging interval)"

step "done: figures in $OUT/"
