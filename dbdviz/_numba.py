"""The one place numba decorators are configured.

Policy (docs/STYLE): ``cache=True`` everywhere so compile latency is paid once per
machine; ``nogil=True`` so the dashboard can run kernels in a worker thread;
``parallel=True`` only for kernels whose ``prange`` runs over independent replicas,
chains or one checkerboard colour; never ``fastmath`` on stochastic kernels (it may
reorder the comparisons that turn uniforms into decisions).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = [
    "jit",
    "pjit",
    "jit_fast",
    "prange",
    "set_threads",
    "get_threads",
    "max_threads",
    "check_threads",
]

_COMMON = {"cache": True, "nogil": True, "error_model": "numpy"}

#: Serial kernel.
jit = numba.njit(**_COMMON)
#: Kernel with a ``prange`` over independent replicas / chains.
pjit = numba.njit(parallel=True, **_COMMON)
#: Deterministic floating-point kernels only (finite elements); no randomness inside.
jit_fast = numba.njit(fastmath={"contract", "arcp", "nsz"}, **_COMMON)

prange = numba.prange


def max_threads() -> int:
    """The most threads numba can use in this process (``NUMBA_NUM_THREADS``, the
    cores it found or the environment's setting; fixed when numba starts)."""
    return int(numba.config.NUMBA_NUM_THREADS)


def check_threads(threads, name: str = "threads") -> int | None:
    """``threads`` as an int in ``[1, max_threads()]`` (None passes through).

    Raises
    ------
    ValueError
        Not an integer (``2.7``, ``True``) or outside the range; names ``name``.
    """
    if threads is None:
        return None
    hi = max_threads()
    ok = not isinstance(threads, bool) and isinstance(threads, (int, np.integer))
    if not ok or not 1 <= int(threads) <= hi:
        raise ValueError(
            f"{name} = {threads!r} is invalid: allowed an integer in [1, {hi}] (the "
            "cores numba can use) or None"
        )
    return int(threads)


def set_threads(n: int | None) -> int:
    """Set the number of numba threads (``None``: all). Returns the previous value."""
    prev = numba.get_num_threads()
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS if n is None else int(n))
    return prev


def get_threads() -> int:
    """Number of threads numba parallel kernels currently use."""
    return numba.get_num_threads()
