#!/usr/bin/env python3
"""Build the model test fixtures in tests/fixtures/model/ from the reference libraries.

Two tiny, randomly initialised CLIPs, run on fixed inputs, with every intermediate saved so the
Rust tests can check negclip layer by layer:

* hf_quickgelu/   transformers CLIPModel, QuickGELU, towers of different widths.
  config.json + model.safetensors (save_pretrained), pytorch_model.bin (torch.save of the
  state dict), expected.safetensors.
* open_clip_gelu/ open_clip CLIP, exact GELU, text deeper than vision.
  open_clip_config.json + open_clip_model.safetensors, epoch_1.pt (a training checkpoint as
  open_clip/NegCLIP write it: {"epoch", "state_dict": {"module." + name: tensor}, "optimizer"}),
  expected.safetensors.
* open_clip_full_vocab/ open_clip CLIP with the real tokenizer's 49 408-token vocabulary and
  77-token context but tiny widths (text width 4, so the token table is 0.8 MB), QuickGELU;
  open_clip_config.json + open_clip_model.safetensors only. It scores real captions in the
  ARO reference check (scripts/aro_reference.py clip-scores, crates/train/tests/
  aro_reference_check.rs), which the 256-token fixtures cannot.

LayerNorm gains/biases and all biases get seeded noise (they are 1/0 at init), so swapping two
of them changes the outputs. The script also checks, before writing, that the HuggingFace model
and an open_clip model given the same weights agree, so the fixtures themselves are sound.

expected.safetensors keys:
  input.pixels [B,3,S,S], input.tokens [B,L] (int64)
  vision.hidden.{i} (i = 0: transformer input after ln_pre; i = k: output of block k),
  vision.pooled (class token after ln_post), vision.embeds (projected),
  text.hidden.{i} (0: token + position embeddings), text.last_hidden_state (after ln_final),
  text.pooled (at the end-of-text token), text.embeds,
  logits_per_image [B,B], logits_per_text [B,B]

Usage: python scripts/make_fixtures.py [--out tests/fixtures/model] [--only NAME]
"""

import argparse
import json
import os
from pathlib import Path

import open_clip
import torch
from safetensors.torch import save_file
from transformers import CLIPConfig, CLIPModel

SEED = 20240611
BATCH = 4
TOL = 2e-5


