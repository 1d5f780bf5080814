"""Write CLIP_benchmark's own result files for tests/fixtures/clip_benchmark/.

Runs `clip_benchmark eval` (LAION-AI/CLIP_benchmark, clip_benchmark/cli.py, pip package
clip_benchmark 1.6.2) through its real `main` -> `main_eval` -> `run`, so the file names
(its `--output` template) and the dumped keys are the ones `run` writes at its end. Only what
would need downloads is replaced: `load_clip` returns a small deterministic model and
`build_dataset` a few in-memory items, for one dataset of each task negclip writes:
`sugar_crepe/add_att` (image_caption_selection), `cifar10` (zeroshot_classification) and
`mscoco_captions` (zeroshot_retrieval). The Rust test (crates/train/tests/clip_benchmark_shape.rs)
checks that negclip's files have the same keys, task names, metric names and file names.

    /work/venv/bin/python scripts/clip_benchmark_dump.py
"""
import json
import os
import sys
import tempfile

import torch

import clip_benchmark.cli as cli

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "clip_benchmark")
DIM = 4


class TinyModel(torch.nn.Module):
    """Images: their mean colour per channel plus 1; texts: their tokenizer row plus 1."""

    def encode_image(self, images):
        feats = images.mean(dim=(2, 3))
        return torch.cat([feats, torch.ones(len(images), 1)], dim=1)

    def encode_text(self, tokens):
        return tokens.float() + 1.0


def tokenizer(texts):
    out = torch.zeros(len(texts), DIM)
    for i, text in enumerate(texts):
        # Every word counts, weighted by its position: distinct captions, no tied scores.
        for j, word in enumerate(text.split()):
            out[i, j % DIM] += len(word) * (j + 1) + ord(word[0]) / 100
    return out


def image(r, g, b):
    return torch.tensor([r, g, b]).view(3, 1, 1).expand(3, 2, 2).clone()


class Items(torch.utils.data.Dataset):
    def __init__(self, items, classes=None, templates=None):
        self.items, self.classes, self.templates = items, classes, templates

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def build_dataset(dataset_name, **kwargs):
    if dataset_name.startswith("sugar_crepe"):
        return Items([
            (image(0.9, 0.1, 0.1), ["a red cat sits", "a blue cat sits"]),
            (image(0.1, 0.1, 0.9), ["a big blue dog", "a dog"]),
        ])
    if dataset_name == "mscoco_captions":
        # Ten images: CLIP_benchmark's recall@10 needs ten to rank.
        words = ["a", "red", "cat", "on", "green", "grass", "under", "the", "blue", "sky"]
        return Items([
            (image(0.1 * k, 0.5, 0.9 - 0.05 * k), [" ".join(words[k:]), " ".join(words[:k + 1][::-1])])
            for k in range(10)
        ])
    classes = ["cat", "dog", "bird", "horse", "fish"]
    return Items(
        [(image(0.1 * k, 0.5, 0.2), k) for k in range(5)],
        classes=classes,
        templates=["a photo of a {c}.", "a {c}."],
    )


def accuracy(output, target, topk=(1,)):
    """clip_benchmark.metrics.zeroshot_classification.accuracy with `.item()` for its
    `float(array of shape (1,))`, which NumPy 2.x refuses; the same numbers."""
    pred = output.topk(max(topk), 1, True, True)[1].t()
    correct = pred.eq(target.view(1, -1).expand_as(pred))
    n = len(target)
    return [correct[:k].reshape(-1).float().sum().item() / n for k in topk]


def load_clip(**kwargs):
    return TinyModel(), (lambda x: x), tokenizer


def main():
    cli.load_clip = load_clip
    cli.build_dataset = build_dataset
    cli.zeroshot_classification.accuracy = accuracy
    os.makedirs(FIXTURE, exist_ok=True)
    for name in os.listdir(FIXTURE):
        if name.endswith(".json"):
            os.remove(os.path.join(FIXTURE, name))
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        # A checkpoint file, so that `pretrained` is a path as negclip's are.
        os.makedirs("runs/a", exist_ok=True)
        open("runs/a/final.safetensors", "wb").close()
        for dataset in ["sugar_crepe/add_att", "cifar10", "mscoco_captions"]:
            sys.argv = [
                "clip_benchmark", "eval",
                "--dataset", dataset,
                "--model", "ViT-B-32",
                "--pretrained", "runs/a/final.safetensors",
                "--batch_size", "2",
                "--num_workers", "0",
                "--no_amp",
                "--recall_k", "1", "5", "10",
                "--output", os.path.join(FIXTURE, "{dataset}_{pretrained_full_path}_{model}_{language}_{task}.json"),
            ]
            cli.main()
    write_scores()
    for name in sorted(os.listdir(FIXTURE)):
        print(name)


def cosines(images, texts):
    """[image][text] cosines of the tiny model's unit embeddings, as every CLIP_benchmark
    metric computes them (F.normalize, then a product)."""
    model = TinyModel()
    with torch.no_grad():
        a = torch.nn.functional.normalize(model.encode_image(torch.stack(images)), dim=-1)
        b = torch.nn.functional.normalize(model.encode_text(tokenizer(texts)), dim=-1)
    return (a @ b.T).tolist()


def write_scores():
    """The similarities behind each result file, for negclip's metrics to score the same."""
    choice = build_dataset("sugar_crepe/add_att")
    retrieval = build_dataset("mscoco_captions")
    classification = build_dataset("cifar10")
    model = TinyModel()
    with torch.no_grad():
        # CLIP_benchmark's zero_shot_classifier: the mean of each class's unit template
        # embeddings, normalised again.
        weights = []
        for c in classification.classes:
            e = torch.nn.functional.normalize(
                model.encode_text(tokenizer([t.format(c=c) for t in classification.templates])), dim=-1
            ).mean(dim=0)
            weights.append(e / e.norm())
        images = torch.stack([x for x, _ in classification.items])
        feats = torch.nn.functional.normalize(model.encode_image(images), dim=-1)
        class_cosines = (feats @ torch.stack(weights).T).tolist()
    scores = {
        "sugar_crepe/add_att": [cosines([x], texts)[0] for x, texts in choice.items],
        "mscoco_captions": {
            "similarity": cosines([x for x, _ in retrieval.items], [t for _, ts in retrieval.items for t in ts]),
            "caption_image": [i for i, (_, ts) in enumerate(retrieval.items) for _ in ts],
        },
        "cifar10": {"cosines": class_cosines, "labels": [y for _, y in classification.items]},
    }
    with open(os.path.join(FIXTURE, "similarities.json"), "w") as f:
        json.dump(scores, f, indent=1)


if __name__ == "__main__":
    main()
