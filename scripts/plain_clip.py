#!/usr/bin/env python3
"""open_clip's CLIP (the OpenAI layout: ViT image tower, causal text tower) in plain PyTorch.

For machines that have PyTorch but not open_clip (the lent GPU machines): `bench_reference.py`
falls back to it. The modules, their parameter names and the arithmetic are open_clip's
(src/open_clip/transformer.py: VisionTransformer, TextTransformer, ResidualAttentionBlock with
nn.MultiheadAttention; src/open_clip/model.py: CLIP.encode_image / encode_text), so an
open_clip state dict loads into it unchanged.

    python scripts/plain_clip.py check    # where open_clip is installed: outputs equal open_clip's
"""

import argparse

import torch
import torch.nn.functional as F
from torch import nn


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class Mlp(nn.Sequential):
    def __init__(self, width: int, hidden: int, quick_gelu: bool):
        super().__init__()
        self.c_fc = nn.Linear(width, hidden)
        self.gelu = QuickGELU() if quick_gelu else nn.GELU()
        self.c_proj = nn.Linear(hidden, width)


class Block(nn.Module):
    """Pre-norm residual block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, width: int, heads: int, hidden: int, quick_gelu: bool):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = Mlp(width, hidden, quick_gelu)

    def forward(self, x, attn_mask=None):
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=attn_mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, hidden: int, quick_gelu: bool):
        super().__init__()
        self.resblocks = nn.ModuleList(
            [Block(width, heads, hidden, quick_gelu) for _ in range(layers)])

    def forward(self, x, attn_mask=None):
        for block in self.resblocks:
            x = block(x, attn_mask)
        return x


class Vision(nn.Module):
    def __init__(self, image_size, patch_size, width, layers, head_width, mlp_ratio, embed_dim,
                 quick_gelu):
        super().__init__()
        grid = image_size // patch_size
        scale = width ** -0.5
        self.conv1 = nn.Conv2d(3, width, patch_size, stride=patch_size, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(grid * grid + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, width // head_width,
                                       int(width * mlp_ratio), quick_gelu)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, embed_dim))

    def forward(self, pixels):
        x = self.conv1(pixels).flatten(2).transpose(1, 2)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.transformer(self.ln_pre(x))
        return self.ln_post(x[:, 0]) @ self.proj


class CLIP(nn.Module):
    def __init__(self, embed_dim, vision_cfg, text_cfg, quick_gelu=True):
        super().__init__()
        self.visual = Vision(embed_dim=embed_dim, quick_gelu=quick_gelu,
                             **{k: vision_cfg.get(k, d) for k, d in
                                [("image_size", 224), ("patch_size", 32), ("width", 768),
                                 ("layers", 12), ("head_width", 64), ("mlp_ratio", 4.0)]})
        width, context = text_cfg["width"], text_cfg["context_length"]
        self.context_length = context
        self.token_embedding = nn.Embedding(text_cfg["vocab_size"], width)
        self.positional_embedding = nn.Parameter(torch.empty(context, width).normal_(std=0.01))
        self.transformer = Transformer(width, text_cfg["layers"], text_cfg["heads"],
                                       int(width * text_cfg.get("mlp_ratio", 4.0)), quick_gelu)
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.randn(width, embed_dim) * width ** -0.5)
        self.logit_scale = nn.Parameter(torch.ones([]) * torch.log(torch.tensor(1 / 0.07)))
        self.register_buffer(
            "attn_mask", torch.full((context, context), float("-inf")).triu_(1), persistent=False)

    def encode_image(self, pixels, normalize: bool = False):
        features = self.visual(pixels)
        return F.normalize(features, dim=-1) if normalize else features

    def encode_text(self, tokens, normalize: bool = False):
        length = tokens.shape[1]
        x = self.token_embedding(tokens) + self.positional_embedding[:length]
        x = self.transformer(x, self.attn_mask[:length, :length])
        x = self.ln_final(x)
        pooled = x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)]
        features = pooled @ self.text_projection
        return F.normalize(features, dim=-1) if normalize else features


def check() -> None:
    """Load open_clip's randomly initialised ViT-B/32 into this model; compare the towers."""
    import open_clip

    torch.manual_seed(0)
    reference = open_clip.create_model("ViT-B-32", pretrained=None).eval()
    cfg = dict(embed_dim=512,
               vision_cfg=dict(image_size=224, patch_size=32, width=768, layers=12),
               text_cfg=dict(context_length=77, vocab_size=49408, width=512, heads=8, layers=12))
    plain = CLIP(**cfg, quick_gelu=False).eval()
    missing, unexpected = plain.load_state_dict(reference.state_dict(), strict=False)
    assert not missing and set(unexpected) <= {"attn_mask"}, (missing, unexpected)
    pixels = torch.randn(4, 3, 224, 224)
    tokens = open_clip.get_tokenizer("ViT-B-32")(["a photo of a cat", "the horse is eating the grass",
                                                "x", "a red circle to the left of a blue square"])
    with torch.no_grad():
        for name, ours, theirs in [
            ("image", plain.encode_image(pixels), reference.encode_image(pixels)),
            ("text", plain.encode_text(tokens), reference.encode_text(tokens)),
        ]:
            diff = (ours - theirs).abs().max().item()
            print(f"{name} tower: max |plain - open_clip| = {diff:.3g}")
            assert diff < 1e-5, f"{name} tower differs from open_clip's"
    print("plain_clip equals open_clip's ViT-B-32")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["check"])
    parser.parse_args()
    check()
