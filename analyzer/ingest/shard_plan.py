"""How many shards a capture gets: a policy of sizes alone, kept apart from the tables
(no polars here) so the console script can tell, before importing the engine, whether a
capture will be read in one piece (prestart.py).
"""

from __future__ import annotations

import math

# Below this size one tshark is as fast: each extra one costs ~0.3 s of start-up.
SHARD_MIN_BYTES = 32 << 20
# At most this much capture per shard: tshark's memory grows with the bytes it reads
# (measured on the 200-session benchmark, tshark 4.0: ~160 MB + 1.25 x its file with the
# engine's preferences), so shards of this size, a few at a time, keep a multi-GB capture
# in bounded memory. Fewer, bigger shards are faster: each tshark starts in ~0.25 s, and
# on the 241 MB benchmark two 120 MB shards (both pipes) took 9.3 s where four took 10.0.
SHARD_BYTES = 128 << 20
# `--jobs 1` reads a capture in one piece up to this size (one tshark, ~2 GB of memory).
ONE_PIECE_MAX = 1 << 30


def shard_count(size: int, jobs: int | None, cores: int) -> int:
    """1 = read the file whole. `jobs` None is the default: every core, for big files."""
    by_size = math.ceil(size / SHARD_BYTES)
    if jobs == 1:
        return by_size if size > ONE_PIECE_MAX else 1
    if jobs is None and (cores < 2 or size < SHARD_MIN_BYTES):
        return 1
    return max(jobs or cores, by_size)
