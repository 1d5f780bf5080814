"""Write tests/fixtures/interpolate/wise_ft.safetensors: WiSE-FT's interpolation of two
state dicts, computed by PyTorch exactly as the reference computes it, for
crates/model/src/weights/interpolate.rs to match bit for bit.

The reference is mlfoundations/wise-ft, src/wise_ft.py, `wise_ft()`: for each alpha,
"interpolate between all weights in the checkpoints",

    theta = {key: (1 - alpha) * theta_0[key] + alpha * theta_1[key] for key in theta_0.keys()}

with theta_0 the zero-shot state dict, theta_1 the fine-tuned one, alpha a Python float and
the tensors float32 (every key alike, the logit scale included). This script evaluates that
expression with torch on two float32 "state dicts" and stores:

* `base/<key>`, `finetuned/<key>`: the inputs (random normals of several scales, plus
  values that test the rounding: negative zero, subnormals, numbers near float32's limit);
* `alpha=<a>/<key>`: the reference's theta for each alpha in ALPHAS,

and the alphas, as written, in the metadata (`alphas`, comma-separated).

    /work/venv/bin/python scripts/make_interpolate_fixture.py
"""

from pathlib import Path

import torch
from safetensors.torch import save_file

ALPHAS = ["0", "0.1", "0.25", "0.3", "0.5", "0.7", "0.9", "1"]
OUT = Path(__file__).resolve().parent.parent / "tests/fixtures/interpolate/wise_ft.safetensors"


def state_dict(generator: torch.Generator) -> dict[str, torch.Tensor]:
    return {
        "visual.proj": torch.randn(16, 8, generator=generator) * 0.05,
        "transformer.resblocks.0.ln_1.weight": 1.0 + 0.1 * torch.randn(16, generator=generator),
        "token_embedding.weight": torch.randn(10, 16, generator=generator) * 0.02,
        "logit_scale": torch.tensor(4.6052) + torch.randn((), generator=generator),
    }


def main() -> None:
    generator = torch.Generator().manual_seed(0)
    theta_0 = state_dict(generator)
    theta_1 = state_dict(generator)
    edges = torch.tensor([-0.0, 0.0, 1e-40, -1e-40, 3.0e38, -3.0e38, 1.0, 0.1], dtype=torch.float32)
    theta_0["edges"] = edges
    theta_1["edges"] = edges.flip(0) * 0.5
    tensors = {}
    for key in theta_0:
        tensors[f"base/{key}"] = theta_0[key]
        tensors[f"finetuned/{key}"] = theta_1[key]
    for text in ALPHAS:
        alpha = float(text)
        theta = {key: (1 - alpha) * theta_0[key] + alpha * theta_1[key] for key in theta_0.keys()}
        for key, value in theta.items():
            assert value.dtype == torch.float32
            tensors[f"alpha={text}/{key}"] = value.contiguous()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(OUT), metadata={"alphas": ",".join(ALPHAS)})
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
