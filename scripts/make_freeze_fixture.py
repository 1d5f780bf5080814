#!/usr/bin/env python3
"""The parameters open_clip's tower locks leave fixed, for the Rust test of `[optim]`
lock_image / lock_text (crates/train/src/freeze.rs).

It builds an open_clip `CLIP` of the shape of negclip's `tiny` preset (two blocks per tower,
width 64, four heads, MLP 128, 32-pixel images in 8-pixel patches, 16 tokens, embedding 32,
QuickGELU) and, for each case, calls what open_clip's training script calls for
`--lock-image --lock-image-unlocked-groups G` and `--lock-text --lock-text-unlocked-layers U`
(open_clip_train/main.py: `model.lock_image_tower(unlocked_groups=G)`,
`model.lock_text_tower(unlocked_layers=U, freeze_layer_norm=True)`; the groups are
`VisionTransformer.lock` and `lock_text_tower` in src/open_clip/transformer.py). It records
every parameter name (`named_parameters()`, the state-dict names negclip's patterns match)
with its size, and the names left with `requires_grad = False`.

    /work/venv/bin/python scripts/make_freeze_fixture.py \
        --out tests/fixtures/freeze/open_clip_locks.json

open_clip's own text towers accept only `freeze_layer_norm=True` (they assert it), so the
`lock_text_freeze_layer_norm = false` case has no reference here.
"""

import argparse
import json

import open_clip
import torch
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg


def tiny_clip() -> CLIP:
    vision = CLIPVisionCfg(
        layers=2, width=64, head_width=16, mlp_ratio=2.0, patch_size=8, image_size=32
    )
    text = CLIPTextCfg(
        context_length=16, vocab_size=49408, width=64, heads=4, layers=2, mlp_ratio=2.0
    )
    return CLIP(embed_dim=32, vision_cfg=vision, text_cfg=text, quick_gelu=True)


def frozen_after(lock_image, lock_text):
    model = tiny_clip()
    if lock_image is not None:
        model.lock_image_tower(unlocked_groups=lock_image)
    if lock_text is not None:
        model.lock_text_tower(unlocked_layers=lock_text, freeze_layer_norm=True)
    return sorted(n for n, p in model.named_parameters() if not p.requires_grad)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = tiny_clip()
    parameters = [[n, p.numel()] for n, p in model.named_parameters()]
    cases = []
    for groups in [0, 1, 2, 3, 4, 9]:
        cases.append({"lock_image": groups, "lock_text": None})
    for layers in [0, 1, 2, 3, 4]:
        cases.append({"lock_image": None, "lock_text": layers})
    cases.append({"lock_image": 2, "lock_text": 1})
    for case in cases:
        case["frozen"] = frozen_after(case["lock_image"], case["lock_text"])
    fixture = {
        "open_clip_version": open_clip.__version__,
        "parameters": parameters,
        "cases": cases,
    }
    with open(args.out, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
