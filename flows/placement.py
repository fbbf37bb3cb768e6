"""Which worker serves a state key, and the names of the single-key models.

Bytewax 0.21 sends every item of a stateful step to worker
``siphash13(key) % total_workers``: Rust's ``DefaultHasher`` (SipHash-1-3, zero keys) over the
key's UTF-8 bytes and the ``0xff`` that Rust's ``Hash for str`` appends
(``src/operators/stateful_unary.rs``, ``BuildHasherDefault<DefaultHasher>``). Worker ``i`` is
thread ``i % w`` of process ``i // w``. :func:`worker_of` is that function, so a key's
placement is known before the flow runs; ``tests/test_placement.py`` checks it against a
real three-process run, and fails if a Bytewax upgrade changes the routing.

The four single-key models (the recommender, the predictive models, the online clusters and
the Markov chain) would otherwise land wherever their names hash to: ``"reco"``,
``"predict"``, ``"kmeans"`` and ``"markov"`` all hash to worker 0 of 2, so one process did
all four while the other did none of them (docs/BENCHMARKS.md). :data:`MODEL_KEYS` names them
so that the recommender, the heaviest, shares its worker with none of the other three at 2,
3 and 4 workers, and those three use at least two workers at 3 and 4. The names are fixed
(not derived from the worker count) because recovery snapshots are stored under them, and a
flow may resume with a different number of workers.

Examples
--------

>>> worker_of("reco", 2), worker_of("a", 2)
(0, 1)
>>> [worker_of(MODEL_KEYS[m], 2) for m in ("reco", "predict", "kmeans", "markov")]
[1, 0, 0, 0]
>>> sorted({worker_of(k, 5) for k in broadcast_keys("models")})  # every worker of five
[0, 1, 2, 3, 4]

"""

from __future__ import annotations

from functools import cache
from itertools import count
from types import MappingProxyType

_MASK = (1 << 64) - 1


def _rotl(x: int, bits: int) -> int:
    return ((x << bits) | (x >> (64 - bits))) & _MASK


def siphash13(data: bytes) -> int:
    """SipHash-1-3 of ``data`` with both keys zero: Rust's ``DefaultHasher::new()``.

    >>> hex(siphash13(b""))
    '0xd1fba762150c532c'

    """
    v0, v1 = 0x736F6D6570736575, 0x646F72616E646F6D
    v2, v3 = 0x6C7967656E657261, 0x7465646279746573

    def sip_round() -> None:
        nonlocal v0, v1, v2, v3
        v0 = (v0 + v1) & _MASK
        v1 = _rotl(v1, 13) ^ v0
        v0 = _rotl(v0, 32)
        v2 = (v2 + v3) & _MASK
        v3 = _rotl(v3, 16) ^ v2
        v0 = (v0 + v3) & _MASK
        v3 = _rotl(v3, 21) ^ v0
        v2 = (v2 + v1) & _MASK
        v1 = _rotl(v1, 17) ^ v2
        v2 = _rotl(v2, 32)

    end = len(data) - len(data) % 8
    for i in range(0, end, 8):
        word = int.from_bytes(data[i : i + 8], "little")
        v3 ^= word
        sip_round()
        v0 ^= word
    last = ((len(data) & 0xFF) << 56) | int.from_bytes(data[end:], "little")
    v3 ^= last
    sip_round()
    v0 ^= last
    v2 ^= 0xFF
    for _ in range(3):
        sip_round()
    return v0 ^ v1 ^ v2 ^ v3


def worker_of(key: str, workers: int) -> int:
    """The worker (``0 .. workers - 1``) that Bytewax 0.21 gives state key ``key``."""
    return siphash13(key.encode() + b"\xff") % workers


#: State key of each single-key model (see the module docstring for how they were chosen).
MODEL_KEYS = MappingProxyType(
    {"reco": "reco.4", "predict": "predict", "kmeans": "kmeans", "markov": "markov"}
)


@cache
def broadcast_keys(prefix: str, most_workers: int = 32) -> tuple[str, ...]:
    """State keys ``<prefix>.<n>`` such that, for every worker count up to ``most_workers``,
    each worker is given at least one: sending a message to each reaches every worker, so
    every process learns it (Bytewax has no broadcast; the worker count is not known when
    the flow is built, and a flow may resume with another)."""
    keys: list[str] = []
    names = (f"{prefix}.{i}" for i in count())
    for workers in range(1, most_workers + 1):
        missing = set(range(workers)) - {worker_of(k, workers) for k in keys}
        while missing:
            key = next(names)
            worker = worker_of(key, workers)
            if worker in missing:
                missing.discard(worker)
                keys.append(key)
    return tuple(keys)
