"""Readable generated run names, MLflow-style: ``adjective-noun-123`` (one generator for every
store and the client; its own random source, so naming a run never moves the user's seed)."""

from __future__ import annotations

import random

__all__ = ["generate_run_name"]

_ADJECTIVES_TEXT = (
    "agile amazing ambitious auspicious bald beautiful bemused bittersweet bold brawny bright "
    "calm capable carefree casual clean clever colorful crawling dapper debonair delicate "
    "devious dashing efficient enchanting exultant fearless flawless fortunate funny gaudy "
    "gentle gifted glamorous grandiose gregarious honorable illustrious industrious intelligent "
    "judicious kindly languid learned legendary likeable loud luminous magnificent mercurial "
    "merciful mysterious nebulous nimble omniscient orderly overjoyed peaceful placid polite "
    "popular powerful puzzled rambunctious redolent resilient respected righteous rogue "
    "salty sassy secretive selective sedate serious shivering skillful smiling spiffy "
    "stately suave sincere thoughtful trusting unequaled upbeat valuable vaunted victorious "
    "welcoming whimsical wise worried youthful zealous"
)
_NOUNS_TEXT = (
    "ant ape asp auk bass bat bear bee bird boar bug calf carp cat chimp cod colt conch cow "
    "crab crane croc crow cub deer doe dog dolphin donkey dove duck eel elk fawn finch fish "
    "flea fly foal fowl fox frog gnat gnu goat goose grouse gull hare hawk hen hog horse "
    "hound jay kit kite koi lamb lark loon lynx mare midge mink mole moose moth mouse mule "
    "newt owl ox panda penguin perch pig pug quail ram rat ray robin roo rook seal shad shark "
    "sheep shrew skink skunk sloth slug snail snake snipe sow sponge squid squirrel stag "
    "steed stoat swan tern toad trout turtle vole wasp whale wolf worm wren yak zebra"
)

_ADJECTIVES = tuple(_ADJECTIVES_TEXT.split())
_NOUNS = tuple(_NOUNS_TEXT.split())
_random = random.Random()  # own generator: never disturbs the user's random seed


def generate_run_name() -> str:
    return f"{_random.choice(_ADJECTIVES)}-{_random.choice(_NOUNS)}-{_random.randint(0, 999)}"
