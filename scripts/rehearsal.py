"""The two Python halves of scripts/rehearse-recipe.sh (numpy and Pillow; nothing else).

`corpus OUT` writes data in the shapes the NegCLIP recipe reads, as users download them, with
made-up content:
- OUT/coco/train2014/, OUT/coco/val2014/: JPEGs at COCO's sizes, 4:2:0, quality 90, photo-like
  content that costs what photographs cost to decode (scripts/make_jpeg_table.py's);
- OUT/coco/dataset_coco.json: Karpathy's split file (train, restval, val, test), 5 captions an
  image, COCO-like in words and length (13-14 CLIP tokens on average);
- OUT/aro/visual_genome_relation.json, OUT/aro/visual_genome_attribution.json, OUT/aro/images/:
  ARO's VG-Relation and VG-Attribution files (crops of images at Visual Genome's sizes, a true
  and a swapped caption).

`report WORK` reads what the rehearsal left in WORK (the runs' metrics.jsonl `time` records,
the benchmarks' output, /usr/bin/time's) and prints the per-stage table, then projects the full
recipe from the measured per-item costs. The projection is arithmetic on those costs, labelled
as such; the recipe's sizes are in FULL below.

    python scripts/rehearsal.py corpus /tmp/rehearsal/data --train 256 --val 64 --test 64 --vg 256
    python scripts/rehearsal.py report /tmp/rehearsal
"""

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_jpeg_table import SIZES, photo_like  # noqa: E402

# Visual Genome's common sizes (VG 1.2 images are at most 800 px wide or high).
VG_SIZES = [(800, 600), (500, 375), (800, 533), (600, 800), (500, 333)]
COLOURS = ["red", "blue", "green", "white", "black", "brown", "yellow", "grey", "orange", "pink"]
THINGS = ["dog", "cat", "bus", "table", "horse", "man", "woman", "car", "kite", "bench", "train",
          "plate", "pizza", "boy", "girl", "bird", "truck", "umbrella", "chair", "giraffe"]
PLACES = ["on a street", "in a kitchen", "in a field", "near the water", "in a park",
          "on a beach", "in a room", "at the station"]
RELATIONS = ["next to", "on", "behind", "in front of", "under", "near", "beside", "above"]
VERBS = ["sitting", "standing", "walking", "parked", "lying", "waiting"]

# The full recipe (configs/negclip-coco-vit-b32.toml and the benchmarks' real sizes).
FULL = {
    "train_rows": 113_287,  # Karpathy train + restval, one row (first caption) an image
    "epochs": 5,
    "batch": 256,
    "every_steps": 500,
    "val": 5_000, "val_captions": 25_010,  # COCO Karpathy val: retrieval
    "test": 5_000, "test_captions": 25_010,  # COCO Karpathy test: COCO-Order
    "vg_relation": 23_937, "vg_attribution": 28_748,
}
ORDER_SEEDS, ORDER_OPTIONS = 5, 5  # COCO-Order: 5 seeds, each caption against 4 shuffles


def eval_encodes(val, val_captions, test, test_captions, vg_relation, vg_attribution):
    """(images, texts) one evaluation of the recipe's suites encodes, counting each suite's
    own: retrieval its images and captions, each VG suite a crop and two captions an item,
    each COCO-Order seed its images and every caption with its shuffles."""
    images = val + vg_relation + vg_attribution + ORDER_SEEDS * test
    texts = (val_captions + 2 * (vg_relation + vg_attribution)
             + ORDER_SEEDS * ORDER_OPTIONS * test_captions)
    return images, texts


def coco_caption(rng, objects):
    """A COCO-like caption about two of the image's objects (10-16 words)."""
    (ca, a), (cb, b) = objects[:2]
    rel, place, verb = rng.choice(RELATIONS), rng.choice(PLACES), rng.choice(VERBS)
    forms = [
        f"a {ca} {a} {verb} {rel} a {cb} {b} {place}",
        f"there is a {ca} {a} {rel} the {cb} {b} {place}",
        f"a {a} that is {ca} is {verb} {rel} a {cb} {b}",
        f"the {ca} {a} and a {cb} {b} {place} with people around them",
        f"a close up of a {ca} {a} {rel} a {b} that is {cb} {place}",
    ]
    return forms[rng.integers(len(forms))]


