"""Write tests/fixtures/tokenizer/cases.jsonl: strings and open_clip.tokenize ids.

The Rust test crates/data/tests/tokenizer_parity.rs asserts the Rust tokenizer
gives exactly these ids. Each line: {"text": ..., "context_length": ..., "ids": [...]}
with trailing zero padding stripped (the test re-pads). Deterministic (seeded).
Run: python scripts/make_tokenizer_fixtures.py
"""

import json
import random
from pathlib import Path

import open_clip

OUT = Path(__file__).resolve().parent.parent / "tests/fixtures/tokenizer/cases.jsonl"

SUBJECTS = ["a man", "A woman", "two dogs", "the cat", "a red bus", "three Zebras", "an old TRUCK",
            "a little girl", "some people", "a plate of food", "a Giraffe", "the skateboarder"]
VERBS = ["sitting on", "standing next to", "riding", "eating", "holding", "looking at",
         "walking across", "parked near", "lying under", "jumping over"]
OBJECTS = ["a bench.", "the street", "a surfboard", "a pizza", "an umbrella", "the table.",
           "a grassy field", "a kitchen counter", "the beach", "a snowy hill"]

HANDWRITTEN = [
    "", " ", "   \t\n  ", "\n", "a", "A", ".", "!!!", "...", "hello, world!",
    "It's a dog's life; they're sure we've I'm you'll he'd", "DON'T STOP", "'s 't 're",
    "3 cats and 42 dogs", "1234567890", "3.14159", "1,000,000 people", "room 101b", "2024-01-05",
    "$5.99 & 20% off", "email me at someone@example.com", "https://www.example.com/path?q=1&x=2",
    "http://cocodataset.org/#home", "C++ and C# and F#", "#hashtag @mention", "snake_case_word",
    "(parentheses) [brackets] {braces}", "quotes \"double\" and 'single'", "a--b -- c — d – e",
    "tab\tseparated\twords", "line\nbreaks\r\nand\rreturns", "multiple     spaces   here",
    "café", "naïve résumé", "Ångström", "Straße", "ÉCOLE", "crème brûlée", "façade", "e\u0301",
    "日本語のテキスト", "中文字符测试", "한국어 텍스트", "Привет мир", "ΑΒΓΔ ελληνικά", "Σίσυφος ΟΔΟΣ",
    "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "ภาษาไทย", "Tiếng Việt có dấu",
    "🐕🐈", "a dog 🐕 and a cat 🐈", "👨‍👩‍👧‍👦 family", "🇫🇷 flag", "❤️ love", "👍🏽 thumbs",
    "&amp;", "&quot;quoted&quot;", "it&#39;s", "non&nbsp;breaking&nbsp;space", "&lt;b&gt;bold&lt;/b&gt;",
    "&amp;amp;", "&amp;amp;amp;amp;", "&#x41;&#66;&#x43", "&copy; 2024", "&eacute;t&eacute;", "&NTILDE;",
    "&ampfoo", "&unknownentity;", "AT&T", "fish & chips", "<b>bold</b> &amp; more", "x < y & z > w",
    "\u201ccurly quotes\u201d and \u2018single\u2019", "\ufb01ne \ufb02ow \ufb00", "\uff21\uff22\uff23 \uff11\uff12\uff13",
    "ideographic\u3000space", "zero\u200bwidth", "soft\u00adhyphen", "\ufeffbom", "nbsp\u00a0here",
    "\x1b[31mred\x1b[0m", "bell\x07char", "\u0085next line", "\u2028line sep", "C1 \x93quoted\x94 \x85",
    "MiXeD CaSe WoRdS", "ALL CAPS SENTENCE HERE", "camelCaseIdentifier", "İstanbul", "ǅemal",
    "<start_of_text>", "<end_of_text>", "a <START_OF_TEXT> b", "<start_of_text>x<end_of_text>",
    "supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "ab" * 60, "x" * 300,
    "1" * 100, "!" * 100, "word " * 80, "🐕" * 40, "日本" * 50,
]


def coco_like(rng: random.Random) -> str:
    caption = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
    if rng.random() < 0.2:
        caption = caption.upper() if rng.random() < 0.5 else caption.capitalize()
    if rng.random() < 0.2:
        caption = "  " + caption.replace(" ", "  ") + " \n"
    return caption


def random_unicode(rng: random.Random) -> str:
    blocks = [(0x20, 0x7e), (0xa0, 0x24f), (0x370, 0x3ff), (0x400, 0x4ff), (0x600, 0x6ff),
              (0x3040, 0x30ff), (0x4e00, 0x4fff), (0xac00, 0xad00), (0x1f300, 0x1f64f)]
    out = []
    for _ in range(rng.randint(1, 30)):
        lo, hi = rng.choice(blocks)
        out.append(chr(rng.randint(lo, hi)))
    return "".join(out)


def main() -> None:
    rng = random.Random(1234)
    texts = list(HANDWRITTEN)
    texts += [coco_like(rng) for _ in range(150)]
    texts += [random_unicode(rng) for _ in range(60)]
    texts += [" ".join(coco_like(rng) for _ in range(rng.randint(8, 15))) for _ in range(10)]
    rows = []
    for i, text in enumerate(texts):
        context_length = [77, 77, 77, 16, 5][i % 5]
        ids = open_clip.tokenize([text], context_length=context_length)[0].tolist()
        while ids and ids[-1] == 0:
            ids.pop()
        rows.append({"text": text, "context_length": context_length, "ids": ids})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=True) + "\n")
    print(f"wrote {len(rows)} rows to {OUT}")


if __name__ == "__main__":
    main()
