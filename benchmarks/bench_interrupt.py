"""How fast Ctrl-C stops ``dbdviz simulate``, ``train`` and ``evaluate`` (issue 13).

Run ``python benchmarks/bench_interrupt.py [--repeat K]``: each command is started
in a fresh process on work that takes far longer than the measurement, SIGINT is
sent once its progress shows, and the seconds from the signal to the process's exit
are printed (median and worst of ``K``), with the exit code (130) and whether a
checkpoint was written (train). The target is under 1 s.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(argv: list[str], marker: str, cwd: str) -> tuple[int, float]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dbdviz", *argv],
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    for line in proc.stderr:
        if marker in line:
            break
    time.sleep(1.0)
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    proc.stderr.read()
    code = proc.wait()
    return code, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        sim = ["simulate", "--seed", "1", "--quiet"]
        subprocess.run(
            [sys.executable, "-m", "dbdviz", *sim, "--out", "paper.npz"],
            cwd=d,
            check=True,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
        )
        subprocess.run(
            [sys.executable, "-m", "dbdviz", "train", "--data", "paper.npz"]
            + ["--opt-steps", "50", "--no-refine", "--quiet", "--out", "m.npz"],
            cwd=d,
            check=True,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
        )
        cases = {
            "simulate: paper, 100000 replicates, no snapshots": (
                ["simulate", "--replicates", "100000", "--no-snapshots"]
                + ["--out", "big.npz"],
                "simulate: ",
            ),
            "simulate: 200 x 200, 2500 + 2500, 2000 replicates": (
                ["simulate", "--size", "200", "--init-x", "2500", "--init-y", "2500"]
                + ["--replicates", "2000", "--no-snapshots", "--out", "big.npz"],
                "simulate: ",
            ),
            "train: paper data, defaults, --checkpoint": (
                ["train", "--data", "paper.npz", "--checkpoint", "ck.npz"]
                + ["--out", "t.npz"],
                "train: ",
            ),
            "evaluate: 1000 chains, --t-max 5000": (
                ["evaluate", "m.npz", "--chains", "1000", "--t-max", "5000"]
                + ["--out", "l.csv"],
                "evaluate: ",
            ),
        }
        print("| command | exit code | seconds from SIGINT to exit (median / worst) |")
        print("|---|---|---|")
        for label, (argv, marker) in cases.items():
            runs = [_run(argv, marker, d) for _ in range(args.repeat)]
            codes = sorted({c for c, _ in runs})
            secs = [s for _, s in runs]
            print(
                f"| {label} | {', '.join(map(str, codes))} | "
                f"{statistics.median(secs):.2f} / {max(secs):.2f} |"
            )


if __name__ == "__main__":
    main()
