"""Generate the synthetic SST-2-format dataset shipped for the offline demo.

Run `python -m paczero.data.make_demo_sst2` to rewrite demo_sst2/train.tsv and
demo_sst2/dev.tsv. The output is deterministic: the same seed gives the same
bytes. Sentences are lowercased and space-tokenized like GLUE SST-2, with a
trailing space before the tab, and label 1 is positive.
"""

from __future__ import annotations

import random
from pathlib import Path

SUBJECTS = [
    "the film", "this movie", "the story", "the cast", "the script", "the director 's work",
    "the soundtrack", "the ending", "the performances", "the dialogue", "the plot", "the camera work",
    "this comedy", "the thriller", "the documentary", "the sequel", "the lead actor", "the animation",
]
POSITIVE = [
    "wonderful", "moving", "charming", "brilliant", "funny", "beautiful", "gripping", "smart",
    "delightful", "touching", "inventive", "powerful", "warm", "honest", "thrilling", "graceful",
]
NEGATIVE = [
    "dull", "boring", "clumsy", "tedious", "lifeless", "pointless", "bland", "shallow",
    "annoying", "predictable", "messy", "weak", "tiresome", "hollow", "sloppy", "stale",
]
INTENSIFIERS = ["", "", "really ", "truly ", "quite ", "utterly ", "so "]
POSITIVE_TAILS = [
    "", "", ", and i loved it", "from start to finish", ", a real pleasure", "and full of life",
    ", worth seeing twice",
]
NEGATIVE_TAILS = [
    "", "", ", and i hated it", "from start to finish", ", a waste of time", "and without any life",
    ", not worth a second look",
]


def make_sentence(rng: random.Random, label: int) -> str:
    words = POSITIVE if label == 1 else NEGATIVE
    tails = POSITIVE_TAILS if label == 1 else NEGATIVE_TAILS
    first = rng.choice(words)
    sentence = f"{rng.choice(SUBJECTS)} is {rng.choice(INTENSIFIERS)}{first}"
    if rng.random() < 0.5:
        second = rng.choice([w for w in words if w != first])
        sentence += f" and {second}"
    tail = rng.choice(tails)
    if tail:
        sentence += tail if tail.startswith(",") else f" {tail}"
    return sentence.replace(" ,", ",").replace(",", " ,")


def write_split(path: Path, rng: random.Random, size: int) -> None:
    rows = ["sentence\tlabel"]
    for _ in range(size):
        label = rng.randint(0, 1)
        rows.append(f"{make_sentence(rng, label)} \t{label}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def main(seed: int = 20261204) -> None:
    folder = Path(__file__).parent / "demo_sst2"
    folder.mkdir(exist_ok=True)
    rng = random.Random(seed)
    write_split(folder / "train.tsv", rng, 2000)
    write_split(folder / "dev.tsv", rng, 400)


if __name__ == "__main__":
    main()
