"""Wall time of the classical closures on the paper preset (500 steps).

Run: ``python benchmarks/bench_closures.py``; prints a Markdown table.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from dbdviz.closures import solve
from dbdviz.config import preset


def main() -> None:
    rows = []
    for name, cfg in (("paper", preset("paper")), ("large", preset("large"))):
        for method in ("mean-field", "pair"):
            solve(method, cfg.copy(steps=5))  # imports, first-call overheads
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                solve(method, cfg)
                best = min(best, time.perf_counter() - t0)
            rows.append((name, method, cfg.steps, best))
    print("| preset | closure | steps | best of 3 (s) |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.3f} |")


if __name__ == "__main__":
    main()
