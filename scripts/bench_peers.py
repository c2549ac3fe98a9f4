#!/usr/bin/env python3
"""Peer benchmark: initgrid against the same work in NumPy and JAX, each at its best, in one run.

Workload (identical for every tool)
-----------------------------------
* Data ``four``: x = 0, 0.3, 0.6, 1 with labels 0, 1, 0, 1, one-hot targets on 2 outputs.
* Network 1-4-2: 4 ReLU hidden units (ReLU'(0) = 0), 2 sigmoid outputs; every weight and bias
  drawn i.i.d. from U(-1, 1).
* Loss per sample 0.5 * sum_k (y_k - t_k)^2; an epoch's loss is the mean over the 4 samples.
* Online SGD: one update per sample, fixed order, lr 0.1, no momentum, float64 everywhere.
* 2000 epochs; after EVERY epoch the whole data set is evaluated (mean loss, tracked as each
  replicate's running minimum and final value, so no compiler can drop it). Nothing stops early.
* 10 000 independent replicates.

Peers, each written for speed (the strongest straightforward versions we know)
------------------------------------------------------------------------------
* ``numpy``: all replicates vectorised, replicate axis LAST: the 18 parameters of every
  replicate live in one (18, R) buffer, the gradients in another, so the update of all
  parameters is one in-place subtraction; every ufunc writes into preallocated buffers
  (``out=``), so there are no temporaries to allocate and fault in; the learning rate is folded
  into the output delta (one multiply on (2, R) instead of one on (18, R)); the evaluation's
  forward pass of sample 0 is exactly the next epoch's first training forward pass (same
  parameters, same input, fixed order) and is reused. NumPy's element-wise ufuncs use one core.
* ``jax vmap``: ``jit(vmap(train_one))`` with ``jax.grad`` per sample, the 4 samples unrolled,
  ``lax.fori_loop`` over epochs, carrying the running minimum loss. XLA uses every core.
* ``jax batched``: the same algorithm written directly on (k, chunk) arrays with the replicate
  axis last and hand-written backprop (as the NumPy peer), one ``jit``.
  Both JAX variants are run over a sweep of chunk sizes (replicates per compiled call; the
  chunks run one after another), compile time excluded (each shape is compiled before timing),
  best of ``--repeats`` timings; the fastest (variant, chunk) is JAX's figure.
* ``initgrid``: ``<binary> bench --json --replicates R --epochs E --threads T``; both its own
  timer (``wall_s``, training only) and the whole process (start-up, initialisation, exit),
  measured from here, are reported. Ratios are taken against the whole-process time, the
  conservative one, and against the FASTEST peer.

Head to head
------------
The best-of figures above are taken minutes apart, and JAX's is the fastest of every (variant,
chunk) timing. On a VM whose speed drifts (this workplace's swing by ±10 % within seconds) that
favours whichever tool ran in a fast moment. So after the sweep, ``--rounds`` rounds (default 5)
time the fastest JAX, initgrid on every core and NumPy once each per round, in alternating order;
the per-round ratios (initgrid against each peer, under the same conditions) and their median
are reported as well.

Run from the repository root (a venv outside git, e.g. .venv or /tmp)::

    python3 -m venv .venv && .venv/bin/pip install -r scripts/requirements-bench.txt
    cargo build --release
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python scripts/bench_peers.py

``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE`` may be set on some machines of this workplace and
slow a current NumPy: unset them for this one command only (the script warns when set).

Options: ``--replicates --epochs --chunks 500,1000,2000,5000,10000 --repeats 2 --rounds 5 --initgrid PATH
--skip-numpy --skip-jax --json OUT --markdown OUT --check``. ``--check`` runs a small
agreement test first (NumPy vs JAX final parameters from the same initial weights).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bench_ab import alternating  # this script's directory is on sys.path

XS = (0.0, 0.3, 0.6, 1.0)
LABELS = (0, 1, 0, 1)
TARGETS = tuple((1.0, 0.0) if lab == 0 else (0.0, 1.0) for lab in LABELS)
H, O = 4, 2
N_PARAMS = 4 * H + O  # W1 (H), b1 (H), W2 (O*H, row o: W2[o, j]), b2 (O)
LR = 0.1
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
REPO_ROOT = Path(__file__).resolve().parent.parent


def init_params(replicates: int, seed: int) -> np.ndarray:
    """(N_PARAMS, R) float64, every entry U(-1, 1); the row order is the layout above."""
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=(N_PARAMS, replicates))


@dataclass
class Timing:
    name: str
    wall_s: float | None
    detail: dict[str, Any] = field(default_factory=dict)
    note: str = ""


# ------------------------------------------------------------------- numpy --


class NumpyPeer:
    """All replicates at once, replicate axis last, no temporaries in the epoch loop."""

    def __init__(self, p0: np.ndarray) -> None:
        r = p0.shape[1]
        self.P = np.array(p0, dtype=np.float64, order="C", copy=True)  # never train p0 itself
        self.G = np.empty_like(self.P)
        P, G = self.P, self.G
        self.W1, self.b1 = P[0:H], P[H : 2 * H]
        self.W2, self.b2 = P[2 * H : 4 * H].reshape(O, H, r), P[4 * H :]
        self.gW1, self.gb1 = G[0:H], G[H : 2 * H]
        self.gW2, self.gb2 = G[2 * H : 4 * H].reshape(O, H, r), G[4 * H :]
        # Forward buffers per sample (z1, h, mask, y): sample 0's come from the evaluation.
        self.z1 = [np.empty((H, r)) for _ in XS]
        self.h = [np.empty((H, r)) for _ in XS]
        self.y = [np.empty((O, r)) for _ in XS]
        self.mask = np.empty((H, r), dtype=bool)
        self.t_oh = np.empty((O, H, r))
        self.d2 = np.empty((O, r))
        self.tmp2 = np.empty((O, r))
        self.loss = np.empty(r)
        self.lsum = np.empty(r)
        self.min_loss = np.full(r, np.inf)

    def forward(self, s: int) -> None:
        x, z1, h, y = XS[s], self.z1[s], self.h[s], self.y[s]
        np.multiply(self.W1, x, out=z1)
        z1 += self.b1
        np.maximum(z1, 0.0, out=h)
        np.multiply(self.W2, h, out=self.t_oh)  # (O, H, R) * (H, R)
        np.sum(self.t_oh, axis=1, out=y)
        y += self.b2
        np.negative(y, out=y)
        np.exp(y, out=y)
        y += 1.0
        np.reciprocal(y, out=y)

    def step(self, s: int, fresh: bool) -> None:
        """Forward (unless the evaluation left it), backward, update, for sample s."""
        if fresh:
            self.forward(s)
        z1, h, y, d2, tmp = self.z1[s], self.h[s], self.y[s], self.d2, self.tmp2
        t0, t1 = TARGETS[s]
        # d2 = lr * (y - t) * y * (1 - y)
        np.subtract(1.0, y, out=tmp)
        tmp *= y
        d2[0] = y[0]
        d2[0] -= t0
        d2[1] = y[1]
        d2[1] -= t1
        d2 *= tmp
        d2 *= LR
        np.copyto(self.gb2, d2)
        np.multiply(d2[:, None, :], h, out=self.gW2)
        # d1 = (W2^T d2) * [z1 > 0], with W2 before its update
        np.multiply(self.W2, d2[:, None, :], out=self.t_oh)
        np.add(self.t_oh[0], self.t_oh[1], out=self.gb1)
        np.greater(z1, 0.0, out=self.mask)
        np.multiply(self.gb1, self.mask, out=self.gb1)
        np.multiply(self.gb1, XS[s], out=self.gW1)
        self.P -= self.G

    def evaluate(self) -> None:
        """Mean loss over the 4 samples into self.loss; running minimum kept."""
        self.lsum.fill(0.0)
        for s in range(len(XS)):
            self.forward(s)
            y = self.y[s]
            for o in range(O):
                np.subtract(y[o], TARGETS[s][o], out=self.tmp2[o])
            np.multiply(self.tmp2, self.tmp2, out=self.tmp2)
            self.lsum += self.tmp2[0]
            self.lsum += self.tmp2[1]
        np.multiply(self.lsum, 0.5 / len(XS), out=self.loss)
        np.fmin(self.min_loss, self.loss, out=self.min_loss)

    def train(self, epochs: int) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(all="ignore"):
            self.evaluate()
            for _ in range(epochs):
                for s in range(len(XS)):
                    self.step(s, fresh=s != 0)  # sample 0: the evaluation's forward pass
                self.evaluate()
        return self.loss.copy(), self.min_loss.copy()


def run_numpy(p0: np.ndarray, epochs: int, repeats: int) -> Timing:
    times = []
    for _ in range(repeats):
        peer = NumpyPeer(p0)
        t0 = time.perf_counter()
        loss, _ = peer.train(epochs)
        times.append(time.perf_counter() - t0)
    return Timing(
        "numpy",
        min(times),
        {"times_s": times, "median_final_loss": float(np.median(loss)), "params": peer.P},
    )


# --------------------------------------------------------------------- jax --


def jax_modules():
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax import lax

    return jax, jnp, lax


def split(p) -> tuple:
    """(N_PARAMS, R) block -> (W1 (H, R), b1 (H, R), W2 (O, H, R), b2 (O, R)), replicate axis last."""
    return p[0:H], p[H : 2 * H], p[2 * H : 4 * H].reshape(O, H, -1), p[4 * H :]


def join(w1, b1, w2, b2):
    """Inverse of split, for any array module with concatenate (numpy or jax.numpy)."""
    xp = np if isinstance(w1, np.ndarray) else jax_modules()[1]
    return xp.concatenate([w1, b1, w2.reshape(O * H, -1), b2])


def make_jax_vmap(epochs: int):
    """jit(vmap(train_one)): one replicate's (W1, b1, W2, b2), replicate axis first under vmap."""
    jax, jnp, lax = jax_modules()
    xs, ts = jnp.asarray(XS), jnp.asarray(TARGETS)

    def forward(p, x):
        w1, b1, w2, b2 = p
        h = jax.nn.relu(w1 * x + b1)  # jax's relu'(0) = 0
        return jax.nn.sigmoid(w2 @ h + b2)

    def sample_loss(p, x, t):
        d = forward(p, x) - t
        return 0.5 * jnp.sum(d * d)

    grad = jax.grad(sample_loss)

    def mean_loss(p):
        return sum(sample_loss(p, xs[s], ts[s]) for s in range(len(XS))) / len(XS)

    def epoch(_, carry):
        p, mn, _ = carry
        for s in range(len(XS)):  # unrolled
            p = jax.tree.map(lambda w, g: w - LR * g, p, grad(p, xs[s], ts[s]))
        loss = mean_loss(p)
        return p, jnp.fmin(mn, loss), loss

    def train_one(p):
        l0 = mean_loss(p)
        return lax.fori_loop(0, epochs, epoch, (p, l0, l0))

    run = jax.vmap(train_one)

    def train(block):  # (N_PARAMS, R) -> same outputs as the batched variant
        w1, b1, w2, b2 = split(block)
        p = (w1.T, b1.T, jnp.moveaxis(w2, 2, 0), b2.T)
        (w1, b1, w2, b2), mn, loss = run(p)
        return join(w1.T, b1.T, jnp.moveaxis(w2, 0, 2), b2.T), mn, loss

    return jax.jit(train)


