"""Deterministic randomness for the simulated world, addressed by position rather than by order.

Every random number the simulation draws for a minute comes from a generator keyed by
``(seed, account, minute)`` (a counter-based Philox stream), never from a generator that runs
across minutes. Simulating ``[a, c)`` in one call or as ``[a, b)`` then ``[b, c)`` therefore
draws exactly the same numbers, and the same seed always gives the same world. Smooth noise
(traffic wobble per hour) and identifiers (DLQ message ids) are derived by hashing the same
coordinates.
"""

from __future__ import annotations

import hashlib
import uuid

import numpy as np

_MASK64 = (1 << 64) - 1


def stream_key(seed: int, account_id: str, purpose: str = "minute") -> int:
    """A 64-bit key for one account's stream of random numbers under ``seed``."""
    digest = hashlib.blake2b(f"{seed}|{account_id}|{purpose}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def minute_rng(key: int, minute: int) -> np.random.Generator:
    """The generator for one absolute minute (epoch seconds // 60) of one stream."""
    return MinuteStreams(key).at(minute)


class MinuteStreams:
    """Generators for the minutes of one stream, reusing one Philox bit generator.

    ``at(minute)`` rewinds the bit generator to the start of that minute's stream (Philox key
    ``(minute, key)``, counter 0), which is much cheaper than building a new generator; the
    generator it returns is valid until the next call.
    """

    __slots__ = ("_bits", "_generator", "_key")

    def __init__(self, key: int) -> None:
        self._key = key & _MASK64
        self._bits = np.random.Philox(key=0)
        self._generator = np.random.Generator(self._bits)

    def at(self, minute: int) -> np.random.Generator:
        self._bits.state = {
            "bit_generator": "Philox",
            "state": {
                "counter": np.zeros(4, dtype=np.uint64),
                "key": np.array([minute & _MASK64, self._key], dtype=np.uint64),
            },
            "buffer": np.zeros(4, dtype=np.uint64),
            "buffer_pos": 4,
            "has_uint32": 0,
            "uinteger": 0,
        }
        return self._generator


def _splitmix64(values: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def hashed_uniform(key: int, index: np.ndarray) -> np.ndarray:
    """Uniform numbers in (0, 1), one per integer in ``index``, a pure function of both."""
    mixed = _splitmix64(
        _splitmix64(np.asarray(index, dtype=np.int64).view(np.uint64)) ^ np.uint64(key & _MASK64)
    )
    return ((mixed >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)


def hashed_normal(key: int, index: np.ndarray) -> np.ndarray:
    """Standard normal numbers, one per integer in ``index`` (Box-Muller on hashed uniforms)."""
    index = np.asarray(index, dtype=np.int64)
    u1 = hashed_uniform(key, index * 2)
    u2 = hashed_uniform(key, index * 2 + 1)
    normal: np.ndarray = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return normal


def message_id(key: int, *parts: object) -> str:
    """A UUID-shaped identifier derived from the stream key and the message's coordinates."""
    text = "|".join(str(p) for p in (key, *parts))
    digest = hashlib.blake2b(text.encode(), digest_size=16).digest()
    return str(uuid.UUID(bytes=digest, version=4))
