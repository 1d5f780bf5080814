#!/usr/bin/env bash
# The training step on one process against the same global batch split over MPI ranks on this
# machine, alternating (A B C A B C …) so that a change in the machine's load hits all three
# alike: `negclip bench train-step` plain with every core, under `mpirun -np 1` (the MPI
# overhead alone) and under `mpirun -np 2` (each rank one core and half the batch).
#
#   cargo build --release -p negclip-cli --features mpi
#   scripts/bench-ranks.sh [PRESET] [BATCH] [ROUNDS]
#
# Prints each run's ms/step and, under MPI, the time spent in communication.
set -euo pipefail
cd "$(dirname "$0")/.."
PRESET=${1:-small}
BATCH=${2:-32}
ROUNDS=${3:-3}
NEGCLIP=${NEGCLIP:-target/release/negclip}
CORES=$(nproc)
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1}
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
BENCH=(bench train-step --preset "$PRESET" --batch "$BATCH" --warmup 3 --iters 10)

echo "preset $PRESET, global batch $BATCH, $CORES cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
for round in $(seq 1 "$ROUNDS"); do
    echo "-- round $round, load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo -n "1 process, $CORES threads:   "
    RAYON_NUM_THREADS=$CORES "$NEGCLIP" "${BENCH[@]}" | grep "train step"
    echo -n "1 rank,    $CORES threads:   "
    mpirun -np 1 --bind-to none -x RAYON_NUM_THREADS="$CORES" "$NEGCLIP" "${BENCH[@]}" \
        | grep "train step"
    echo "2 ranks,   $((CORES / 2)) thread(s) each:"
    mpirun -np 2 -x RAYON_NUM_THREADS=$((CORES / 2)) "$NEGCLIP" "${BENCH[@]}" \
        | grep -E "train step|communication" | sed 's/^/    /'
done
