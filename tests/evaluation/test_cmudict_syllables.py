"""textstat's syllable counts from spanrun's parsed CMU dictionary are NLTK's, word for word."""

from __future__ import annotations

import time

import pytest

nltk = pytest.importorskip("nltk")
textstat = pytest.importorskip("textstat")

from spanrun.evaluation._cmudict import (  # noqa: E402
    fast_textstat_syllables,
    offline_cmudict,
    parse_syllables,
)

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Antidisestablishmentarianism is a remarkably long word, isn't it?",
    "Spanrun evaluates chatbots; MLflow's evaluator does too. Zyxwv qwerty!",
    "",
]


def _stressed(phones: list[str]) -> int:
    return sum(1 for p in phones if p[-1].isdigit())


def test_parsed_counts_are_nltks_first_pronunciation_for_every_word():
    offline_cmudict()
    corpus = str(nltk.data.find("corpora/cmudict/cmudict"))
    reference = {w: _stressed(p[0]) for w, p in nltk.corpus.cmudict.dict().items()}
    assert len(reference) > 100_000
    assert parse_syllables(corpus) == reference


def test_textstat_gives_the_same_grades_and_loads_fast():
    from textstat.backend.counts import _count_syllables

    offline_cmudict()
    nltk_dict = nltk.corpus.cmudict.dict()
    started = time.perf_counter()
    assert fast_textstat_syllables() is True
    assert time.perf_counter() - started < 5  # NLTK's own dictionary takes seconds to build
    fast = _count_syllables.get_cmudict("en")
    for text in TEXTS:
        for word in text.lower().replace(".", " ").replace(",", " ").split():
            word = word.strip("?!;'")
            if word in nltk_dict:
                assert _stressed(fast[word][0]) == _stressed(nltk_dict[word][0])
            else:
                with pytest.raises(KeyError):
                    fast[word]  # textstat falls back to pyphen, as with NLTK's
    assert fast_textstat_syllables() is True  # installed once
    assert _count_syllables.get_cmudict("de") is None  # other languages: textstat's own
    assert textstat.flesch_kincaid_grade(TEXTS[0]) == pytest.approx(2.3, abs=0.05)