def make_jax_batched(epochs: int):
    """The NumPy peer's algorithm on (k, chunk) arrays, replicate axis last, one jit."""
    jax, jnp, lax = jax_modules()

    def forward(p, x):
        w1, b1, w2, b2 = p
        z1 = w1 * x + b1
        h = jnp.maximum(z1, 0.0)
        y = jax.nn.sigmoid(jnp.sum(w2 * h[None], axis=1) + b2)
        return z1, h, y

    def mean_loss(p):
        tot = 0.0
        for s, x in enumerate(XS):
            y = forward(p, x)[2]
            t = jnp.asarray(TARGETS[s])[:, None]
            tot = tot + 0.5 * jnp.sum((y - t) ** 2, axis=0)
        return tot / len(XS)

    def step(p, s):
        w1, b1, w2, b2 = p
        z1, h, y = forward(p, XS[s])
        t = jnp.asarray(TARGETS[s])[:, None]
        d2 = LR * (y - t) * y * (1.0 - y)
        d1 = jnp.sum(w2 * d2[:, None], axis=0) * (z1 > 0.0)
        return (w1 - d1 * XS[s], b1 - d1, w2 - d2[:, None] * h[None], b2 - d2)

    def epoch(_, carry):
        p, mn, _ = carry
        for s in range(len(XS)):
            p = step(p, s)
        loss = mean_loss(p)
        return p, jnp.fmin(mn, loss), loss

    def train(block):
        p = split(block)
        l0 = mean_loss(p)
        p, mn, loss = lax.fori_loop(0, epochs, epoch, (p, l0, l0))
        return join(*p), mn, loss

    return jax.jit(train)


