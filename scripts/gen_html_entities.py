"""Write crates/data/assets/html5_entities.tsv.gz: Python's html.entities.html5 table.

The Rust tokenizer's HTML unescaping (crates/data/src/tokenizer/html.rs) must equal
Python's html.unescape, which looks names up in this WHATWG table (2231 names,
some without the trailing ';'). One line per entity: name, TAB, the replacement
as comma-separated hex code points. Run: python scripts/gen_html_entities.py
"""

import gzip
import html.entities
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "crates/data/assets/html5_entities.tsv.gz"


def main() -> None:
    lines = []
    for name in sorted(html.entities.html5):
        value = ",".join(f"{ord(c):x}" for c in html.entities.html5[name])
        lines.append(f"{name}\t{value}\n")
    # mtime=0 keeps the file byte-identical between runs.
    with open(OUT, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write("".join(lines).encode("ascii"))
    print(f"wrote {len(lines)} entities to {OUT}")


if __name__ == "__main__":
    main()
