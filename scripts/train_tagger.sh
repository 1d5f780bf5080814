#!/usr/bin/env bash
# Regenerates the shipped part-of-speech tagger model crates/data/assets/tagger.bin.gz
# from UD English-EWT (train + dev; never test) in ../shared (or $NEGCLIP_SHARED) plus
# 3000 generated caption-style sentences (crates/data/src/tagger/augment.rs),
# then reports its accuracy on the EWT test split and on the hand-tagged captions.
# Deterministic: the same data, iterations and seed give a byte-identical model.
#
#   scripts/train_tagger.sh [ITERATIONS] [SEED]        (defaults: 10 1; about 1-2 min)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
shared="${NEGCLIP_SHARED:-$root/../shared}"
ewt="$shared/ud-english/en_ewt"
iterations="${1:-10}"
seed="${2:-1}"
for split in train dev test; do
  [[ -f "$ewt/en_ewt-ud-$split.conllu" ]] || { echo "missing $ewt/en_ewt-ud-$split.conllu" >&2; exit 1; }
done
cd "$root"
cargo run --release -p negclip-data --example train_tagger -- \
  --train "$ewt/en_ewt-ud-train.conllu" --train "$ewt/en_ewt-ud-dev.conllu" \
  --iterations "$iterations" --seed "$seed" --caption-augment 3000 \
  --output crates/data/assets/tagger.bin.gz \
  --eval "$ewt/en_ewt-ud-test.conllu"
NEGCLIP_SHARED="$shared" cargo test --release -p negclip-data --test tagger_accuracy -- --nocapture