def write_coco(out: Path, rng, train: int, val: int, test: int) -> list:
    images, counts = [], {"train": 0, "restval": 0, "val": 0, "test": 0}
    # Karpathy's restval images come from val2014; about a quarter of the training rows.
    splits = (["train"] * (train - train // 4) + ["restval"] * (train // 4)
              + ["val"] * val + ["test"] * test)
    for index, split in enumerate(splits):
        folder = "train2014" if split == "train" else "val2014"
        name = f"COCO_{folder}_{index:012d}.jpg"
        w, h = SIZES[rng.integers(len(SIZES))]
        (out / folder).mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo_like(rng, w, h)).save(out / folder / name, quality=90)
        objects = [(rng.choice(COLOURS), rng.choice(THINGS)) for _ in range(3)]
        sentences = []
        for _ in range(5):
            rng.shuffle(objects)
            sentences.append({"raw": coco_caption(rng, objects).capitalize() + "."})
        images.append({"filepath": folder, "filename": name, "split": split, "cocoid": index,
                       "sentences": sentences})
        counts[split] += 1
    (out / "dataset_coco.json").write_text(json.dumps({"dataset": "coco", "images": images}))
    print(f"coco: {counts} images, 5 captions each")
    return images


def write_aro(out: Path, rng, items: int) -> None:
    (out / "images").mkdir(parents=True, exist_ok=True)
    sizes = {}
    for i in range(max(1, items // 4)):  # ARO takes several crops of each VG image
        w, h = VG_SIZES[rng.integers(len(VG_SIZES))]
        Image.fromarray(photo_like(rng, w, h)).save(out / "images" / f"{2_300_000 + i}.jpg", quality=90)
        sizes[f"{2_300_000 + i}.jpg"] = (w, h)
    names = sorted(sizes)

    def crop():
        name = names[rng.integers(len(names))]
        w, h = sizes[name]
        bw, bh = int(rng.integers(w // 4, w)), int(rng.integers(h // 4, h))
        x, y = int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1))
        return {"image_path": name, "bbox_x": x, "bbox_y": y, "bbox_w": bw, "bbox_h": bh}

    relation, attribution = [], []
    for _ in range(items):
        a, b = rng.choice(THINGS, 2, replace=False)
        rel = rng.choice(RELATIONS)
        relation.append({**crop(), "relation_name": rel,
                         "true_caption": f"the {a} is {rel} the {b}",
                         "false_caption": f"the {b} is {rel} the {a}"})
        ca, cb = rng.choice(COLOURS, 2, replace=False)
        attribution.append({**crop(), "attributes": [ca, cb],
                            "true_caption": f"the {ca} {a} and the {cb} {b}",
                            "false_caption": f"the {cb} {a} and the {ca} {b}"})
    (out / "visual_genome_relation.json").write_text(json.dumps(relation))
    (out / "visual_genome_attribution.json").write_text(json.dumps(attribution))
    print(f"aro: {len(names)} VG-sized images, {items} VG-Relation and {items} VG-Attribution items")


def corpus(args) -> None:
    rng = np.random.default_rng(args.seed)
    write_coco(args.out / "coco", rng, args.train, args.val, args.test)
    write_aro(args.out / "aro", rng, args.vg)


def time_records(metrics: Path) -> list:
    return [r for r in map(json.loads, metrics.read_text().splitlines()) if r["kind"] == "time"]


def peak_rss_gib(time_log: Path) -> float:
    kib = re.search(r"Maximum resident set size \(kbytes\): (\d+)", time_log.read_text())
    return int(kib.group(1)) / 2**20


def number(pattern: str, text: str, what: str) -> float:
    found = re.search(pattern, text)
    if not found:
        sys.exit(f"rehearsal report: {what}: no match for {pattern!r}")
    return float(found.group(1))


def periodic_checkpoints(rows, batch, epochs, every):
    """Checkpoints a run writes: every `every` steps inside an epoch, and each epoch's end."""
    per_epoch = rows // batch
    inside = [s for s in range(1, per_epoch * epochs + 1) if s % every == 0 and s % per_epoch]
    return len(inside) + epochs


def report(args) -> None:
    work = args.work
    facts = json.loads((work / "facts.json").read_text())
    run_a = time_records(work / "run-a" / "metrics.jsonl")[-1]
    resumed = time_records(work / "run-b" / "metrics.jsonl")[-1]
    data = (work / "bench-data.txt").read_text()
    phases = (work / "bench-step.txt").read_text()
    forward = (work / "bench-forward.txt").read_text()
    s = run_a["seconds"]
    steps, batch, rows = run_a["steps_run"], facts["batch"], facts["train_rows"]
    print(f"\n== The recipe rehearsed: {facts['model']}, {rows} training rows, batch {batch}, "
          f"{steps} steps, {facts['threads']} threads, {facts['date']}")
    print(f"   load average at the start {facts['load_start']}, at the end "
          f"{' '.join(open('/proc/loadavg').read().split()[:3])}")
    print("\nstage                                      seconds   per item")
    table = [
        ("corpus (JPEGs, Karpathy JSON, ARO)", facts["corpus_s"], ""),
        ("negatives (negclip negatives)", facts["negatives_s"],
         f"{facts['negatives_s'] / rows * 1e3:.2f} ms a caption"),
        ("checkpoint made (export --preset)", facts["export_s"], ""),
        ("run: open (model, data, suites)", s["open"], ""),
        ("run: waiting for the loader", s["data_wait"], f"{s['data_wait'] / steps:.2f} s a step"),
        ("run: training steps", s["steps"], f"{s['steps'] / steps:.1f} s a step, "
         f"{s['steps'] / (steps * batch) * 1e3:.0f} ms a sample"),
        ("run: mining hard images", s["mining"],
         f"{s['mining'] / (rows * facts['epochs']) * 1e3:.0f} ms an image"),
        ("run: evaluation (2)", s["evaluation"], f"{s['evaluation'] / 2:.0f} s each"),
        ("run: checkpoints written", s["checkpoints"],
         f"{s['checkpoints'] / facts['checkpoints_written']:.1f} s each"),
        ("run: final files", s["finish"], ""),
        ("run: in all", s["total"], ""),
        ("resumed run: open (reads the checkpoint)", resumed["seconds"]["open"], ""),
        ("resumed run: in all", resumed["seconds"]["total"], f"{resumed['steps_run']} steps"),
    ]
    for name, seconds, per in table:
        print(f"{name:<42} {seconds:8.1f}   {per}")
    decode = number(r"read \+ decode\s+([\d.]+) ms/image", data, "bench data")
    crop = number(r"crop \+ resize\s+([\d.]+) ms/image", data, "bench data")
    per_core = number(r"ms/image: ([\d.]+) images/s per core", data, "bench data")
    print(f"\ndecode and augment, one thread (negclip bench data): read + decode {decode} ms, "
          f"crop + resize {crop} ms an image; {per_core:.0f} images/s per core")
    print("a step's parts (negclip bench train-step --phases):")
    for line in phases.splitlines():
        if "ms" in line and not line.startswith(("negclip", "warm")):
            print("  " + line.strip())
    image_rate = number(r"image tower: .*?([\d.]+) images/s", forward, "bench forward")
    text_rate = number(r"text tower: .*?([\d.]+) texts/s", forward, "bench forward")
    print(f"\npeak RSS: run {peak_rss_gib(work / 'run-a.time'):.2f} GiB, resumed run "
          f"{peak_rss_gib(work / 'run-b-resume.time'):.2f} GiB")
    peak_gb = max(facts["disk_peak_gb"], facts["disk_end_gb"])  # sampled each second
    print(f"disk: the run folder reached {peak_gb:.2f} GB, {facts['disk_end_gb']:.2f} GB "
          f"at the end (keep_last = 1); one checkpoint is {facts['checkpoint_gb']:.2f} GB")
    print(f"resume: killed (SIGKILL) after {facts['killed_at']}, resumed: final weights "
          f"{'bit-identical to' if facts['same_final'] else 'DIFFERENT from'} the run's through")

    # The projection: the costs per item measured above, times the full recipe's counts.
    per_sample = s["steps"] / (steps * batch)
    per_mined = s["mining"] / (rows * facts["epochs"])
    per_ckpt = s["checkpoints"] / facts["checkpoints_written"]
    here = eval_encodes(facts["val"], 5 * facts["val"], facts["test"], 5 * facts["test"],
                        facts["vg"], facts["vg"])
    full = eval_encodes(FULL["val"], FULL["val_captions"], FULL["test"], FULL["test_captions"],
                        FULL["vg_relation"], FULL["vg_attribution"])
    predicted_here = here[0] / image_rate + here[1] / text_rate
    per_eval_full = (full[0] / image_rate + full[1] / text_rate) * (s["evaluation"] / 2) / predicted_here
    full_steps = FULL["train_rows"] // FULL["batch"] * FULL["epochs"]
    ckpts = periodic_checkpoints(FULL["train_rows"], FULL["batch"], FULL["epochs"], FULL["every_steps"])
    hours = {
        "training steps": per_sample * FULL["train_rows"] * FULL["epochs"] / 3600,
        "mining": per_mined * FULL["train_rows"] * FULL["epochs"] / 3600,
        "evaluation": per_eval_full * (FULL["epochs"] + 1) / 3600,
        "checkpoints": per_ckpt * ckpts / 3600,
    }
    print(f"\nPROJECTION, arithmetic on the costs above and not a measurement: the full recipe "
          f"on this CPU, {facts['threads']} threads, {FULL['train_rows']} rows x {FULL['epochs']} "
          f"epochs = {full_steps} steps of {FULL['batch']}")
    notes = {
        "training steps": f"{per_sample * 1e3:.0f} ms a sample, taken as linear in the batch",
        "mining": f"{per_mined * 1e3:.0f} ms an image, {FULL['epochs']} re-minings "
                  "(the authors' table lists its hard images: none)",
        "evaluation": f"{FULL['epochs'] + 1} evaluations of {full[0]} images and {full[1]} texts; "
                      f"this one's {here[0]} and {here[1]} took {s['evaluation'] / 2:.0f} s, "
                      f"{predicted_here:.0f} s by bench forward's rates",
        "checkpoints": f"{ckpts} of {facts['checkpoint_gb']:.2f} GB at {per_ckpt:.1f} s",
    }
    for name, value in hours.items():
        print(f"  {name:<15} {value:8.1f} h   {notes[name]}")
    print(f"  {'in all':<15} {sum(hours.values()):8.1f} h")
    print(f"  the loader: {per_core:.0f} images/s a core against the {2 / per_sample:.1f} images/s "
          f"the steps take here (an anchor and a hard image a sample); a GPU running R samples/s "
          f"needs 2R/{per_core:.0f} cores to decode for it")


def same(args) -> None:
    """Exit 0 when two safetensors files hold the same tensors, bit for bit (the header's
    order may differ)."""
    def tensors(path):
        raw = path.read_bytes()
        size = int.from_bytes(raw[:8], "little")
        header = json.loads(raw[8:8 + size])
        header.pop("__metadata__", None)
        body = raw[8 + size:]
        return {k: (v["dtype"], v["shape"], body[v["data_offsets"][0]:v["data_offsets"][1]])
                for k, v in header.items()}
    a, b = tensors(args.a), tensors(args.b)
    differ = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    print(f"{len(a)} tensors; {len(differ)} differ" + (f": {differ[:5]}" if differ else ""))
    sys.exit(1 if differ else 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("corpus", help="write the COCO- and ARO-shaped data")
    make.add_argument("out", type=Path)
    make.add_argument("--train", type=int, default=256, help="train + restval images")
    make.add_argument("--val", type=int, default=64)
    make.add_argument("--test", type=int, default=64)
    make.add_argument("--vg", type=int, default=256, help="items of each VG suite")
    make.add_argument("--seed", type=int, default=0)
    show = commands.add_parser("report", help="print what a rehearsal measured")
    show.add_argument("work", type=Path)
    compare = commands.add_parser("same", help="exit 0 when two safetensors hold equal tensors")
    compare.add_argument("a", type=Path)
    compare.add_argument("b", type=Path)
    args = parser.parse_args()
    {"corpus": corpus, "report": report, "same": same}[args.command](args)


if __name__ == "__main__":
    main()
