"""Messages for the user that are not problems ("your runs are there"): shown even when the
program configured no logging, as MLflow shows its "View run at" lines."""

from __future__ import annotations

import logging
import sys

__all__ = ["notice"]


def notice(message: str, logger: logging.Logger) -> None:
    """Log ``message`` at INFO through ``logger`` when logging is configured for it, else write
    it to stderr (Python's last-resort handler would drop an INFO record)."""
    if logger.hasHandlers():
        logger.info(message)
    else:
        print(message, file=sys.stderr, flush=True)
