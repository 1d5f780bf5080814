#!/usr/bin/env bash
# The NegCLIP recipe (configs/negclip-coco-vit-b32.toml) rehearsed at its real shape on a CPU:
# a ViT-B/32 in OpenAI's layout (seeded weights), COCO-shaped JPEGs with a Karpathy split file
# and a NegCLIP table made by `negclip negatives`, ARO-shaped suites. Only sizes and paths
# change, with --set; hard images are re-mined by embedding before every epoch
# ({ nearest = 3 }) so that mining is rehearsed too (the authors' table lists them instead).
#
#   scripts/rehearse-recipe.sh [WORK]        # default WORK: /tmp/negclip-rehearsal
#
# It runs the recipe twice with the same command: once through, and once killed (SIGKILL)
# after its first periodic checkpoint and resumed, then checks that both end with the same
# weights. It prints each stage's time, the peak memory and the disk the run folder took,
# then projects the full recipe from the measured per-item costs (scripts/rehearsal.py).
#
# Sizes (environment): TRAIN=256 training images, VAL=64, TEST=64, VG=256 items per VG suite,
# BATCH=32, EPOCHS=2, EVERY=5 steps between periodic checkpoints, PRESET=vit-b-32, TEXT_TOKENS=24
# (the benchmarks' text length: a COCO batch's longest caption, as the trainer cuts it).
# Needs: a release build (made if NEGCLIP is unset), python3 with numpy and Pillow, GNU time
# (/usr/bin/time). Measured here (2 cores): about 30 min and 12 GB of disk at the defaults
# (docs/performance.md, "The recipe rehearsed at real shape").
set -euo pipefail

cd "$(dirname "$0")/.."
WORK=${1:-/tmp/negclip-rehearsal}
TRAIN=${TRAIN:-256} VAL=${VAL:-64} TEST=${TEST:-64} VG=${VG:-256}
BATCH=${BATCH:-32} EPOCHS=${EPOCHS:-2} EVERY=${EVERY:-5} PRESET=${PRESET:-vit-b-32}
TEXT_TOKENS=${TEXT_TOKENS:-24}
PYTHON=${PYTHON:-python3}
THREADS=${RAYON_NUM_THREADS:-$(nproc)}

stage() { printf '\n== %s (%s; %s free on %s)\n' "$1" "$(date -u +%H:%M:%S)" \
    "$(df -h --output=avail "$WORK" | tail -1 | tr -d ' ')" "$WORK"; }
seconds_of() { local t0=$SECONDS; "$@"; echo $((SECONDS - t0)); }

for tool in /usr/bin/time "$PYTHON"; do
    command -v "$tool" >/dev/null || { echo "rehearse-recipe: needs $tool" >&2; exit 2; }
done
"$PYTHON" -c 'import numpy, PIL' 2>/dev/null ||
    { echo "rehearse-recipe: $PYTHON needs numpy and Pillow (pip install numpy pillow)" >&2; exit 2; }
if [[ -z "${NEGCLIP:-}" ]]; then
    cargo build --release -p negclip-cli
    NEGCLIP=target/release/negclip
fi
rm -rf "$WORK" && mkdir -p "$WORK"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

stage "corpus: $TRAIN training, $VAL val, $TEST test images; $VG items per VG suite"
t0=$SECONDS
"$PYTHON" scripts/rehearsal.py corpus "$WORK/data" --train "$TRAIN" --val "$VAL" --test "$TEST" --vg "$VG"
CORPUS_S=$((SECONDS - t0))
du -sh "$WORK/data"

stage "negatives: NegCLIP's table from the Karpathy file (first caption of each training image)"
t0=$(date +%s.%N)
"$NEGCLIP" negatives --input "$WORK/data/coco/dataset_coco.json" --split train,restval \
    --first-caption-only --output "$WORK/table.jsonl"
NEGATIVES_S=$(awk "BEGIN { print $(date +%s.%N) - $t0 }")

stage "checkpoint: $PRESET in OpenAI's layout, seeded weights"
t0=$(date +%s.%N)
"$NEGCLIP" export --preset "$PRESET" --seed 1 --to open_clip --output "$WORK/checkpoint"
EXPORT_S=$(awk "BEGIN { print $(date +%s.%N) - $t0 }")
ls -l "$WORK/checkpoint"

stage "decode and augment: negclip bench data on the training JPEGs"
"$NEGCLIP" bench data --table "$WORK/table.jsonl" --image-root "$WORK/data/coco" --batch "$BATCH" \
    --batches 4 --stage-images 32 | tee "$WORK/bench-data.txt"

stage "forward, backward, optimiser: negclip bench train-step --phases at batch $BATCH"
"$NEGCLIP" bench train-step --preset "$PRESET" --batch "$BATCH" --text-tokens "$TEXT_TOKENS" \
    --phases --warmup 1 --iters 2 | tee "$WORK/bench-step.txt"

