"""Group rows of numpy columns by their values (a tiny, exact group-by).

Rows are hashed to one 64-bit number per row and grouped with `np.unique` (one sort). Hashes could
collide, so every group is checked against its first row; on a collision (never seen in practice, but
possible) the exact, slower lexicographic grouping is used instead.
"""

from __future__ import annotations

import numpy as np

DENSE_LIMIT = 1 << 24  # combinations counted directly (a 128 MiB table at most)
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_MIX = np.uint64(0xBF58476D1CE4E5B9)


def _hash(columns: tuple[np.ndarray, ...]) -> np.ndarray:
    value = np.zeros(len(columns[0]), np.uint64)
    with np.errstate(over="ignore"):
        for column in columns:
            value ^= column.astype(np.uint64, copy=False)
            value *= _MULTIPLIER
            value ^= value >> np.uint64(31)
            value *= _MIX
    return value


_MASK = (1 << 64) - 1
#: Bytes of the inner frame that identify a packet (Ethernet, IP with its ID, L4 header, payload start).
FINGERPRINT_BYTES = 64


def hash_row(values: list[int]) -> int:
    """`_hash` of one row, in Python integers (the scalar decoder's twin of the vectorised hash)."""
    value = 0
    multiplier, mix = int(_MULTIPLIER), int(_MIX)
    for item in values:
        value ^= item
        value = (value * multiplier) & _MASK
        value ^= value >> 31
        value = (value * mix) & _MASK
    return value


def fingerprint(data: bytes) -> int:
    """A 64-bit hash of the first FINGERPRINT_BYTES bytes of `data` (zero-padded): the same packet captured
    on two taps has the same inner frame, whatever the outer Ethernet header, TTL and checksum there."""
    head = bytes(data[:FINGERPRINT_BYTES]).ljust(FINGERPRINT_BYTES, b"\0")
    return hash_row([int.from_bytes(head[i : i + 8], "little") for i in range(0, FINGERPRINT_BYTES, 8)])


def fingerprints(window: np.ndarray, length: np.ndarray) -> np.ndarray:
    """`fingerprint` of every row of `window` ((n, FINGERPRINT_BYTES) uint8) cut to `length` bytes."""
    inside = np.arange(FINGERPRINT_BYTES) < length[:, None]
    words = np.where(inside, window, 0).astype(np.uint8).view("<u8")
    return _hash(tuple(words[:, i] for i in range(FINGERPRINT_BYTES // 8)))


def group(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of the first row of every group, group number of every row). Groups are numbered 0..k-1."""
    if not len(columns[0]):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    first, inverse = _sorted_groups(columns[0] if len(columns) == 1 else _hash(columns))
    if len(columns) == 1:
        return first, inverse
    if all(np.array_equal(column, column[first][inverse]) for column in columns):
        return first, inverse
    return _exact_group(columns)


def distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted: `np.unique(values)`, without np.unique's check for masked arrays, which
    imports numpy.ma (14 ms of a process's start)."""
    ordered = np.sort(values)
    if len(ordered) < 2:
        return ordered
    keep = np.empty(len(ordered), np.bool_)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def _sorted_groups(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(values, return_index=True, return_inverse=True)[1:]` with one unstable argsort.

    np.unique needs a stable sort for its first indices (about three times slower on uint64); the
    smallest row of each group is found afterwards with one `minimum.at` instead.
    """
    order = np.argsort(values)
    ordered = values[order]
    change = np.empty(len(order), np.bool_)
    change[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=change[1:])
    numbers = np.cumsum(change) - 1
    inverse = np.empty(len(order), np.int64)
    inverse[order] = numbers
    first = np.full(int(numbers[-1]) + 1, len(order), np.int64)
    np.minimum.at(first, inverse, np.arange(len(order)))
    return first, inverse


def group_codes(codes: tuple[np.ndarray, ...], sizes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Like `group`, for columns that are already small group numbers (0 <= codes[i] < sizes[i]).

    When all combinations fit a modest table, one counting pass replaces the sort.
    """
    total = 1
    for size in sizes:
        total *= max(size, 1)
    if total > DENSE_LIMIT:
        return group(*codes)
    combined = np.zeros(len(codes[0]), np.int64)
    for column, size in zip(codes, sizes, strict=True):
        combined = combined * size + column
    present = np.flatnonzero(np.bincount(combined, minlength=total))
    numbering = np.zeros(total, np.int64)
    numbering[present] = np.arange(len(present))
    inverse = numbering[combined]
    first = np.full(len(present), len(combined), np.int64)
    np.minimum.at(first, inverse, np.arange(len(combined)))
    return first, inverse


def _exact_group(columns: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort(columns[::-1])
    change = np.zeros(len(order), np.bool_)
    change[0] = True
    for column in columns:
        ordered = column[order]
        change[1:] |= ordered[1:] != ordered[:-1]
    numbers = np.cumsum(change) - 1
    inverse = np.empty(len(order), np.int64)
    inverse[order] = numbers
    return order[change], inverse


def sums(inverse: np.ndarray, groups: int, values: np.ndarray | None = None) -> np.ndarray:
    """Per-group sums of integer `values` (row counts when None), exact as int64."""
    if values is None:
        return np.bincount(inverse, minlength=groups).astype(np.int64)
    return np.bincount(inverse, weights=values, minlength=groups).round().astype(np.int64)


def minimum(inverse: np.ndarray, groups: int, values: np.ndarray) -> np.ndarray:
    out = np.full(groups, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(out, inverse, values)
    return out


def maximum(inverse: np.ndarray, groups: int, values: np.ndarray) -> np.ndarray:
    out = np.full(groups, np.iinfo(np.int64).min, np.int64)
    np.maximum.at(out, inverse, values)
    return out
