"""Read a run's TensorBoard events with TensorBoard's own reader and check them against the
run's metrics.jsonl.

The reader is `tensorboard.backend.event_processing.event_accumulator.EventAccumulator`
(tensorflow/tensorboard, tensorboard/backend/event_processing/event_accumulator.py), the
loader behind `tensorboard --logdir` in Python: it reads every events file of a folder in
name order, checks each record's CRC, and (purge_orphaned_data, on by default) drops the
steps at and after a `SessionLog START`. Nothing is kept back: `size_guidance` 0 keeps every
scalar and image instead of its reservoir sample.

    python scripts/tensorboard_reference.py RUN_DIR [--metrics RUN_DIR/metrics.jsonl]
        [--output reader.json]

`--output` writes what the reader read: every scalar tag with its (step, value) list and
every image's tag, step and size, as JSON (a value that is not finite as null).

`--metrics` checks the reading against metrics.jsonl, independently of negclip's code:
- each training record's numbers are the scalars `train/<field>` at its step (`skipped` as
  0/1; a `null` grad_norm or loss_scale has no scalar), each evaluation metric is
  `<suite>/<metric>` at the record's step, each time record's stage seconds are
  `time/<stage>` and its peak memory `time/peak_rss_bytes`;
- every scalar the reader holds is one of those, every one of those is there, each step of
  a tag once, and each value equals the record's rounded to f32 (TensorBoard's simple_value
  is a float32).
It prints a summary and exits 1 on the first kind of mismatch it finds.

The fixture tests/fixtures/tensorboard/ was made with it (2026-12-05):
    negclip train --config configs/synthetic.toml --output /tmp/tb-fixture \
        --set data.samples_per_epoch=256 --set optim.epochs=2 --set eval.items=40 \
        --set eval.every_epochs=1 --set log.every_steps=2 \
        --set 'eval.suites=["Synth-Relation", "Synth-Retrieval", "Synth-Classify"]'
    cp /tmp/tb-fixture/metrics.jsonl tests/fixtures/tensorboard/
    cp /tmp/tb-fixture/events.out.tfevents.* tests/fixtures/tensorboard/events.out.tfevents.fixture
    python scripts/tensorboard_reference.py tests/fixtures/tensorboard \
        --metrics tests/fixtures/tensorboard/metrics.jsonl \
        --output tests/fixtures/tensorboard/reader.json
"""

import argparse
import json
import math
import sys

import numpy as np
from tensorboard.backend.event_processing import event_accumulator as ea


def read(run_dir):
    acc = ea.EventAccumulator(
        run_dir,
        size_guidance={ea.SCALARS: 0, ea.IMAGES: 0, ea.TENSORS: 0},
    )
    acc.Reload()
    tags = acc.Tags()
    scalars = {
        tag: [(event.step, event.value) for event in acc.Scalars(tag)]
        for tag in sorted(tags[ea.SCALARS])
    }
    images = [
        {"tag": tag, "step": image.step, "width": image.width, "height": image.height}
        for tag in sorted(tags[ea.IMAGES])
        for image in acc.Images(tag)
    ]
    return scalars, images


def expected_scalars(metrics_path):
    """{(tag, step): value} from metrics.jsonl, by the rules in the docstring."""
    expected = {}
    with open(metrics_path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            record = json.loads(line)
            step = record["step"]
            if record["kind"] == "train":
                for field, value in record.items():
                    if field in ("kind", "step") or value is None:
                        continue
                    if isinstance(value, bool):
                        value = float(value)
                    expected[(f"train/{field}", step)] = float(value)
            elif record["kind"] == "eval":
                for suite in record["suites"]:
                    for metric, value in suite["metrics"].items():
                        value = math.nan if value is None else float(value)
                        expected[(f"{suite['suite']}/{metric}", step)] = value
            elif record["kind"] == "time":
                for stage, seconds in record["seconds"].items():
                    expected[(f"time/{stage}", step)] = float(seconds)
                if record["peak_rss_bytes"] is not None:
                    expected[("time/peak_rss_bytes", step)] = float(record["peak_rss_bytes"])
            else:
                sys.exit(f"{metrics_path}:{number}: unknown record kind {record['kind']!r}")
    return expected


def same_f32(read_value, record_value):
    want = float(np.float32(record_value))
    if math.isnan(want):
        return math.isnan(read_value)
    return read_value == want


def check(scalars, metrics_path):
    expected = expected_scalars(metrics_path)
    problems = []
    seen = set()
    for tag, points in scalars.items():
        for step, value in points:
            key = (tag, step)
            if key in seen:
                problems.append(f"{tag} step {step}: written more than once")
            seen.add(key)
            if key not in expected:
                problems.append(f"{tag} step {step}: not in metrics.jsonl")
            elif not same_f32(value, expected[key]):
                problems.append(
                    f"{tag} step {step}: {value!r}, metrics.jsonl {expected[key]!r} "
                    f"(f32 {float(np.float32(expected[key]))!r})"
                )
    for key in sorted(set(expected) - seen):
        problems.append(f"{key[0]} step {key[1]}: in metrics.jsonl, not in the events")
    count = sum(len(points) for points in scalars.values())
    print(f"{count} scalars in {len(scalars)} tags read; {len(expected)} values in {metrics_path}")
    for problem in problems[:20]:
        print("MISMATCH", problem)
    if problems:
        print(f"{len(problems)} mismatches")
        return False
    print("every scalar equals metrics.jsonl at f32, and every value of metrics.jsonl is there")
    return True


def compact_json(out):
    """`out` as JSON with one line per scalar tag and per image, keys sorted."""
    lines = ["{", f' "reader": {json.dumps(out["reader"])},', ' "images": [']
    lines += [f"  {json.dumps(image, sort_keys=True)}," for image in out["images"]]
    lines[-1] = lines[-1].rstrip(",")
    lines += [" ],", ' "scalars": {']
    lines += [f"  {json.dumps(tag)}: {json.dumps(points)}," for tag, points in out["scalars"].items()]
    lines[-1] = lines[-1].rstrip(",")
    lines += [" }", "}", ""]
    text = "\n".join(lines)
    assert json.loads(text) == out
    return text


def finite_or_none(value):
    return value if math.isfinite(value) else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="a run folder (or one events file)")
    parser.add_argument("--metrics", help="metrics.jsonl to check the events against")
    parser.add_argument("--output", help="write what the reader read here, as JSON")
    args = parser.parse_args()
    scalars, images = read(args.run_dir)
    if args.output:
        out = {
            "reader": "tensorboard.backend.event_processing.event_accumulator.EventAccumulator",
            "scalars": {
                tag: [[step, finite_or_none(value)] for step, value in points]
                for tag, points in scalars.items()
            },
            "images": images,
        }
        with open(args.output, "w") as f:
            f.write(compact_json(out))
    for image in images:
        print(f"image {image['tag']} step {image['step']}: {image['width']}x{image['height']}")
    if args.metrics and not check(scalars, args.metrics):
        sys.exit(1)


if __name__ == "__main__":
    main()