stage "the towers forward, as evaluation and mining run them: negclip bench forward"
"$NEGCLIP" bench forward --preset "$PRESET" --batch 64 --text-tokens "$TEXT_TOKENS" \
    --warmup 1 --iters 2 | tee "$WORK/bench-forward.txt"

RUN_ARGS=(
    train --config configs/negclip-coco-vit-b32.toml --quiet
    --set "model.checkpoint=$WORK/checkpoint"
    --set "data.table=$WORK/table.jsonl" --set "data.image_root=$WORK/data/coco"
    --set 'data.hard_images={ nearest = 3 }'
    --set "optim.batch_size=$BATCH" --set "optim.epochs=$EPOCHS" --set optim.warmup_steps=2
    --set "eval.data_root=$WORK/data" --set "eval.every_epochs=$EPOCHS"
    --set "checkpoint.every_steps=$EVERY" --set checkpoint.keep_last=1
    --set checkpoint.keep_epoch_ends=false
)

# The largest the folder got while $1 (a PID) ran, in bytes, into $2.
watch_disk() {
    local pid=$1 out=$2 dir=$3 most=0 now
    while kill -0 "$pid" 2>/dev/null; do
        now=$(du -sb "$dir" 2>/dev/null | cut -f1 || echo 0)
        ((now > most)) && most=$now
        sleep 1
    done
    echo "$most" >"$out"
}

stage "run A: the recipe through, $EPOCHS epochs of $TRAIN at batch $BATCH"
/usr/bin/time -v -o "$WORK/run-a.time" "$NEGCLIP" "${RUN_ARGS[@]}" --output "$WORK/run-a" &
RUN=$!
mkdir -p "$WORK/run-a" && watch_disk "$RUN" "$WORK/run-a.disk" "$WORK/run-a" &
wait "$RUN"
wait
tail -3 "$WORK/run-a/metrics.jsonl" | grep -q '"kind":"time"'
grep -E "Elapsed|Maximum resident" "$WORK/run-a.time"
ls "$WORK/run-a" "$WORK/run-a/checkpoints"

stage "run B: the same command, killed after its first periodic checkpoint"
"$NEGCLIP" "${RUN_ARGS[@]}" --output "$WORK/run-b" >"$WORK/run-b.log" 2>&1 &
RUN=$!
until grep -qs '^step-' "$WORK/run-b/checkpoints/latest"; do
    kill -0 "$RUN" 2>/dev/null || { echo "run B ended before its first checkpoint" >&2; exit 1; }
    sleep 1
done
kill -KILL "$RUN"
wait "$RUN" 2>/dev/null || true
KILLED_AT=$(cat "$WORK/run-b/checkpoints/latest")
echo "killed after $KILLED_AT; checkpoints: $(ls "$WORK/run-b/checkpoints" | tr '\n' ' ')"

stage "run B resumed"
/usr/bin/time -v -o "$WORK/run-b-resume.time" "$NEGCLIP" train --resume "$WORK/run-b" --quiet
"$PYTHON" scripts/rehearsal.py same "$WORK/run-a/final.safetensors" "$WORK/run-b/final.safetensors" &&
    SAME=true || SAME=false

CHECKPOINT_BYTES=$(du -sb "$WORK/run-a/checkpoints/$(cat "$WORK/run-a/checkpoints/latest")" | cut -f1)
ROWS=$(wc -l <"$WORK/table.jsonl")
gb() { awk "BEGIN { print $1 / 1e9 }"; }
cat >"$WORK/facts.json" <<EOF
{"model": "$PRESET", "train_rows": $ROWS, "batch": $BATCH,
 "epochs": $EPOCHS, "val": $VAL, "test": $TEST, "vg": $VG, "threads": $THREADS,
 "date": "$(date -u '+%Y-%m-%d %H:%M UTC')", "load_start": "$LOAD_START",
 "corpus_s": $CORPUS_S, "negatives_s": $NEGATIVES_S, "export_s": $EXPORT_S,
 "checkpoints_written": $(cd scripts && "$PYTHON" -c "from rehearsal import periodic_checkpoints as p; print(p($ROWS, $BATCH, $EPOCHS, $EVERY))"),
 "checkpoint_gb": $(gb "$CHECKPOINT_BYTES"), "disk_peak_gb": $(gb "$(cat "$WORK/run-a.disk")"),
 "disk_end_gb": $(gb "$(du -sb "$WORK/run-a" | cut -f1)"),
 "killed_at": "$KILLED_AT", "same_final": $SAME}
EOF
"$PYTHON" scripts/rehearsal.py report "$WORK"
$SAME