def run_jax(p0: np.ndarray, epochs: int, chunks: list[int],
            repeats: int) -> tuple[Timing, list[dict], Callable[[], float]]:
    """The sweep; returns the fastest (variant, chunk), every row, and a function that times
    the fastest once more (its executables compiled already)."""
    jax, jnp, _ = jax_modules()
    r = p0.shape[1]
    sweep: list[dict] = []
    best: Timing | None = None
    rerun: Callable[[], float] | None = None
    for variant, make in (("vmap", make_jax_vmap), ("batched", make_jax_batched)):
        fn = make(epochs)
        for chunk in chunks:
            if chunk > r:
                continue
            parts = [jnp.asarray(p0[:, i : i + chunk]) for i in range(0, r, chunk)]
            t0 = time.perf_counter()
            compiled = {}
            for q in parts:  # one compiled executable per distinct chunk shape
                if q.shape not in compiled:
                    compiled[q.shape] = fn.lower(q).compile()
            compile_s = time.perf_counter() - t0
            def timed(compiled=compiled, parts=parts) -> tuple[float, list]:
                t0 = time.perf_counter()
                outs = [compiled[q.shape](q) for q in parts]
                jax.block_until_ready(outs)
                return time.perf_counter() - t0, outs

            times = []
            for _ in range(repeats):
                t, outs = timed()
                times.append(t)
            row = {"variant": variant, "chunk": chunk, "wall_s": min(times), "times_s": times,
                   "compile_s": compile_s}
            sweep.append(row)
            print(f"  jax {variant:7s} chunk {chunk:>6}: {min(times):.3f} s "
                  f"(runs {', '.join(f'{t:.3f}' for t in times)}; compile {compile_s:.1f} s)",
                  flush=True)
            if best is None or row["wall_s"] < best.wall_s:
                params = np.concatenate([np.asarray(o[0]) for o in outs], axis=1)
                loss = np.concatenate([np.asarray(o[2]) for o in outs])
                best = Timing(f"jax {variant} (chunk {chunk})", row["wall_s"],
                              {"variant": variant, "chunk": chunk,
                               "median_final_loss": float(np.median(loss)), "params": params})
                rerun = lambda timed=timed: timed()[0]  # noqa: E731
    assert best is not None and rerun is not None
    return best, sweep, rerun


