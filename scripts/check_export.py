#!/usr/bin/env python3
"""Check that checkpoints exported by `negclip export` load in transformers and open_clip and
compute what the original reference models computed.

For each fixture in tests/fixtures/model/ (made by make_fixtures.py) and each target naming,
this runs `negclip export --checkpoint FIXTURE --to {hf,open_clip} --out DIR`, loads DIR with
`transformers.CLIPModel.from_pretrained` (strictly: no missing or unexpected keys) or
`open_clip.create_model("local-dir:DIR")`, runs it on the fixture's inputs and compares image
and text embeddings and logits with the fixture's expected values.

Usage: python scripts/check_export.py [--negclip target/release/negclip] [--fixtures tests/fixtures/model]
Exit status 1 if any difference exceeds --tol (default 1e-4).
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import open_clip
import torch
from safetensors.torch import load_file
from transformers import CLIPModel

SOURCES = ["hf_quickgelu", "open_clip_gelu/epoch_1.pt"]


def run_hf(directory: Path, pixels, tokens):
    model, info = CLIPModel.from_pretrained(directory, output_loading_info=True)
    problems = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    if problems:
        raise SystemExit(f"{directory}: transformers reports {problems}")
    model.eval()
    with torch.no_grad():
        out = model(input_ids=tokens, pixel_values=pixels)
        return {
            "vision.embeds": model.get_image_features(pixel_values=pixels),
            "text.embeds": model.get_text_features(input_ids=tokens),
            "logits_per_image": out.logits_per_image,
            "logits_per_text": out.logits_per_text,
        }


def run_open_clip(directory: Path, pixels, tokens):
    model = open_clip.create_model(f"local-dir:{directory}", pretrained=None).eval()
    with torch.no_grad():
        per_image, per_text = model.get_logits(pixels, tokens)
        return {
            "vision.embeds": model.encode_image(pixels),
            "text.embeds": model.encode_text(tokens),
            "logits_per_image": per_image,
            "logits_per_text": per_text,
        }


def features(out) -> torch.Tensor:
    """transformers 5 may return a model output rather than a tensor from get_*_features."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--negclip", type=Path, default=Path("target/release/negclip"))
    parser.add_argument("--fixtures", type=Path, default=Path("tests/fixtures/model"))
    parser.add_argument("--tol", type=float, default=1e-4)
    args = parser.parse_args()
    torch.set_num_threads(2)

    worst_overall = 0.0
    with tempfile.TemporaryDirectory(prefix="negclip-export-") as scratch:
        for source in SOURCES:
            fixture_dir = args.fixtures / source.split("/")[0]
            expected = load_file(str(fixture_dir / "expected.safetensors"))
            pixels, tokens = expected["input.pixels"], expected["input.tokens"]
            for target, runner in (("hf", run_hf), ("open_clip", run_open_clip)):
                out_dir = Path(scratch) / f"{source.replace('/', '_')}-{target}"
                subprocess.run(
                    [str(args.negclip), "export", "--checkpoint", str(args.fixtures / source),
                     "--to", target, "--out", str(out_dir)],
                    check=True, stdout=subprocess.DEVNULL,
                )
                got = runner(out_dir, pixels, tokens)
                diffs = {k: (features(v) - expected[k]).abs().max().item() for k, v in got.items()}
                worst = max(diffs.values())
                worst_overall = max(worst_overall, worst)
                status = "ok" if worst <= args.tol else "FAIL"
                detail = ", ".join(f"{k} {v:.1e}" for k, v in diffs.items())
                print(f"{status:4} {source:28} -> {target:9} max abs diff {worst:.2e} ({detail})")
    print(f"worst difference {worst_overall:.2e} (tolerance {args.tol:.0e})")
    return 0 if worst_overall <= args.tol else 1


if __name__ == "__main__":
    sys.exit(main())
