#!/usr/bin/env python3
"""PyTorch reference for `negclip bench`: forward throughput of open_clip's CLIP towers.

Builds an open_clip CLIP with the shapes of a negclip preset (random weights, fp32, eval mode,
no gradients), then times the image tower and the text tower separately on random inputs:
warm-up passes, then the median of the timed passes, as `negclip bench forward` does.

Usage: python scripts/bench_reference.py forward --preset vit-b-32 --batch 16 [--threads 2]
"""

import argparse
import statistics
import time

import open_clip
import torch

OPENAI_VOCAB = 49408


def small(image, patch, width, layers, heads, mlp, context, embed):
    return dict(
        embed_dim=embed, quick_gelu=True,
        vision_cfg=dict(image_size=image, patch_size=patch, width=width, layers=layers,
                        head_width=width // heads, mlp_ratio=mlp / width),
        text_cfg=dict(context_length=context, vocab_size=OPENAI_VOCAB, width=width, heads=heads,
                      layers=layers, mlp_ratio=mlp / width),
    )


def openai(image, patch, width, layers, text_width, embed):
    return dict(
        embed_dim=embed, quick_gelu=True,
        vision_cfg=dict(image_size=image, patch_size=patch, width=width, layers=layers, head_width=64),
        text_cfg=dict(context_length=77, vocab_size=OPENAI_VOCAB, width=text_width, heads=text_width // 64,
                      layers=12),
    )


# Same shapes as crates/model/src/presets.rs.
PRESETS = {
    "tiny": small(32, 8, 64, 2, 4, 128, 16, 32),
    "small": small(64, 8, 256, 4, 4, 1024, 32, 256),
    "vit-b-32": openai(224, 32, 768, 12, 512, 512),
    "vit-b-16": openai(224, 16, 768, 12, 512, 512),
    "vit-l-14": openai(224, 14, 1024, 24, 768, 768),
    "vit-l-14-336": openai(336, 14, 1024, 24, 768, 768),
}


def time_per_pass(warmup: int, iters: int, fn) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def forward(args) -> None:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = PRESETS[args.preset]
    model = open_clip.model.CLIP(
        embed_dim=cfg["embed_dim"],
        vision_cfg=open_clip.model.CLIPVisionCfg(**cfg["vision_cfg"]),
        text_cfg=open_clip.model.CLIPTextCfg(**cfg["text_cfg"]),
        quick_gelu=cfg["quick_gelu"],
    ).eval()
    size = cfg["vision_cfg"]["image_size"]
    context = cfg["text_cfg"]["context_length"]
    pixels = torch.randn(args.batch, 3, size, size)
    tokens = torch.zeros(args.batch, context, dtype=torch.long)
    g = torch.Generator().manual_seed(args.seed)
    for row in tokens:
        words = int(torch.randint(1, context - 1, (1,), generator=g))
        row[0] = OPENAI_VOCAB - 2
        row[1:words + 1] = torch.randint(1, OPENAI_VOCAB - 2, (words,), generator=g)
        row[words + 1] = OPENAI_VOCAB - 1
    params = sum(p.numel() for p in model.parameters())
    print(f"preset {args.preset} ({params} parameters), batch {args.batch}, {args.warmup} warm-up + "
          f"{args.iters} timed passes, torch {torch.__version__}, {torch.get_num_threads()} threads")
    with torch.inference_mode():
        image_s = time_per_pass(args.warmup, args.iters, lambda: model.encode_image(pixels))
        text_s = time_per_pass(args.warmup, args.iters, lambda: model.encode_text(tokens))
    print(f"image tower: {image_s * 1e3:.1f} ms/batch (median), {args.batch / image_s:.1f} images/s")
    print(f"text tower: {text_s * 1e3:.1f} ms/batch (median), {args.batch / text_s:.1f} texts/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    fwd = sub.add_parser("forward", help="forward pass of each tower")
    fwd.add_argument("--preset", default="vit-b-32", choices=sorted(PRESETS))
    fwd.add_argument("--batch", type=int, default=16)
    fwd.add_argument("--warmup", type=int, default=2)
    fwd.add_argument("--iters", type=int, default=5)
    fwd.add_argument("--seed", type=int, default=0)
    fwd.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.what == "forward":
        forward(args)


if __name__ == "__main__":
    main()
