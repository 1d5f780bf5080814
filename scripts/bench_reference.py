#!/usr/bin/env python3
"""PyTorch reference for `negclip bench`: open_clip's CLIP with the shapes of a negclip preset.

`forward`: random weights, fp32, eval mode, no gradients; times the image tower and the text
tower separately on random inputs: warm-up passes, then the median of the timed passes, as
`negclip bench forward` does.

`train-step`: one NegCLIP optimisation step as `negclip bench train-step` (and the trainer)
runs it: zero_grad, the image tower on B images, the text tower on 2B captions (B positives,
B hard negatives) in one pass, the NegCLIP loss, backward, AdamW with open_clip's decay groups,
the logit-scale clamp. Median of the timed steps after the warm-up steps.

On a GPU (`--device cuda`) the towers can run under bf16 autocast (`--precision bf16`, as
open_clip's `--precision amp_bf16`); timings then wait for the GPU (torch.cuda.synchronize).
Where open_clip is not installed (the lent GPU machines have PyTorch only), the model is
scripts/plain_clip.py, open_clip's modules in plain PyTorch (`plain_clip.py check` shows they
compute the same).

`data`: the loader side of `negclip bench data`: a PyTorch DataLoader over the same table's
images with `workers` worker processes (0: in the main process), each image read and decoded
by Pillow, converted to RGB, then open_clip's training transform (RandomResizedCrop to 224 px,
scale (0.9, 1), bicubic; ToTensor; CLIP's Normalize), batched by the default collate. Prints
images/s and images per CPU-second (this process and its workers), the figure
`negclip bench data` prints as "images per CPU-second".

Usage: python scripts/bench_reference.py forward --preset vit-b-32 --batch 16 [--threads 2]
       python scripts/bench_reference.py train-step --preset small --batch 32 [--threads 2]
       python scripts/bench_reference.py train-step --preset vit-b-32 --batch 256 --device cuda --precision bf16
       python scripts/bench_reference.py data --table /tmp/negclip-jpegs/table.jsonl --workers 1 --batch 64 --batches 4
"""

import argparse
import math
import statistics
import time

import contextlib

import torch
import torch.nn.functional as F

try:
    import open_clip
except ImportError:
    open_clip = None

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


def time_per_pass(warmup: int, iters: int, fn, device: str = "cpu") -> float:
    def timed():
        start = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - start

    for _ in range(warmup):
        timed()
    return statistics.median(timed() for _ in range(iters))


def autocast(args):
    """bf16 autocast on the GPU, as open_clip's `--precision amp_bf16`; fp32: nothing."""
    if args.precision == "bf16":
        return torch.autocast(device_type=args.device.split(":")[0], dtype=torch.bfloat16)
    return contextlib.nullcontext()


def build_model(preset: str, vocab: int = OPENAI_VOCAB) -> torch.nn.Module:
    cfg = PRESETS[preset]
    text_cfg = dict(cfg["text_cfg"], vocab_size=vocab)
    if open_clip is None:
        import plain_clip  # scripts/plain_clip.py, beside this file
        return plain_clip.CLIP(cfg["embed_dim"], cfg["vision_cfg"], text_cfg, cfg["quick_gelu"])
    return open_clip.model.CLIP(
        embed_dim=cfg["embed_dim"],
        vision_cfg=open_clip.model.CLIPVisionCfg(**cfg["vision_cfg"]),
        text_cfg=open_clip.model.CLIPTextCfg(**text_cfg),
        quick_gelu=cfg["quick_gelu"],
    )


