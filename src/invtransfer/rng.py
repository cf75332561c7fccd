"""Counter-based random numbers: every draw is a pure function of (key, sample index, stream).

Datasets must be pure functions of ``(seed, split, index)`` (no dependence on batch size, worker
count or generation order), so nothing here keeps state. A :class:`CounterRNG` holds a 64-bit key
and the sample indices it draws for; each named *stream* (``rng.uniform("angle")``) hashes the key
with the stream name, and the value for sample ``i`` is SplitMix64 of a per-sample seed derived from
``(stream key, i)``. Draws for indices 0..9 are therefore identical whether they are made in one
call, in two chunks, or one index at a time.

SplitMix64 (Steele, Lea & Flood 2014) passes BigCrush; it is vectorised here with NumPy ``uint64``
arithmetic, whose wrap-around is well defined (torch's int64 shifts are arithmetic, not logical).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch

__all__ = ["CounterRNG", "derive_seed", "splitmix64"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_MASK63 = (1 << 63) - 1


_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 output function applied elementwise to a ``uint64`` array."""
    return _splitmix64_(x.astype(np.uint64, copy=True))


def _splitmix64_(z: np.ndarray) -> np.ndarray:
    """:func:`splitmix64` in place on the ``uint64`` array ``z`` (returned). NumPy's unsigned
    array arithmetic wraps modulo 2**64 without a warning (only scalar operations warn)."""
    z += _GOLDEN
    z ^= z >> _S30
    z *= _M1
    z ^= z >> _S27
    z *= _M2
    z ^= z >> _S31
    return z


def derive_seed(*parts: int | str) -> int:
    """A 63-bit seed from any sequence of ints and strings (stable across runs and platforms)."""
    return _derive_seed(tuple((type(p).__name__, p) for p in parts))


@lru_cache(maxsize=4096)
def _derive_seed(parts: tuple[tuple[str, int | str], ...]) -> int:
    # cached: every batch of a dataset derives the same stream keys again (a blake2b each)
    text = "\x1f".join(f"{kind}:{p}" for kind, p in parts)
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & _MASK63


def _as_indices(indices: Sequence[int] | np.ndarray | torch.Tensor | range) -> np.ndarray:
    if isinstance(indices, torch.Tensor):
        indices = indices.cpu().numpy()
    arr = np.asarray(indices)
    if arr.ndim != 1:
        raise TypeError(f"indices must be one-dimensional, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"indices must be integers, got dtype {arr.dtype}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"indices must be non-negative, got minimum {arr.min()}")
    return arr.astype(np.uint64)


