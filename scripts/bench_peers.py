#!/usr/bin/env python3
"""Peer benchmark: initgrid against the same experiment in NumPy and in JAX.

Workload (the same for every tool)
----------------------------------
* Data set ``four``: 4 points (x, label) = (0, 0) (0.3, 1) (0.6, 0) (1, 1),
  1-D input, one-hot targets on 2 output nodes (label 0 -> [1, 0],
  label 1 -> [0, 1]).
* Network 1-4-2: 4 ReLU hidden units (ReLU'(0) = 0), 2 sigmoid outputs.
  Weights and biases are drawn i.i.d. from U(-1, 1).
* Loss per sample: 0.5 * sum_k (y_k - t_k)^2; an epoch's loss is the mean
  over the 4 samples.
* Online SGD: one update per sample, samples in the fixed order above every
  epoch, learning rate 0.1, no momentum, float64 everywhere.
* 2000 epochs.  After EVERY epoch the whole data set is evaluated (forward
  pass on all 4 points, mean loss, all 4 classified correctly by argmax), as a
  real convergence check would.  The tolerance (``TOL`` = 1e-9) is out of
  reach, so nothing stops early and all epochs run; the script checks that.
  (The numpy peer would stop once every replicate has converged, the JAX peer
  stops each replicate on its own; with this tolerance neither ever does.)
* 10 000 independent replicates (different random initialisations).

Peers
-----
* ``numpy``: vectorised across replicates (arrays of shape (R, 4),
  (R, 4, 2), ...; einsum and broadcasting), Python loop over epochs and
  samples, hand-written backprop.  No numba, no tricks, no deliberate slowness.
* ``jax``: ``jit(vmap(train_one))``; ``train_one`` runs a ``lax.while_loop``
  over epochs (stopping a replicate once it has converged) around a
  ``lax.fori_loop`` over the 4 samples, with gradients from ``jax.grad``.
  x64 is enabled.  It is compiled ahead of time (compile time reported
  separately), then the timed run ends with ``.block_until_ready()``.
* ``initgrid``: ``<binary> bench --json --replicates R --epochs E --threads T``
  for T = 1 and T = all cores; its own ``wall_s`` is reported.

Timed region: training plus per-epoch evaluation.  Parameter initialisation
(R x 22 uniforms) is done before the clock starts.  The three tools use
different RNGs, so the sanity fraction (replicates whose final mean loss is
below 0.01) is only roughly comparable between them.  With this workload it
is close to 0 after 2000 epochs (about 3% of replicates classify all 4
points, median final loss about 0.20); it grows with more epochs (about 16%
after 20 000).  numpy and JAX give the same losses to 1e-16 from the same
initial weights.

Units: sample-steps/s = replicates * epochs * 4 / wall seconds (one sample's
forward + backward + update for one replicate); trainings/s = replicates /
wall seconds.

How to run (from the repo root)::

    python3 -m venv .venv
    .venv/bin/pip install -r scripts/requirements-bench.txt
    .venv/bin/python scripts/bench_peers.py

Options: ``--replicates 10000 --epochs 2000 --initgrid PATH --skip-jax
--skip-numpy --json OUT``.

OpenBLAS note: on some processors of this workplace OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE are set (older OpenBLAS builds misbehave there without
them).  They slow a current numpy.  Do not change them globally; for a
benchmark run, unset both in that one command only::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python scripts/bench_peers.py

The script warns when either is set.  All peers run in float64 and evaluate
the whole data set after every epoch.

Reading the numbers: the script reports each peer's CPU time, sys time and
minor page faults.  CPU time / wall well below 1 means other load on the
machine took the core.  The numpy peer's many temporaries make glibc return
and fault in heap pages again and again (millions of minor faults, seconds of
sys time); that is what a default setup does, so the script leaves it alone
(``MALLOC_TOP_PAD_=67108864`` in the command removes it, if wanted).  The
machine record says which BLAS kernel numpy loaded and how many threads it
had (threadpoolctl); the numpy peer calls no BLAS routine, so they stay idle.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# ---------------------------------------------------------------- workload --

XS = np.array([0.0, 0.3, 0.6, 1.0])
LABELS = np.array([0, 1, 0, 1])
TARGETS = np.eye(2)[LABELS]  # (4, 2) one-hot
N_SAMPLES = len(XS)
N_HIDDEN = 4
N_OUT = 2
LR = 0.1
TOL = 1e-9  # convergence tolerance: far below what 2000 epochs can reach
SANITY_LOSS = 0.01  # sanity check: fraction with final mean loss below this

OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    """One row of the table."""

    name: str
    wall_s: float | None = None
    replicates: int = 0
    epochs: int = 0
    sanity: float | None = None  # fraction with final mean loss < SANITY_LOSS
    extra: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.wall_s is not None and self.wall_s > 0

    def sample_steps_per_s(self) -> float | None:
        if not self.ok:
            return None
        return self.replicates * self.epochs * N_SAMPLES / self.wall_s

    def trainings_per_s(self) -> float | None:
        return self.replicates / self.wall_s if self.ok else None


def summarise(final_loss: np.ndarray, all_correct: np.ndarray) -> dict[str, float]:
    """Per-replicate outcomes -> the fractions the table and JSON report."""
    converged = (final_loss <= TOL) & all_correct
    return {
        "frac_loss_below_0_01": float(np.mean(final_loss < SANITY_LOSS)),
        "frac_all_correct": float(np.mean(all_correct)),
        "frac_converged_tol": float(np.mean(converged)),
        "median_final_loss": float(np.median(final_loss)),
    }


def timed(fn: Callable[[], Any]) -> tuple[Any, float, dict[str, float]]:
    """Run fn; return (its result, wall seconds, this process's resource use).

    CPU time / wall near 1 means one busy core; well below 1 means the process
    waited (other load on the machine); sys time and minor page faults show
    allocator churn.
    """
    before, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    user, sys_ = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    usage = {
        "cpu_per_wall": (user + sys_) / wall,
        "user_s": user,
        "sys_s": sys_,
        "minor_faults": after.ru_minflt - before.ru_minflt,
    }
    return out, wall, usage


# ------------------------------------------------------------------- numpy --


@dataclass
class NpParams:
    w1: np.ndarray  # (R, H)    input -> hidden (1-D input)
    b1: np.ndarray  # (R, H)
    w2: np.ndarray  # (R, H, O) hidden -> output
    b2: np.ndarray  # (R, O)


def np_init(replicates: int, seed: int) -> NpParams:
    rng = np.random.default_rng(seed)

    def u(*shape: int) -> np.ndarray:
        return rng.uniform(-1.0, 1.0, size=(replicates, *shape))

    return NpParams(u(N_HIDDEN), u(N_HIDDEN), u(N_HIDDEN, N_OUT), u(N_OUT))


def np_sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def np_forward(p: NpParams, x: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One input for all replicates -> (z1, h, y) of shapes (R, H), (R, H), (R, O)."""
    z1 = p.w1 * x + p.b1
    h = np.maximum(z1, 0.0)
    y = np_sigmoid(np.einsum("rh,rho->ro", h, p.w2) + p.b2)
    return z1, h, y


def np_sgd_step(p: NpParams, x: float, t: np.ndarray) -> None:
    """Forward, backward and in-place update for one sample, all replicates."""
    z1, h, y = np_forward(p, x)
    d2 = (y - t) * y * (1.0 - y)  # dL/dz2, (R, O)
    d1 = np.einsum("rho,ro->rh", p.w2, d2) * (z1 > 0.0)  # dL/dz1, ReLU'(0) = 0
    p.w2 -= LR * np.einsum("rh,ro->rho", h, d2)
    p.b2 -= LR * d2
    p.w1 -= (LR * x) * d1
    p.b1 -= LR * d1


def np_evaluate(p: NpParams) -> tuple[np.ndarray, np.ndarray]:
    """Mean loss over the data set and 'all 4 correct' per replicate.

    Loops over the 4 points with the training forward pass: with the
    replicate axis first, one (R, 4, 4) broadcast is about twice as slow.
    """
    loss = np.zeros(p.w1.shape[0])
    all_correct = np.ones(p.w1.shape[0], dtype=bool)
    for x, t, label in zip(XS, TARGETS, LABELS, strict=True):
        y = np_forward(p, float(x))[2]
        loss += 0.5 * ((y - t) ** 2).sum(axis=1)
        all_correct &= y.argmax(axis=1) == label
    return loss / N_SAMPLES, all_correct


def np_train(p: NpParams, epochs: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Train every replicate; stop early only if all have converged."""
    loss, all_correct = np_evaluate(p)
    for epoch in range(1, epochs + 1):
        for x, t in zip(XS, TARGETS, strict=True):
            np_sgd_step(p, float(x), t)
        loss, all_correct = np_evaluate(p)
        if np.all((loss <= TOL) & all_correct):
            return loss, all_correct, epoch
    return loss, all_correct, epochs


def run_numpy(replicates: int, epochs: int, seed: int) -> Result:
    params = np_init(replicates, seed)
    (loss, correct, epochs_run), wall, usage = timed(lambda: np_train(params, epochs))
    stats = summarise(loss, correct)
    extra = {**stats, "epochs_run": epochs_run, **usage}
    return Result("numpy", wall, replicates, epochs, stats["frac_loss_below_0_01"], extra)


# --------------------------------------------------------------------- jax --


def make_jax_trainer(epochs: int) -> Callable[[dict[str, Any]], tuple[Any, Any, Any]]:
    """Return train_one(params) -> (final loss, all correct, epochs run).

    Written for one replicate; the caller jits and vmaps it.
    """
    import jax
    import jax.numpy as jnp
    from jax import lax

    xs = jnp.asarray(XS)
    targets = jnp.asarray(TARGETS)
    labels = jnp.asarray(LABELS)

    def forward(p: dict[str, jax.Array], x: jax.Array) -> jax.Array:
        """x: scalar or (P,) -> outputs (O,) or (P, O)."""
        h = jax.nn.relu(x[..., None] * p["w1"] + p["b1"])  # jax relu'(0) = 0
        return jax.nn.sigmoid(h @ p["w2"] + p["b2"])

    def sample_loss(p: dict[str, jax.Array], x: jax.Array, t: jax.Array) -> jax.Array:
        return 0.5 * jnp.sum((forward(p, x) - t) ** 2)

    grad_fn = jax.grad(sample_loss)

    def evaluate(p: dict[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
        y = forward(p, xs)  # (P, O)
        loss = jnp.mean(0.5 * jnp.sum((y - targets) ** 2, axis=-1))
        return loss, jnp.all(jnp.argmax(y, axis=-1) == labels)

    def sgd_step(i: jax.Array, p: dict[str, jax.Array]) -> dict[str, jax.Array]:
        g = grad_fn(p, xs[i], targets[i])
        return jax.tree.map(lambda w, gw: w - LR * gw, p, g)

    def not_done(state: tuple) -> jax.Array:
        epoch, _, loss, correct = state
        return (epoch < epochs) & ~((loss <= TOL) & correct)

    def one_epoch(state: tuple) -> tuple:
        epoch, p, _, _ = state
        p = lax.fori_loop(0, N_SAMPLES, sgd_step, p)
        return (epoch + 1, p, *evaluate(p))

    def train_one(p: dict[str, jax.Array]) -> tuple[jax.Array, jax.Array, jax.Array]:
        loss0, correct0 = evaluate(p)
        epoch, _, loss, correct = lax.while_loop(
            not_done, one_epoch, (jnp.int32(0), p, loss0, correct0)
        )
        return loss, correct, epoch

    return train_one


def jax_init(replicates: int, seed: int) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp

    shapes = {"w1": (N_HIDDEN,), "b1": (N_HIDDEN,), "w2": (N_HIDDEN, N_OUT), "b2": (N_OUT,)}
    keys = jax.random.split(jax.random.key(seed), len(shapes))
    return {
        name: jax.random.uniform(k, (replicates, *shape), jnp.float64, -1.0, 1.0)
        for k, (name, shape) in zip(keys, shapes.items(), strict=True)
    }


def run_jax(replicates: int, epochs: int, seed: int) -> Result:
    import jax

    jax.config.update("jax_enable_x64", True)
    params = jax.block_until_ready(jax_init(replicates, seed))

    t0 = time.perf_counter()
    compiled = jax.jit(jax.vmap(make_jax_trainer(epochs))).lower(params).compile()
    compile_s = time.perf_counter() - t0

    (loss, correct, epochs_run), wall, usage = timed(
        lambda: jax.block_until_ready(compiled(params))
    )
    loss, correct = np.asarray(loss), np.asarray(correct)
    stats = summarise(loss, correct)
    extra = {
        **stats,
        "epochs_run": int(np.min(np.asarray(epochs_run))),
        **usage,
        "compile_s": compile_s,
    }
    return Result("jax", wall, replicates, epochs, stats["frac_loss_below_0_01"], extra)


# ---------------------------------------------------------------- initgrid --


def parse_json_object(stdout: str) -> dict[str, Any]:
    """The JSON object initgrid prints; tolerate stray lines before it."""
    try:
        return json.loads(stdout)
    except ValueError:
        lines = [line for line in stdout.splitlines() if line.strip()]
        return json.loads(lines[-1] if lines else "")


def run_initgrid(binary: Path, replicates: int, epochs: int, threads: int) -> Result:
    label = f"initgrid ({threads} thread{'s' if threads != 1 else ''})"
    result = Result(label, replicates=replicates, epochs=epochs)
    if not binary.is_file():
        result.note = f"binary not found: {binary} (build with `cargo build --release`)"
        return result
    cmd = [
        str(binary),
        "bench",
        "--json",
        "--replicates",
        str(replicates),
        "--epochs",
        str(epochs),
        "--threads",
        str(threads),
    ]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as err:
        result.note = f"could not run {binary}: {err}"
        return result
    outer_wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        result.note = f"`{' '.join(cmd[1:])}` exited {proc.returncode}: {tail}"
        return result
    try:
        data = parse_json_object(proc.stdout)
        result.wall_s = float(data["wall_s"])
    except (ValueError, KeyError, TypeError) as err:
        result.note = f"unreadable JSON from initgrid bench ({err}): {proc.stdout[:200]!r}"
        return result
    result.sanity = data.get("converged")
    result.extra = {"reported": data, "outer_wall_s": outer_wall}
    if data.get("replicates", replicates) != replicates or data.get("epochs", epochs) != epochs:
        result.note = "initgrid reported different replicates/epochs than requested"
    return result


# ----------------------------------------------------------------- machine --


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def blas_info() -> list[dict[str, Any]]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"note": "threadpoolctl not installed"}]
    keys = ("internal_api", "version", "architecture", "num_threads", "threading_layer")
    return [{k: pool.get(k) for k in keys} for pool in threadpool_info()]


def machine_info(include_jax: bool) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores_usable": usable_cores(),
        "cores_total": os.cpu_count(),
        "loadavg_1m_at_start": os.getloadavg()[0],
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numpy_blas": blas_info(),
        "openblas_env": {v: os.environ.get(v) for v in OPENBLAS_VARS},
    }
    if include_jax:
        import jax
        import jaxlib

        info["jax"] = jax.__version__
        info["jaxlib"] = jaxlib.__version__
    return info


def warn_openblas_env() -> None:
    set_vars = [v for v in OPENBLAS_VARS if v in os.environ]
    if set_vars:
        print(
            f"WARNING: {', '.join(set_vars)} set; this slows a current numpy. For a "
            "benchmark run, unset both in that command only:\n"
            "  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "
            "python3 scripts/bench_peers.py ...\n",
            file=sys.stderr,
        )


# ------------------------------------------------------------------ output --


def fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def render_table(results: list[Result], reference: Result | None) -> str:
    header = (
        "tool",
        "wall s",
        "sample-steps/s",
        "trainings/s",
        "wall / initgrid(all)",
        "frac loss<0.01",
    )
    rows = [header]
    for r in results:
        ratio = None
        if r.ok and reference is not None and reference.ok:
            ratio = r.wall_s / reference.wall_s
        rows.append(
            (
                r.name,
                fmt(r.wall_s, ".2f"),
                fmt(r.sample_steps_per_s(), ".3e"),
                fmt(r.trainings_per_s(), ",.0f"),
                "n/a" if ratio is None else f"{ratio:.2f}x",
                fmt(r.sanity, ".3f"),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def blas_note(machine: dict[str, Any]) -> str:
    pools = [p for p in machine["numpy_blas"] if p.get("internal_api")]
    loaded = (
        ", ".join(
            f"{p['internal_api']} {p['version']} kernel {p['architecture']} "
            f"with {p['num_threads']} threads"
            for p in pools
        )
        or "not reported"
    )
    return (
        f"numpy BLAS: {loaded}; the numpy peer calls no BLAS routine (ufuncs and "
        "einsum without optimize), so those threads stay idle (see CPU time / wall)"
    )


def render_notes(
    results: list[Result], reference: Result | None, epochs: int, machine: dict[str, Any]
) -> str:
    notes = [blas_note(machine)] if any(r.name == "numpy" for r in results) else []
    for r in results:
        if r.note:
            notes.append(f"{r.name}: {r.note}")
        run = r.extra.get("epochs_run")
        if run is not None and run != epochs:
            notes.append(f"{r.name}: WARNING stopped early after {run} of {epochs} epochs")
        kernel = r.extra.get("reported", {}).get("kernel")
        if kernel:
            notes.append(f"{r.name}: kernel {kernel}")
        if "compile_s" in r.extra:
            notes.append(f"{r.name}: compile {r.extra['compile_s']:.2f} s (not in wall)")
        if "cpu_per_wall" in r.extra:
            x = r.extra
            notes.append(
                f"{r.name}: CPU time / wall = {x['cpu_per_wall']:.2f} (user {x['user_s']:.1f} s, "
                f"sys {x['sys_s']:.1f} s, {x['minor_faults']:,} minor page faults)"
            )
            notes.append(
                f"{r.name}: all 4 correct at the end {x['frac_all_correct']:.4f}, "
                f"median final loss {x['median_final_loss']:.4f}"
            )
    if reference is not None and reference.ok:
        for r in results:
            if r.ok and r is not reference and not r.name.startswith("initgrid"):
                ratio = r.wall_s / reference.wall_s
                verdict = f"{ratio:.1f}x faster" if ratio >= 1 else f"{1 / ratio:.1f}x slower"
                notes.append(f"initgrid (all threads) is {verdict} than {r.name}")
    notes.append(
        "initgrid's sanity column is its reported 'converged' field (fraction with final "
        "mean loss < 0.01); the RNGs differ, so compare it only roughly."
    )
    return "\n".join(f"* {n}" for n in notes)


# -------------------------------------------------------------------- main --


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replicates", type=int, default=10_000)
    ap.add_argument("--epochs", type=int, default=2000)
    ap.add_argument(
        "--initgrid",
        type=Path,
        default=REPO_ROOT / "target/release/initgrid",
        help="initgrid binary (default: target/release/initgrid)",
    )
    ap.add_argument("--seed", type=int, default=0, help="peer RNG seed")
    ap.add_argument("--skip-jax", action="store_true")
    ap.add_argument("--skip-numpy", action="store_true")
    ap.add_argument("--json", type=Path, metavar="OUT", help="also write results as JSON")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    warn_openblas_env()
    machine = machine_info(include_jax=not args.skip_jax)
    R, E = args.replicates, args.epochs
    print(
        f"workload: four, 1-4-2 ReLU/sigmoid, online SGD lr={LR}, float64, "
        f"{R} replicates x {E} epochs, evaluation every epoch"
    )
    print("machine: " + json.dumps(machine))

    results: list[Result] = []
    if not args.skip_numpy:
        print("running numpy ...", flush=True)
        results.append(run_numpy(R, E, args.seed))
    if not args.skip_jax:
        print("running jax ...", flush=True)
        results.append(run_jax(R, E, args.seed))
    for threads in sorted({1, usable_cores()}):
        print(f"running initgrid --threads {threads} ...", flush=True)
        results.append(run_initgrid(args.initgrid, R, E, threads))
        if results[-1].note:
            print(f"  note: {results[-1].note}", flush=True)
    reference = results[-1]

    print()
    print(render_table(results, reference))
    print()
    print(render_notes(results, reference, E, machine))

    if args.json:
        payload = {
            "workload": {
                "dataset": "four",
                "network": "1-4-2",
                "lr": LR,
                "tol": TOL,
                "replicates": R,
                "epochs": E,
                "dtype": "float64",
            },
            "machine": machine,
            "results": [
                {
                    **asdict(r),
                    "sample_steps_per_s": r.sample_steps_per_s(),
                    "trainings_per_s": r.trainings_per_s(),
                }
                for r in results
            ],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
