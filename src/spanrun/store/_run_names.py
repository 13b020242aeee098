"""Readable random run names (``bold-otter-417``), as MLflow gives unnamed runs."""

from __future__ import annotations

import random

__all__ = ["random_run_name"]

_ADJECTIVE_WORDS = (
    "agile amber bold brave bright calm clever cosmic crisp curious dapper eager fancy "
    "gentle glad golden grand happy honest jolly keen kind lively lucky merry mighty "
    "nimble noble polite proud quick quiet rare rapid shiny silent smart sunny swift "
    "tidy upbeat vivid warm wise witty zesty"
)
_NOUN_WORDS = (
    "ant bat bear bee bird cat cod crab crane deer dog dove duck eel elk fawn finch fish "
    "fox frog goat hare hawk hen horse jay koala lamb lark lion lynx mole moth mouse newt "
    "owl ox panda pig pony puma ram robin seal shark sheep slug snail squid stork swan "
    "toad trout wasp whale wolf wren yak zebra"
)
_ADJECTIVES = _ADJECTIVE_WORDS.split()
_NOUNS = _NOUN_WORDS.split()


def random_run_name() -> str:
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(100, 999)}"