class CounterRNG:
    """Stateless per-sample random numbers for the samples ``indices`` under ``key``.

    Every method takes a stream ``name``; the same (key, name, index) always gives the same value.
    Returned tensors have the leading dimension ``n = len(indices)`` and live on the CPU
    (move them to the device of the images they parameterise).
    """

    def __init__(self, key: int, indices: Sequence[int] | np.ndarray | torch.Tensor | range):
        if not isinstance(key, (int, np.integer)) or key < 0:
            raise ValueError(f"key must be a non-negative int, got {key!r}")
        self.key = int(key) & _MASK63
        self.indices = _as_indices(indices)

    @classmethod
    def from_seed(cls, seed: int, n: int, *names: int | str) -> CounterRNG:
        """Convenience for tests and examples: samples ``0..n-1`` under ``derive_seed(seed, *names)``."""
        return cls(derive_seed(seed, *names), np.arange(n))

    @property
    def n(self) -> int:
        return int(self.indices.size)

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        return f"CounterRNG(key={self.key:#x}, n={self.n})"

    def child(self, *names: int | str) -> CounterRNG:
        """An independent generator for the same samples (e.g. one per transformation)."""
        child = CounterRNG.__new__(CounterRNG)  # the indices are checked already (and shared:
        child.key = derive_seed(self.key, *names)  # nothing here writes into them)
        child.indices = self.indices
        return child

    def subset(self, positions: np.ndarray | Sequence[int]) -> CounterRNG:
        """The same key restricted to ``indices[positions]`` (values per index are unchanged)."""
        return CounterRNG(self.key, self.indices[np.asarray(positions, dtype=np.int64)])

    # -- raw bits ---------------------------------------------------------------------------
    def _stream_key(self, name: str) -> np.uint64:
        return np.uint64(derive_seed(self.key, "stream", name))

    def sample_seeds(self, name: str) -> np.ndarray:
        """One 63-bit seed per sample for stream ``name`` (``int64``; storable in Parquet)."""
        return self._seeds(np.uint64(self._stream_key(name))).view(np.int64)  # < 2**63

    def _seeds(self, keys: np.ndarray | np.uint64) -> np.ndarray:
        """The per-sample seeds (``uint64``, below 2**63) of the stream keys ``keys``: shape
        ``(n,)`` for one key, ``(len(keys), n)`` for an array of them."""
        keys = np.asarray(keys, dtype=np.uint64)
        seeds = (self.indices * _GOLDEN) ^ (keys[..., None] if keys.ndim else keys)
        _splitmix64_(seeds)
        seeds &= np.uint64(_MASK63)
        return seeds

    def bits(self, name: str, count: int) -> np.ndarray:
        """``count`` independent ``uint64`` values per sample, shape ``(n, count)``."""
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        base = self.sample_seeds(name).view(np.uint64)
        ctr = (np.arange(1, count + 1, dtype=np.uint64) * _GOLDEN)[None, :]
        return _splitmix64_(base[:, None] + ctr)

    def uniform01(self, names: Sequence[str]) -> np.ndarray:
        """U[0, 1) ``float64`` of shape ``(len(names), n)``: row ``k`` is stream ``names[k]``'s
        value per sample, the same as ``uniform(names[k])`` gives (before its float32 rounding),
        ``bernoulli`` compares and ``bits(names[k], 1)`` holds. Several scalar streams in one
        pass of NumPy calls: a transformation's parameters cost one call's overhead, not one
        per parameter."""
        keys = np.array([self._stream_key(str(name)) for name in names], dtype=np.uint64)
        z = self._seeds(keys).reshape(len(keys), self.n)
        z += _GOLDEN  # bits(name, 1): splitmix64(seed + 1·golden)
        _splitmix64_(z)
        z >>= _S11
        u = z.astype(np.float64)
        u *= 1.0 / (1 << 53)
        return u

    # -- distributions ------------------------------------------------------------------------
    def _uniform01(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        count = int(np.prod(shape)) if shape else 1
        u = (self.bits(name, count) >> _S11).astype(np.float64) * (1.0 / (1 << 53))
        return u.reshape((self.n, *shape))

    def uniform(
        self, name: str, shape: tuple[int, ...] = (), low: float = 0.0, high: float = 1.0
    ) -> torch.Tensor:
        """U[low, high) per sample, ``float32`` of shape ``(n, *shape)``."""
        if not high >= low:
            raise ValueError(f"uniform({name!r}): high ({high}) must be >= low ({low})")
        u = self._uniform01(name, tuple(shape))
        return torch.from_numpy(low + (high - low) * u).to(torch.float32)

    def normal(
        self, name: str, shape: tuple[int, ...] = (), mean: float = 0.0, std: float = 1.0
    ) -> torch.Tensor:
        """N(mean, std²) per sample via Box-Muller, ``float32`` of shape ``(n, *shape)``."""
        if std < 0:
            raise ValueError(f"normal({name!r}): std must be >= 0, got {std}")
        shape = tuple(shape)
        count = int(np.prod(shape)) if shape else 1
        half = (count + 1) // 2  # both Box-Muller outputs are used
        u = self._uniform01(name, (2, half))
        radius = np.sqrt(-2.0 * np.log1p(-u[:, 0]))  # 1 - u in (0, 1]: log is finite
        angle = (2.0 * np.pi) * u[:, 1]
        z = np.concatenate([radius * np.cos(angle), radius * np.sin(angle)], axis=1)[:, :count]
        return torch.from_numpy(mean + std * z.reshape((self.n, *shape))).to(torch.float32)

    def bernoulli(self, name: str, p: float) -> torch.Tensor:
        """``True`` with probability ``p`` per sample, ``bool`` of shape ``(n,)``."""
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"bernoulli({name!r}): p must be in [0, 1], got {p}")
        return torch.from_numpy(self._uniform01(name, ()) < p)

    def integers(self, name: str, low: int, high: int) -> torch.Tensor:
        """Uniform integers in ``[low, high)`` per sample, ``int64`` of shape ``(n,)``."""
        if high <= low:
            raise ValueError(f"integers({name!r}): need high > low, got [{low}, {high})")
        u = self._uniform01(name, ())
        return torch.from_numpy(low + np.floor(u * (high - low)).astype(np.int64))

    def permutation_keys(self, name: str) -> np.ndarray:
        """Random sort keys (``uint64``, one per sample) for seeded shuffles of ``indices``."""
        return self.bits(name, 1)[:, 0]
