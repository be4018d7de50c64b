"""Reading SQuAD v1.1 examples from the Hub, a local folder or the shipped demo data.

Every reader returns plain dicts with the keys `id`, `title`, `context`,
`question` and `answers` (the list of all gold answer strings, in file order,
duplicates kept).

A local folder holds one file per split, found by this rule:

- train split: `train-v1.1.json` if present, else the single file whose name
  contains `train` and ends in `.json` or `.jsonl`;
- evaluation split: `dev-v1.1.json` if present, else the single file whose
  name contains `dev` or `validation` and ends in `.json` or `.jsonl`.

`.json` files use the official SQuAD layout
(`{"data": [{"title", "paragraphs": [{"context", "qas": [...]}]}]}`).
`.jsonl` files hold one question per line with the fields `title`, `context`,
`question`, `answers` and optionally `id`. The `answers` field is a list of
strings, the Hub form `{"text": [...], "answer_start": [...]}`, or the
official list of `{"text": ..., "answer_start": ...}` objects.
"""

from __future__ import annotations

import json
import logging
from importlib import resources
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

HUB_DATASET = "squad"
OFFICIAL_FILES = {"train": "train-v1.1.json", "dev": "dev-v1.1.json"}
# Words that mark a file as belonging to a split when the official name is absent.
SPLIT_NAME_MARKERS = {"train": ("train",), "dev": ("dev", "validation")}
DATA_SUFFIXES = (".json", ".jsonl")


def demo_folder() -> Path:
    """Return the folder of the synthetic demo data shipped with the package."""
    return Path(str(resources.files("paczero.data") / "demo_squad"))


def _answer_texts(answers: Any, where: str) -> list[str]:
    """Extract the gold answer strings from any of the three accepted `answers` forms."""
    if isinstance(answers, dict):
        texts = answers.get("text")
    elif isinstance(answers, list) and all(isinstance(a, dict) for a in answers):
        texts = [a.get("text") for a in answers]
    else:
        texts = answers
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise ValueError(
            f"{where}: invalid answers {answers!r}; use a list of strings, "
            '{"text": [...], "answer_start": [...]}, or a list of {"text": ..., "answer_start": ...} objects'
        )
    if not texts:
        raise ValueError(
            f"{where}: the question has no gold answer; SQuAD v1.1 questions need at least one "
            "(unanswerable SQuAD v2 questions are not supported)"
        )
    return texts


def read_official_json(path: Path) -> list[dict[str, Any]]:
    """Read a file in the official SQuAD v1.1 JSON layout."""
    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise ValueError(
            f"{path} is not in the official SQuAD JSON layout (a top-level object with a 'data' list of articles); "
            "convert it, or write one question per line to a .jsonl file"
        )
    examples = []
    for article in document["data"]:
        title = article.get("title", "")
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                where = f"{path}, question {qa.get('id')!r}"
                examples.append(
                    {
                        "id": str(qa["id"]),
                        "title": title,
                        "context": context,
                        "question": qa["question"],
                        "answers": _answer_texts(qa["answers"], where),
                    }
                )
    return examples


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read one question per line; a line without `id` gets `<file stem>-<line number>`."""
    examples = []
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}, line {line_number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{where}: invalid JSON ({error}); write one JSON object per line") from error
            missing = [key for key in ("context", "question", "answers") if key not in row]
            if missing:
                raise ValueError(f"{where}: missing field(s) {missing}; each line needs context, question and answers")
            examples.append(
                {
                    "id": str(row.get("id", f"{path.stem}-{line_number}")),
                    "title": row.get("title", ""),
                    "context": row["context"],
                    "question": row["question"],
                    "answers": _answer_texts(row["answers"], where),
                }
            )
    return examples


def find_split_file(folder: Path, split: str) -> Path:
    """Find the file of `split` ('train' or 'dev') in `folder` by the rule in the module docstring."""
    official = folder / OFFICIAL_FILES[split]
    if official.is_file():
        return official
    markers = SPLIT_NAME_MARKERS[split]
    matches = sorted(
        path
        for path in folder.iterdir()
        if path.is_file()
        and path.name.lower().endswith(DATA_SUFFIXES)
        and any(marker in path.name.lower() for marker in markers)
    )
    if len(matches) == 1:
        return matches[0]
    expected = (
        f"{OFFICIAL_FILES[split]}, or exactly one .json/.jsonl file whose name contains "
        + " or ".join(repr(m) for m in markers)
    )
    if not matches:
        raise FileNotFoundError(f"no SQuAD {split} file in {folder}; expected {expected}")
    names = ", ".join(path.name for path in matches)
    raise ValueError(f"several SQuAD {split} files in {folder} ({names}); keep one, or name it {OFFICIAL_FILES[split]}")


def read_split_file(path: Path) -> list[dict[str, Any]]:
    if path.name.lower().endswith(".jsonl"):
        return read_jsonl(path)
    return read_official_json(path)


def read_folder(folder: str | Path) -> dict[str, list[dict[str, Any]]]:
    """Read the train and dev splits of a local SQuAD folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"SQuAD data folder {folder} not found; set data to 'hub', 'demo', or a folder holding "
            f"{OFFICIAL_FILES['train']} and {OFFICIAL_FILES['dev']} (or train/dev .jsonl files)"
        )
    splits = {}
    for split in ("train", "dev"):
        path = find_split_file(folder, split)
        splits[split] = read_split_file(path)
        logger.info("read %d SQuAD %s questions from %s", len(splits[split]), split, path)
    return splits


def read_hub() -> dict[str, Any]:
    """Load the Hub dataset's train and validation splits as `datasets.Dataset` objects (rows are dicts)."""
    import datasets

    try:
        loaded = datasets.load_dataset(HUB_DATASET)
    except OSError as error:  # includes ConnectionError and DatasetNotFoundError
        raise RuntimeError(
            f"loading the Hub dataset {HUB_DATASET!r} failed ({error}); connect to the Hub, "
            "or set data to 'demo' or a local folder with the official SQuAD JSON files"
        ) from error
    return {"train": loaded["train"], "dev": loaded["validation"]}


def hub_row_to_example(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "title": row["title"],
        "context": row["context"],
        "question": row["question"],
        "answers": _answer_texts(row["answers"], f"Hub dataset {HUB_DATASET!r}, question {row['id']!r}"),
    }
