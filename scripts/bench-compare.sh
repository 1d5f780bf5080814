#!/usr/bin/env bash
# negclip against PyTorch on the same CPU, measured so that the comparison can be trusted:
# the two benchmarks run alternately (negclip, PyTorch, negclip, PyTorch, …) with the same
# shapes, batch and thread count, so that a change in the machine's load hits both sides;
# each pair's ratio is printed with the load average at that moment, then the medians.
#
#   scripts/bench-compare.sh [--pairs N] [--threads T] MODE [ARGS...]
#
#   MODE   train-step | forward (`negclip bench MODE` and `scripts/bench_reference.py MODE`)
#   ARGS   passed to both, e.g. --preset small --batch 32 (--iters, --warmup, --seed too)
#
# Environment: NEGCLIP (default target/release/negclip, build it first with
# `cargo build --release -p negclip-cli`), PYTHON (default python3; the venv of
# scripts/requirements.txt), NEGCLIP_ARGS (extra arguments for negclip's side only, e.g.
# `--text-tokens 24`: negclip cuts text batches to their longest caption, PyTorch's CLIP
# always runs the whole context). Example:
#
#   PYTHON=.venv/bin/python scripts/bench-compare.sh --pairs 5 train-step --preset tiny --batch 32
set -euo pipefail
cd "$(dirname "$0")/.."

pairs=5
threads=2
while [[ $# -gt 0 ]]; do
    case "$1" in
        --pairs) pairs="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        *) break ;;
    esac
done
if [[ $# -lt 1 ]]; then
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
mode="$1"
shift
case "$mode" in
    train-step) metrics=("train step") ;;
    forward) metrics=("image tower" "text tower") ;;
    *) echo "unknown mode $mode (train-step or forward)" >&2; exit 2 ;;
esac
negclip="${NEGCLIP:-target/release/negclip}"
python="${PYTHON:-python3}"
[[ -x "$negclip" ]] || { echo "$negclip not found: cargo build --release -p negclip-cli" >&2; exit 1; }
"$python" -c "import torch, open_clip" 2>/dev/null \
    || { echo "$python lacks torch or open_clip: see scripts/requirements.txt" >&2; exit 1; }

load() { cut -d' ' -f1 /proc/loadavg; }

# The milliseconds of `metric` ("train step: 51.2 ms/step …", "image tower: 3.1 ms/batch …").
ms() { sed -n "s/^$1: \([0-9.]*\) ms.*/\1/p" <<<"$2" | head -1; }

# shellcheck disable=SC2086 # NEGCLIP_ARGS is a list of words
run_negclip() { RAYON_NUM_THREADS="$threads" "$negclip" bench "$mode" "$@" ${NEGCLIP_ARGS:-}; }
run_pytorch() { "$python" scripts/bench_reference.py "$mode" --threads "$threads" "$@"; }

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "bench-compare $mode $* ${NEGCLIP_ARGS:+(negclip also: $NEGCLIP_ARGS) }| $pairs pairs, $threads threads | $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cpu: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(nproc) cores | load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A values
printf '%-5s %-12s %12s %12s %8s %6s\n' pair metric "negclip ms" "pytorch ms" ratio load
for ((i = 1; i <= pairs; i++)); do
    a=$(run_negclip "$@")
    b=$(run_pytorch "$@")
    for metric in "${metrics[@]}"; do
        x=$(ms "$metric" "$a")
        y=$(ms "$metric" "$b")
        [[ -n "$x" && -n "$y" ]] || { echo "no \"$metric\" figure; outputs:" >&2; echo "$a" >&2; echo "$b" >&2; exit 1; }
        values["$metric,negclip"]+="$x "
        values["$metric,pytorch"]+="$y "
        ratio=$(awk -v x="$x" -v y="$y" 'BEGIN { printf "%.2f", x / y }')
        values["$metric,ratio"]+="$ratio "
        printf '%-5s %-12s %12s %12s %8s %6s\n' "$i" "$metric" "$x" "$y" "$ratio" "$(load)"
    done
done
echo
printf '%-12s %16s %16s %22s %22s\n' metric "negclip median" "pytorch median" "ratio of the medians" "median of the ratios"
for metric in "${metrics[@]}"; do
    x=$(tr ' ' '\n' <<<"${values["$metric,negclip"]}" | grep . | median)
    y=$(tr ' ' '\n' <<<"${values["$metric,pytorch"]}" | grep . | median)
    r=$(tr ' ' '\n' <<<"${values["$metric,ratio"]}" | grep . | median)
    printf '%-12s %16s %16s %22s %22s\n' "$metric" "$x" "$y" \
        "$(awk -v x="$x" -v y="$y" 'BEGIN { printf "%.2f", x / y }')" "$r"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
