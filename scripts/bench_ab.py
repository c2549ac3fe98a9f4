#!/usr/bin/env python3
"""A/B timing of initgrid builds on the reference workload, robust to a drifting machine.

Kernel changes worth a few per cent cannot be judged from a handful of runs on a VM whose speed
swings by ±10 % within seconds (ours did: a variant that measured 0.94x in three sets of eight
to ten pairs was 0.99x over 40 rounds). This script times ``<binary> bench --json --threads 1
--replicates R`` for every binary once per round, in an order that alternates between rounds
(forward, backward), and reports per binary the median and minimum time and the per-round ratio
to the first binary: its median and interquartile range. Only a median ratio whose interquartile
range excludes 1 is a difference this machine resolves.

Usage (binaries built from different commits, copied out of target/release first)::

    python3 scripts/bench_ab.py --rounds 40 --replicates 5000 /tmp/initgrid-a /tmp/initgrid-b

The standard library only; no third-party package.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Callable, TypeVar

T = TypeVar("T")


def alternating(rounds: int, runners: dict[str, Callable[[], T]],
                on_round: Callable[[int], None] | None = None) -> dict[str, list[T]]:
    """Calls each runner once per round, in an order that alternates between rounds (forward,
    then backward), so that a drift of the machine's speed falls on every runner alike; returns
    each runner's results in round order. (Also `bench_peers.py`'s head-to-head phase.)"""
    out: dict[str, list[T]] = {k: [] for k in runners}
    for i in range(rounds):
        for k in (list(runners) if i % 2 == 0 else list(reversed(runners))):
            out[k].append(runners[k]())
        if on_round is not None:
            on_round(i)
    return out


def time_once(binary: Path, replicates: int, epochs: int) -> float:
    cmd = [str(binary), "bench", "--json", "--threads", "1", "--replicates", str(replicates),
           "--epochs", str(epochs)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{binary}: exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["wall_s"])


def quartiles(xs: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binaries", nargs="+", type=Path, help="initgrid binaries; the first is the reference")
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--replicates", type=int, default=5000)
    ap.add_argument("--epochs", type=int, default=2000)
    a = ap.parse_args(argv)
    if len(a.binaries) < 2:
        ap.error("give at least two binaries")
    if a.rounds < 4:
        ap.error("--rounds must be at least 4 (quartiles of the per-round ratios)")
    for b in a.binaries:
        if not b.is_file():
            ap.error(f"binary not found: {b}")
    # Keyed by position: the same binary may be given twice (its noise against itself).
    runners = {str(i): (lambda b=b: time_once(b, a.replicates, a.epochs))
               for i, b in enumerate(a.binaries)}
    done = alternating(a.rounds, runners, lambda r: print(
        f"\rround {r + 1}/{a.rounds}", end="", file=sys.stderr, flush=True))
    print(file=sys.stderr)
    times = [done[str(i)] for i in range(len(a.binaries))]
    print(f"{'binary':40s} {'median s':>9s} {'min s':>8s} {'ratio to first: median (IQR)':>30s}")
    for b, ts in zip(a.binaries, times):
        ratios = [t / t0 for t, t0 in zip(ts, times[0])]
        lo, hi = quartiles(ratios)
        print(f"{str(b):40s} {statistics.median(ts):9.4f} {min(ts):8.4f} "
              f"{statistics.median(ratios):13.3f} ({lo:.3f}-{hi:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
