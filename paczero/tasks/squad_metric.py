"""SQuAD v1.1 answer metrics: token-level F1 and exact match against gold answers.

Both strings are first normalised: lower-cased, punctuation (Python's
`string.punctuation`) removed, the articles a/an/the removed as whole words,
and runs of whitespace collapsed to single spaces. F1 compares the bags of
whitespace-separated tokens of the normalised strings. A question's score is
the maximum over its gold answers. Scores here are fractions in [0, 1]; the
task reports them in percent.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLE = re.compile(r"\b(?:a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lower-case `text`, drop punctuation and articles, and collapse whitespace."""
    lowered = text.lower()
    without_punctuation = "".join(char for char in lowered if char not in _PUNCTUATION)
    without_articles = _ARTICLE.sub(" ", without_punctuation)
    return " ".join(without_articles.split())


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when the normalised prediction equals the normalised gold answer, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    """Harmonic mean of token precision and recall between the normalised strings.

    Returns 0.0 when the two share no token, which includes an empty prediction
    and a gold answer that normalises to the empty string (SQuAD v1.1 rule).
    """
    prediction_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    shared = Counter(prediction_tokens) & Counter(gold_tokens)
    num_shared = sum(shared.values())
    if num_shared == 0:
        return 0.0
    precision = num_shared / len(prediction_tokens)
    recall = num_shared / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _check_golds(golds: Sequence[str]) -> None:
    if isinstance(golds, str):
        raise TypeError(f"gold answers must be a list of strings, got the string {golds!r}; wrap it in a list")
    if len(golds) == 0:
        raise ValueError("no gold answers given; every SQuAD v1.1 question needs at least one")


def max_f1(prediction: str, golds: Sequence[str]) -> float:
    """Best token F1 of `prediction` over the gold answers `golds`."""
    _check_golds(golds)
    return max(token_f1(prediction, gold) for gold in golds)


def max_exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when `prediction` matches any of the gold answers `golds` after normalisation."""
    _check_golds(golds)
    return max(exact_match(prediction, gold) for gold in golds)
