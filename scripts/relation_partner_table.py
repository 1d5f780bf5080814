#!/usr/bin/env python3
"""Build the training table of the "swapped partner" experiment in docs/results.md.

Each row is a synthetic training scene whose caption states a relation, with the
`swap-relation` rewrite of that caption as its hard caption and, as its hard image,
another scene of the same split showing the swapped relation (the scene whose
canonical caption is this scene's false caption). Only the standard library is used.

    negclip synth --out DIR --split train --items 16000 --seed 1
    python3 scripts/relation_partner_table.py DIR [--negclip target/release/negclip]

writes DIR/captions.txt, DIR/negatives.jsonl and DIR/table.jsonl (`data.table` for a
run with `negatives.source = "table"` and `data.hard_images = "table"`).
"""
import argparse
import collections
import json
import pathlib
import subprocess


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=pathlib.Path, help="output of `negclip synth --split train`")
    parser.add_argument("--negclip", default="target/release/negclip", help="negclip binary")
    args = parser.parse_args()
    items = json.loads((args.dir / "visual_genome_relation.json").read_text())
    images = json.loads((args.dir / "dataset_synth.json").read_text())["images"]
    caption_of = {im["filename"]: im["sentences"][0]["raw"] for im in images}

    # The training captions, rewritten once with swap-relation (one negative each).
    captions = [caption_of[it["image_path"]] for it in items]
    (args.dir / "captions.txt").write_text("\n".join(captions) + "\n")
    subprocess.run(
        [args.negclip, "negatives", "--input", str(args.dir / "captions.txt"),
         "--out", str(args.dir / "negatives.jsonl"), "--kinds", "swap-relation",
         "--per-caption", "1", "--keep-empty"],
        check=True,
    )
    rows = [json.loads(line) for line in (args.dir / "negatives.jsonl").open()]

    by_true = collections.defaultdict(list)
    for k, it in enumerate(items):
        by_true[it["true_caption"]].append(k)
    partner = [by_true.get(it["false_caption"], [None])[0] for it in items]
    usable = {k for k in range(len(items))
              if rows[k]["negatives"] and partner[k] is not None and rows[partner[k]]["negatives"]}
    # Keep the rows whose partner is kept too, so every neg_image index is in the table.
    keep = sorted(k for k in usable if partner[k] in usable)
    index = {k: i for i, k in enumerate(keep)}
    with (args.dir / "table.jsonl").open("w") as out:
        for k in keep:
            out.write(json.dumps({
                "image": "images/" + items[k]["image_path"],
                "caption": rows[k]["caption"],
                "negatives": rows[k]["negatives"][:1],
                "neg_images": [index[partner[k]]],
            }) + "\n")
    print(f"{len(keep)} rows -> {args.dir / 'table.jsonl'}")


if __name__ == "__main__":
    main()