def noisy_norms_and_biases(model: torch.nn.Module, generator: torch.Generator) -> None:
    """Give every LayerNorm and bias distinct values so a swapped parameter shows."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=generator) * 0.1
            if isinstance(dict(model.named_modules()).get(name.rsplit(".", 1)[0]), torch.nn.LayerNorm):
                param.add_(noise)
            elif name.endswith("bias") or name.endswith("class_embedding"):
                param.add_(noise)
        if hasattr(model, "logit_scale"):
            model.logit_scale.fill_(2.3)


def fixed_inputs(image_size: int, context: int, vocab: int):
    """Pixels from a seeded normal draw; token rows with zero padding, EOT padding and a full row.

    The start-of-text id is vocab - 2 and the end-of-text id vocab - 1, the highest, as in CLIP.
    """
    g = torch.Generator().manual_seed(SEED + 1)
    pixels = torch.randn(BATCH, 3, image_size, image_size, generator=g)
    sot, eot = vocab - 2, vocab - 1
    body = torch.randint(1, vocab - 2, (BATCH, context), generator=g)
    tokens = torch.zeros(BATCH, context, dtype=torch.long)
    # Row 0: short caption, zero padding (open_clip's tokenizer).
    tokens[0, :5] = torch.tensor([sot, *body[0, :3].tolist(), eot])
    # Row 1: short caption padded with EOT (HuggingFace-style); pooling must take the first EOT.
    tokens[1, :] = eot
    tokens[1, :4] = torch.tensor([sot, *body[1, :2].tolist(), eot])
    # Row 2: full context, EOT in the last position.
    tokens[2, :] = torch.tensor([sot, *body[2, : context - 2].tolist(), eot])
    # Row 3: empty caption.
    tokens[3, :2] = torch.tensor([sot, eot])
    return pixels, tokens


def hf_expected(model: CLIPModel, pixels, tokens) -> dict:
    out = {}
    with torch.no_grad():
        v = model.vision_model(pixel_values=pixels, output_hidden_states=True)
        for i, h in enumerate(v.hidden_states):
            out[f"vision.hidden.{i}"] = h
        pooled_v = model.vision_model.post_layernorm(v.last_hidden_state[:, 0, :])
        out["vision.pooled"] = pooled_v
        out["vision.embeds"] = model.visual_projection(pooled_v)
        t = model.text_model(input_ids=tokens, output_hidden_states=True)
        for i, h in enumerate(t.hidden_states):
            out[f"text.hidden.{i}"] = h
        out["text.last_hidden_state"] = t.last_hidden_state
        eot = tokens.argmax(dim=-1)
        pooled_t = t.last_hidden_state[torch.arange(tokens.shape[0]), eot]
        out["text.pooled"] = pooled_t
        out["text.embeds"] = model.text_projection(pooled_t)
        full = model(input_ids=tokens, pixel_values=pixels)
        out["logits_per_image"] = full.logits_per_image
        out["logits_per_text"] = full.logits_per_text
    return out


def open_clip_expected(model, pixels, tokens) -> dict:
    """Runs open_clip with hooks that record the transformer inputs and every block output."""
    out = {}
    handles = []

    def record_input(prefix):
        def hook(_module, args, kwargs):
            x = args[0] if args else kwargs["x"]
            out[f"{prefix}.hidden.0"] = x.detach().clone()
        return hook

    def record_output(key):
        def hook(_module, _args, output):
            out[key] = output.detach().clone()
        return hook

    for prefix, transformer in (("vision", model.visual.transformer), ("text", model.transformer)):
        handles.append(transformer.register_forward_pre_hook(record_input(prefix), with_kwargs=True))
        for i, block in enumerate(transformer.resblocks):
            handles.append(block.register_forward_hook(record_output(f"{prefix}.hidden.{i + 1}")))
    handles.append(model.visual.ln_post.register_forward_hook(record_output("vision.ln_post")))
    handles.append(model.ln_final.register_forward_hook(record_output("text.last_hidden_state")))
    with torch.no_grad():
        out["vision.embeds"] = model.encode_image(pixels)
        out["text.embeds"] = model.encode_text(tokens)
        per_image, per_text = model.get_logits(pixels, tokens)
    for h in handles:
        h.remove()
    ln_post = out.pop("vision.ln_post")
    out["vision.pooled"] = ln_post[:, 0] if ln_post.dim() == 3 else ln_post
    eot = tokens.argmax(dim=-1)
    out["text.pooled"] = out["text.last_hidden_state"][torch.arange(tokens.shape[0]), eot]
    out["logits_per_image"] = per_image
    out["logits_per_text"] = per_text
    return out


def hf_to_open_clip_state(hf_state: dict) -> dict:
    """HuggingFace CLIPModel names -> open_clip names (the mapping negclip implements in Rust)."""
    out = {}
    block = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj",
             "self_attn.out_proj": "attn.out_proj"}
    top = {
        "vision_model.embeddings.class_embedding": "visual.class_embedding",
        "vision_model.embeddings.position_embedding.weight": "visual.positional_embedding",
        "vision_model.embeddings.patch_embedding.weight": "visual.conv1.weight",
        "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
        "text_model.embeddings.position_embedding.weight": "positional_embedding",
        "logit_scale": "logit_scale",
    }
    for k, v in hf_state.items():
        if k.endswith("position_ids"):
            continue
        if k in top:
            out[top[k]] = v
        elif k == "visual_projection.weight":
            out["visual.proj"] = v.T.contiguous()
        elif k == "text_projection.weight":
            out["text_projection"] = v.T.contiguous()
        elif k.startswith("vision_model.pre_layrnorm."):
            out["visual.ln_pre." + k.rsplit(".", 1)[1]] = v
        elif k.startswith("vision_model.post_layernorm."):
            out["visual.ln_post." + k.rsplit(".", 1)[1]] = v
        elif k.startswith("text_model.final_layer_norm."):
            out["ln_final." + k.rsplit(".", 1)[1]] = v
        else:
            tower, rest = k.split(".encoder.layers.")
            prefix = "visual.transformer.resblocks." if tower == "vision_model" else "transformer.resblocks."
            idx, local = rest.split(".", 1)
            if "q_proj" in local or "k_proj" in local or "v_proj" in local:
                if "q_proj" in local:
                    kind = local.rsplit(".", 1)[1]
                    parts = [hf_state[k.replace("q_proj", p)] for p in ("q_proj", "k_proj", "v_proj")]
                    out[f"{prefix}{idx}.attn.in_proj_{kind}"] = torch.cat(parts, 0)
                continue
            for a, b in block.items():
                if local.startswith(a + "."):
                    local = b + local[len(a):]
                    break
            out[f"{prefix}{idx}.{local}"] = v
    return out


def open_clip_model(cfg: dict) -> torch.nn.Module:
    model = open_clip.model.CLIP(
        embed_dim=cfg["embed_dim"],
        vision_cfg=open_clip.model.CLIPVisionCfg(**cfg["vision_cfg"]),
        text_cfg=open_clip.model.CLIPTextCfg(**cfg["text_cfg"]),
        quick_gelu=cfg["quick_gelu"],
    )
    return model.eval()


def save_expected(path: Path, pixels, tokens, expected: dict) -> None:
    tensors = {"input.pixels": pixels.contiguous(), "input.tokens": tokens.contiguous()}
    tensors.update({k: v.float().contiguous() for k, v in expected.items()})
    save_file(tensors, str(path), metadata={"format": "pt"})


def assert_close(name: str, a: torch.Tensor, b: torch.Tensor) -> None:
    err = (a - b).abs().max().item()
    if err > TOL:
        raise SystemExit(f"{name}: reference libraries disagree by {err}")
    print(f"  {name}: HF vs open_clip max abs diff {err:.2e}")


def make_hf(out_dir: Path) -> None:
    torch.manual_seed(SEED)
    vocab, context = 256, 12
    config = CLIPConfig(
        text_config=dict(vocab_size=vocab, hidden_size=24, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=context, hidden_act="quick_gelu",
                         bos_token_id=vocab - 2, eos_token_id=vocab - 1, pad_token_id=0),
        vision_config=dict(hidden_size=32, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                           image_size=32, patch_size=8, hidden_act="quick_gelu"),
        projection_dim=16,
    )
    model = CLIPModel(config).eval()
    noisy_norms_and_biases(model, torch.Generator().manual_seed(SEED + 2))
    pixels, tokens = fixed_inputs(32, context, vocab)
    expected = hf_expected(model, pixels, tokens)

    # The same weights in open_clip must give the same outputs (reference sanity check).
    oc = open_clip_model(dict(
        embed_dim=16, quick_gelu=True,
        vision_cfg=dict(image_size=32, patch_size=8, width=32, layers=2, head_width=8, mlp_ratio=4.0),
        text_cfg=dict(context_length=context, vocab_size=vocab, width=24, heads=2, layers=2, mlp_ratio=4.0),
    ))
    oc.load_state_dict(hf_to_open_clip_state(model.state_dict()), strict=True)
    oc_out = open_clip_expected(oc, pixels, tokens)
    for key in ("vision.embeds", "text.embeds", "logits_per_image"):
        assert_close(key, expected[key], oc_out[key])

    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    torch.save(model.state_dict(), out_dir / "pytorch_model.bin")
    save_expected(out_dir / "expected.safetensors", pixels, tokens, expected)


def make_open_clip(out_dir: Path) -> None:
    torch.manual_seed(SEED + 10)
    vocab, context = 256, 12
    model_cfg = dict(
        embed_dim=24, quick_gelu=False,
        vision_cfg=dict(image_size=32, patch_size=8, width=32, layers=2, head_width=16, mlp_ratio=2.0),
        text_cfg=dict(context_length=context, vocab_size=vocab, width=32, heads=4, layers=3, mlp_ratio=2.0),
    )
    model = open_clip_model(model_cfg)
    noisy_norms_and_biases(model, torch.Generator().manual_seed(SEED + 12))
    pixels, tokens = fixed_inputs(32, context, vocab)
    expected = open_clip_expected(model, pixels, tokens)

    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "open_clip_config.json", "w") as f:
        json.dump({"model_cfg": model_cfg}, f, indent=2)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out_dir / "open_clip_model.safetensors"), metadata={"format": "pt"})
    # A training checkpoint as open_clip's train.py (and NegCLIP) writes it under DDP.
    torch.save({
        "epoch": 1,
        "name": "fixture",
        "state_dict": {"module." + k: v for k, v in state.items()},
        "optimizer": {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(4)}},
                      "param_groups": [{"lr": 1e-5, "params": [0]}]},
    }, out_dir / "epoch_1.pt")
    save_expected(out_dir / "expected.safetensors", pixels, tokens, expected)


# The full-vocabulary fixture's shapes; the vocabulary and context are the real tokenizer's.
FULL_VOCAB_CFG = dict(
    embed_dim=8, quick_gelu=True,
    vision_cfg=dict(image_size=32, patch_size=8, width=16, layers=1, head_width=8, mlp_ratio=2.0),
    text_cfg=dict(context_length=77, vocab_size=49408, width=4, heads=1, layers=1, mlp_ratio=2.0),
)


def make_full_vocab(out_dir: Path) -> None:
    """A tiny CLIP that takes real tokenizer ids. Token and position embeddings are redrawn
    with unit variance (open_clip draws them at 0.02 / 0.01) so that captions with the same
    words in another order get clearly different scores, as the ARO suites need."""
    torch.manual_seed(SEED + 20)
    model = open_clip_model(FULL_VOCAB_CFG)
    noisy_norms_and_biases(model, torch.Generator().manual_seed(SEED + 22))
    g = torch.Generator().manual_seed(SEED + 23)
    with torch.no_grad():
        model.token_embedding.weight.copy_(torch.randn(model.token_embedding.weight.shape, generator=g))
        model.positional_embedding.copy_(torch.randn(model.positional_embedding.shape, generator=g))
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "open_clip_config.json", "w") as f:
        json.dump({"model_cfg": FULL_VOCAB_CFG}, f, indent=2)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out_dir / "open_clip_model.safetensors"), metadata={"format": "pt"})


MAKERS = {"hf_quickgelu": make_hf, "open_clip_gelu": make_open_clip,
          "open_clip_full_vocab": make_full_vocab}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/model"))
    parser.add_argument("--only", choices=sorted(MAKERS), help="write one fixture (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    for name, make in MAKERS.items():
        if args.only in (None, name):
            print(f"{name}:")
            make(args.out / name)
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"wrote {args.out} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
