"""Slow, obvious pure-Python twins of the simulator kernels (``dbdviz.simulate``).

They replay exactly the same xoshiro256** numbers with the same conversions as
``dbdviz._rng`` and the same order of draws as ``dbdviz.simulate._kernels`` (see its
module docstring), so on small inputs they must give bit-identical lattices.
"""

from __future__ import annotations

import math

import numpy as np

M64 = (1 << 64) - 1
M30 = (1 << 30) - 1


class Xoshiro:
    """xoshiro256** on Python ints (masked to 64 bits) with dbdviz's conversions."""

    def __init__(self, state) -> None:
        self.s = [int(v) for v in state]

    @staticmethod
    def _rotl(x: int, k: int) -> int:
        return ((x << k) | (x >> (64 - k))) & M64

    def next_u64(self) -> int:
        s = self.s
        result = (self._rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = self._rotl(s[3], 45)
        return result

    def uniform(self) -> float:
        return (self.next_u64() >> 11) * 2.0**-53

    def randbelow(self, n: int) -> int:
        return ((self.next_u64() >> 32) * n) >> 32

    def exponential(self) -> float:
        return -math.log(1.0 - self.uniform())


class Buckets:
    """The todo set of a sweep grouped in buckets with swap-remove, as the kernel
    keeps it.

    The order of members (and of the list of non-empty buckets) decides which
    molecule a random number selects, so it must follow the kernel's operations:
    built in row-major order at the start of the sweep (buckets = rows in the nested
    mode, one bucket otherwise; non-empty buckets in increasing order); on removal
    the bucket's last member takes the freed slot.
    """

    def __init__(self, n_buckets: int) -> None:
        self.members = [[] for _ in range(n_buckets)]
        self.nonempty: list[int] = []

    def add(self, b: int, s: int) -> None:
        if not self.members[b]:
            self.nonempty.append(b)
        self.members[b].append(s)

    def remove(self, b: int, s: int) -> None:
        lst = self.members[b]
        j = lst.index(s)
        lst[j] = lst[-1]
        lst.pop()
        if not lst:
            q = self.nonempty.index(b)
            self.nonempty[q] = self.nonempty[-1]
            self.nonempty.pop()

    def __len__(self) -> int:
        return sum(len(m) for m in self.members)


def neighbour(s: int, d: int, L: int) -> int:
    """Hop neighbour d = 0..3: (r-1, c), (r+1, c), (r, c-1), (r, c+1), periodic."""
    r, c = divmod(s, L)
    if d == 0:
        r = (r - 1) % L
    elif d == 1:
        r = (r + 1) % L
    elif d == 2:
        c = (c - 1) % L
    else:
        c = (c + 1) % L
    return r * L + c


def pick_site(rng: Xoshiro, G: np.ndarray, code: int, nested: bool) -> int:
    """RANDOM_SITE over sites holding ``code`` (flat index), -1 if none.

    Nested: a row uniformly among rows with a candidate (by rejection), then the
    ``j``-th candidate of the row in column order, ``j`` uniform; uniform: a
    candidate uniformly (empty: by rejection; X or Y: the ``j``-th in row-major
    order). Same draws as ``_kernels._pick_empty`` / ``_kernels._events``.
    """
    L = G.shape[0]
    flat = G.reshape(-1)
    if not (flat == code).any():
        return -1
    if code == 0 and not nested:
        while True:
            s = rng.randbelow(L * L)
            if flat[s] == 0:
                return s
    if nested:
        while True:
            r = rng.randbelow(L)
            if (G[r] == code).any():
                break
        cands = [r * L + c for c in range(L) if G[r, c] == code]
        return cands[rng.randbelow(len(cands))]
    sites = [s for s in range(L * L) if flat[s] == code]
    return sites[rng.randbelow(len(sites))]


def schedule(rng: Xoshiro, nx: int, ny: int, birth: float, death: float, local: bool):
    """(reaction, waiting time); reaction 0 = nothing possible."""
    a1 = birth * nx if local else birth * max(nx, 1)
    a0 = a1 + death * ny
    if not a0 > 0.0:
        return 0, 0.0
    rxn = 1 if rng.uniform() * a0 < a1 else 2
    return rxn, rng.exponential() / a0


def todo_buckets(G: np.ndarray, nested: bool) -> Buckets:
    """Every molecule of ``G`` in row-major order, in row buckets if ``nested``."""
    L = G.shape[0]
    b = Buckets(L if nested else 1)
    for s in np.flatnonzero(G.reshape(-1)):
        b.add(int(s) // L if nested else 0, int(s))
    return b


def sweep(rng: Xoshiro, G: np.ndarray, nested: bool, p3: float):
    """One hop/collision sweep (ALGORITHM.md 1.4). Returns (new G, predations)."""
    L = G.shape[0]
    bucket = (lambda s: s // L) if nested else (lambda s: 0)
    todo_b = todo_buckets(G, nested)
    todo = G.reshape(-1).copy()
    done = np.zeros_like(todo)
    n_pred = 0
    while len(todo_b) > 0:
        x = rng.next_u64()
        if nested:
            b = todo_b.nonempty[((x >> 32) * len(todo_b.nonempty)) >> 32]
            lst = todo_b.members[b]
            j = (((x >> 2) & M30) * len(lst)) >> 30
        else:
            b = 0
            lst = todo_b.members[0]
            j = ((x >> 32) * len(lst)) >> 32
        s = lst[j]
        m = int(todo[s])
        s2 = neighbour(s, x & 3, L)
        in_todo = todo[s2] != 0
        p = int(todo[s2]) if in_todo else int(done[s2])
        todo_b.remove(b, s)
        todo[s] = 0
        if p == 0:
            done[s2] = m
            continue
        if m != p and rng.uniform() < p3:
            if in_todo:
                todo_b.remove(bucket(s2), s2)
                todo[s2] = 0
            done[s2] = 2
            done[s] = 2
            n_pred += 1
        else:
            done[s] = m
    return done.reshape(L, L), n_pred


def simulate_replicate(
    state,
    *,
    size: int,
    init_x: int,
    init_y: int,
    birth: float,
    death: float,
    predation: float,
    dt: float,
    steps: int,
    pick_mode: str = "nested_permutation",
    birth_mode: str = "global",
) -> np.ndarray:
    """One replicate; returns the lattices, uint8 of shape (steps + 1, L, L)."""
    L = size
    nested = pick_mode == "nested_permutation"
    local = birth_mode == "local"
    rng = Xoshiro(state)
    G = np.zeros((L, L), dtype=np.uint8)
    for i in range(init_x + init_y):
        s = pick_site(rng, G, 0, nested)
        G.reshape(-1)[s] = 1 if i < init_x else 2
    out = np.zeros((steps + 1, L, L), dtype=np.uint8)
    t_int = 0.0
    rxn, t_rxn = 0, 0.0
    for step in range(steps):
        t_target = t_int + dt
        out[step] = G
        nx, ny = int((G == 1).sum()), int((G == 2).sum())
        if rxn == 0:
            rxn, tau = schedule(rng, nx, ny, birth, death, local)
            t_rxn = t_int + tau
        while rxn != 0 and t_rxn < t_target:
            if rxn == 1:
                if local:
                    s = pick_site(rng, G, 1, nested)
                    if s >= 0:
                        s = neighbour(s, rng.randbelow(4), L)
                        if G.reshape(-1)[s] != 0:
                            s = -1
                else:
                    s = pick_site(rng, G, 0, nested)
                if s >= 0:
                    G.reshape(-1)[s] = 1
            else:
                s = pick_site(rng, G, 2, nested)
                if s >= 0:
                    G.reshape(-1)[s] = 0
            nx, ny = int((G == 1).sum()), int((G == 2).sum())
            t_int = t_rxn
            rxn, tau = schedule(rng, nx, ny, birth, death, local)
            t_rxn = t_int + tau
        G, _ = sweep(rng, G, nested, predation)
        t_int = t_target
    out[steps] = G
    return out


def nested_permutation_pick(rng: np.random.Generator, G: np.ndarray, code: int) -> int:
    """The reference's literal RANDOM_SITE: permuted rows, then permuted columns."""
    L = G.shape[0]
    pr = rng.permutation(L)
    pc = rng.permutation(L)
    for r in pr:
        for c in pc:
            if G[r, c] == code:
                return int(r * L + c)
    return -1
