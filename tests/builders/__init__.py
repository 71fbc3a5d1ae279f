"""Builders: worlds for the tests, made through the services users call (the registry's
own functions for towns, villages, households and people), one module per domain."""

import itertools
import random

# Tags follow one another from a random start: two tags of one process never meet (a random
# tag each time did: the e2e walks share one database, and two towns of 4 random digits met
# there about once in ten runs), and two processes sharing a database start far apart.
_TAGS = itertools.count(random.SystemRandom().randrange(10 ** 8))


def name_tag(digits: int = 4) -> str:
    """A tag that keeps a test's names apart, in digits: a hex tag could end a town's name in
    Latin letters ("宝盖镇abcd"), which the pages' no-Latin check then reads as a word."""
    return f"{next(_TAGS) % 10 ** digits:0{digits}d}"
