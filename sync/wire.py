"""Reading untrusted wire text: ASCII integers, storable Unicode, datetimes inside safe bounds.

Pure (standard library only) so the sync core, its HTTP layer and the backend share one
definition of "readable": `str.isdigit()` accepts "²" and `int()` accepts "١٢", PostgreSQL
refuses NUL and unpaired surrogates, and converting year 1 or 9999 with an offset to UTC
overflows. Everything that turns client text into a number, a stored string or a timestamp
goes through these functions.
"""

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime

_ASCII_DIGITS = re.compile(r"[0-9]{1,19}")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

# Wide enough for any field record (a 1900 meter reading, a warranty ending in 2150) and
# far enough from datetime.min/max that offsets, UTC conversion and window arithmetic
# (a report's 366 days, a track's 7 days) can never overflow.
MIN_YEAR = 1900
MAX_YEAR = 2200
TEXT_MESSAGE = "Must not contain NUL characters or unpaired surrogates."
TIME_MESSAGE = f"Must be between the years {MIN_YEAR} and {MAX_YEAR}."
_CONTAINERS = (dict, list, tuple)


def ascii_int(text: str | None, *, maximum: int = 2**63 - 1) -> int | None:
    """Return the non-negative integer spelled in ASCII digits (at most `maximum`), else None."""
    if text is None or not _ASCII_DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if value <= maximum else None


def storable(text: str) -> bool:
    """Tell whether a string can be stored on every backend (no NUL, no lone surrogate)."""
    return _UNSTORABLE.search(text) is None


def unstorable_paths(value: object, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Yield the path of every string (value or key) in a JSON value that is not storable."""
    stack: list[tuple[tuple[str, ...], object]] = [(path, value)]
    while stack:  # iterative: the caller may not have bounded the depth yet
        where, node = stack.pop()
        if isinstance(node, str):
            if not storable(node):
                yield where
        elif isinstance(node, dict):
            for key, item in node.items():
                name = str(key)
                if not storable(name):  # never echo the unstorable key itself
                    name = name.encode("unicode_escape", "backslashreplace").decode("ascii")
                    yield (*where, name)
                stack.append(((*where, name), item))
        elif isinstance(node, list | tuple):
            stack.extend(((*where, str(i)), item) for i, item in enumerate(node))


def json_depth(value: object) -> int:
    """Return how deeply arrays and objects nest in a JSON value (a scalar is depth 0)."""
    if not isinstance(value, _CONTAINERS):
        return 0
    depth, level = 0, [value]
    while level:  # level by level, one comprehension each: a push body is mostly scalars
        depth += 1
        level = [
            item
            for node in level
            for item in (node.values() if isinstance(node, dict) else node)
            if isinstance(item, _CONTAINERS)
        ]
    return depth


def time_in_bounds(value: datetime | date) -> bool:
    """Tell whether a date or (possibly offset) datetime is safe to convert and shift."""
    return MIN_YEAR <= value.year <= MAX_YEAR


def bounded_utc(value: datetime) -> datetime | None:
    """Convert an aware datetime to UTC, or return None when it lies outside the safe years."""
    if not time_in_bounds(value):
        return None
    return value.astimezone(UTC)
