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
# ViT-B/32 presets in fp32 and bf16, with the paper's batch for ViT-B/32; and one epoch of the
# default job on the GPU. Every step has a time limit so that a hung driver cannot eat the
# machine's time.
set -euo pipefail
cd "$(dirname "$0")/.."

NEGCLIP=${NEGCLIP:-target/release/negclip}
DEVICE=${DEVICE:-vulkan}
OUT=${OUT:-gpu-check}
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
    timeout 300 "$NEGCLIP" bench train-step --device "$DEVICE" --warmup 3 --iters 10 "$@" \
        | grep -E "train step|loss|preset" || echo "(failed or timed out)"
}
{
    for precision in fp32 bf16; do
        bench --preset tiny --batch 32 --precision "$precision"
        bench --preset small --batch 32 --precision "$precision"
        bench --preset vit-b-32 --batch 256 --precision "$precision"
    done
    bench --preset vit-b-32 --batch 256 --precision bf16 --accum-steps 4
} | tee "$OUT/train-step.txt"

step "MPI overhead: one rank under mpirun against the plain run (builds with --features mpi)"
if command -v mpirun > /dev/null && ldd "$NEGCLIP" | grep -q libmpi; then
    for launcher in "" "mpirun --allow-run-as-root -np 1"; do
        echo "-- ${launcher:-plain}"
        timeout 300 $launcher "$NEGCLIP" bench train-step --device "$DEVICE" --warmup 3 \
            --iters 10 --preset vit-b-32 --batch 256 --precision bf16 \
            | grep -E "train step|communication" || echo "(failed or timed out)"
    done | tee "$OUT/mpi-overhead.txt"
else
    echo "(no mpirun, or a build without --features mpi: skipped)"
fi

step "one epoch of the default job on $DEVICE"
rm -rf "$OUT/default-job"
timeout 600 "$NEGCLIP" train --quiet --device "$DEVICE" --config configs/synthetic.toml \
    --set optim.epochs=1 --output "$OUT/default-job" \
    | tee "$OUT/default-job.txt" | tail -n 25
grep '"kind":"train"' "$OUT/default-job/metrics.jsonl" | tail -n 1

step "done: figures in $OUT/"
