"""Builders: worlds for the tests, made through the services users call (the registry's
own functions for towns, villages, households and people), one module per domain."""

import uuid


def name_tag(digits: int = 4) -> str:
    """A random tag that keeps a test's names apart, in digits: a hex tag could end a town's
    name in Latin letters ("宝盖镇abcd"), which the pages' no-Latin check then reads as a word."""
    return f"{uuid.uuid4().int % 10 ** digits:0{digits}d}"