def head_to_head(rounds: int,
                 runners: dict[str, Callable[[], float | None]]) -> dict[str, list[float | None]]:
    """Times each tool once per round, in alternating order (`bench_ab.alternating`), so that a
    drift of the machine's speed — this workplace's VMs swing by ±10 % within seconds — falls on
    every tool alike. The per-round ratios and their median are then comparisons made under the
    same conditions, unlike best-of figures taken minutes apart. A failed timing is None, kept
    in its round."""
    return alternating(rounds, runners)


# ---------------------------------------------------------------- initgrid --


def run_initgrid(binary: Path, replicates: int, epochs: int, threads: int, repeats: int) -> Timing:
    label = f"initgrid ({threads} thread{'s' if threads != 1 else ''})"
    if not binary.is_file():
        return Timing(label, None, note=f"binary not found: {binary} (cargo build --release)")
    cmd = [str(binary), "bench", "--json", "--replicates", str(replicates), "--epochs",
           str(epochs), "--threads", str(threads)]
    best: Timing | None = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        process_s = time.perf_counter() - t0
        if proc.returncode != 0:
            return Timing(label, None, note=f"exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        if data.get("replicates") != replicates or data.get("epochs") != epochs:
            return Timing(label, None, note=f"reported a different workload: {data}")
        if best is None or process_s < best.wall_s:
            best = Timing(label, process_s, {"process_s": process_s, "bench_wall_s": data["wall_s"],
                                             "kernel": data.get("kernel"), "reported": data})
    assert best is not None
    return best


# ----------------------------------------------------------------- machine --


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    flags: list[str] = []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                have = set(line.split(":", 1)[1].split())
                flags = [f for f in ("sse2", "avx", "avx2", "fma", "avx512f") if f in have]
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    info: dict[str, Any] = {
        "date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": cores,
        "simd": flags,
        "loadavg_1m_at_start": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "openblas_env": {v: os.environ.get(v) for v in OPENBLAS_VARS if v in os.environ},
    }
    try:
        import jax
        import jaxlib

        info["jax"], info["jaxlib"] = jax.__version__, jaxlib.__version__
    except ImportError:
        pass
    return info


# -------------------------------------------------------------------- main --


def agreement_check(epochs: int = 50, replicates: int = 64) -> None:
    """NumPy and both JAX variants train the same replicates to the same parameters."""
    p0 = init_params(replicates, 1)
    peer = NumpyPeer(p0)
    peer.train(epochs)
    for make in (make_jax_vmap, make_jax_batched):
        p, _, loss = make(epochs)(p0)
        err = float(np.max(np.abs(np.asarray(p) - peer.P)))
        if not err < 1e-10:
            raise SystemExit(f"agreement check FAILED: {make.__name__} differs from numpy by {err}")
        lerr = float(np.max(np.abs(np.asarray(loss) - peer.loss)))
        if not lerr < 1e-12:
            raise SystemExit(f"agreement check FAILED: {make.__name__} loss differs by {lerr}")
    print(f"agreement check: numpy, jax vmap and jax batched agree to 1e-10 after {epochs} epochs")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replicates", type=int, default=10_000)
    ap.add_argument("--epochs", type=int, default=2000)
    ap.add_argument("--chunks", default="500,1000,2000,5000,10000")
    ap.add_argument("--repeats", type=int, default=2, help="timings per measurement; best kept")
    ap.add_argument("--rounds", type=int, default=5,
                    help="head-to-head rounds after the sweep: the fastest JAX, initgrid on every "
                         "core and NumPy timed once each per round, in alternating order (0: none)")
    ap.add_argument("--initgrid", type=Path, default=REPO_ROOT / "target/release/initgrid")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-numpy", action="store_true")
    ap.add_argument("--skip-jax", action="store_true")
    ap.add_argument("--check", action="store_true", help="agreement test of the peers first")
    ap.add_argument("--json", type=Path, metavar="OUT")
    ap.add_argument("--markdown", type=Path, metavar="OUT")
    a = ap.parse_args(argv)
    R, E = a.replicates, a.epochs
    chunks = [int(c) for c in a.chunks.split(",") if c.strip()]
    for v in OPENBLAS_VARS:
        if v in os.environ:
            print(f"WARNING: {v} is set; run with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`",
                  file=sys.stderr)
    machine = machine_info()
    print(f"workload: four, relu-sigmoid 1-4-2, U(-1,1), online SGD lr {LR} fixed order, "
          f"float64, {R} replicates x {E} epochs, loss evaluated every epoch")
    print(f"machine: {machine['cpu']}, {machine['cores']} cores ({' '.join(machine['simd'])}), "
          f"{machine['date_utc']}, load {machine['loadavg_1m_at_start']}")
    print(f"versions: python {machine['python']}, numpy {machine['numpy']}, "
          f"jax {machine.get('jax', '-')}")
    if a.check:
        agreement_check()

    p0 = init_params(R, a.seed)
    peers: list[Timing] = []
    sweep: list[dict] = []
    if not a.skip_numpy:
        print("running numpy ...", flush=True)
        peers.append(run_numpy(p0, E, a.repeats))
        print(f"  numpy: {peers[-1].wall_s:.3f} s", flush=True)
    if not a.skip_jax:
        print("running jax (chunk sweep) ...", flush=True)
        best, sweep, jax_rerun = run_jax(p0, E, chunks, a.repeats)
        peers.append(best)
    if len(peers) == 2:  # same replicates, same algorithm: the peers must agree
        diff = float(np.max(np.abs(peers[0].detail["params"] - peers[1].detail["params"])))
        peers[1].detail["max_param_diff_vs_numpy"] = diff
    initgrid = []
    for th in sorted({1, machine["cores"]}):
        print(f"running initgrid --threads {th} ...", flush=True)
        initgrid.append(run_initgrid(a.initgrid, R, E, th, a.repeats))
        if initgrid[-1].note:
            print(f"  note: {initgrid[-1].note}")
    fastest = min((p for p in peers if p.wall_s), key=lambda p: p.wall_s, default=None)
    ig_all = initgrid[-1]

    rows = []
    for t in peers + initgrid:
        row = {"tool": t.name, "wall_s": t.wall_s}
        if t.name.startswith("initgrid") and t.wall_s:
            row["bench_wall_s"] = t.detail["bench_wall_s"]
            row["kernel"] = t.detail["kernel"]
        if ig_all.wall_s and t.wall_s:
            row["x_initgrid"] = t.wall_s / ig_all.wall_s
        rows.append(row)

    print()
    print(f"{'tool':28s} {'wall s':>8s} {'(own timer)':>11s} {'vs initgrid':>11s}")
    for row in rows:
        own = f"{row['bench_wall_s']:.3f}" if "bench_wall_s" in row else ""
        ratio = f"{row['x_initgrid']:.2f}x" if "x_initgrid" in row else "n/a"
        wall = f"{row['wall_s']:.3f}" if row["wall_s"] else "n/a"
        print(f"{row['tool']:28s} {wall:>8s} {own:>11s} {ratio:>11s}")
    ratios = {}
    if fastest and ig_all.wall_s:
        ratios = {
            "fastest_peer": fastest.name,
            "vs_fastest_peer_process": fastest.wall_s / ig_all.wall_s,
            "vs_fastest_peer_own_timer": fastest.wall_s / ig_all.detail["bench_wall_s"],
        }
        for p in peers:
            ratios[f"vs_{p.name.split(' (')[0].replace(' ', '_')}_process"] = p.wall_s / ig_all.wall_s
        print()
        print(f"initgrid ({ig_all.name.split('(')[1][:-1]}, whole process) is "
              f"{ratios['vs_fastest_peer_process']:.2f}x the fastest peer ({fastest.name}); "
              f"{ratios['vs_fastest_peer_own_timer']:.2f}x by its own timer")
        for p in peers:
            print(f"  vs {p.name}: {p.wall_s / ig_all.wall_s:.2f}x")
    if len(initgrid) == 2 and all(t.wall_s for t in initgrid):
        sc = initgrid[0].detail["bench_wall_s"] / initgrid[1].detail["bench_wall_s"]
        ratios["initgrid_thread_scaling"] = sc
        print(f"initgrid scaling 1 -> {machine['cores']} threads (own timer, best of each): "
              f"{sc:.2f}x")
        if a.rounds > 0:
            # Paired rounds, order alternating: one slow phase of the host lands on both sides
            # of a ratio instead of on one best-of.
            cores = machine["cores"]
            def own_timer(th: int) -> float | None:
                return run_initgrid(a.initgrid, R, E, th, 1).detail.get("bench_wall_s")
            own = head_to_head(max(a.rounds, 5),
                               {str(th): (lambda th=th: own_timer(th)) for th in (1, cores)})
            per_round = sorted(o / n for o, n in zip(own["1"], own[str(cores)])
                               if o is not None and n is not None)
            if per_round:
                ratios["initgrid_thread_scaling_paired"] = {
                    "median": statistics.median(per_round), "min": per_round[0],
                    "max": per_round[-1], "rounds": len(per_round)}
                print(f"initgrid scaling 1 -> {cores} threads (own timer), per-round ratio median "
                      f"{statistics.median(per_round):.2f}x (range {per_round[0]:.2f}-"
                      f"{per_round[-1]:.2f}x, {len(per_round)} rounds)")
    if len(peers) == 2:
        print(f"numpy vs {peers[1].name}: max |param difference| after training "
              f"{peers[1].detail['max_param_diff_vs_numpy']:.1e}")

    h2h: dict[str, Any] = {}
    if a.rounds > 0 and ig_all.wall_s and peers:
        cores = machine["cores"]
        runners: dict[str, Callable[[], float | None]] = {}
        if not a.skip_jax:
            runners[peers[-1].name] = jax_rerun
        runners[ig_all.name] = lambda: run_initgrid(a.initgrid, R, E, cores, 1).wall_s
        if not a.skip_numpy:
            runners["numpy"] = lambda: run_numpy(p0, E, 1).wall_s
        print(f"\nhead to head: {a.rounds} rounds, each tool once per round, order alternating ...",
              flush=True)
        times = head_to_head(a.rounds, runners)
        ig_t = times[ig_all.name]
        h2h = {"rounds": a.rounds, "times_s": times, "ratios": {}}
        print(f"{'tool':28s} {'median s':>9s} {'range s':>15s}")
        for k, ts in times.items():
            ok = [t for t in ts if t is not None]
            failed = f" ({len(ts) - len(ok)} failed)" if len(ok) < len(ts) else ""
            if ok:
                print(f"{k:28s} {statistics.median(ok):9.3f} {min(ok):7.3f}-{max(ok):.3f}{failed}")
            else:
                print(f"{k:28s} {'n/a':>9s}{failed}")
        for k, ts in times.items():
            # Rounds in which both timings exist, in round order.
            per_round = [t / i for t, i in zip(ts, ig_t) if t is not None and i is not None]
            if k == ig_all.name or not per_round:
                continue
            srt = sorted(per_round)
            h2h["ratios"][k] = {"median": statistics.median(srt), "min": srt[0], "max": srt[-1],
                                "per_round": per_round}
            print(f"  initgrid ({cores} threads, whole process) vs {k}: per-round ratio median "
                  f"{statistics.median(srt):.2f}x (range {srt[0]:.2f}-{srt[-1]:.2f}x, "
                  f"{len(per_round)} rounds)")

    for p in peers:
        p.detail.pop("params", None)
    payload = {
        "workload": {"dataset": "four", "network": "relu-sigmoid 1-4-2", "init": "U(-1,1)",
                     "optimizer": "online SGD, fixed order", "lr": LR, "epochs": E,
                     "replicates": R, "dtype": "float64", "eval_every_epoch": True},
        "machine": machine,
        "rows": rows,
        "ratios": ratios,
        "jax_sweep": sweep,
        "head_to_head": h2h,
        "peers": [{"name": p.name, "wall_s": p.wall_s, **p.detail} for p in peers],
        "initgrid": [{"name": t.name, "wall_s": t.wall_s, "note": t.note, **t.detail}
                     for t in initgrid],
    }
    if a.json:
        a.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {a.json}")
    if a.markdown:
        a.markdown.write_text(markdown(payload))
        print(f"wrote {a.markdown}")
    return 0


def markdown(d: dict[str, Any]) -> str:
    m, w = d["machine"], d["workload"]
    out = [
        f"Reference workload ({w['dataset']}, {w['network']}, {w['init']}, {w['optimizer']}, "
        f"lr {w['lr']}, {w['epochs']} epochs × {w['replicates']} replicates, float64, loss "
        f"every epoch), one run of `scripts/bench_peers.py` on {m['cpu']}, {m['cores']} cores, "
        f"{m['date_utc']}:",
        "",
        "| tool | wall time (s) | initgrid is ×faster |",
        "| --- | ---: | ---: |",
    ]
    for row in d["rows"]:
        wall = f"{row['wall_s']:.2f}" if row["wall_s"] else "n/a"
        if "bench_wall_s" in row:
            wall += f" (whole process; {row['bench_wall_s']:.2f} training)"
        ratio = f"{row['x_initgrid']:.1f}" if "x_initgrid" in row else "n/a"
        out.append(f"| {row['tool']} | {wall} | {ratio} |")
    if d["jax_sweep"]:
        out += ["", "JAX chunk sweep (s): " + ", ".join(
            f"{r['variant']} {r['chunk']}: {r['wall_s']:.2f}" for r in d["jax_sweep"])]
    sc = d["ratios"].get("initgrid_thread_scaling_paired")
    if sc:
        out += ["", f"initgrid thread scaling 1 → {m['cores']} (own timer, {sc['rounds']} paired "
                f"rounds): median {sc['median']:.2f}× (range {sc['min']:.2f}–{sc['max']:.2f})"]
    h = d.get("head_to_head")
    if h:
        out += ["", f"Head to head ({h['rounds']} rounds, order alternating), per-round ratio "
                "initgrid is ×faster: " + "; ".join(
                    f"{k} median {r['median']:.2f} (range {r['min']:.2f}–{r['max']:.2f})"
                    for k, r in h["ratios"].items())]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
