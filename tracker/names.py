"""Normalising the names people type and write, and suggesting the closest known ones.

Names in Word tables carry line breaks, spaces, full-width brackets and digits; the same unit
is written several ways. Every comparison goes through ``normalize`` so that none of that matters.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable

_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Fold width (NFKC: （１）→(1)) and drop all white space, including line breaks."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text))


def suggest(name: str, candidates: Iterable[str], limit: int = 3) -> list[str]:
    """The closest candidates to ``name``: difflib first, then ones sharing a long part."""
    pool = sorted(set(candidates))
    key = normalize(name)
    found = difflib.get_close_matches(key, pool, n=limit, cutoff=0.5)
    if len(found) < limit and len(key) >= 2:
        scored = sorted(
            ((longest_common_run(key, c), c) for c in pool if c not in found),
            key=lambda pair: (-pair[0], len(pair[1])),
        )
        found += [c for score, c in scored if score >= 2][: limit - len(found)]
    return found


def longest_common_run(a: str, b: str) -> int:
    """Length of the longest common substring of two texts."""
    match = difflib.SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b))
    return match.size
