#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh needs into one archive for a GPU machine that has no Rust
# toolchain and no network (docs/devices.md): the release binary with a GPU backend, stripped,
# and the repository files the check reads (the shipped tiny model, the ARO fixtures it scores,
# the default job's config, the scripts, PyTorch's side of the comparison).
#
#   scripts/gpu-bundle.sh [wgpu|vulkan] [ARCHIVE]      # default: wgpu, negclip-gpu-check.tar.xz
#
# On the GPU machine:
#   tar xf negclip-gpu-check.tar.xz && cd negclip-gpu-check && NEGCLIP=./negclip scripts/gpu-check.sh
#
# Builds into target/ (CARGO_TARGET_DIR is honoured). Refuses to write an archive over 60 MiB,
# the most that travels to a lent machine with room to spare.
set -euo pipefail
cd "$(dirname "$0")/.."

FEATURE=${1:-wgpu}
ARCHIVE=${2:-negclip-gpu-check.tar.xz}
LIMIT=$((60 * 1024 * 1024))
case "$FEATURE" in
    wgpu | vulkan | cuda) ;;
    *) echo "gpu-bundle: the backend is wgpu, vulkan or cuda, not '$FEATURE'" >&2; exit 2 ;;
esac

echo "== building negclip --release --features $FEATURE"
cargo build --release -p negclip-cli --features "$FEATURE"
binary="${CARGO_TARGET_DIR:-target}/release/negclip"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/negclip-gpu-check"
mkdir -p "$root/scripts" "$root/models" "$root/configs" "$root/tests/fixtures"
# Debug symbols are most of an unstripped binary; the check needs none.
strip -o "$root/negclip" "$binary"
cp scripts/gpu-check.sh scripts/bench_reference.py scripts/plain_clip.py "$root/scripts/"
cp models/synthetic-tiny-clip.safetensors "$root/models/"
cp configs/synthetic.toml "$root/configs/"
cp -r tests/fixtures/aro "$root/tests/fixtures/"
git rev-parse HEAD > "$root/COMMIT" 2> /dev/null || echo unknown > "$root/COMMIT"
echo "$FEATURE" > "$root/FEATURE"

tmp="$ARCHIVE.tmp.$$"
tar -C "$stage" -cJf "$tmp" negclip-gpu-check
size=$(stat -c %s "$tmp")
if [ "$size" -gt "$LIMIT" ]; then
    rm -f "$tmp"
    echo "gpu-bundle: the archive is $size bytes, over the $LIMIT-byte limit" >&2
    exit 1
fi
mv "$tmp" "$ARCHIVE"
echo "== wrote $ARCHIVE: $(numfmt --to=iec-i --suffix=B "$size") (binary $(numfmt --to=iec-i --suffix=B "$(stat -c %s "$root/negclip")") stripped)"