def random_tokens(batch: int, context: int, vocab: int, seed: int) -> torch.Tensor:
    """Rows as the tokenizer makes them: start id, random words, end id (the highest), padding."""
    tokens = torch.zeros(batch, context, dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    for row in tokens:
        words = int(torch.randint(1, context - 1, (1,), generator=g))
        row[0] = vocab - 2
        row[1:words + 1] = torch.randint(1, vocab - 2, (words,), generator=g)
        row[words + 1] = vocab - 1
    return tokens


def forward(args) -> None:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = PRESETS[args.preset]
    model = build_model(args.preset).eval().to(args.device)
    size = cfg["vision_cfg"]["image_size"]
    context = cfg["text_cfg"]["context_length"]
    pixels = torch.randn(args.batch, 3, size, size).to(args.device)
    tokens = random_tokens(args.batch, context, OPENAI_VOCAB, args.seed).to(args.device)
    params = sum(p.numel() for p in model.parameters())
    print(f"preset {args.preset} ({params} parameters), batch {args.batch}, {args.warmup} warm-up + "
          f"{args.iters} timed passes, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"device {args.device}, {args.precision}, {type(model).__module__}")
    with torch.inference_mode(), autocast(args):
        image_s = time_per_pass(args.warmup, args.iters, lambda: model.encode_image(pixels), args.device)
        text_s = time_per_pass(args.warmup, args.iters, lambda: model.encode_text(tokens), args.device)
    print(f"image tower: {image_s * 1e3:.1f} ms/batch (median), {args.batch / image_s:.1f} images/s")
    print(f"text tower: {text_s * 1e3:.1f} ms/batch (median), {args.batch / text_s:.1f} texts/s")


def negclip_loss(image_emb, text_emb, neg_text_emb, logit_scale):
    """NegCLIP's loss (vinid/neg_clip): image→text over positives and hard negatives,
    text→image over positives only, mean of the two cross-entropies."""
    images = F.normalize(image_emb, dim=-1)
    positives = F.normalize(text_emb, dim=-1)
    all_texts = torch.cat([positives, F.normalize(neg_text_emb, dim=-1)])
    scale = logit_scale.exp()
    per_image = scale * images @ all_texts.T
    per_text = scale * positives @ images.T
    labels = torch.arange(images.shape[0], device=images.device)
    return (F.cross_entropy(per_image, labels) + F.cross_entropy(per_text, labels)) / 2


def adamw(model: torch.nn.Module, lr: float) -> torch.optim.AdamW:
    """open_clip's groups: no decay for 1-D parameters and gains, biases, the logit scale."""
    def exempt(name, p):
        return p.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name
    named = list(model.named_parameters())
    decay = [p for n, p in named if not exempt(n, p) and p.requires_grad]
    rest = [p for n, p in named if exempt(n, p) and p.requires_grad]
    return torch.optim.AdamW(
        [{"params": rest, "weight_decay": 0.0}, {"params": decay, "weight_decay": 0.2}],
        lr=lr, betas=(0.9, 0.98), eps=1e-6,
    )


def train_step(args) -> None:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = PRESETS[args.preset]
    model = build_model(args.preset, args.vocab).train().to(args.device)
    size = cfg["vision_cfg"]["image_size"]
    context = cfg["text_cfg"]["context_length"]
    pixels = torch.randn(args.batch, 3, size, size).to(args.device)
    tokens = torch.cat([
        random_tokens(args.batch, context, args.vocab, args.seed),
        random_tokens(args.batch, context, args.vocab, args.seed + 1),
    ]).to(args.device)
    optimizer = adamw(model, args.lr)
    losses = []

    def step():
        optimizer.zero_grad()
        with autocast(args):
            image_emb = model.encode_image(pixels)
            text_emb = model.encode_text(tokens)
        # The loss in fp32, as open_clip computes it outside autocast's matmuls' reach.
        image_emb, text_emb = image_emb.float(), text_emb.float()
        loss = negclip_loss(image_emb, text_emb[:args.batch], text_emb[args.batch:], model.logit_scale)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        losses.append(loss.item())

    params = sum(p.numel() for p in model.parameters())
    print(f"preset {args.preset} ({params} parameters, vocab {args.vocab}), batch {args.batch} "
          f"({args.batch} images, {2 * args.batch} captions), {args.warmup} warm-up + {args.iters} timed "
          f"steps, torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
          f"{args.precision}, {type(model).__module__}")
    seconds = time_per_pass(args.warmup, args.iters, step, args.device)
    print(f"train step: {seconds * 1e3:.1f} ms/step (median), {args.batch / seconds:.1f} samples/s")
    print(f"loss: {losses[0]:.4f} at the first step, {losses[-1]:.4f} at the last")


def data(args) -> None:
    """PIL decode + open_clip's training transform in a DataLoader, as `negclip bench data`."""
    import json
    import os
    import resource
    from pathlib import Path

    from PIL import Image
    from torchvision import transforms

    torch.set_num_threads(1)
    root = Path(args.image_root or Path(args.table).parent)
    with open(args.table) as f:
        paths = [root / json.loads(line)["image"] for line in f if line.strip()]
    # open_clip's image_transform(is_train=True) without its extra augmentations.
    transform = transforms.Compose([
        transforms.RandomResizedCrop(args.size, scale=tuple(args.scale),
                                     interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.ToTensor(),
        transforms.Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
    ])

    class Images(torch.utils.data.Dataset):
        def __len__(self):
            return args.batch * args.batches

        def __getitem__(self, i):
            with Image.open(paths[i % len(paths)]) as image:
                return transform(image.convert("RGB"))

    loader = torch.utils.data.DataLoader(Images(), batch_size=args.batch, num_workers=args.workers,
                                         shuffle=False, generator=torch.Generator().manual_seed(args.seed))

    def cpu_seconds():
        usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        return sum(u.ru_utime + u.ru_stime for u in usage)

    print(f"{len(paths)} images in the table, batch {args.batch}, {args.batches} batches, "
          f"{args.workers} worker processes, torch {torch.__version__}, load {os.getloadavg()[0]:.2f}")
    cpu, start = cpu_seconds(), time.perf_counter()
    images = sum(batch.shape[0] for batch in loader)
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    print(f"loader: {images / wall:.1f} images/s, {images / cpu:.1f} images per CPU-second "
          f"({images} images, {wall:.2f} s, {cpu:.2f} CPU-s)")


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
    step = sub.add_parser("train-step", help="one NegCLIP training step (forward, loss, backward, AdamW)")
    step.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    step.add_argument("--batch", type=int, default=32)
    step.add_argument("--warmup", type=int, default=3)
    step.add_argument("--iters", type=int, default=20)
    step.add_argument("--seed", type=int, default=0)
    step.add_argument("--threads", type=int, default=2)
    step.add_argument("--lr", type=float, default=5e-4)
    step.add_argument("--vocab", type=int, default=OPENAI_VOCAB,
                      help="text vocabulary (negclip's presets: 49408; the reference table also used 1000)")
    loader = sub.add_parser("data", help="PIL decode + open_clip's training transform in a DataLoader")
    loader.add_argument("--table", required=True, help="JSONL with an `image` path per line")
    loader.add_argument("--image-root", help="folder the paths are relative to (default: the table's)")
    loader.add_argument("--workers", type=int, default=1, help="DataLoader worker processes (0: in process)")
    loader.add_argument("--size", type=int, default=224)
    loader.add_argument("--batch", type=int, default=64)
    loader.add_argument("--batches", type=int, default=4)
    loader.add_argument("--scale", type=float, nargs=2, default=[0.9, 1.0])
    loader.add_argument("--seed", type=int, default=0)
    for command in (fwd, step):
        command.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N")
        command.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                             help="bf16: the towers under autocast (open_clip's amp_bf16)")
    args = parser.parse_args()
    {"forward": forward, "train-step": train_step, "data": data}[args.what](args)


if __name__ == "__main__":
    main()
