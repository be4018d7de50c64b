"""SQuAD token F1 and exact match on hand-computed cases."""

import pytest

from paczero.tasks.squad_metric import exact_match, max_exact_match, max_f1, normalize_answer, token_f1


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The Denver Broncos!", "denver broncos"),
        ("  Denver\t Broncos \n", "denver broncos"),
        ("An apple, a pear.", "apple pear"),
        ("U.S. Army", "us army"),
        # 'an' and 'the' inside other words are kept.
        ("another theme", "another theme"),
        ("the", ""),
        ("", ""),
    ],
)
def test_normalize_answer_cases(text, expected):
    assert normalize_answer(text) == expected


def test_f1_exact_match():
    assert token_f1("Denver Broncos", "Denver Broncos") == 1.0
    assert exact_match("Denver Broncos", "Denver Broncos") == 1.0


def test_f1_partial_overlap():
    # prediction "denver broncos team" (3 tokens), gold "denver broncos" (2 tokens), 2 shared:
    # precision 2/3, recall 2/2 = 1, F1 = 2 * (2/3) * 1 / (2/3 + 1) = (4/3) / (5/3) = 0.8.
    assert token_f1("the Denver Broncos team", "Denver Broncos") == pytest.approx(0.8)
    assert exact_match("the Denver Broncos team", "Denver Broncos") == 0.0
    # prediction "1875" vs gold "in 1875": 1 shared token, precision 1/1, recall 1/2,
    # F1 = 2 * 1 * 0.5 / 1.5 = 2/3.
    assert token_f1("1875", "in 1875") == pytest.approx(2 / 3)


def test_f1_counts_repeated_tokens_once_each():
    # prediction bag {new: 2, york: 1}, gold bag {new: 1, york: 1}: shared min(2,1) + min(1,1) = 2,
    # precision 2/3, recall 2/2, F1 = 0.8.
    assert token_f1("new new york", "New York") == pytest.approx(0.8)


def test_f1_ignores_articles_and_punctuation():
    # Both normalise to "broncos".
    assert token_f1("The Broncos!", "broncos") == 1.0
    assert exact_match("The Broncos!", "broncos") == 1.0
    # Both normalise to "us".
    assert exact_match("U.S.", "US") == 1.0


def test_f1_empty_prediction():
    # No shared token: F1 0 by definition, and "" != "denver".
    assert token_f1("", "Denver") == 0.0
    assert exact_match("", "Denver") == 0.0
    # Both normalise to "": exact match 1, but F1 stays 0 because no token is shared.
    assert exact_match("the", "a") == 1.0
    assert token_f1("the", "a") == 0.0


def test_f1_no_overlap():
    assert token_f1("Santa Clara", "Denver Broncos") == 0.0


def test_max_over_multiple_gold_answers():
    golds = ["Denver Broncos", "Broncos", "Denver"]
    # vs "denver broncos": precision 1/1, recall 1/2, F1 = 2/3; vs "broncos": 0; vs "denver": 1. Max 1.
    assert max_f1("Denver", golds) == 1.0
    assert max_exact_match("Denver", golds) == 1.0
    # "broncos of denver" (3 tokens) vs "denver broncos": 2 shared, precision 2/3, recall 1, F1 0.8;
    # vs "santa clara": 0. Max 0.8, and no exact match.
    assert max_f1("Broncos of Denver", ["Denver Broncos", "Santa Clara"]) == pytest.approx(0.8)
    assert max_exact_match("Broncos of Denver", ["Denver Broncos", "Santa Clara"]) == 0.0


def test_max_f1_rejects_empty_gold_list():
    with pytest.raises(ValueError, match="no gold answers"):
        max_f1("Denver", [])
    with pytest.raises(ValueError, match="no gold answers"):
        max_exact_match("Denver", [])


def test_max_f1_rejects_bare_string():
    with pytest.raises(TypeError, match="list of strings"):
        max_f1("Denver", "Denver")
