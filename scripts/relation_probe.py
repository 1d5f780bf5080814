#!/usr/bin/env python3
"""Does a CLIP vision tower encode which object is where? (docs/results.md, "Relation")

Trains a small MLP on frozen image features plus the names of the two related objects
and the relation word to answer "is the first object REL the second?" (each item once
as stated, once with the objects exchanged), on the relation items of two directories
written by `negclip synth` (train and test splits). About 0.5 on test means the
features do not tell the layout.

    negclip export --checkpoint models/synthetic-tiny-clip.safetensors --to hf --out hf/base
    negclip synth --out data/probe-train --split train --items 4000
    negclip synth --out data/probe-test --split test --items 1500
    python3 scripts/relation_probe.py hf/base data/probe-train data/probe-test --features pooled
    python3 scripts/relation_probe.py hf/base data/probe-train data/probe-test --features tokens

Needs torch, transformers, numpy and pillow.
"""
import argparse
import json

import numpy as np
import torch
from PIL import Image
from transformers import CLIPModel

MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(3, 1, 1)
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(3, 1, 1)


def features(model, directory, kind):
    items = json.load(open(f"{directory}/visual_genome_relation.json"))
    pixels = torch.stack([
        (torch.tensor(np.array(Image.open(f"{directory}/images/{it['image_path']}").convert("RGB")),
                      dtype=torch.float32).permute(2, 0, 1) / 255 - MEAN) / STD
        for it in items
    ])
    with torch.no_grad():
        out = model.vision_model(pixel_values=pixels)
        if kind == "pooled":
            f = model.visual_projection(out.pooler_output)
        else:
            f = out.last_hidden_state.flatten(1)
    return items, f / f.norm(dim=1, keepdim=True) * 10


def rows(items, feats, vocab):
    """Features + one-hot(first object, second object, relation); label: stated order."""
    x, y = [], []
    slot = lambda word: vocab.setdefault(word, len(vocab))
    for it, f in zip(items, feats):
        words = it["true_caption"].split()  # "the red circle is <rel> the blue square"
        a, b = " ".join(words[1:3]), " ".join(words[-2:])
        for first, second, label in [(a, b, 1.0), (b, a, 0.0)]:
            onehot = torch.zeros(3 * 64)
            onehot[slot(first)] = 1
            onehot[64 + slot(second)] = 1
            onehot[128 + slot(it["relation_name"])] = 1
            x.append(torch.cat([f, onehot]))
            y.append(label)
    return torch.stack(x), torch.tensor(y)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="HF CLIP folder (negclip export --to hf)")
    parser.add_argument("train_dir")
    parser.add_argument("test_dir")
    parser.add_argument("--features", choices=["pooled", "tokens"], default="pooled")
    parser.add_argument("--epochs", type=int, default=300)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = CLIPModel.from_pretrained(args.model).eval()
    vocab = {}
    xtr, ytr = rows(*features(model, args.train_dir, args.features), vocab)
    xte, yte = rows(*features(model, args.test_dir, args.features), vocab)
    net = torch.nn.Sequential(torch.nn.Linear(xtr.shape[1], 256), torch.nn.ReLU(),
                              torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 1))
    opt = torch.optim.Adam(net.parameters(), 1e-3, weight_decay=1e-4)
    for epoch in range(args.epochs):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(xtr).squeeze(1), ytr)
        loss.backward()
        opt.step()
    with torch.no_grad():
        accuracy = lambda x, y: ((net(x).squeeze(1) > 0).float() == y).float().mean().item()
        print(f"{args.features}: train accuracy {accuracy(xtr, ytr):.3f}, "
              f"test accuracy {accuracy(xte, yte):.3f}")


if __name__ == "__main__":
    main()
