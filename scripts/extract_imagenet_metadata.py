#!/usr/bin/env python3
"""Write the ImageNet metadata shipped in crates/data/assets/ from two PyPI wheels.

  imagenet_classnames.txt  CLIP's 1000 ImageNet class names (open_clip's
                           IMAGENET_CLASSNAMES), one per line, in class-index order. Two
                           names occur twice, as in CLIP: "missile" (657, 744) and
                           "sunglasses" (836, 837).
  imagenet_templates.txt   the 80 OpenAI ImageNet prompt templates (open_clip's
                           OPENAI_IMAGENET_TEMPLATES), one per line, `{}` where the class
                           name goes (`a bad photo of a {}.`).
  imagenet_wnids.txt       the 1000 WordNet ids (timm's imagenet_synsets.txt), one per line,
                           in the same class-index order (checked: it is the sorted order of
                           the ids, the standard ImageNet-1k index order).

The wheels are only read (zip archives); nothing is imported from them and no network is
needed here. Get them with:

  pip download --no-deps open_clip_torch==3.3.0 -d /tmp/wheels
  pip download --no-deps timm==1.0.31 -d /tmp/wheels
  python3 scripts/extract_imagenet_metadata.py \
      /tmp/wheels/open_clip_torch-3.3.0-py3-none-any.whl \
      /tmp/wheels/timm-1.0.31-py3-none-any.whl

(--out-dir defaults to crates/data/assets). Attribution is in NOTICE.
"""
import argparse
import ast
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
METADATA = "open_clip/zero_shot_metadata.py"
SYNSETS = "timm/data/_info/imagenet_synsets.txt"


def module_assignments(source):
    """{name: value node} of the module's top-level `NAME = ...` statements."""
    out = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name):
            out[node.targets[0].id] = node.value
    return out


def template_of(node):
    """`lambda c: f'a photo of a {c}.'` -> 'a photo of a {}.' (the lambda's one argument is
    the only substituted value; literal text must hold no braces)."""
    assert isinstance(node, ast.Lambda) and len(node.args.args) == 1, ast.dump(node)
    arg = node.args.args[0].arg
    body = node.body
    assert isinstance(body, ast.JoinedStr), ast.dump(body)
    parts = []
    for value in body.values:
        if isinstance(value, ast.Constant):
            assert "{" not in value.value and "}" not in value.value, value.value
            parts.append(value.value)
        else:
            assert isinstance(value, ast.FormattedValue) and value.conversion == -1 \
                and value.format_spec is None and isinstance(value.value, ast.Name) \
                and value.value.id == arg, ast.dump(value)
            parts.append("{}")
    template = "".join(parts)
    assert template.count("{}") == 1, template
    return template


def open_clip_metadata(wheel):
    with zipfile.ZipFile(wheel) as z:
        source = z.read(METADATA).decode("utf-8")
    names = module_assignments(source)
    classnames = [ast.literal_eval(e) for e in names["IMAGENET_CLASSNAMES"].elts]
    templates = [template_of(e) for e in names["OPENAI_IMAGENET_TEMPLATES"].elts]
    return classnames, templates


def timm_wnids(wheel):
    with zipfile.ZipFile(wheel) as z:
        return z.read(SYNSETS).decode("utf-8").split()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("open_clip_wheel", help="open_clip_torch-3.3.0-py3-none-any.whl")
    ap.add_argument("timm_wheel", help="timm-*.whl (reads timm/data/_info/imagenet_synsets.txt)")
    ap.add_argument("--out-dir", default=str(ROOT / "crates" / "data" / "assets"))
    args = ap.parse_args()

    classnames, templates = open_clip_metadata(args.open_clip_wheel)
    wnids = timm_wnids(args.timm_wheel)
    assert len(classnames) == 1000, len(classnames)
    # CLIP's names are not all distinct: 657 and 744 are both "missile" (ImageNet's "missile"
    # and "projectile, missile"), 836 and 837 both "sunglasses" ("sunglass", "sunglasses").
    # They are kept as CLIP has them; a class is its index, not its name.
    dupes = sorted(i for i, c in enumerate(classnames) if classnames.count(c) > 1)
    assert dupes == [657, 744, 836, 837], dupes
    assert all(c == c.strip() and c and "\n" not in c for c in classnames)
    assert len(templates) == 80 and len(set(templates)) == 80, len(templates)
    assert len(wnids) == 1000 and len(set(wnids)) == 1000, len(wnids)
    assert all(len(w) == 9 and w[0] == "n" and w[1:].isdigit() for w in wnids)
    # The standard ImageNet-1k class index is the sorted order of the wnids (torchvision's
    # ImageFolder over train/, the devkit's ILSVRC2012_ID order for 1k): timm's list is in it.
    assert wnids == sorted(wnids), "timm's synset list is not in sorted order"
    assert wnids[0] == "n01440764" and classnames[0] == "tench"
    assert wnids[-1] == "n15075141" and classnames[-1] == "toilet paper"

    out = Path(args.out_dir)
    for name, lines in [("imagenet_classnames.txt", classnames),
                        ("imagenet_templates.txt", templates),
                        ("imagenet_wnids.txt", wnids)]:
        (out / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        print(f"wrote {out / name} ({len(lines)} lines)")


if __name__ == "__main__":
    main()
